"""From decoded wire params to what the exchange acts on (sans-I/O).

``to_command`` turns a signed action's params into the core command it asks for (addresses
lower-cased, amounts as exact ints); ``signing_digest`` gives the EIP-712 digest its
signature must cover. The same core command always hashes the same way
(``server.auth.command_hash``), so what is checked is exactly what is executed.
"""

from __future__ import annotations

import msgspec

from server.auth.eip712 import (
    Domain,
    approve_agent_hash,
    command_hash,
    login_hash,
    typed_digest,
)
from server.core.commands import Batch, Cancel, CancelAll, Place, Replace, Withdraw
from server.gateway.wire import (
    ApproveAgentParams,
    BatchParams,
    CancelAllParams,
    CancelParams,
    LoginParams,
    PlaceParams,
    ReplaceParams,
    WireError,
    WithdrawParams,
    parse_amount,
)
from server.sequencer.state import SignedCommand

__all__ = ["CoreAction", "SignedCommand", "signing_digest", "to_command"]

CoreAction = (
    PlaceParams | CancelParams | CancelAllParams | ReplaceParams | BatchParams | WithdrawParams
)

_INNER: dict[str, type[PlaceParams | CancelParams | ReplaceParams]] = {
    "place": PlaceParams,
    "cancel": CancelParams,
    "replace": ReplaceParams,
}


def to_command(p: CoreAction) -> SignedCommand:
    """The core command a signed action asks for; ``WireError`` (BAD_REQUEST) if it cannot."""
    account = p.account.lower()
    if isinstance(p, PlaceParams):
        return Place(
            account,
            p.market,
            p.side,
            parse_amount(p.price, "price"),
            parse_amount(p.qty, "qty"),
            p.tif,
            p.order_type,
            p.client_order_id,
            p.stp,
            p.expires_at_ms,
        )
    if isinstance(p, CancelParams):
        return Cancel(account, p.market, p.order_id, p.client_order_id)
    if isinstance(p, CancelAllParams):
        return CancelAll(account, p.market)
    if isinstance(p, ReplaceParams):
        return Replace(
            account,
            p.market,
            p.side,
            parse_amount(p.price, "price"),
            parse_amount(p.qty, "qty"),
            p.order_id,
            p.client_order_id,
        )
    if isinstance(p, BatchParams):
        return Batch(
            account, tuple(_inner(account, i, a.method, a.params) for i, a in enumerate(p.actions))
        )
    if isinstance(p, WithdrawParams):
        return Withdraw(account, p.token.lower(), parse_amount(p.amount, "amount"))
    raise TypeError(f"not a core action: {type(p).__name__}")


def _inner(
    account: str, i: int, method: str, params: dict[str, object]
) -> Place | Cancel | Replace:
    """A batch action: its params without account, nonce or signature (the batch has them)."""
    for field in ("account", "nonce", "signature", "signer"):
        if field in params:
            raise WireError("BAD_REQUEST", f"actions[{i}]: {field} belongs to the batch")
    try:
        typed = msgspec.convert({**params, "account": account}, _INNER[method])
    except msgspec.ValidationError as e:
        raise WireError("BAD_REQUEST", f"actions[{i}]: {e}") from None
    command = to_command(typed)
    assert isinstance(command, Place | Cancel | Replace)
    return command


def signing_digest(
    domain: Domain,
    p: CoreAction | LoginParams | ApproveAgentParams,
    command: SignedCommand | None,
) -> bytes:
    """The digest ``p.signature`` must sign: the action's EIP-712 typed-data hash.

    ``command`` is ``to_command(p)`` for core actions (None for login and approve_agent).
    """
    if p.nonce is None:
        raise WireError("BAD_REQUEST", "a signed action needs a nonce")
    if isinstance(p, LoginParams):
        return typed_digest(domain, login_hash(p.account, p.nonce))
    if isinstance(p, ApproveAgentParams):
        h = approve_agent_hash(p.account, p.agent, p.name, p.valid_until_ms, p.nonce)
        return typed_digest(domain, h)
    if command is None:
        raise TypeError("a core action's digest needs its command")
    return typed_digest(domain, command_hash(command, p.nonce))

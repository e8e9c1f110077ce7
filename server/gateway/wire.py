"""Wire schemas: what a client sends, decoded strictly (sans-I/O).

A request is ``{"id": <int|string>, "method": <name>, "params": {...}}``. Amounts are decimal
strings of integers in token base units (JSON numbers lose precision in most clients), at
most uint256. Unknown fields, wrong types, huge numbers and malformed JSON never reach the
core: ``decode_request`` raises ``WireError`` with a gateway code instead, and never
anything else (a fuzz test holds it to that).

Signed actions carry ``nonce`` and ``signature`` (and ``signer`` when an agent signs); in
session mode, after a login, they may be left out.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec

from server.core.commands import MAX_BATCH
from server.core.enums import OrderType, SelfTradePrevention, Side, TimeInForce

__all__ = [
    "MAX_ID_LENGTH",
    "METHODS",
    "ApproveAgentParams",
    "BatchItem",
    "BatchParams",
    "BookParams",
    "CancelAllParams",
    "CancelParams",
    "DevDepositParams",
    "DevListMarketParams",
    "DevListTokenParams",
    "EmptyParams",
    "FillsParams",
    "LoginParams",
    "OpenOrdersParams",
    "OrderParams",
    "PlaceParams",
    "ReplaceParams",
    "Request",
    "SubscribeParams",
    "WireError",
    "WithdrawParams",
    "decode_request",
    "parse_amount",
]

MAX_ID_LENGTH: Final = 64
UINT256_MAX: Final = 2**256 - 1

Address = Annotated[str, msgspec.Meta(pattern=r"^0x[0-9a-fA-F]{40}$")]
Amount = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,78}$")]
Signature = Annotated[str, msgspec.Meta(pattern=r"^0x[0-9a-fA-F]{130}$")]
# uint64 on the signed side; the wire takes up to 2**63-1 (ms timestamps and order ids fit).
U64 = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Market = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Text = Annotated[str, msgspec.Meta(max_length=64)]


class WireError(Exception):
    """A request that cannot be decoded; ``code`` is a gateway code (server.gateway.errors)."""

    def __init__(self, code: str, message: str, request_id: int | str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


class _Params(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    pass


class _Signed(_Params, frozen=True):
    account: Address
    nonce: U64 | None = None  # None: session mode
    signature: Signature | None = None
    signer: Address | None = None  # an agent signing for the account


class LoginParams(_Signed, frozen=True):
    pass


class PlaceParams(_Signed, frozen=True):
    market: Market = ""
    side: Side = Side.BUY
    price: Amount = "0"
    qty: Amount = "0"
    tif: TimeInForce = TimeInForce.GTC
    order_type: OrderType = OrderType.LIMIT
    client_order_id: Text = ""
    stp: SelfTradePrevention = SelfTradePrevention.EXPIRE_MAKER
    expires_at_ms: U64 = 0


class CancelParams(_Signed, frozen=True):
    market: Market = ""
    order_id: U64 = 0
    client_order_id: Text = ""


class CancelAllParams(_Signed, frozen=True):
    market: Annotated[str, msgspec.Meta(max_length=64)] = ""


class ReplaceParams(_Signed, frozen=True):
    market: Market = ""
    side: Side = Side.BUY
    price: Amount = "0"
    qty: Amount = "0"
    order_id: U64 = 0
    client_order_id: Text = ""


class BatchItem(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    method: Annotated[str, msgspec.Meta(pattern=r"^(place|cancel|replace)$")]
    params: dict[str, Any]


class BatchParams(_Signed, frozen=True):
    actions: Annotated[list[BatchItem], msgspec.Meta(min_length=1, max_length=MAX_BATCH)] = []


class ApproveAgentParams(_Signed, frozen=True):
    agent: Address = "0x" + "00" * 20
    name: Text = ""
    valid_until_ms: U64 = 0


class WithdrawParams(_Signed, frozen=True):
    token: Address = "0x" + "00" * 20
    amount: Amount = "0"


class SubscribeParams(_Params, frozen=True):
    channel: Annotated[str, msgspec.Meta(pattern=r"^(user|trades|book|settlements)$")]
    market: Annotated[str, msgspec.Meta(max_length=64)] = ""


class EmptyParams(_Params, frozen=True):
    pass


class BookParams(_Params, frozen=True):
    market: Market
    depth: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50


class OpenOrdersParams(_Params, frozen=True):
    market: Annotated[str, msgspec.Meta(max_length=64)] = ""


class OrderParams(_Params, frozen=True):
    market: Annotated[str, msgspec.Meta(max_length=64)] = ""
    order_id: U64 = 0
    client_order_id: Text = ""


class FillsParams(_Params, frozen=True):
    market: Annotated[str, msgspec.Meta(max_length=64)] = ""
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100


class DevListTokenParams(_Params, frozen=True):
    token: Address
    symbol: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
    decimals: Annotated[int, msgspec.Meta(ge=0, le=36)]


class DevListMarketParams(_Params, frozen=True):
    market: Market
    base: Address
    quote: Address
    tick: Amount
    lot: Amount
    min_qty: Amount
    lit: bool = True


class DevDepositParams(_Params, frozen=True):
    account: Address
    token: Address
    amount: Amount


METHODS: Final[dict[str, type[msgspec.Struct]]] = {
    "login": LoginParams,
    "place": PlaceParams,
    "cancel": CancelParams,
    "cancel_all": CancelAllParams,
    "replace": ReplaceParams,
    "batch": BatchParams,
    "approve_agent": ApproveAgentParams,
    "withdraw": WithdrawParams,
    "subscribe": SubscribeParams,
    "unsubscribe": SubscribeParams,
    "info": EmptyParams,
    "markets": EmptyParams,
    "book": BookParams,
    "balances": EmptyParams,
    "open_orders": OpenOrdersParams,
    "order": OrderParams,
    "fills": FillsParams,
    "dev_list_token": DevListTokenParams,
    "dev_list_market": DevListMarketParams,
    "dev_deposit": DevDepositParams,
    "dev_state_hash": EmptyParams,
}
"""Every method and the Struct its params decode to."""


class Request(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    id: (
        Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
        | Annotated[str, msgspec.Meta(max_length=MAX_ID_LENGTH)]
    )
    method: Annotated[str, msgspec.Meta(max_length=32)]
    params: msgspec.Raw = msgspec.Raw(b"{}")


_envelope = msgspec.json.Decoder(Request)
_params = {m: msgspec.json.Decoder(t) for m, t in METHODS.items()}
_id_only = msgspec.json.Decoder(dict[str, Any])


def _salvage_id(data: bytes | bytearray | memoryview | str) -> int | str | None:
    """The request id, if one can be read, so that even a bad request gets a correlated error."""
    try:
        rid = _id_only.decode(data).get("id")
    except (msgspec.DecodeError, AttributeError):
        return None
    if isinstance(rid, bool) or not isinstance(rid, int | str):
        return None
    if isinstance(rid, str) and len(rid) > MAX_ID_LENGTH:
        return None
    return rid


def decode_request(
    data: bytes | bytearray | memoryview | str,
) -> tuple[Request, msgspec.Struct]:
    """The envelope and its typed params; ``WireError`` for anything malformed."""
    try:
        req = _envelope.decode(data)
    except msgspec.ValidationError as e:
        raise WireError("BAD_REQUEST", str(e), _salvage_id(data)) from None
    except msgspec.DecodeError as e:
        raise WireError("BAD_JSON", str(e)) from None
    decoder = _params.get(req.method)
    if decoder is None:
        raise WireError("UNKNOWN_METHOD", f"no method {req.method!r}", req.id)
    try:
        return req, decoder.decode(req.params)
    except msgspec.DecodeError as e:  # ValidationError is a DecodeError
        raise WireError("BAD_REQUEST", f"params: {e}", req.id) from None


def parse_amount(text: str, field: str) -> int:
    """A validated decimal string (``Amount``) as an int; beyond uint256 is refused."""
    value = int(text)
    if value > UINT256_MAX:
        raise WireError("BAD_REQUEST", f"{field} {text} does not fit in uint256")
    return value

"""Commands: the only inputs of the core.

Each is a frozen msgspec Struct with a tag, so the journal encodes and decodes them without
hand-written code. All amounts are integers in token base units; prices are quote base units
per one whole base token. The sequencer supplies the time separately (``Core.apply``).
"""

from __future__ import annotations

import msgspec

from server.core.enums import OrderType, SelfTradePrevention, Side, TimeInForce

__all__ = [
    "MAX_BATCH",
    "AdvanceTime",
    "Batch",
    "BatchAction",
    "Cancel",
    "CancelAll",
    "Command",
    "Deposit",
    "ListMarket",
    "ListToken",
    "Place",
    "Replace",
    "SetTakerLimit",
    "Withdraw",
]

MAX_BATCH = 64


class ListToken(msgspec.Struct, frozen=True, gc=False, tag="list_token"):
    """Operator: allow a token (an ERC-20 address) with its decimals."""

    token: str
    symbol: str
    decimals: int


class ListMarket(msgspec.Struct, frozen=True, gc=False, tag="list_market"):
    """Operator: open a market. lot * tick must be a multiple of 10**base_decimals."""

    market: str
    base: str
    quote: str
    tick: int  # quote base units
    lot: int  # base base units
    min_qty: int  # base base units, a multiple of lot
    lit: bool = True  # lit: anonymous trades and L2 depth are public; dark: nothing is


class SetTakerLimit(msgspec.Struct, frozen=True, gc=False, tag="set_taker_limit"):
    """Operator: let a taker account go negative in ``token`` down to ``-limit``."""

    account: str
    token: str
    limit: int


class Deposit(msgspec.Struct, frozen=True, gc=False, tag="deposit"):
    """Chain watcher: a confirmed DepositRegistry deposit. Ids start at 1, without gaps.

    A rejected deposit (a token not listed yet, say) does not use up its id: later deposits
    wait until it is fixed and retried, so no deposit is ever skipped.
    """

    account: str
    token: str
    amount: int
    deposit_id: int


class Withdraw(msgspec.Struct, frozen=True, gc=False, tag="withdraw"):
    """User: debit now and record a withdrawal authorisation (signed by a later layer)."""

    account: str
    token: str
    amount: int


class Place(msgspec.Struct, frozen=True, gc=False, tag="place"):
    account: str
    market: str
    side: Side
    price: int  # the limit; for market orders the protective limit
    qty: int
    tif: TimeInForce = TimeInForce.GTC
    order_type: OrderType = OrderType.LIMIT
    client_order_id: str = ""
    stp: SelfTradePrevention = SelfTradePrevention.EXPIRE_MAKER
    expires_at_ms: int = 0  # 0: no expiry


class Cancel(msgspec.Struct, frozen=True, gc=False, tag="cancel"):
    """Cancel by ``order_id``, or by ``client_order_id`` when ``order_id`` is 0."""

    account: str
    market: str
    order_id: int = 0
    client_order_id: str = ""


class CancelAll(msgspec.Struct, frozen=True, gc=False, tag="cancel_all"):
    """Cancel every open order of the account in ``market`` ("" means every market)."""

    account: str
    market: str = ""


class Replace(msgspec.Struct, frozen=True, gc=False, tag="replace"):
    """Change an open order's price and/or open quantity.

    Same price and a smaller or equal ``qty`` keeps queue priority; anything else re-enters
    the book at the back of its new level (and may trade, like a new order). ``side`` must
    equal the order's side. Addressed like ``Cancel``. The minimum size applies, except that an
    order already below it (partly filled) may keep or shrink its open quantity.
    """

    account: str
    market: str
    side: Side
    price: int
    qty: int  # the new open (unfilled) quantity
    order_id: int = 0
    client_order_id: str = ""


class Batch(msgspec.Struct, frozen=True, gc=False, tag="batch"):
    """Up to MAX_BATCH place/cancel/replace actions of one account, applied in order.

    Not atomic: each action succeeds or is rejected on its own.
    """

    account: str
    actions: tuple[Place | Cancel | Replace, ...]


class AdvanceTime(msgspec.Struct, frozen=True, gc=False, tag="advance_time"):
    """Sequencer: nothing but the time, so that good-til-time orders expire without flow."""


BatchAction = Place | Cancel | Replace
Command = (
    ListToken
    | ListMarket
    | SetTakerLimit
    | Deposit
    | Withdraw
    | Place
    | Cancel
    | CancelAll
    | Replace
    | Batch
    | AdvanceTime
)

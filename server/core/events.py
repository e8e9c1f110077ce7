"""Events: the only outputs of the core. Frozen msgspec Structs, tagged for the wire."""

from __future__ import annotations

import msgspec

from server.core.enums import CancelReason, ExpireReason, OrderType, Side, TimeInForce
from server.core.rejects import RejectCode

__all__ = [
    "BalanceChanged",
    "DepositCredited",
    "Event",
    "Fill",
    "MarketListed",
    "OrderAccepted",
    "OrderCancelled",
    "OrderExpired",
    "OrderReplaced",
    "Rejected",
    "TakerLimitSet",
    "TokenListed",
    "WithdrawalAuthorised",
]


class Rejected(msgspec.Struct, frozen=True, gc=False, tag="rejected"):
    """A command (or one batch action) changed nothing, for ``code``."""

    action: str  # the command's tag: "place", "cancel", "deposit", ...
    account: str
    code: RejectCode
    order_id: int = 0
    client_order_id: str = ""


class OrderAccepted(msgspec.Struct, frozen=True, gc=False, tag="accepted"):
    order_id: int
    account: str
    market: str
    side: Side
    price: int
    qty: int
    tif: TimeInForce
    order_type: OrderType
    client_order_id: str
    expires_at_ms: int


class Fill(msgspec.Struct, frozen=True, gc=False, tag="fill"):
    """One match. The buyer receives ``qty`` base and pays ``quote_qty`` quote, exactly."""

    market: str
    price: int  # the maker's price
    qty: int  # base base units
    quote_qty: int  # quote base units = qty * price / 10**base_decimals
    taker_side: Side
    maker_order_id: int
    maker_account: str
    maker_remaining: int
    taker_order_id: int
    taker_account: str
    taker_remaining: int


class OrderCancelled(msgspec.Struct, frozen=True, gc=False, tag="cancelled"):
    order_id: int
    account: str
    market: str
    remaining: int
    reason: CancelReason


class OrderExpired(msgspec.Struct, frozen=True, gc=False, tag="expired"):
    order_id: int
    account: str
    market: str
    remaining: int
    reason: ExpireReason


class OrderReplaced(msgspec.Struct, frozen=True, gc=False, tag="replaced"):
    order_id: int
    account: str
    market: str
    side: Side
    price: int
    qty: int
    priority_kept: bool


class BalanceChanged(msgspec.Struct, frozen=True, gc=False, tag="balance"):
    """An (account, token) pair's state at the end of a command; one per pair touched.

    They come after the command's other events.
    """

    account: str
    token: str
    balance: int  # may be negative only for a taker, down to -credit_limit
    locked: int  # held by open orders


class DepositCredited(msgspec.Struct, frozen=True, gc=False, tag="deposited"):
    account: str
    token: str
    amount: int
    deposit_id: int


class WithdrawalAuthorised(msgspec.Struct, frozen=True, gc=False, tag="withdrawal"):
    withdrawal_id: int
    account: str
    token: str
    amount: int


class TokenListed(msgspec.Struct, frozen=True, gc=False, tag="token_listed"):
    token: str
    symbol: str
    decimals: int


class MarketListed(msgspec.Struct, frozen=True, gc=False, tag="market_listed"):
    market: str
    base: str
    quote: str
    tick: int
    lot: int
    min_qty: int
    lit: bool


class TakerLimitSet(msgspec.Struct, frozen=True, gc=False, tag="taker_limit"):
    account: str
    token: str
    limit: int


Event = (
    Rejected
    | OrderAccepted
    | Fill
    | OrderCancelled
    | OrderExpired
    | OrderReplaced
    | BalanceChanged
    | DepositCredited
    | WithdrawalAuthorised
    | TokenListed
    | MarketListed
    | TakerLimitSet
)

"""Enumerations shared by commands, events and the book.

String values are the wire spelling; they never change once published.
"""

from enum import StrEnum

__all__ = [
    "CancelReason",
    "ExpireReason",
    "OrderType",
    "SelfTradePrevention",
    "Side",
    "TimeInForce",
]


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class TimeInForce(StrEnum):
    GTC = "GTC"  # rests until filled, cancelled or (with expires_at_ms) expired
    IOC = "IOC"  # fills what it can now; the rest expires
    FOK = "FOK"  # fills completely now, or nothing happens
    POST_ONLY = "POST_ONLY"  # rests only; rejected if it would take liquidity


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"  # IOC/FOK with a protective limit price


class SelfTradePrevention(StrEnum):
    EXPIRE_MAKER = "expire_maker"  # default: the resting order is expired, matching goes on
    EXPIRE_TAKER = "expire_taker"  # the incoming order's remainder is expired
    EXPIRE_BOTH = "expire_both"  # both are expired


class CancelReason(StrEnum):
    USER = "user"
    CANCEL_ALL = "cancel_all"


class ExpireReason(StrEnum):
    IOC = "ioc"  # an IOC or market order's unfilled remainder
    FOK = "fok"  # a FOK order that could not fill completely
    SELF_TRADE = "self_trade"  # removed by self-trade prevention
    GTT = "gtt"  # its expires_at_ms time was reached

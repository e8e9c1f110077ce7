"""Reject reason codes: stable, documented, one table.

A rejected command changes nothing. docs/PROTOCOL.md mirrors this table; a test keeps the two
in step.
"""

from enum import StrEnum

__all__ = ["REJECT_MESSAGES", "RejectCode"]


class RejectCode(StrEnum):
    # the order or action is malformed
    INVALID_QUANTITY = "INVALID_QUANTITY"
    INVALID_PRICE = "INVALID_PRICE"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    VALUE_OUT_OF_RANGE = "VALUE_OUT_OF_RANGE"
    PRICE_OFF_TICK = "PRICE_OFF_TICK"
    QUANTITY_OFF_LOT = "QUANTITY_OFF_LOT"
    BELOW_MIN_SIZE = "BELOW_MIN_SIZE"
    INVALID_TIME_IN_FORCE = "INVALID_TIME_IN_FORCE"
    INVALID_EXPIRY = "INVALID_EXPIRY"
    INVALID_CLIENT_ORDER_ID = "INVALID_CLIENT_ORDER_ID"
    DUPLICATE_CLIENT_ORDER_ID = "DUPLICATE_CLIENT_ORDER_ID"
    POST_ONLY_WOULD_CROSS = "POST_ONLY_WOULD_CROSS"
    REPLACE_SIDE_MISMATCH = "REPLACE_SIDE_MISMATCH"
    INVALID_BATCH = "INVALID_BATCH"
    BATCH_TOO_LARGE = "BATCH_TOO_LARGE"
    # something named does not exist (for this account)
    UNKNOWN_MARKET = "UNKNOWN_MARKET"
    UNKNOWN_TOKEN = "UNKNOWN_TOKEN"
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    # money
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    LIMIT_BELOW_EXPOSURE = "LIMIT_BELOW_EXPOSURE"
    # operator and chain commands
    DUPLICATE_DEPOSIT = "DUPLICATE_DEPOSIT"
    DEPOSIT_OUT_OF_ORDER = "DEPOSIT_OUT_OF_ORDER"
    TOKEN_EXISTS = "TOKEN_EXISTS"
    MARKET_EXISTS = "MARKET_EXISTS"
    INVALID_TOKEN = "INVALID_TOKEN"
    INVALID_MARKET = "INVALID_MARKET"


REJECT_MESSAGES: dict[RejectCode, str] = {
    RejectCode.INVALID_QUANTITY: "quantity must be a positive integer",
    RejectCode.INVALID_PRICE: "price must be a positive integer",
    RejectCode.INVALID_AMOUNT: "amount must be a positive integer",
    RejectCode.VALUE_OUT_OF_RANGE: "a value (or the order's notional) does not fit in uint256",
    RejectCode.PRICE_OFF_TICK: "price is not a multiple of the market's tick",
    RejectCode.QUANTITY_OFF_LOT: "quantity is not a multiple of the market's lot",
    RejectCode.BELOW_MIN_SIZE: "quantity is below the market's minimum size",
    RejectCode.INVALID_TIME_IN_FORCE: "market orders must be IOC or FOK",
    RejectCode.INVALID_EXPIRY: "expires_at_ms must be in the future, and only on GTC/POST_ONLY",
    RejectCode.INVALID_CLIENT_ORDER_ID: "client_order_id is longer than 64 characters",
    RejectCode.DUPLICATE_CLIENT_ORDER_ID: "an open order of this account has that client_order_id",
    RejectCode.POST_ONLY_WOULD_CROSS: "a post-only order would take liquidity",
    RejectCode.REPLACE_SIDE_MISMATCH: "a replace cannot change the order's side",
    RejectCode.INVALID_BATCH: "a batch must be non-empty, flat, and of one account",
    RejectCode.BATCH_TOO_LARGE: "a batch holds at most MAX_BATCH actions",
    RejectCode.UNKNOWN_MARKET: "no such market",
    RejectCode.UNKNOWN_TOKEN: "no such token",
    RejectCode.ORDER_NOT_FOUND: "no open order with that id for this account and market",
    RejectCode.INSUFFICIENT_BALANCE: "available balance does not cover the order or withdrawal",
    RejectCode.LIMIT_BELOW_EXPOSURE: "the new credit limit is below the taker's current exposure",
    RejectCode.DUPLICATE_DEPOSIT: "that deposit id was already credited",
    RejectCode.DEPOSIT_OUT_OF_ORDER: "deposit ids must be credited in order, without gaps",
    RejectCode.TOKEN_EXISTS: "that token is already listed",
    RejectCode.MARKET_EXISTS: "that market is already listed",
    RejectCode.INVALID_TOKEN: "token decimals must be 0..36 and the address non-empty",
    RejectCode.INVALID_MARKET: "market spec invalid (tokens, tick, lot, min size, lot*tick)",
}

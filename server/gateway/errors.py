"""Wire error codes, grouped into categories the way ccxt groups its exceptions.

Every code a client can receive (the core's reject codes, the auth layer's codes and the
gateway's own) maps to exactly one category; clients catch by category (the SDK has one
exception class per category) and look at the code for detail. Codes and categories are
stable once published. The table lives here, in one place; docs/PROTOCOL.md mirrors it and a
test keeps the two in step.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from server.auth.agents import AgentError, InvalidAgent, TooManyAgents, Unauthorized
from server.auth.eip712 import AuthError, BadSignature, MalformedAction
from server.auth.nonces import NonceError, NonceOutOfWindow, NonceReused, NonceTooLow
from server.core.rejects import RejectCode as R

__all__ = ["CATEGORY_OF", "GATEWAY_CODES", "PARENT", "Category", "ancestry", "category_of"]


class Category(StrEnum):
    EXCHANGE = "ExchangeError"  # the root
    PROTOCOL = "ProtocolError"  # the request itself is malformed or unsupported
    AUTHENTICATION = "AuthenticationError"
    INVALID_NONCE = "InvalidNonce"
    PERMISSION_DENIED = "PermissionDenied"
    INVALID_ORDER = "InvalidOrder"
    ORDER_NOT_FOUND = "OrderNotFound"
    DUPLICATE_ORDER_ID = "DuplicateOrderId"
    INSUFFICIENT_FUNDS = "InsufficientFunds"
    BAD_SYMBOL = "BadSymbol"
    BAD_REQUEST = "BadRequest"  # well-formed, but the values are not acceptable
    RATE_LIMIT = "RateLimitExceeded"
    OPERATOR = "OperatorError"  # chain and operator commands


PARENT: Final[dict[Category, Category | None]] = {
    Category.EXCHANGE: None,
    Category.PROTOCOL: Category.EXCHANGE,
    Category.AUTHENTICATION: Category.EXCHANGE,
    Category.INVALID_NONCE: Category.AUTHENTICATION,
    Category.PERMISSION_DENIED: Category.AUTHENTICATION,
    Category.INVALID_ORDER: Category.EXCHANGE,
    Category.ORDER_NOT_FOUND: Category.INVALID_ORDER,
    Category.DUPLICATE_ORDER_ID: Category.INVALID_ORDER,
    Category.INSUFFICIENT_FUNDS: Category.EXCHANGE,
    Category.BAD_SYMBOL: Category.EXCHANGE,
    Category.BAD_REQUEST: Category.EXCHANGE,
    Category.RATE_LIMIT: Category.EXCHANGE,
    Category.OPERATOR: Category.EXCHANGE,
}

GATEWAY_CODES: Final[dict[str, tuple[Category, str]]] = {
    "BAD_JSON": (Category.PROTOCOL, "the frame is not valid JSON"),
    "BAD_REQUEST": (Category.PROTOCOL, "a field is missing, unknown, or of the wrong type"),
    "UNKNOWN_METHOD": (Category.PROTOCOL, "no such method"),
    "FRAME_TOO_LARGE": (Category.PROTOCOL, "the frame exceeds the maximum size"),
    "NOT_IMPLEMENTED": (Category.PROTOCOL, "this server does not offer that yet"),
    "NOT_LOGGED_IN": (Category.AUTHENTICATION, "log in first"),
    "RATE_LIMITED": (Category.RATE_LIMIT, "too many requests; slow down"),
    "ALREADY_LOGGED_IN": (
        Category.PERMISSION_DENIED,
        "this connection is logged in as another account",
    ),
    "SIGNATURE_REQUIRED": (
        Category.AUTHENTICATION,
        "unsigned actions need a login and session mode",
    ),
    "DARK_MARKET": (Category.BAD_REQUEST, "a dark market has no public channels or book"),
    "UNKNOWN_CHANNEL": (Category.BAD_REQUEST, "no such channel, or not subscribed"),
    "INTERNAL_ERROR": (
        Category.EXCHANGE,
        "the server failed to handle this request (a bug, logged); try again or report it",
    ),
}

_AUTH: Final[dict[type[AuthError], Category]] = {
    AuthError: Category.AUTHENTICATION,
    MalformedAction: Category.PROTOCOL,
    BadSignature: Category.AUTHENTICATION,
    NonceError: Category.INVALID_NONCE,
    NonceOutOfWindow: Category.INVALID_NONCE,
    NonceReused: Category.INVALID_NONCE,
    NonceTooLow: Category.INVALID_NONCE,
    AgentError: Category.PERMISSION_DENIED,
    InvalidAgent: Category.BAD_REQUEST,
    TooManyAgents: Category.BAD_REQUEST,
    Unauthorized: Category.PERMISSION_DENIED,
}

_REJECTS: Final[dict[R, Category]] = {
    R.INVALID_QUANTITY: Category.INVALID_ORDER,
    R.INVALID_PRICE: Category.INVALID_ORDER,
    R.INVALID_AMOUNT: Category.BAD_REQUEST,
    R.VALUE_OUT_OF_RANGE: Category.BAD_REQUEST,
    R.PRICE_OFF_TICK: Category.INVALID_ORDER,
    R.QUANTITY_OFF_LOT: Category.INVALID_ORDER,
    R.BELOW_MIN_SIZE: Category.INVALID_ORDER,
    R.INVALID_TIME_IN_FORCE: Category.INVALID_ORDER,
    R.INVALID_EXPIRY: Category.INVALID_ORDER,
    R.INVALID_CLIENT_ORDER_ID: Category.INVALID_ORDER,
    R.DUPLICATE_CLIENT_ORDER_ID: Category.DUPLICATE_ORDER_ID,
    R.POST_ONLY_WOULD_CROSS: Category.INVALID_ORDER,
    R.REPLACE_SIDE_MISMATCH: Category.INVALID_ORDER,
    R.INVALID_BATCH: Category.BAD_REQUEST,
    R.BATCH_TOO_LARGE: Category.BAD_REQUEST,
    R.UNKNOWN_MARKET: Category.BAD_SYMBOL,
    R.UNKNOWN_TOKEN: Category.BAD_SYMBOL,
    R.ORDER_NOT_FOUND: Category.ORDER_NOT_FOUND,
    R.INSUFFICIENT_BALANCE: Category.INSUFFICIENT_FUNDS,
    R.LIMIT_BELOW_EXPOSURE: Category.OPERATOR,
    R.DUPLICATE_DEPOSIT: Category.OPERATOR,
    R.DEPOSIT_OUT_OF_ORDER: Category.OPERATOR,
    R.TOKEN_EXISTS: Category.OPERATOR,
    R.MARKET_EXISTS: Category.OPERATOR,
    R.INVALID_TOKEN: Category.OPERATOR,
    R.INVALID_MARKET: Category.OPERATOR,
}

CATEGORY_OF: Final[dict[str, Category]] = {
    **{code.value: cat for code, cat in _REJECTS.items()},
    **{cls.code: cat for cls, cat in _AUTH.items()},
    **{code: cat for code, (cat, _msg) in GATEWAY_CODES.items()},
}
"""Every wire error code -> its category."""


def category_of(code: str) -> Category:
    try:
        return CATEGORY_OF[code]
    except KeyError:
        raise ValueError(f"unknown error code {code!r}") from None


def ancestry(category: Category) -> list[Category]:
    """The category and its parents up to the root: what a client may catch it as."""
    out: list[Category] = []
    c: Category | None = category
    while c is not None:
        out.append(c)
        c = PARENT[c]
    return out

"""The exchange's error categories as Python exceptions.

Every error answer carries a stable ``code`` and the ``category`` it belongs to
(docs/PROTOCOL.md, "Errors"). Categories form a tree, and here each one is an exception
class whose base is its parent category, so ``except InvalidOrder`` also catches
``OrderNotFound``. Catch by category, read ``.code`` for detail::

    try:
        await client.place("WETH-USDC", "buy", price, qty)
    except InsufficientFunds:
        ...
    except InvalidOrder as e:
        log.warning("refused: %s", e.code)

The tree mirrors the server's (``server/gateway/errors.py``; a test keeps them equal); the
SDK never imports ``server``. ``error_from`` picks the class from an answer's ``category``,
so a code this SDK has never heard of still lands in the right place.

Two classes exist only on this side of the wire: ``NetworkError`` (the connection failed or
closed) and its ``RequestTimeout``. A request in flight when the connection drops raises
``NetworkError``: the server may or may not have executed it. An order placed with a
``client_order_id`` can be looked up afterwards with ``client.order(market,
client_order_id=...)`` to find out.
"""

from __future__ import annotations

from typing import ClassVar, Final

__all__ = [
    "CATEGORIES",
    "PARENT",
    "AuthenticationError",
    "BadRequest",
    "BadSymbol",
    "DuplicateOrderId",
    "ExchangeError",
    "InsufficientFunds",
    "InvalidNonce",
    "InvalidOrder",
    "NetworkError",
    "OperatorError",
    "OrderNotFound",
    "PermissionDenied",
    "ProtocolError",
    "RateLimitExceeded",
    "RequestTimeout",
    "error_from",
]


class ExchangeError(Exception):
    """The root: every error the exchange (or the SDK's connection) reports.

    ``code`` is the stable wire code (``INSUFFICIENT_BALANCE``), ``category`` the category
    name the server sent (the class name when it is known), ``message`` is for people, and
    ``seq`` is the command's sequence number when the server gave one.
    """

    CATEGORY: ClassVar[str] = "ExchangeError"

    def __init__(
        self,
        code: str = "",
        message: str = "",
        *,
        category: str | None = None,
        seq: int | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.category = category if category is not None else self.CATEGORY
        self.seq = seq
        super().__init__(f"{self.category} {code}: {message}" if code else message)


class ProtocolError(ExchangeError):
    """The request is malformed or not supported (bad JSON, unknown method or field)."""

    CATEGORY = "ProtocolError"


class AuthenticationError(ExchangeError):
    """Signature, login or session problems."""

    CATEGORY = "AuthenticationError"


class InvalidNonce(AuthenticationError):
    """The nonce is outside the window, reused or too low."""

    CATEGORY = "InvalidNonce"


class PermissionDenied(AuthenticationError):
    """The signer may not do this (not the account, not a live agent allowed the action)."""

    CATEGORY = "PermissionDenied"


class InvalidOrder(ExchangeError):
    """The order (or cancel/replace) is not acceptable: off tick or lot, too small, ..."""

    CATEGORY = "InvalidOrder"


class OrderNotFound(InvalidOrder):
    """No open order with that id (or client order id) for this account and market."""

    CATEGORY = "OrderNotFound"


class DuplicateOrderId(InvalidOrder):
    """An open order of the account already has that client order id."""

    CATEGORY = "DuplicateOrderId"


class InsufficientFunds(ExchangeError):
    """The available balance does not cover the order or withdrawal."""

    CATEGORY = "InsufficientFunds"


class BadSymbol(ExchangeError):
    """No such market or token."""

    CATEGORY = "BadSymbol"


class BadRequest(ExchangeError):
    """Well-formed, but the values are not acceptable."""

    CATEGORY = "BadRequest"


class RateLimitExceeded(ExchangeError):
    """Too many requests or actions; slow down."""

    CATEGORY = "RateLimitExceeded"


class OperatorError(ExchangeError):
    """A chain or operator command was refused."""

    CATEGORY = "OperatorError"


class NetworkError(ExchangeError):
    """SDK side: the connection failed, was lost, or is closed.

    Raised for a request in flight when the connection drops: the action may or may not
    have been executed. Look it up (``client.order(market, client_order_id=...)``) before
    sending it again.
    """

    CATEGORY = "NetworkError"

    def __init__(
        self,
        message: str = "connection lost",
        *,
        code: str = "NETWORK_ERROR",
        close_code: int | None = None,
    ) -> None:
        super().__init__(code, message)
        self.close_code = close_code
        """The WebSocket close code, when the server closed the connection with one."""


class RequestTimeout(NetworkError):
    """SDK side: no answer within the request timeout (the request may still execute)."""

    CATEGORY = "RequestTimeout"

    def __init__(
        self, message: str = "no answer in time", *, code: str = "REQUEST_TIMEOUT"
    ) -> None:
        super().__init__(message, code=code)


_SERVER_CLASSES: Final[tuple[type[ExchangeError], ...]] = (
    ExchangeError,
    ProtocolError,
    AuthenticationError,
    InvalidNonce,
    PermissionDenied,
    InvalidOrder,
    OrderNotFound,
    DuplicateOrderId,
    InsufficientFunds,
    BadSymbol,
    BadRequest,
    RateLimitExceeded,
    OperatorError,
)

CATEGORIES: Final[dict[str, type[ExchangeError]]] = {c.CATEGORY: c for c in _SERVER_CLASSES}
"""The server's categories (by name) and their exception classes."""


def _parent(cls: type[ExchangeError]) -> str | None:
    base = cls.__bases__[0]
    return base.CATEGORY if issubclass(base, ExchangeError) else None


PARENT: Final[dict[str, str | None]] = {name: _parent(c) for name, c in CATEGORIES.items()}
"""Category -> parent category (None for the root), as the server's table spells it."""


def error_from(
    code: str, category: str, message: str = "", *, seq: int | None = None
) -> ExchangeError:
    """The exception for an error answer, chosen by ``category`` (unknown: ``ExchangeError``,
    keeping the category name the server sent)."""
    cls = CATEGORIES.get(category, ExchangeError)
    return cls(code, message, category=category, seq=seq)

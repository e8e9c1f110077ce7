"""Core events as the wire shows them (PROTOCOL.md, "Answers" and "User events").

Amounts become decimal strings (JSON numbers lose precision in most clients); ids, ``seq``
and ``*_ms`` stay integers. ``user_events`` runs for every acknowledged action and every
``user`` channel push, so it builds each dict directly: that is faster than
``msgspec.to_builtins`` followed by a rename-and-stringify pass. In those dicts enum fields
are the ``StrEnum`` members themselves: ``str`` instances equal to their wire value, which
every JSON encoder writes as that value (converting them would cost a lookup per field).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any, Final

import msgspec

from server.core.book import Order
from server.core.engine import Core
from server.core.enums import Side
from server.core.events import (
    BalanceChanged,
    DepositCredited,
    Fill,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderReplaced,
    Rejected,
    WithdrawalAuthorised,
)

__all__ = [
    "AMOUNT_FIELDS",
    "ORDER_STATUSES",
    "balance_dicts",
    "maker_fill",
    "order_dict",
    "taker_fill",
    "user_event",
    "user_events",
    "user_events_by_account",
    "wire_event",
]

AMOUNT_FIELDS: Final = frozenset(
    {
        "price",
        "qty",
        "quote_qty",
        "balance",
        "locked",
        "amount",
        "remaining",
        "maker_remaining",
        "taker_remaining",
        "limit",
        "tick",
        "lot",
        "min_qty",
        "filled",
        "available",
    }
)
"""Fields that travel as decimal strings of integers."""

ORDER_STATUSES: Final = ("open", "filled", "cancelled", "expired")

_OPPOSITE: Final = {Side.BUY: Side.SELL, Side.SELL: Side.BUY}


def wire_event(event: object) -> dict[str, Any]:
    """Any tagged event (core or auth) as a JSON-ready dict, every field kept.

    For dev-operator answers: not on a hot path, so it walks the struct's fields generically.
    Enum values become plain ``str``.
    """
    if not isinstance(event, msgspec.Struct):
        raise TypeError(f"not an event: {event!r}")
    cls = type(event)
    out: dict[str, Any] = {"type": cls.__struct_config__.tag}
    for name in cls.__struct_fields__:
        value = getattr(event, name)
        if name in AMOUNT_FIELDS and type(value) is int:
            value = str(value)
        elif isinstance(value, Enum):
            value = value.value
        out[name] = value
    return out


# ---------------------------------------------------------------------- user events
# One builder per event type that has an ``account`` field; fills are seen from a side.


def _accepted(e: OrderAccepted) -> dict[str, Any]:
    return {
        "type": "accepted",
        "order_id": e.order_id,
        "market": e.market,
        "side": e.side,
        "price": str(e.price),
        "qty": str(e.qty),
        "tif": e.tif,
        "order_type": e.order_type,
        "client_order_id": e.client_order_id,
        "expires_at_ms": e.expires_at_ms,
    }


def _closed(e: OrderCancelled | OrderExpired) -> dict[str, Any]:
    """A cancelled or expired order: the same fields under the event's own tag."""
    return {
        "type": e.__struct_config__.tag,
        "order_id": e.order_id,
        "market": e.market,
        "remaining": str(e.remaining),
        "reason": e.reason,
    }


def _replaced(e: OrderReplaced) -> dict[str, Any]:
    return {
        "type": "replaced",
        "order_id": e.order_id,
        "market": e.market,
        "side": e.side,
        "price": str(e.price),
        "qty": str(e.qty),
        "priority_kept": e.priority_kept,
    }


def _balance(e: BalanceChanged) -> dict[str, Any]:
    return {"type": "balance", "token": e.token, "balance": str(e.balance), "locked": str(e.locked)}


def _deposited(e: DepositCredited) -> dict[str, Any]:
    return {
        "type": "deposited",
        "token": e.token,
        "amount": str(e.amount),
        "deposit_id": e.deposit_id,
    }


def _withdrawal(e: WithdrawalAuthorised) -> dict[str, Any]:
    return {
        "type": "withdrawal",
        "withdrawal_id": e.withdrawal_id,
        "token": e.token,
        "amount": str(e.amount),
    }


def _rejected(e: Rejected) -> dict[str, Any]:
    return {
        "type": "rejected",
        "action": e.action,
        "code": e.code,
        "order_id": e.order_id,
        "client_order_id": e.client_order_id,
    }


def maker_fill(e: Fill) -> dict[str, Any]:
    """A fill as its maker sees it."""
    return {
        "type": "fill",
        "order_id": e.maker_order_id,
        "market": e.market,
        "side": _OPPOSITE[e.taker_side],
        "liquidity": "maker",
        "price": str(e.price),
        "qty": str(e.qty),
        "quote_qty": str(e.quote_qty),
        "remaining": str(e.maker_remaining),
    }


def taker_fill(e: Fill) -> dict[str, Any]:
    """A fill as its taker sees it."""
    return {
        "type": "fill",
        "order_id": e.taker_order_id,
        "market": e.market,
        "side": e.taker_side,
        "liquidity": "taker",
        "price": str(e.price),
        "qty": str(e.qty),
        "quote_qty": str(e.quote_qty),
        "remaining": str(e.taker_remaining),
    }


# Types not in here (fills aside) are not user events: listings, taker limits, auth events.
_BUILDERS: Final[dict[type, Callable[[Any], dict[str, Any]]]] = {
    OrderAccepted: _accepted,
    OrderCancelled: _closed,
    OrderExpired: _closed,
    OrderReplaced: _replaced,
    BalanceChanged: _balance,
    DepositCredited: _deposited,
    WithdrawalAuthorised: _withdrawal,
    Rejected: _rejected,
}


def user_event(event: object) -> dict[str, Any] | None:
    """The user view of a non-fill event (its own account's), or None if it has none."""
    build = _BUILDERS.get(type(event))
    return build(event) if build is not None else None


def user_events(account: str, events: Iterable[object]) -> list[dict[str, Any]]:
    """The events of one command as ``account`` sees them (PROTOCOL.md, "User events").

    Events about other accounts and events of types that are not user events are left out.
    A fill in which ``account`` is both maker and taker (STP prevents it; kept safe) yields
    both views, maker first.
    """
    out: list[dict[str, Any]] = []
    append = out.append
    builders = _BUILDERS
    evs: Iterable[Any] = events
    for e in evs:
        t = type(e)
        if t is Fill:
            if e.maker_account == account:
                append(maker_fill(e))
            if e.taker_account == account:
                append(taker_fill(e))
            continue
        build = builders.get(t)
        if build is not None and e.account == account:
            append(build(e))
    return out


def user_events_by_account(
    events: Iterable[object],
    wanted: Callable[[str], bool],
    asked: dict[str, bool] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """One pass over a command's events: the user events of every account for which
    ``wanted(account)`` is true, in event order.

    Equal to ``{a: user_events(a, events)}`` for those accounts that have any; the user
    channel push uses it so that a command touching many accounts is walked once.
    ``wanted`` is asked once per account and the answers are kept in ``asked`` (pass the
    same dict for the commands of one batch).
    """
    out: dict[str, list[dict[str, Any]]] = {}
    if asked is None:
        asked = {}
    builders = _BUILDERS
    evs: Iterable[Any] = events
    for e in evs:
        t = type(e)
        if t is Fill:
            for account, build in (
                (e.maker_account, maker_fill),
                (e.taker_account, taker_fill),
            ):
                w = asked.get(account)
                if w is None:
                    w = asked[account] = wanted(account)
                if w:
                    lst = out.get(account)
                    if lst is None:
                        lst = out[account] = []
                    lst.append(build(e))
            continue
        b = builders.get(t)
        if b is None:
            continue
        account = e.account
        w = asked.get(account)
        if w is None:
            w = asked[account] = wanted(account)
        if w:
            lst = out.get(account)
            if lst is None:
                lst = out[account] = []
            lst.append(b(e))
    return out


def order_dict(order: Order, status: str) -> dict[str, Any]:
    """An order as PROTOCOL.md's "order": ``qty`` is what is (or was, at its end) open."""
    return {
        "order_id": order.id,
        "market": order.market,
        "side": order.side,
        "price": str(order.price),
        "qty": str(order.qty),
        "filled": str(order.filled),
        "tif": order.tif,
        "order_type": order.order_type,
        "client_order_id": order.client_order_id,
        "expires_at_ms": order.expires_at_ms,
        "status": status,
    }


def balance_dicts(core: Core, account: str) -> list[dict[str, Any]]:
    """An account's balances in listing order: every token it has a balance, lock or credit
    line in. ``available`` is ``Account.available`` (credit included, for takers)."""
    a = core.accounts.get(account)
    if a is None:
        return []
    balances, locked, credit = a.balances, a.locked, a.credit
    out: list[dict[str, Any]] = []
    for token in core.tokens:
        if token in balances or token in locked or token in credit:
            b = balances.get(token, 0)
            lk = locked.get(token, 0)
            out.append(
                {
                    "token": token,
                    "balance": str(b),
                    "locked": str(lk),
                    "available": str(b - lk + credit.get(token, 0)),
                }
            )
    return out

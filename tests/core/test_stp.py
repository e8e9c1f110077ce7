"""Self-trade prevention: expire maker (default), expire taker, expire both."""

from __future__ import annotations

import pytest

from server.core import (
    Core,
    Event,
    ExpireReason,
    Fill,
    OrderAccepted,
    OrderExpired,
    Place,
    Rejected,
    Replace,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from tests.core.fixtures import E6, E18, MKT, TICK, USDC, WETH, funded_core

BUY = Side.BUY
SELL = Side.SELL
EXPIRE_MAKER = SelfTradePrevention.EXPIRE_MAKER
EXPIRE_TAKER = SelfTradePrevention.EXPIRE_TAKER
EXPIRE_BOTH = SelfTradePrevention.EXPIRE_BOTH
SELF_TRADE = ExpireReason.SELF_TRADE

W0 = 1_000 * E18
U0 = 10_000_000 * E6
P = 2_000 * E6
Q = E18


def notional(qty: int, price: int) -> int:
    return qty * price // E18


def place(core: Core, account: str, side: Side, price: int, qty: int, **kw: object) -> list[Event]:
    return core.apply(Place(account, MKT, side, price, qty, **kw), 0)  # type: ignore[arg-type]


def rest(core: Core, account: str, side: Side, price: int, qty: int) -> int:
    events = place(core, account, side, price, qty)
    assert not any(isinstance(e, Fill | Rejected) for e in events), events
    (acc,) = [e for e in events if isinstance(e, OrderAccepted)]
    return acc.order_id


def expired(events: list[Event]) -> list[tuple[int, int, ExpireReason]]:
    return [(e.order_id, e.remaining, e.reason) for e in events if isinstance(e, OrderExpired)]


def fills(events: list[Event]) -> list[tuple[int, int, int]]:
    return [(f.maker_order_id, f.price, f.qty) for f in events if isinstance(f, Fill)]


def ids(core: Core, account: str) -> list[int]:
    return [o.id for o in core.open_orders(account)]


def book_with_own_order_between() -> tuple[Core, int, int, int]:
    """Asks at P: bob Q, then alice's own Q, then carol Q."""
    core = funded_core()
    b = rest(core, "bob", SELL, P, Q)
    a = rest(core, "alice", SELL, P, Q)
    c = rest(core, "carol", SELL, P, Q)
    return core, b, a, c


def test_default_is_expire_maker() -> None:
    assert Place("a", MKT, BUY, P, Q).stp is EXPIRE_MAKER


@pytest.mark.parametrize("explicit", [False, True])
def test_expire_maker_expires_own_order_and_continues(explicit: bool) -> None:
    core, b, a, c = book_with_own_order_between()
    kw = {"stp": EXPIRE_MAKER} if explicit else {}
    events = place(core, "alice", BUY, P, 2 * Q + Q // 2, **kw)
    t = events[0].order_id
    assert fills(events) == [(b, P, Q), (c, P, Q)]
    assert expired(events) == [(a, Q, SELF_TRADE)]
    # The maker is expired before matching reaches carol, after bob.
    kinds = [type(e) for e in events if isinstance(e, Fill | OrderExpired)]
    assert kinds == [Fill, OrderExpired, Fill]
    # The taker's remainder rests (GTC).
    (o,) = core.open_orders("alice")
    assert (o.id, o.qty, o.filled) == (t, Q // 2, 2 * Q)
    assert core.balance("alice", WETH) == (W0 + 2 * Q, 0)
    assert core.balance("alice", USDC) == (U0 - notional(2 * Q, P), notional(Q // 2, P))
    for maker in ("bob", "carol"):
        assert core.balance(maker, WETH) == (W0 - Q, 0)
        assert core.balance(maker, USDC) == (U0 + notional(Q, P), 0)
    assert core.markets[MKT].l2() == ([(P, Q // 2)], [])


def test_expire_maker_own_order_at_better_price() -> None:
    core = funded_core()
    a1 = rest(core, "alice", BUY, P + TICK, Q)
    a2 = rest(core, "alice", BUY, P, Q)
    b = rest(core, "bob", BUY, P - TICK, 2 * Q)
    events = place(core, "alice", SELL, P - TICK, Q)
    assert expired(events) == [(a1, Q, SELF_TRADE), (a2, Q, SELF_TRADE)]
    assert fills(events) == [(b, P - TICK, Q)]
    assert core.open_orders("alice") == []
    assert core.balance("alice", USDC) == (U0 + notional(Q, P - TICK), 0)
    assert core.balance("alice", WETH) == (W0 - Q, 0)
    assert core.balance("bob", USDC) == (U0 - notional(Q, P - TICK), notional(Q, P - TICK))


def test_expire_taker_keeps_earlier_fills_and_own_maker() -> None:
    core, b, a, c = book_with_own_order_between()
    events = place(core, "alice", BUY, P, 3 * Q, stp=EXPIRE_TAKER)
    t = events[0].order_id
    assert fills(events) == [(b, P, Q)]
    assert expired(events) == [(t, 2 * Q, SELF_TRADE)]
    assert ids(core, "alice") == [a]  # own maker untouched; taker remainder does not rest
    assert ids(core, "carol") == [c]
    assert core.balance("alice", WETH) == (W0 + Q, Q)
    assert core.balance("alice", USDC) == (U0 - notional(Q, P), 0)
    assert core.balance("bob", WETH) == (W0 - Q, 0)
    assert core.balance("bob", USDC) == (U0 + notional(Q, P), 0)
    assert core.balance("carol", WETH) == (W0, Q)
    assert core.markets[MKT].l2() == ([], [(P, 2 * Q)])


def test_expire_both_expires_maker_and_taker() -> None:
    core, b, a, c = book_with_own_order_between()
    events = place(core, "alice", BUY, P, 3 * Q, stp=EXPIRE_BOTH)
    t = events[0].order_id
    assert fills(events) == [(b, P, Q)]
    assert expired(events) == [(a, Q, SELF_TRADE), (t, 2 * Q, SELF_TRADE)]
    assert core.open_orders("alice") == []
    assert ids(core, "carol") == [c]
    assert core.balance("alice", WETH) == (W0 + Q, 0)
    assert core.balance("alice", USDC) == (U0 - notional(Q, P), 0)
    assert core.balance("carol", WETH) == (W0, Q)
    assert core.markets[MKT].l2() == ([], [(P, Q)])


@pytest.mark.parametrize("stp", [EXPIRE_TAKER, EXPIRE_BOTH])
def test_taker_side_modes_with_own_order_first_trade_nothing(stp: SelfTradePrevention) -> None:
    core = funded_core()
    a = rest(core, "alice", BUY, P, Q)
    b = rest(core, "bob", BUY, P, Q)
    events = place(core, "alice", SELL, P, Q, stp=stp)
    t = events[0].order_id
    assert fills(events) == []
    want = [(t, Q, SELF_TRADE)] if stp is EXPIRE_TAKER else [(a, Q, SELF_TRADE), (t, Q, SELF_TRADE)]
    assert expired(events) == want
    assert ids(core, "alice") == ([a] if stp is EXPIRE_TAKER else [])
    assert ids(core, "bob") == [b]
    assert core.balance("alice", WETH) == (W0, 0)
    locked = notional(Q, P) if stp is EXPIRE_TAKER else 0
    assert core.balance("alice", USDC) == (U0, locked)


def test_fok_expire_maker_fills_past_own_order() -> None:
    core, b, a, c = book_with_own_order_between()
    events = place(core, "alice", BUY, P, 2 * Q, tif=TimeInForce.FOK)
    assert fills(events) == [(b, P, Q), (c, P, Q)]
    assert expired(events) == [(a, Q, SELF_TRADE)]
    assert core.balance("alice", WETH) == (W0 + 2 * Q, 0)
    assert core.balance("alice", USDC) == (U0 - notional(2 * Q, P), 0)


@pytest.mark.parametrize("stp", [EXPIRE_TAKER, EXPIRE_BOTH])
def test_fok_taker_side_modes_stopped_by_own_order_do_nothing(stp: SelfTradePrevention) -> None:
    core, b, a, c = book_with_own_order_between()
    h = core.state_hash()
    events = place(core, "alice", BUY, P, 2 * Q, tif=TimeInForce.FOK, stp=stp)
    t = events[0].order_id
    assert fills(events) == []
    assert expired(events) == [(t, 2 * Q, ExpireReason.FOK)]
    assert (ids(core, "alice"), ids(core, "bob"), ids(core, "carol")) == ([a], [b], [c])
    assert core.balance("alice", WETH) == (W0, Q)
    assert core.balance("alice", USDC) == (U0, 0)
    assert core.next_order_id == t + 1
    assert h != core.state_hash()  # only because an order id was used


def test_replace_into_own_order_applies_stp() -> None:
    core = funded_core()
    own_ask = rest(core, "alice", SELL, P, Q)
    b = rest(core, "bob", SELL, P + TICK, Q)
    bid = rest(core, "alice", BUY, P - TICK, Q)
    events = core.apply(Replace("alice", MKT, BUY, P + TICK, Q, order_id=bid), 0)
    assert expired(events) == [(own_ask, Q, SELF_TRADE)]
    assert fills(events) == [(b, P + TICK, Q)]
    assert core.open_orders("alice") == []
    assert core.balance("alice", WETH) == (W0 + Q, 0)
    assert core.balance("alice", USDC) == (U0 - notional(Q, P + TICK), 0)

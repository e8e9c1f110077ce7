"""Order types and behaviours of the exchange core, with exact money checks."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from server.core import (
    MAX_BATCH,
    AdvanceTime,
    BalanceChanged,
    Batch,
    Cancel,
    CancelAll,
    CancelReason,
    Command,
    Core,
    Deposit,
    DepositCredited,
    Event,
    ExpireReason,
    Fill,
    ListMarket,
    ListToken,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderReplaced,
    OrderType,
    Place,
    RejectCode,
    Rejected,
    Replace,
    SetTakerLimit,
    Side,
    TakerLimitSet,
    TimeInForce,
    Withdraw,
    WithdrawalAuthorised,
)
from tests.core.fixtures import (
    E6,
    E18,
    LOT,
    MIN_QTY,
    MKT,
    TICK,
    USDC,
    WETH,
    Funder,
    funded_core,
    new_core,
)

BUY = Side.BUY
SELL = Side.SELL
GTC = TimeInForce.GTC
IOC = TimeInForce.IOC
FOK = TimeInForce.FOK
POST_ONLY = TimeInForce.POST_ONLY
MARKET = OrderType.MARKET

W0 = 1_000 * E18  # funded_core's WETH per account
U0 = 10_000_000 * E6  # funded_core's USDC per account
P = 2_000 * E6  # 2000 USDC per WETH
Q = E18  # 1 WETH

WBTC = "0x" + "33" * 20
MKT2 = "WBTC-USDC"


def notional(qty: int, price: int) -> int:
    return qty * price // E18


def place(
    core: Core, account: str, side: Side, price: int, qty: int, ts: int = 0, **kw: object
) -> list[Event]:
    return core.apply(Place(account, MKT, side, price, qty, **kw), ts)  # type: ignore[arg-type]


def of(events: list[Event], cls: type) -> list:
    return [e for e in events if isinstance(e, cls)]


def oid(events: list[Event]) -> int:
    (acc,) = of(events, OrderAccepted)
    return acc.order_id


def rest(core: Core, account: str, side: Side, price: int, qty: int, **kw: object) -> int:
    """Place an order that must rest untouched; return its id."""
    events = place(core, account, side, price, qty, **kw)
    assert not of(events, Fill) and not of(events, Rejected), events
    return oid(events)


def open_ids(core: Core, account: str, market: str = "") -> list[int]:
    return [o.id for o in core.open_orders(account, market)]


def list_second_market(core: Core) -> None:
    core.apply(ListToken(WBTC, "WBTC", 8), 0)
    events = core.apply(ListMarket(MKT2, WBTC, USDC, 10_000, 10_000, 10_000), 0)
    assert type(events[0]).__name__ == "MarketListed", events


def assert_consistent(core: Core) -> None:
    """Locks equal what the open orders need, and a snapshot restores to the same state."""
    for account in core.accounts:
        need: dict[str, int] = {}
        for o in core.open_orders(account):
            tok, amount = core.order_lock(o)
            need[tok] = need.get(tok, 0) + amount
        locked = {t: v for t, v in core.accounts[account].locked.items() if v}
        assert locked == need, account
    assert Core.restore(core.snapshot()).state_hash() == core.state_hash()


def assert_balance_events_match(core: Core, events: list[Event]) -> None:
    bcs = of(events, BalanceChanged)
    pairs = [(b.account, b.token) for b in bcs]
    assert len(pairs) == len(set(pairs)), pairs
    for b in bcs:
        assert (b.balance, b.locked) == core.balance(b.account, b.token)


# ---------------------------------------------------------------- GTC


def test_gtc_buy_rests_and_locks_quote() -> None:
    core = funded_core()
    events = place(core, "alice", BUY, P, 3 * Q)
    (acc,) = of(events, OrderAccepted)
    assert (acc.side, acc.price, acc.qty, acc.tif, acc.order_type) == (BUY, P, 3 * Q, GTC, "limit")
    assert not of(events, Fill)
    assert open_ids(core, "alice") == [acc.order_id]
    assert core.balance("alice", USDC) == (U0, notional(3 * Q, P))
    assert core.balance("alice", WETH) == (W0, 0)
    assert core.markets[MKT].l2() == ([(P, 3 * Q)], [])


def test_gtc_sell_rests_and_locks_base() -> None:
    core = funded_core()
    rest(core, "bob", SELL, P, 2 * Q)
    assert core.balance("bob", WETH) == (W0, 2 * Q)
    assert core.balance("bob", USDC) == (U0, 0)
    assert core.markets[MKT].l2() == ([], [(P, 2 * Q)])


def test_gtc_maker_partially_filled_keeps_resting() -> None:
    core = funded_core()
    maker = rest(core, "bob", SELL, P, 3 * Q)
    events = place(core, "alice", BUY, P, Q)
    (fill,) = of(events, Fill)
    assert (fill.maker_order_id, fill.qty, fill.maker_remaining, fill.taker_remaining) == (
        maker,
        Q,
        2 * Q,
        0,
    )
    (o,) = core.open_orders("bob")
    assert (o.id, o.qty, o.filled) == (maker, 2 * Q, Q)
    assert core.balance("bob", WETH) == (W0 - Q, 2 * Q)
    assert core.balance("bob", USDC) == (U0 + notional(Q, P), 0)
    assert core.balance("alice", WETH) == (W0 + Q, 0)
    assert core.balance("alice", USDC) == (U0 - notional(Q, P), 0)
    assert core.open_orders("alice") == []


def test_gtc_taker_partially_filled_rests_remainder_at_its_price() -> None:
    core = funded_core()
    rest(core, "bob", SELL, P, Q)
    limit = P + 50 * TICK
    events = place(core, "alice", BUY, limit, 3 * Q)
    (fill,) = of(events, Fill)
    assert (fill.price, fill.qty, fill.taker_remaining) == (P, Q, 2 * Q)
    (o,) = core.open_orders("alice")
    assert (o.price, o.qty, o.filled) == (limit, 2 * Q, Q)
    assert core.balance("alice", USDC) == (U0 - notional(Q, P), notional(2 * Q, limit))
    assert core.markets[MKT].l2() == ([(limit, 2 * Q)], [])


# ---------------------------------------------------------------- IOC


def test_ioc_remainder_expires() -> None:
    core = funded_core()
    rest(core, "bob", SELL, P, Q)
    events = place(core, "alice", BUY, P, 3 * Q, tif=IOC)
    taker = oid(events)
    (fill,) = of(events, Fill)
    assert fill.qty == Q
    (exp,) = of(events, OrderExpired)
    assert (exp.order_id, exp.remaining, exp.reason) == (taker, 2 * Q, ExpireReason.IOC)
    assert events.index(fill) < events.index(exp)
    assert core.open_orders("alice") == []
    assert core.balance("alice", USDC) == (U0 - notional(Q, P), 0)
    assert core.balance("alice", WETH) == (W0 + Q, 0)
    assert core.markets[MKT].l2() == ([], [])


def test_ioc_without_liquidity_expires_whole() -> None:
    core = funded_core()
    rest(core, "bob", SELL, P + TICK, Q)
    h = core.state_hash()
    events = place(core, "alice", BUY, P, Q, tif=IOC)
    assert [type(e) for e in events] == [OrderAccepted, OrderExpired]
    assert events[1].remaining == Q and events[1].reason is ExpireReason.IOC
    assert core.balance("alice", USDC) == (U0, 0)
    # Only the order id counter moved.
    assert core.next_order_id == 3
    assert h != core.state_hash()


def test_ioc_full_fill_has_no_expiry() -> None:
    core = funded_core()
    rest(core, "bob", SELL, P, 2 * Q)
    events = place(core, "alice", BUY, P, 2 * Q, tif=IOC)
    assert len(of(events, Fill)) == 1
    assert of(events, OrderExpired) == []


# ---------------------------------------------------------------- FOK


def test_fok_fills_completely_across_levels() -> None:
    core = funded_core()
    rest(core, "bob", SELL, P, Q)
    rest(core, "carol", SELL, P + TICK, Q)
    events = place(core, "alice", BUY, P + TICK, 2 * Q, tif=FOK)
    fills = of(events, Fill)
    assert [(f.price, f.qty, f.maker_account) for f in fills] == [
        (P, Q, "bob"),
        (P + TICK, Q, "carol"),
    ]
    assert of(events, OrderExpired) == []
    paid = notional(Q, P) + notional(Q, P + TICK)
    assert core.balance("alice", USDC) == (U0 - paid, 0)
    assert core.balance("alice", WETH) == (W0 + 2 * Q, 0)


def _assert_fok_expired(core: Core, events: list[Event], qty: int) -> None:
    assert [type(e) for e in events] == [OrderAccepted, OrderExpired]
    acc, exp = events
    assert (exp.order_id, exp.remaining, exp.reason) == (acc.order_id, qty, ExpireReason.FOK)


def test_fok_without_enough_liquidity_does_nothing() -> None:
    core = funded_core()
    b = rest(core, "bob", SELL, P, Q)
    c = rest(core, "carol", SELL, P + 2 * TICK, 5 * Q)  # beyond the FOK's limit
    before = {(a, t): core.balance(a, t) for a in ("alice", "bob", "carol") for t in (WETH, USDC)}
    book = core.markets[MKT].l2()
    events = place(core, "alice", BUY, P + TICK, 2 * Q, tif=FOK)
    _assert_fok_expired(core, events, 2 * Q)
    after = {(a, t): core.balance(a, t) for a in ("alice", "bob", "carol") for t in (WETH, USDC)}
    assert after == before
    assert core.markets[MKT].l2() == book
    assert open_ids(core, "bob") == [b] and open_ids(core, "carol") == [c]
    assert core.open_orders("alice") == []


def test_fok_not_crossing_expires() -> None:
    core = funded_core()
    rest(core, "bob", SELL, P + TICK, Q)
    events = place(core, "alice", BUY, P, Q, tif=FOK)
    _assert_fok_expired(core, events, Q)


def test_fok_only_own_liquidity_expires_and_leaves_own_order() -> None:
    core = funded_core()
    own = rest(core, "alice", SELL, P, 2 * Q)
    before = (core.balance("alice", WETH), core.balance("alice", USDC))
    events = place(core, "alice", BUY, P, Q, tif=FOK)
    _assert_fok_expired(core, events, Q)
    assert open_ids(core, "alice") == [own]
    assert (core.balance("alice", WETH), core.balance("alice", USDC)) == before


def test_fok_own_liquidity_does_not_count_towards_fill() -> None:
    core = funded_core()
    own = rest(core, "alice", SELL, P, Q)
    other = rest(core, "bob", SELL, P, Q)
    events = place(core, "alice", BUY, P, 2 * Q, tif=FOK)
    _assert_fok_expired(core, events, 2 * Q)
    assert open_ids(core, "alice") == [own] and open_ids(core, "bob") == [other]
    assert core.balance("bob", WETH) == (W0, Q)


def test_fok_sell_fills_exactly() -> None:
    core = funded_core()
    rest(core, "bob", BUY, P, Q)
    rest(core, "carol", BUY, P - TICK, Q)
    events = place(core, "alice", SELL, P - TICK, 2 * Q, tif=FOK)
    assert [f.price for f in of(events, Fill)] == [P, P - TICK]
    assert core.balance("alice", USDC) == (U0 + notional(Q, P) + notional(Q, P - TICK), 0)
    assert core.balance("carol", USDC) == (U0 - notional(Q, P - TICK), 0)


# ---------------------------------------------------------------- POST_ONLY


def test_post_only_rests() -> None:
    core = funded_core()
    rest(core, "bob", SELL, P + TICK, Q)
    events = place(core, "alice", BUY, P, Q, tif=POST_ONLY)
    (acc,) = of(events, OrderAccepted)
    assert acc.tif is POST_ONLY
    assert open_ids(core, "alice") == [acc.order_id]
    assert core.balance("alice", USDC) == (U0, notional(Q, P))


@pytest.mark.parametrize(
    ("side", "price"),
    [(BUY, P), (BUY, P + TICK), (SELL, P - 10 * TICK), (SELL, P - 11 * TICK)],
)
def test_post_only_that_would_cross_is_rejected(side: Side, price: int) -> None:
    core = funded_core()
    rest(core, "bob", SELL, P, Q)
    rest(core, "carol", BUY, P - 10 * TICK, Q)
    h = core.state_hash()
    events = place(core, "alice", side, price, Q, tif=POST_ONLY)
    assert events == [Rejected("place", "alice", RejectCode.POST_ONLY_WOULD_CROSS)]
    assert core.state_hash() == h


# ---------------------------------------------------------------- market orders


def _ask_ladder(core: Core) -> None:
    rest(core, "bob", SELL, P, Q)
    rest(core, "bob", SELL, P + 10 * TICK, Q)
    rest(core, "carol", SELL, P + 20 * TICK, Q)


def test_market_ioc_buy_does_not_trade_through_protective_limit() -> None:
    core = funded_core()
    _ask_ladder(core)
    events = place(core, "alice", BUY, P + 10 * TICK, 3 * Q, tif=IOC, order_type=MARKET)
    (acc,) = of(events, OrderAccepted)
    assert acc.order_type is MARKET
    assert [(f.price, f.qty) for f in of(events, Fill)] == [(P, Q), (P + 10 * TICK, Q)]
    (exp,) = of(events, OrderExpired)
    assert (exp.remaining, exp.reason) == (Q, ExpireReason.IOC)
    assert core.markets[MKT].l2() == ([], [(P + 20 * TICK, Q)])
    paid = notional(Q, P) + notional(Q, P + 10 * TICK)
    assert core.balance("alice", USDC) == (U0 - paid, 0)
    assert core.open_orders("alice") == []


def test_market_fok_buy_within_limit_fills_and_beyond_expires() -> None:
    core = funded_core()
    _ask_ladder(core)
    events = place(core, "alice", BUY, P + 10 * TICK, 3 * Q, tif=FOK, order_type=MARKET)
    _assert_fok_expired(core, events, 3 * Q)
    events = place(core, "alice", BUY, P + 10 * TICK, 2 * Q, tif=FOK, order_type=MARKET)
    assert sum(f.qty for f in of(events, Fill)) == 2 * Q
    assert of(events, OrderExpired) == []


def test_market_sell_respects_protective_limit() -> None:
    core = funded_core()
    rest(core, "bob", BUY, P, Q)
    rest(core, "carol", BUY, P - 10 * TICK, Q)
    events = place(core, "alice", SELL, P - 5 * TICK, 2 * Q, tif=IOC, order_type=MARKET)
    assert [(f.price, f.qty) for f in of(events, Fill)] == [(P, Q)]
    (exp,) = of(events, OrderExpired)
    assert exp.remaining == Q
    assert core.balance("alice", WETH) == (W0 - Q, 0)
    assert core.markets[MKT].l2() == ([(P - 10 * TICK, Q)], [])


def test_market_buy_checks_balance_at_protective_price() -> None:
    core = funded_core(("bob",))
    fund = Funder(core)
    limit = P + 100 * TICK
    fund("dave", USDC, notional(Q, limit) - 1)
    fund("erin", USDC, notional(Q, limit))
    rest(core, "bob", SELL, P, 2 * Q)
    h = core.state_hash()
    events = place(core, "dave", BUY, limit, Q, tif=IOC, order_type=MARKET)
    assert events == [Rejected("place", "dave", RejectCode.INSUFFICIENT_BALANCE)]
    assert core.state_hash() == h
    # Exactly enough at the protective price: accepted, and it pays the maker's price only.
    events = place(core, "erin", BUY, limit, Q, tif=IOC, order_type=MARKET)
    (fill,) = of(events, Fill)
    assert (fill.price, fill.quote_qty) == (P, notional(Q, P))
    assert core.balance("erin", USDC) == (notional(Q, limit) - notional(Q, P), 0)
    assert core.balance("erin", WETH) == (Q, 0)


# ---------------------------------------------------------------- good-til-time


def test_gtt_expires_on_advance_time_and_releases_lock() -> None:
    core = funded_core()
    o = oid(place(core, "alice", BUY, P, 2 * Q, ts=100, expires_at_ms=1_000))
    assert core.balance("alice", USDC) == (U0, notional(2 * Q, P))
    assert core.apply(AdvanceTime(), 999) == []
    assert open_ids(core, "alice") == [o]
    events = core.apply(AdvanceTime(), 1_000)
    assert events == [
        OrderExpired(o, "alice", MKT, 2 * Q, ExpireReason.GTT),
        BalanceChanged("alice", USDC, U0, 0),
    ]
    assert core.open_orders("alice") == []
    assert core.markets[MKT].l2() == ([], [])
    assert core.apply(AdvanceTime(), 5_000) == []


def test_gtt_expires_before_a_later_command_and_does_not_trade() -> None:
    core = funded_core()
    o = oid(place(core, "bob", SELL, P, Q, expires_at_ms=1_000))
    events = place(core, "alice", BUY, P, Q, ts=1_500)
    assert isinstance(events[0], OrderExpired)
    assert (events[0].order_id, events[0].reason) == (o, ExpireReason.GTT)
    assert of(events, Fill) == []
    assert core.balance("bob", WETH) == (W0, 0)
    assert core.markets[MKT].l2() == ([(P, Q)], [])


def test_gtt_partially_filled_expires_with_remaining() -> None:
    core = funded_core()
    o = oid(place(core, "bob", SELL, P, 3 * Q, tif=POST_ONLY, expires_at_ms=1_000))
    place(core, "alice", BUY, P, Q, ts=10)
    events = core.apply(AdvanceTime(), 2_000)
    (exp,) = of(events, OrderExpired)
    assert (exp.order_id, exp.remaining, exp.reason) == (o, 2 * Q, ExpireReason.GTT)
    assert core.balance("bob", WETH) == (W0 - Q, 0)


def test_gtt_order_expires_only_once_after_replace_and_not_after_cancel() -> None:
    core = funded_core()
    a = oid(place(core, "alice", BUY, P, Q, expires_at_ms=1_000))
    b = oid(place(core, "bob", BUY, P, Q, expires_at_ms=1_000))
    core.apply(Replace("alice", MKT, BUY, P - TICK, 2 * Q, order_id=a), 1)
    core.apply(Cancel("bob", MKT, order_id=b), 2)
    events = core.apply(AdvanceTime(), 1_000)
    assert [(e.order_id, e.remaining) for e in of(events, OrderExpired)] == [(a, 2 * Q)]
    assert core.balance("alice", USDC) == (U0, 0)


def test_gtt_fully_filled_on_entry_never_expires() -> None:
    core = funded_core()
    rest(core, "bob", SELL, P, Q)
    events = place(core, "alice", BUY, P, Q, expires_at_ms=1_000)
    assert len(of(events, Fill)) == 1
    assert core.apply(AdvanceTime(), 1_000) == []


# ---------------------------------------------------------------- client order ids


def test_cancel_by_client_order_id() -> None:
    core = funded_core()
    o = oid(place(core, "alice", BUY, P, Q, client_order_id="my-1"))
    events = core.apply(Cancel("alice", MKT, client_order_id="my-1"), 0)
    assert events[0] == OrderCancelled(o, "alice", MKT, Q, CancelReason.USER)
    assert core.open_orders("alice") == []
    assert core.balance("alice", USDC) == (U0, 0)


def test_duplicate_client_order_id_among_open_orders_rejected() -> None:
    core = funded_core()
    rest(core, "alice", BUY, P, Q, client_order_id="x")
    h = core.state_hash()
    events = place(core, "alice", BUY, P - TICK, Q, client_order_id="x")
    assert events == [
        Rejected("place", "alice", RejectCode.DUPLICATE_CLIENT_ORDER_ID, 0, "x"),
    ]
    assert core.state_hash() == h
    # Another account may use the same id.
    rest(core, "bob", BUY, P, Q, client_order_id="x")


def test_client_order_id_reusable_after_order_closes() -> None:
    core = funded_core()
    a = rest(core, "alice", BUY, P, Q, client_order_id="c")
    core.apply(Cancel("alice", MKT, order_id=a), 0)
    b = rest(core, "alice", SELL, P + TICK, Q, client_order_id="c")  # after a cancel
    place(core, "bob", BUY, P + TICK, Q)  # fills it completely
    assert core.open_orders("alice") == []
    c = rest(core, "alice", BUY, P, Q, client_order_id="c", expires_at_ms=10)  # after a fill
    core.apply(AdvanceTime(), 10)
    assert core.open_orders("alice") == []
    d = rest(core, "alice", BUY, P, Q, ts=20, client_order_id="c")  # after an expiry
    assert len({a, b, c, d}) == 4
    events = core.apply(Cancel("alice", MKT, client_order_id="c"), 20)
    assert of(events, OrderCancelled)[0].order_id == d


def test_ioc_client_order_id_never_rests() -> None:
    core = funded_core()
    place(core, "alice", BUY, P, Q, tif=IOC, client_order_id="z")
    rest(core, "alice", BUY, P, Q, client_order_id="z")


def test_client_order_id_of_64_characters_is_accepted() -> None:
    core = funded_core()
    events = place(core, "alice", BUY, P, Q, client_order_id="k" * 64)
    assert of(events, OrderAccepted)[0].client_order_id == "k" * 64


# ---------------------------------------------------------------- price-time priority


def test_better_ask_fills_first_and_taker_pays_maker_price() -> None:
    core = funded_core()
    rest(core, "bob", SELL, P + 10 * TICK, Q)
    c = rest(core, "carol", SELL, P, Q)
    events = place(core, "alice", BUY, P + 10 * TICK, Q)
    (fill,) = of(events, Fill)
    assert (fill.maker_order_id, fill.price, fill.quote_qty) == (c, P, notional(Q, P))
    assert core.balance("alice", USDC) == (U0 - notional(Q, P), 0)


def test_better_bid_fills_first() -> None:
    core = funded_core()
    rest(core, "bob", BUY, P - 10 * TICK, Q)
    c = rest(core, "carol", BUY, P, Q)
    events = place(core, "alice", SELL, P - 10 * TICK, Q)
    (fill,) = of(events, Fill)
    assert (fill.maker_order_id, fill.price) == (c, P)
    assert core.balance("alice", USDC) == (U0 + notional(Q, P), 0)


@pytest.mark.parametrize("side", [BUY, SELL])
def test_same_price_earlier_order_fills_first(side: Side) -> None:
    core = funded_core()
    maker_side = SELL if side is BUY else BUY
    first = rest(core, "bob", maker_side, P, Q)
    second = rest(core, "carol", maker_side, P, Q)
    events = place(core, "alice", side, P, Q + Q // 2)
    assert [(f.maker_order_id, f.qty) for f in of(events, Fill)] == [(first, Q), (second, Q // 2)]
    assert [(o.id, o.qty) for o in core.open_orders("carol")] == [(second, Q // 2)]


# ---------------------------------------------------------------- exact fills


def test_fill_moves_exact_amounts_taker_buys() -> None:
    core = funded_core()
    qty = 12_345 * LOT  # 1.2345 WETH
    price = P + 37 * TICK  # 2000.37 USDC
    limit = price + 1_000 * TICK
    m = rest(core, "bob", SELL, price, 2 * qty)
    events = place(core, "alice", BUY, limit, qty)
    (fill,) = of(events, Fill)
    quote = 12_345 * 200_037  # 1.2345 * 2000.37 USDC = 2469.456765 USDC
    assert quote == qty * price // 10**18
    assert fill == Fill(MKT, price, qty, quote, BUY, m, "bob", qty, fill.taker_order_id, "alice", 0)
    assert core.balance("alice", WETH) == (W0 + qty, 0)
    assert core.balance("alice", USDC) == (U0 - quote, 0)  # no over-reserve left locked
    assert core.balance("bob", WETH) == (W0 - qty, qty)
    assert core.balance("bob", USDC) == (U0 + quote, 0)


def test_fill_moves_exact_amounts_taker_sells() -> None:
    core = funded_core()
    qty = 7 * LOT + 3 * MIN_QTY
    price = P - 123 * TICK
    m = rest(core, "bob", BUY, price, qty * 3)
    events = place(core, "alice", SELL, price - 77 * TICK, qty)
    (fill,) = of(events, Fill)
    quote = qty * price // E18
    assert quote * E18 == qty * price  # exact by market validation
    assert (fill.price, fill.qty, fill.quote_qty, fill.taker_side, fill.maker_order_id) == (
        price,
        qty,
        quote,
        SELL,
        m,
    )
    assert core.balance("alice", WETH) == (W0 - qty, 0)
    assert core.balance("alice", USDC) == (U0 + quote, 0)
    assert core.balance("bob", WETH) == (W0 + qty, 0)
    assert core.balance("bob", USDC) == (U0 - quote, notional(2 * qty, price))


def test_many_partial_fills_release_maker_lock_exactly() -> None:
    core = funded_core()
    price = P + 13 * TICK
    rest(core, "bob", BUY, price, 10 * MIN_QTY + 7 * LOT)
    for _ in range(10):
        place(core, "alice", SELL, price, MIN_QTY)
    assert core.balance("bob", USDC) == (
        U0 - notional(10 * MIN_QTY, price),
        notional(7 * LOT, price),
    )
    place(core, "alice", SELL, price, MIN_QTY)  # only 7 lots left on the bid; rest remains
    assert core.balance("bob", USDC) == (U0 - notional(10 * MIN_QTY + 7 * LOT, price), 0)
    assert core.open_orders("bob") == []
    assert core.balance("alice", WETH) == (W0 - 10 * MIN_QTY - 7 * LOT, MIN_QTY - 7 * LOT)


# ---------------------------------------------------------------- cancel


def test_cancel_releases_lock() -> None:
    core = funded_core()
    o = rest(core, "bob", SELL, P, 3 * Q)
    place(core, "alice", BUY, P, Q)
    events = core.apply(Cancel("bob", MKT, order_id=o), 0)
    assert events == [
        OrderCancelled(o, "bob", MKT, 2 * Q, CancelReason.USER),
        BalanceChanged("bob", WETH, W0 - Q, 0),
    ]
    assert core.markets[MKT].l2() == ([], [])
    again = core.apply(Cancel("bob", MKT, order_id=o), 0)
    assert again == [Rejected("cancel", "bob", RejectCode.ORDER_NOT_FOUND, o)]


# ---------------------------------------------------------------- cancel all


def test_cancel_all_per_market_and_for_all_markets() -> None:
    core = funded_core()
    list_second_market(core)
    Funder(core)("alice", WBTC, 10**8)
    a1 = rest(core, "alice", BUY, P, Q)
    a2 = rest(core, "alice", SELL, P + TICK, Q)
    b1 = rest(core, "bob", BUY, P, Q)
    x = oid(core.apply(Place("alice", MKT2, SELL, 60_000 * E6, 10**8), 0))
    x2 = oid(core.apply(Place("alice", MKT2, BUY, 50_000 * E6, 10**8), 0))

    events = core.apply(CancelAll("alice", MKT), 0)
    cancelled = of(events, OrderCancelled)
    assert [(c.order_id, c.reason, c.market) for c in cancelled] == [
        (a1, CancelReason.CANCEL_ALL, MKT),
        (a2, CancelReason.CANCEL_ALL, MKT),
    ]
    assert core.balance("alice", USDC) == (
        U0,
        notional(10**8, 50_000 * E6) // 10**0 * 0 + 50_000 * E6,
    )
    assert core.balance("alice", WETH) == (W0, 0)
    assert open_ids(core, "alice") == [x, x2]
    assert open_ids(core, "bob") == [b1]

    events = core.apply(CancelAll("alice"), 0)
    assert [c.order_id for c in of(events, OrderCancelled)] == [x, x2]
    assert core.open_orders("alice") == []
    assert core.balance("alice", USDC) == (U0, 0)
    assert core.balance("alice", WBTC) == (10**8, 0)
    assert open_ids(core, "bob") == [b1]
    assert core.apply(CancelAll("alice"), 0) == []


# ---------------------------------------------------------------- replace


def test_replace_smaller_qty_same_price_keeps_priority() -> None:
    core = funded_core()
    b = rest(core, "bob", SELL, P, 3 * Q)
    c = rest(core, "carol", SELL, P, Q)
    events = core.apply(Replace("bob", MKT, SELL, P, Q, order_id=b), 0)
    assert events[0] == OrderReplaced(b, "bob", MKT, SELL, P, Q, True)
    assert core.balance("bob", WETH) == (W0, Q)
    assert core.markets[MKT].l2() == ([], [(P, 2 * Q)])
    assert_consistent(core)
    fills = of(place(core, "alice", BUY, P, Q), Fill)
    assert [f.maker_order_id for f in fills] == [b]
    assert open_ids(core, "carol") == [c]
    assert core.balance("bob", WETH) == (W0 - Q, 0)


def test_replace_smaller_qty_buy_unlocks_exactly() -> None:
    core = funded_core()
    b = rest(core, "bob", BUY, P + 7 * TICK, 5 * Q + 3 * LOT)
    core.apply(Replace("bob", MKT, BUY, P + 7 * TICK, 2 * Q + LOT, order_id=b), 0)
    assert core.balance("bob", USDC) == (U0, notional(2 * Q + LOT, P + 7 * TICK))
    assert core.markets[MKT].l2() == ([(P + 7 * TICK, 2 * Q + LOT)], [])


def test_replace_same_price_same_qty_keeps_priority() -> None:
    core = funded_core()
    b = rest(core, "bob", BUY, P, Q)
    rest(core, "carol", BUY, P, Q)
    h = core.state_hash()
    events = core.apply(Replace("bob", MKT, BUY, P, Q, order_id=b), 0)
    assert events == [OrderReplaced(b, "bob", MKT, BUY, P, Q, True)]
    assert core.state_hash() == h
    assert [f.maker_order_id for f in of(place(core, "alice", SELL, P, Q), Fill)] == [b]


def test_replace_new_price_loses_priority() -> None:
    core = funded_core()
    b = rest(core, "bob", BUY, P, Q)
    c = rest(core, "carol", BUY, P, Q)
    events = core.apply(Replace("bob", MKT, BUY, P - TICK, Q, order_id=b), 0)
    assert of(events, OrderReplaced) == [OrderReplaced(b, "bob", MKT, BUY, P - TICK, Q, False)]
    assert core.balance("bob", USDC) == (U0, notional(Q, P - TICK))
    assert core.markets[MKT].l2() == ([(P, Q), (P - TICK, Q)], [])
    assert_consistent(core)
    events = core.apply(Replace("bob", MKT, BUY, P, Q, order_id=b), 0)
    assert events[0].priority_kept is False
    assert core.balance("bob", USDC) == (U0, notional(Q, P))
    assert core.markets[MKT].l2() == ([(P, 2 * Q)], [])
    # Back at P, but now behind carol.
    assert [f.maker_order_id for f in of(place(core, "alice", SELL, P, Q), Fill)] == [c]
    assert open_ids(core, "bob") == [b]


def test_replace_larger_qty_loses_priority() -> None:
    core = funded_core()
    b = rest(core, "bob", SELL, P, Q)
    c = rest(core, "carol", SELL, P, Q)
    events = core.apply(Replace("bob", MKT, SELL, P, 2 * Q, order_id=b), 0)
    assert events[0] == OrderReplaced(b, "bob", MKT, SELL, P, 2 * Q, False)
    assert core.balance("bob", WETH) == (W0, 2 * Q)
    assert core.markets[MKT].l2() == ([], [(P, 3 * Q)])
    assert_consistent(core)
    assert [f.maker_order_id for f in of(place(core, "alice", BUY, P, Q), Fill)] == [c]


def test_replace_to_crossing_price_trades_at_maker_price() -> None:
    core = funded_core()
    m = rest(core, "bob", SELL, P, Q)
    a = rest(core, "alice", BUY, P - 10 * TICK, 3 * Q)
    events = core.apply(Replace("alice", MKT, BUY, P + 5 * TICK, 3 * Q, order_id=a), 0)
    assert isinstance(events[0], OrderReplaced)
    (fill,) = of(events, Fill)
    assert (fill.maker_order_id, fill.taker_order_id, fill.price, fill.qty) == (m, a, P, Q)
    assert fill.taker_remaining == 2 * Q
    (o,) = core.open_orders("alice")
    assert (o.id, o.price, o.qty, o.filled) == (a, P + 5 * TICK, 2 * Q, Q)
    assert core.balance("alice", USDC) == (U0 - notional(Q, P), notional(2 * Q, P + 5 * TICK))
    assert core.balance("alice", WETH) == (W0 + Q, 0)
    assert core.balance("bob", USDC) == (U0 + notional(Q, P), 0)
    assert_consistent(core)


def test_replace_needing_more_than_available_is_rejected() -> None:
    core = funded_core(("bob",))
    Funder(core)("dave", USDC, notional(2 * Q, P))
    d = rest(core, "dave", BUY, P, 2 * Q)
    h = core.state_hash()
    for qty, price in [(2 * Q + LOT, P), (2 * Q, P + TICK)]:
        events = core.apply(Replace("dave", MKT, BUY, price, qty, order_id=d), 0)
        assert events == [Rejected("replace", "dave", RejectCode.INSUFFICIENT_BALANCE, d)]
        assert core.state_hash() == h
    # Its own lock counts: the same notional at another price and size fits.
    events = core.apply(Replace("dave", MKT, BUY, P // 2, 4 * Q, order_id=d), 0)
    assert events[0] == OrderReplaced(d, "dave", MKT, BUY, P // 2, 4 * Q, False)
    assert core.balance("dave", USDC) == (notional(2 * Q, P), notional(2 * Q, P))
    assert_consistent(core)


def test_replace_larger_at_the_exact_balance_boundary() -> None:
    core = funded_core(("bob",))
    fund = Funder(core)
    fund("dave", USDC, notional(2 * Q + LOT, P) - 1)  # one base unit short of the larger size
    d = rest(core, "dave", BUY, P, 2 * Q)
    h = core.state_hash()
    events = core.apply(Replace("dave", MKT, BUY, P, 2 * Q + LOT, order_id=d), 0)
    assert events == [Rejected("replace", "dave", RejectCode.INSUFFICIENT_BALANCE, d)]
    assert core.state_hash() == h
    fund("dave", USDC, 1)
    events = core.apply(Replace("dave", MKT, BUY, P, 2 * Q + LOT, order_id=d), 0)
    assert of(events, OrderReplaced) == [
        OrderReplaced(d, "dave", MKT, BUY, P, 2 * Q + LOT, False),
    ]
    assert core.balance("dave", USDC) == (notional(2 * Q + LOT, P), notional(2 * Q + LOT, P))
    assert_consistent(core)


def test_replace_growing_the_lock_by_one_unit_is_checked() -> None:
    core = funded_core(("bob",))
    fund = Funder(core)
    fund("erin", USDC, 100)
    e = rest(core, "erin", BUY, 10 * TICK, 10 * LOT)  # notional 100 base units: all she has
    assert core.balance("erin", USDC) == (100, 100)
    cmd = Replace("erin", MKT, BUY, TICK, 101 * LOT, order_id=e)  # notional 101
    h = core.state_hash()
    assert core.apply(cmd, 0) == [Rejected("replace", "erin", RejectCode.INSUFFICIENT_BALANCE, e)]
    assert core.state_hash() == h
    fund("erin", USDC, 1)
    assert of(core.apply(cmd, 0), OrderReplaced)[0].qty == 101 * LOT
    assert core.balance("erin", USDC) == (101, 101)


def test_replace_by_client_order_id() -> None:
    core = funded_core()
    a = rest(core, "alice", SELL, P, 2 * Q, client_order_id="s1")
    events = core.apply(Replace("alice", MKT, SELL, P + TICK, Q, client_order_id="s1"), 0)
    assert events[0] == OrderReplaced(a, "alice", MKT, SELL, P + TICK, Q, False)
    # Still addressable by its client order id after losing priority.
    events = core.apply(Cancel("alice", MKT, client_order_id="s1"), 0)
    assert events[0] == OrderCancelled(a, "alice", MKT, Q, CancelReason.USER)


# ---------------------------------------------------------------- batches


def test_batch_applied_in_order_not_atomic() -> None:
    core = funded_core()
    actions = (
        Place("alice", MKT, BUY, P, Q, client_order_id="a"),
        Place("alice", MKT, BUY, P, 0),  # bad: rejected on its own
        Cancel("alice", MKT, client_order_id="a"),
        Cancel("alice", MKT, client_order_id="a"),  # already gone
        Place("alice", MKT, SELL, P + TICK, 2 * Q, client_order_id="a"),
    )
    events = core.apply(Batch("alice", actions), 0)
    kinds = [type(e) for e in events if not isinstance(e, BalanceChanged)]
    assert kinds == [OrderAccepted, Rejected, OrderCancelled, Rejected, OrderAccepted]
    rejects = of(events, Rejected)
    assert [(r.action, r.code) for r in rejects] == [
        ("place", RejectCode.INVALID_QUANTITY),
        ("cancel", RejectCode.ORDER_NOT_FOUND),
    ]
    (o,) = core.open_orders("alice")
    assert (o.side, o.qty, o.client_order_id) == (SELL, 2 * Q, "a")
    assert core.balance("alice", USDC) == (U0, 0)
    assert core.balance("alice", WETH) == (W0, 2 * Q)
    assert_balance_events_match(core, events)
    # Balance events come once per pair, after all actions.
    assert [type(e) for e in events[-2:]] == [BalanceChanged, BalanceChanged]


def test_batch_order_matters() -> None:
    core = funded_core()
    actions = (
        Cancel("alice", MKT, client_order_id="q"),
        Place("alice", MKT, BUY, P, Q, client_order_id="q"),
    )
    events = core.apply(Batch("alice", actions), 0)
    assert of(events, Rejected)[0].code is RejectCode.ORDER_NOT_FOUND
    assert len(core.open_orders("alice")) == 1


def test_batch_of_max_size_applies() -> None:
    core = funded_core()
    actions = tuple(Place("alice", MKT, BUY, P - i * TICK, Q) for i in range(MAX_BATCH))
    events = core.apply(Batch("alice", actions), 0)
    assert len(of(events, OrderAccepted)) == MAX_BATCH
    assert len(core.open_orders("alice")) == MAX_BATCH


def test_batch_too_large_applies_nothing() -> None:
    core = funded_core()
    h = core.state_hash()
    actions = tuple(Place("alice", MKT, BUY, P - i * TICK, Q) for i in range(MAX_BATCH + 1))
    events = core.apply(Batch("alice", actions), 0)
    assert events == [Rejected("batch", "alice", RejectCode.BATCH_TOO_LARGE)]
    assert core.state_hash() == h


@pytest.mark.parametrize(
    "actions",
    [
        (),
        (Place("alice", MKT, BUY, P, Q), Place("bob", MKT, BUY, P, Q)),
        (Place("alice", MKT, BUY, P, Q), Cancel("bob", MKT, order_id=1)),
        (Place("alice", MKT, BUY, P, Q), CancelAll("alice")),
        (Place("alice", MKT, BUY, P, Q), Batch("alice", (Place("alice", MKT, BUY, P, Q),))),
    ],
    ids=["empty", "other-account-place", "other-account-cancel", "cancel-all", "nested"],
)
def test_invalid_batch_applies_nothing(actions: tuple) -> None:
    core = funded_core()
    h = core.state_hash()
    events = core.apply(Batch("alice", actions), 0)
    assert events == [Rejected("batch", "alice", RejectCode.INVALID_BATCH)]
    assert core.state_hash() == h


# ---------------------------------------------------------------- deposits


def test_deposit_ids_start_at_one_in_order() -> None:
    core = new_core()
    h = core.state_hash()
    events = core.apply(Deposit("alice", USDC, 5 * E6, 2), 0)
    assert events == [Rejected("deposit", "alice", RejectCode.DEPOSIT_OUT_OF_ORDER)]
    events = core.apply(Deposit("alice", USDC, 5 * E6, 0), 0)
    assert events == [Rejected("deposit", "alice", RejectCode.DUPLICATE_DEPOSIT)]
    assert core.state_hash() == h
    events = core.apply(Deposit("alice", USDC, 5 * E6, 1), 0)
    assert events == [
        DepositCredited("alice", USDC, 5 * E6, 1),
        BalanceChanged("alice", USDC, 5 * E6, 0),
    ]
    assert core.last_deposit_id == 1
    h = core.state_hash()
    assert core.apply(Deposit("bob", USDC, E6, 1), 0) == [
        Rejected("deposit", "bob", RejectCode.DUPLICATE_DEPOSIT)
    ]
    assert core.apply(Deposit("bob", USDC, E6, 3), 0) == [
        Rejected("deposit", "bob", RejectCode.DEPOSIT_OUT_OF_ORDER)
    ]
    assert core.state_hash() == h
    assert core.balance("bob", USDC) == (0, 0)
    core.apply(Deposit("alice", USDC, 7, 2), 0)
    assert core.balance("alice", USDC) == (5 * E6 + 7, 0)
    assert core.last_deposit_id == 2


# ---------------------------------------------------------------- withdrawals


def test_withdrawal_debits_and_records_authorisation() -> None:
    core = funded_core()
    events = core.apply(Withdraw("alice", USDC, 123 * E6), 0)
    assert events == [
        WithdrawalAuthorised(1, "alice", USDC, 123 * E6),
        BalanceChanged("alice", USDC, U0 - 123 * E6, 0),
    ]
    events = core.apply(Withdraw("bob", WETH, 1), 0)
    assert events[0] == WithdrawalAuthorised(2, "bob", WETH, 1)
    assert core.balance("bob", WETH) == (W0 - 1, 0)
    w = core.withdrawals[1]
    assert (w.id, w.account, w.token, w.amount) == (1, "alice", USDC, 123 * E6)
    assert sorted(core.withdrawals) == [1, 2]
    assert core.next_withdrawal_id == 3


def test_cannot_withdraw_locked_funds() -> None:
    core = funded_core()
    rest(core, "alice", SELL, P, 600 * E18)
    h = core.state_hash()
    events = core.apply(Withdraw("alice", WETH, 400 * E18 + 1), 0)
    assert events == [Rejected("withdraw", "alice", RejectCode.INSUFFICIENT_BALANCE)]
    assert core.state_hash() == h
    events = core.apply(Withdraw("alice", WETH, 400 * E18), 0)
    assert isinstance(events[0], WithdrawalAuthorised)
    assert core.balance("alice", WETH) == (600 * E18, 600 * E18)


def test_taker_cannot_withdraw_credit() -> None:
    core = funded_core(("bob",))
    Funder(core)("tk", USDC, 100 * E6)
    core.apply(SetTakerLimit("tk", USDC, 1_000 * E6), 0)
    h = core.state_hash()
    events = core.apply(Withdraw("tk", USDC, 100 * E6 + 1), 0)
    assert events == [Rejected("withdraw", "tk", RejectCode.INSUFFICIENT_BALANCE)]
    assert core.state_hash() == h
    assert isinstance(core.apply(Withdraw("tk", USDC, 100 * E6), 0)[0], WithdrawalAuthorised)
    # With a negative balance nothing can leave.
    rest(core, "bob", SELL, P, Q)
    place(core, "tk", BUY, P, Q // 4)
    assert core.balance("tk", USDC) == (-notional(Q // 4, P), 0)
    assert core.apply(Withdraw("tk", USDC, 1), 0) == [
        Rejected("withdraw", "tk", RejectCode.INSUFFICIENT_BALANCE)
    ]


# ---------------------------------------------------------------- takers


def test_taker_limit_lets_balance_go_negative_to_minus_limit() -> None:
    core = funded_core(("bob",))
    limit = notional(Q, P)
    events = core.apply(SetTakerLimit("tk", USDC, limit), 0)
    assert events == [TakerLimitSet("tk", USDC, limit)]
    rest(core, "bob", SELL, P, 2 * Q)
    h = core.state_hash()
    assert place(core, "tk", BUY, P, Q + LOT) == [
        Rejected("place", "tk", RejectCode.INSUFFICIENT_BALANCE)
    ]
    assert core.state_hash() == h
    events = place(core, "tk", BUY, P, Q)
    assert sum(f.qty for f in of(events, Fill)) == Q
    assert core.balance("tk", USDC) == (-limit, 0)
    assert core.balance("tk", WETH) == (Q, 0)
    assert place(core, "tk", BUY, TICK, MIN_QTY) == [
        Rejected("place", "tk", RejectCode.INSUFFICIENT_BALANCE)
    ]
    # Selling the WETH back brings the balance up again.
    rest(core, "bob", BUY, P, Q)
    place(core, "tk", SELL, P, Q)
    assert core.balance("tk", USDC) == (0, 0)
    assert core.balance("tk", WETH) == (0, 0)


def test_taker_resting_order_locks_on_credit() -> None:
    core = funded_core(("bob",))
    core.apply(SetTakerLimit("tk", WETH, 5 * Q), 0)
    rest(core, "tk", SELL, P, 5 * Q)
    assert core.balance("tk", WETH) == (0, 5 * Q)
    place(core, "bob", BUY, P, 2 * Q)
    assert core.balance("tk", WETH) == (-2 * Q, 3 * Q)
    assert core.balance("tk", USDC) == (notional(2 * Q, P), 0)


def test_taker_limit_below_exposure_rejected() -> None:
    core = funded_core(("bob",))
    core.apply(SetTakerLimit("tk", USDC, 1_000 * E6), 0)
    rest(core, "bob", SELL, P, Q)
    place(core, "tk", BUY, P, Q // 4)  # balance -500 USDC
    rest(core, "tk", BUY, P - 100 * E6, Q // 10)  # locks 190 USDC
    exposure = 500 * E6 + notional(Q // 10, P - 100 * E6)
    assert exposure == 690 * E6
    h = core.state_hash()
    events = core.apply(SetTakerLimit("tk", USDC, exposure - 1), 0)
    assert events == [Rejected("set_taker_limit", "tk", RejectCode.LIMIT_BELOW_EXPOSURE)]
    assert core.state_hash() == h
    events = core.apply(SetTakerLimit("tk", USDC, exposure), 0)
    assert events == [TakerLimitSet("tk", USDC, exposure)]
    assert place(core, "tk", BUY, P, MIN_QTY)[0].code is RejectCode.INSUFFICIENT_BALANCE


def test_taker_limit_zero_removes_credit() -> None:
    core = funded_core(("bob",))
    core.apply(SetTakerLimit("tk", USDC, 1_000 * E6), 0)
    assert core.accounts["tk"].credit == {USDC: 1_000 * E6}
    assert core.apply(SetTakerLimit("tk", USDC, 0), 0) == [TakerLimitSet("tk", USDC, 0)]
    assert core.accounts["tk"].credit == {}
    assert place(core, "tk", BUY, P, Q)[0].code is RejectCode.INSUFFICIENT_BALANCE


# ---------------------------------------------------------------- balance events


def test_balance_events_one_per_touched_pair_and_equal_state() -> None:
    core = funded_core()
    rest(core, "bob", SELL, P, Q)
    rest(core, "carol", SELL, P + TICK, Q)
    events = place(core, "alice", BUY, P + 2 * TICK, 3 * Q)
    assert_balance_events_match(core, events)
    assert_consistent(core)
    pairs = {(b.account, b.token) for b in of(events, BalanceChanged)}
    assert pairs == {(a, t) for a in ("alice", "bob", "carol") for t in (WETH, USDC)}
    # Balance events follow every other event of the command.
    first_bc = next(i for i, e in enumerate(events) if isinstance(e, BalanceChanged))
    assert all(isinstance(e, BalanceChanged) for e in events[first_bc:])


@pytest.mark.parametrize(
    ("make", "pairs"),
    [
        (lambda c, o: Place("alice", MKT, BUY, P, Q), {("alice", USDC)}),
        (lambda c, o: Cancel("bob", MKT, order_id=o), {("bob", WETH)}),
        (lambda c, o: Replace("bob", MKT, SELL, P, Q // 2, order_id=o), {("bob", WETH)}),
        (lambda c, o: CancelAll("bob"), {("bob", WETH)}),
        (lambda c, o: Withdraw("carol", USDC, 1), {("carol", USDC)}),
        (
            lambda c, o: Deposit("carol", WETH, 1, c.last_deposit_id + 1),
            {("carol", WETH)},
        ),
        (lambda c, o: Place("alice", MKT, BUY, P - TICK, Q, tif=IOC), set()),
        (lambda c, o: Place("alice", MKT, BUY, P, 2 * Q, tif=FOK), set()),
    ],
    ids=["place", "cancel", "replace", "cancel-all", "withdraw", "deposit", "ioc-none", "fok"],
)
def test_balance_events_for_each_command(make: Callable[[Core, int], Command], pairs: set) -> None:
    core = funded_core()
    o = rest(core, "bob", SELL, P + 5 * TICK, Q)
    events = core.apply(make(core, o), 0)
    assert not of(events, Rejected), events
    assert {(b.account, b.token) for b in of(events, BalanceChanged)} == pairs
    assert_balance_events_match(core, events)


def test_replace_of_a_remainder_below_min_size_may_keep_or_shrink_it_not_grow_it() -> None:
    core = funded_core()
    # bob's sell is partly filled, leaving 5 lots open: less than the minimum size
    bob = of(core.apply(Place("bob", MKT, SELL, P, MIN_QTY + 5 * LOT), 0), OrderAccepted)[0]
    core.apply(Place("alice", MKT, BUY, P, MIN_QTY), 0)
    assert core.orders[bob.order_id].qty == 5 * LOT < MIN_QTY
    # same size, new price: allowed (the remainder moves)
    events = core.apply(Replace("bob", MKT, SELL, P + TICK, 5 * LOT, bob.order_id), 0)
    assert of(events, OrderReplaced)[0].priority_kept is False
    # shrinking at the same price: allowed, priority kept
    events = core.apply(Replace("bob", MKT, SELL, P + TICK, 3 * LOT, bob.order_id), 0)
    assert of(events, OrderReplaced)[0].priority_kept is True
    assert core.orders[bob.order_id].qty == 3 * LOT
    # growing it, still below the minimum: a new small order, rejected, nothing changes
    before = core.state_hash()
    events = core.apply(Replace("bob", MKT, SELL, P + TICK, 4 * LOT, bob.order_id), 0)
    assert [(r.code, r.order_id) for r in of(events, Rejected)] == [
        (RejectCode.BELOW_MIN_SIZE, bob.order_id)
    ]
    assert core.state_hash() == before


def test_a_rejected_deposit_does_not_use_up_its_id() -> None:
    core = new_core()
    unlisted = "0x" + "99" * 20
    (r,) = core.apply(Deposit("alice", unlisted, 10, 1), 0)
    assert isinstance(r, Rejected) and r.code is RejectCode.UNKNOWN_TOKEN
    # later deposits wait: id 2 is out of order until id 1 is credited
    (r,) = core.apply(Deposit("alice", WETH, 10, 2), 0)
    assert isinstance(r, Rejected) and r.code is RejectCode.DEPOSIT_OUT_OF_ORDER
    # the operator lists the token, the watcher retries id 1, and the stream moves on
    core.apply(ListToken(unlisted, "NEW", 18), 0)
    assert isinstance(core.apply(Deposit("alice", unlisted, 10, 1), 0)[0], DepositCredited)
    assert isinstance(core.apply(Deposit("alice", WETH, 10, 2), 0)[0], DepositCredited)
    assert core.balance("alice", unlisted) == (10, 0)

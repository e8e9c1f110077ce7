"""Property tests of the core: random command sequences, every command checked.

A hypothesis state machine drives a core with two markets (WETH-USDC, 18/6 decimals, and
WBTC-USDC, 8/6 decimals, with a tick and lot that are not powers of ten), three ordinary
accounts, a taker with credit lines and a stranger with no account. Rules place orders of
every kind (with bad values now and then), cancel, cancel all, replace, batch, deposit,
withdraw, change credit limits and move the clock. After every command:

- ``check_invariants`` (locks, levels, indexes, no crossed book, available >= -credit) and
  ``check_conservation`` against deposits minus withdrawals taken from the events;
- the reject decision and code agree with an independent reading of the rules, and a
  rejected command leaves the state hash as it was;
- matching respects price-time priority: the makers that traded or were expired for
  self-trade are a prefix of the opposite queue as it stood, fully consumed but for the last;
  nothing crossing was left behind; fills are exact and at the maker's price; a FOK fills
  exactly when enough rests within its limit (honouring self-trade prevention); an order
  that rests goes to the back of its level;
- balance events come last, one per pair touched, with its final values, and every pair
  that changed has one;
- a batch has the same effect as its actions applied one by one.

At the end of each example the snapshot round-trips to the same state hash.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from server.core import (
    MAX_BATCH,
    UINT256_MAX,
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
    MarketListed,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderReplaced,
    OrderType,
    Place,
    Rejected,
    Replace,
    SelfTradePrevention,
    SetTakerLimit,
    Side,
    TakerLimitSet,
    TimeInForce,
    TokenListed,
    Withdraw,
    WithdrawalAuthorised,
    book,
)
from server.core.book import Order
from tests.core.fixtures import E6, E18, LOT, MIN_QTY, MKT, TICK, USDC, WETH, new_core
from tests.core.invariants import check_conservation, check_invariants, queue

WBTC = "0x" + "33" * 20
BTC_MKT = "WBTC-USDC"
BTC_TICK = 50_000  # 0.05 USDC
BTC_LOT = 2_000  # 0.00002 WBTC; lot * tick = 10**8, exactly one whole WBTC's scale
BTC_MIN = 10_000
NO_TOKEN = "0x" + "99" * 20
NO_MARKET = "NOPE-USDC"

TAKER = "tak"
STRANGER = "zed"  # has no account until something is deposited for it
ACCOUNTS = ("alice", "bob", "carol", TAKER)
TOKENS = (WETH, USDC, WBTC)


@dataclass(frozen=True)
class Spec:
    base: str
    quote: str
    tick: int
    lot: int
    min_qty: int
    scale: int
    mid: int


SPECS = {
    MKT: Spec(WETH, USDC, TICK, LOT, MIN_QTY, E18, 2_000 * E6),
    BTC_MKT: Spec(WBTC, USDC, BTC_TICK, BTC_LOT, BTC_MIN, 10**8, 60_000 * E6),
}
DEPOSIT_MAX = {WETH: E18 // 10, USDC: 100 * E6, WBTC: 10**6}
REPLACE_MODES = (
    *("smaller", "smaller", "same", "new_price", "new_price", "cross", "larger"),
    *("wrong_side", "off_tick", "off_lot", "qty0", "below_min"),
)
TARGET_MODES = ("open",) * 5 + ("by_coid", "wrong_market", "coid", "any", "future", "none")
COIDS = ("a", "b", "c", "y" * 64)  # 64 characters is the longest allowed
T0 = 1_000

BUY, SELL = Side.BUY, Side.SELL
GTC, IOC, FOK, POST_ONLY = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.POST_ONLY
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
KINDS = (
    *((GTC, LIMIT),) * 3,
    (IOC, LIMIT),
    (FOK, LIMIT),
    (POST_ONLY, LIMIT),
    (IOC, MARKET),
    (FOK, MARKET),
    (GTC, LIMIT),
    (POST_ONLY, LIMIT),
)
BAD_PLACE = (
    *("price0", "price-", "off_tick", "price_huge", "notional_huge"),
    *("qty0", "qty-", "off_lot", "below_min", "qty_huge", "unknown_market"),
    *("market_order_gtc", "expiry_now", "expiry_past", "expiry_huge", "expiry_on_ioc"),
    "coid_too_long",
)


def _crosses(side: Side, limit: int, maker_price: int) -> bool:
    return maker_price <= limit if side is BUY else maker_price >= limit


def _other(side: Side) -> Side:
    return SELL if side is BUY else BUY


def _pairs(core: Core) -> dict[tuple[str, str], tuple[int, int]]:
    return {
        (aid, tok): core.balance(aid, tok)
        for aid, a in core.accounts.items()
        for tok in set(a.balances) | set(a.locked)
    }


def _open(core: Core, account: str, market: str, order_id: int, coid: str) -> Order | None:
    """The open order a cancel or replace names, per the documented addressing rule."""
    for o in core.orders.values():
        if order_id and o.id != order_id:
            continue
        if not order_id and (not coid or o.client_order_id != coid):
            continue
        if o.account == account and o.market == market:
            return o
    return None


# ---------------------------------------------------------------------- expected rejects


def _price_qty_code(spec: Spec, price: int, qty: int, min_qty: int | None = None) -> str | None:
    if qty <= 0:
        return "INVALID_QUANTITY"
    if price <= 0:
        return "INVALID_PRICE"
    if qty > UINT256_MAX or price > UINT256_MAX:
        return "VALUE_OUT_OF_RANGE"
    if price % spec.tick:
        return "PRICE_OFF_TICK"
    if qty % spec.lot:
        return "QUANTITY_OFF_LOT"
    if qty < (spec.min_qty if min_qty is None else min_qty):
        return "BELOW_MIN_SIZE"
    if qty * price // spec.scale > UINT256_MAX:
        return "VALUE_OUT_OF_RANGE"
    return None


def _need(spec: Spec, side: Side, price: int, qty: int) -> tuple[str, int]:
    return (spec.quote, qty * price // spec.scale) if side is BUY else (spec.base, qty)


def _available(core: Core, account: str, token: str) -> int:
    a = core.accounts.get(account)
    return -1 if a is None else a.available(token)


def _best_crosses(core: Core, market: str, side: Side, price: int) -> bool:
    opp = queue(core, market, _other(side))
    return bool(opp) and _crosses(side, price, opp[0][2])


def expected_place_code(core: Core, c: Place, ts: int) -> str | None:
    spec = SPECS.get(c.market)
    if spec is None:
        return "UNKNOWN_MARKET"
    code = _price_qty_code(spec, c.price, c.qty)
    if code:
        return code
    if c.order_type is OrderType.MARKET and c.tif not in (IOC, FOK):
        return "INVALID_TIME_IN_FORCE"
    if c.expires_at_ms and (c.tif in (IOC, FOK) or c.expires_at_ms <= ts):
        return "INVALID_EXPIRY"
    if c.expires_at_ms < 0 or c.expires_at_ms > UINT256_MAX:
        return "INVALID_EXPIRY"
    if c.client_order_id:
        if len(c.client_order_id) > 64:
            return "INVALID_CLIENT_ORDER_ID"
        if any(
            o.account == c.account and o.client_order_id == c.client_order_id
            for o in core.orders.values()
        ):
            return "DUPLICATE_CLIENT_ORDER_ID"
    tok, need = _need(spec, c.side, c.price, c.qty)
    if c.account not in core.accounts or _available(core, c.account, tok) < need:
        return "INSUFFICIENT_BALANCE"
    if c.tif is POST_ONLY and _best_crosses(core, c.market, c.side, c.price):
        return "POST_ONLY_WOULD_CROSS"
    return None


def expected_replace_code(core: Core, c: Replace) -> str | None:
    spec = SPECS.get(c.market)
    if spec is None:
        return "UNKNOWN_MARKET"
    o = _open(core, c.account, c.market, c.order_id, c.client_order_id)
    if o is None:
        return "ORDER_NOT_FOUND"
    if c.side is not o.side:
        return "REPLACE_SIDE_MISMATCH"
    # a partly filled remainder below the minimum may be kept or shrunk, not grown
    code = _price_qty_code(spec, c.price, c.qty, 0 if c.qty <= o.qty < spec.min_qty else None)
    if code:
        return code
    if c.price == o.price and c.qty <= o.qty:
        return None
    tok, old = _need(spec, o.side, o.price, o.qty)
    _, new = _need(spec, o.side, c.price, c.qty)
    if _available(core, c.account, tok) + old < new:
        return "INSUFFICIENT_BALANCE"
    if o.tif is POST_ONLY and _best_crosses(core, c.market, o.side, c.price):
        return "POST_ONLY_WOULD_CROSS"
    return None


def expected_money_code(core: Core, c: Deposit | Withdraw | SetTakerLimit) -> str | None:
    a = core.accounts.get(c.account)
    if isinstance(c, SetTakerLimit):
        if c.limit < 0:
            return "INVALID_AMOUNT"
        if c.limit > UINT256_MAX:
            return "VALUE_OUT_OF_RANGE"
        if c.token not in core.tokens:
            return "UNKNOWN_TOKEN"
        if a is not None and a.free(c.token) + c.limit < 0:
            return "LIMIT_BELOW_EXPOSURE"
        return None
    if c.amount <= 0:
        return "INVALID_AMOUNT"
    if c.amount > UINT256_MAX:
        return "VALUE_OUT_OF_RANGE"
    if c.token not in core.tokens:
        return "UNKNOWN_TOKEN"
    if isinstance(c, Deposit):
        if c.deposit_id <= core.last_deposit_id:
            return "DUPLICATE_DEPOSIT"
        if c.deposit_id != core.last_deposit_id + 1:
            return "DEPOSIT_OUT_OF_ORDER"
        return None
    if a is None or a.free(c.token) < c.amount:  # credit never leaves the exchange
        return "INSUFFICIENT_BALANCE"
    return None


# ---------------------------------------------------------------------- per-command checks


@dataclass
class Before:
    """What a check needs from the state just before a command (after due expiries)."""

    hash: str
    next_order_id: int
    opp: list[tuple[int, str, int, int]] = field(default_factory=list)  # opposite queue
    own: list[tuple[int, str, int, int]] = field(default_factory=list)  # the order's side
    target: tuple[int, Side, int, int, TimeInForce, SelfTradePrevention] | None = None
    account_orders: dict[int, tuple[str, int]] = field(default_factory=dict)  # id: market, qty
    expected_code: str | None = None


def capture(core: Core, c: Command, ts: int) -> Before:
    b = Before(core.state_hash(), core.next_order_id)
    if isinstance(c, Place | Replace) and c.market in core.markets:
        b.opp = queue(core, c.market, _other(c.side))
        b.own = queue(core, c.market, c.side)
    if isinstance(c, Place):
        b.expected_code = expected_place_code(core, c, ts)
    elif isinstance(c, Replace):
        b.expected_code = expected_replace_code(core, c)
    elif isinstance(c, Deposit | Withdraw | SetTakerLimit):
        b.expected_code = expected_money_code(core, c)
    if isinstance(c, Replace | Cancel):
        o = _open(core, c.account, c.market, c.order_id, c.client_order_id)
        if o is not None:
            b.target = (o.id, o.side, o.price, o.qty, o.tif, o.stp)
            if isinstance(c, Cancel):
                b.expected_code = None
        elif isinstance(c, Cancel):
            b.expected_code = (
                "UNKNOWN_MARKET" if c.market not in core.markets else "ORDER_NOT_FOUND"
            )
    if isinstance(c, CancelAll):
        if c.market and c.market not in core.markets:
            b.expected_code = "UNKNOWN_MARKET"
        b.account_orders = {
            o.id: (o.market, o.qty)
            for o in core.orders.values()
            if o.account == c.account and (not c.market or o.market == c.market)
        }
    return b


TAGS = {
    Place: "place",
    Cancel: "cancel",
    Replace: "replace",
    CancelAll: "cancel_all",
    Deposit: "deposit",
    Withdraw: "withdraw",
    SetTakerLimit: "set_taker_limit",
}


def check_matching(
    b: Before,
    post: Core,
    account: str,
    market: str,
    side: Side,
    limit: int,
    qty: int,
    tif: TimeInForce,
    stp: SelfTradePrevention,
    taker_id: int,
    events: list[Event],
) -> None:
    """Price-time priority, self-trade prevention and the taker's fate, for one order that
    entered the book (a place, or a replace that lost priority)."""
    spec = SPECS[market]
    remaining = qty
    touched: list[Fill | OrderExpired] = []
    final: OrderExpired | None = None
    for i, e in enumerate(events):
        assert final is None, f"event after the taker's expiry: {events}"
        if isinstance(e, Fill):
            assert (e.market, e.taker_order_id, e.taker_account, e.taker_side) == (
                market,
                taker_id,
                account,
                side,
            ), e
            assert e.qty > 0 and e.qty % spec.lot == 0, e
            assert e.quote_qty * spec.scale == e.qty * e.price, f"inexact fill {e}"
            remaining -= e.qty
            assert e.taker_remaining == remaining, e
            touched.append(e)
        elif isinstance(e, OrderExpired) and e.order_id == taker_id:
            final = e
            assert e.remaining == remaining and remaining > 0, e
            assert i == len(events) - 1
        elif isinstance(e, OrderExpired):
            assert e.reason is ExpireReason.SELF_TRADE, e
            touched.append(e)
        else:
            raise AssertionError(f"unexpected {e!r} while matching: {events}")

    # the makers touched are the head of the opposite queue, in price-time order
    assert len(touched) <= len(b.opp), (touched, b.opp)
    for n, (e, (mid, macc, mprice, mqty)) in enumerate(zip(touched, b.opp, strict=False)):
        assert _crosses(side, limit, mprice), f"traded through the limit: {e}"
        last = n == len(touched) - 1
        if isinstance(e, Fill):
            assert e.maker_order_id == mid, f"maker {e.maker_order_id} out of turn: {b.opp}"
            assert e.maker_account == macc != account, e
            assert e.price == mprice, f"fill not at the maker's price: {e}"
            assert e.qty + e.maker_remaining == mqty, e
            assert e.maker_remaining == 0 or last, f"partial fill before the last: {touched}"
            if e.maker_remaining:
                assert post.orders[mid].qty == e.maker_remaining  # keeps its place
                assert queue(post, market, _other(side))[0][0] == mid
            else:
                assert mid not in post.orders
        else:
            assert e.order_id == mid, f"self-trade expiry out of turn: {e} {b.opp}"
            assert macc == account and e.account == account, e
            assert e.remaining == mqty and e.market == market
            assert stp is not SelfTradePrevention.EXPIRE_TAKER, e
            assert mid not in post.orders
    nxt = b.opp[len(touched)] if len(touched) < len(b.opp) else None

    if tif is FOK:  # all or nothing; it fills iff enough rests at or within its limit
        fillable = 0
        for _, macc, mprice, mqty in b.opp:
            if not _crosses(side, limit, mprice):
                break
            if macc == account:  # self-trade prevention: skip the order, or stop
                if stp is SelfTradePrevention.EXPIRE_MAKER:
                    continue
                break
            fillable += mqty
        assert (final is None) == (fillable >= qty), (fillable, qty, events)
        if final is not None:
            assert final.reason is ExpireReason.FOK and not touched, events
        else:
            assert remaining == 0, f"FOK partially filled: {events}"
    if tif is POST_ONLY:
        assert not touched and final is None, events
    if final is not None and final.reason is ExpireReason.SELF_TRADE:
        assert stp is not SelfTradePrevention.EXPIRE_MAKER
        if stp is SelfTradePrevention.EXPIRE_BOTH:
            assert isinstance(touched[-1], OrderExpired), events
        else:  # the own order that stopped the taker is still there, untouched
            assert nxt is not None and nxt[1] == account, (events, b.opp)
            assert post.orders[nxt[0]].qty == nxt[3]
    elif final is not None and final.reason is ExpireReason.IOC:
        assert tif is IOC
    elif final is not None:
        assert final.reason is ExpireReason.FOK
    if remaining and final is None:  # it rests: nothing it could still take is left behind
        assert tif in (GTC, POST_ONLY), events
        assert nxt is None or not _crosses(side, limit, nxt[2]), f"missed {nxt}: {events}"
        o = post.orders[taker_id]
        assert (o.price, o.qty, o.side) == (limit, remaining, side)
        own = queue(post, market, side)
        at_level = [x[0] for x in own if x[2] == limit]
        assert at_level[-1] == taker_id, "a (re)entering order goes to the back of its level"
    else:
        assert taker_id not in post.orders
    if final is not None and final.reason is ExpireReason.IOC:
        assert nxt is None or not _crosses(side, limit, nxt[2]), f"missed {nxt}: {events}"


def check_order_command(b: Before, c: Command, body: list[Event], post: Core) -> None:
    """One place/cancel/replace/cancel-all (on its own or as a batch action)."""
    code = b.expected_code
    if body and isinstance(body[0], Rejected):
        r = body[0]
        assert r.code == code, f"{c!r}: rejected {r.code}, expected {code}"
        if isinstance(c, Place):
            want = Rejected("place", c.account, r.code, 0, c.client_order_id)
        elif isinstance(c, Cancel | Replace):
            want = Rejected(TAGS[type(c)], c.account, r.code, c.order_id, c.client_order_id)
        else:
            want = Rejected("cancel_all", c.account, r.code)
        assert body == [want], body
        assert post.state_hash() == b.hash, f"rejected {c!r} changed the state"
        return
    assert code is None, f"{c!r}: accepted, expected {code}: {body}"
    if isinstance(c, Place):
        accepted = body[0]
        assert accepted == OrderAccepted(
            b.next_order_id,
            c.account,
            c.market,
            c.side,
            c.price,
            c.qty,
            c.tif,
            c.order_type,
            c.client_order_id,
            c.expires_at_ms,
        ), body
        assert post.next_order_id == b.next_order_id + 1
        check_matching(
            b,
            post,
            c.account,
            c.market,
            c.side,
            c.price,
            c.qty,
            c.tif,
            c.stp,
            accepted.order_id,
            body[1:],
        )
    elif isinstance(c, Replace):
        assert b.target is not None
        oid, side, old_price, old_qty, tif, stp = b.target
        kept = c.price == old_price and c.qty <= old_qty
        assert body[0] == OrderReplaced(oid, c.account, c.market, side, c.price, c.qty, kept)
        assert post.next_order_id == b.next_order_id
        if kept:
            assert body == body[:1]
            own_now = queue(post, c.market, side)
            assert [x[0] for x in own_now] == [x[0] for x in b.own], "priority lost"
            assert post.orders[oid].qty == c.qty
        else:
            check_matching(
                b, post, c.account, c.market, side, c.price, c.qty, tif, stp, oid, body[1:]
            )
    elif isinstance(c, Cancel):
        assert b.target is not None
        oid, _, _, qty, _, _ = b.target
        assert body == [OrderCancelled(oid, c.account, c.market, qty, CancelReason.USER)]
        assert oid not in post.orders
    elif isinstance(c, CancelAll):
        assert all(isinstance(e, OrderCancelled) for e in body), body
        got = {e.order_id: (e.market, e.remaining) for e in body if isinstance(e, OrderCancelled)}
        assert got == b.account_orders and len(body) == len(got)
        assert all(e.reason is CancelReason.CANCEL_ALL for e in body if hasattr(e, "reason"))
        assert not post.open_orders(c.account, c.market)
    else:
        raise AssertionError(f"not an order command: {c!r}")


# ---------------------------------------------------------------------- the machine


@pytest.fixture(autouse=True)
def _frequent_compaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """A book side compacts its idle (emptied) price levels away only past 256 of them,
    which these short examples never reach: cut the threshold so that compaction runs
    every few commands, between the checks."""
    monkeypatch.setattr(book, "IDLE_LEVELS_MIN", 2)


class CoreMachine(RuleBasedStateMachine):
    # ------------------------------------------------------------------ plumbing

    def run(self, c: Command) -> list[Event]:
        """Apply ``c`` at the current time and check everything about it."""
        core = self.core
        ts = self.now
        before_pairs = _pairs(core)
        if ts != self.last_ts:
            # Expiries due at ts run first; study them on a copy to know the state the
            # command itself meets.
            pre = Core.restore(core.snapshot())
            pre_events = pre.apply(AdvanceTime(), ts)
        else:
            pre, pre_events = core, []
        b = capture(pre, c, ts)
        shadow = Core.restore(pre.snapshot()) if isinstance(c, Batch) else None
        events = core.apply(c, ts)
        self.last_ts = ts
        self.steps += 1

        # expiries first, as the copy saw them
        gtt = [e for e in pre_events if not isinstance(e, BalanceChanged)]
        assert all(isinstance(e, OrderExpired) and e.reason is ExpireReason.GTT for e in gtt)
        assert events[: len(gtt)] == gtt, (events, gtt)
        for e in gtt:
            assert isinstance(e, OrderExpired)
            self.seen[f"expired:{e.reason}"] += 1
        rest = events[len(gtt) :]

        # balance events last, one per pair touched, with final values; every change reported
        body = [e for e in rest if not isinstance(e, BalanceChanged)]
        bal = [e for e in rest if isinstance(e, BalanceChanged)]
        assert rest == body + bal, "balance events must come last"
        reported = {(e.account, e.token): (e.balance, e.locked) for e in bal}
        assert len(reported) == len(bal), "two balance events for one pair"
        for (aid, tok), value in reported.items():
            assert core.balance(aid, tok) == value
        after_pairs = _pairs(core)
        for pair in set(before_pairs) | set(after_pairs):
            if before_pairs.get(pair, (0, 0)) != after_pairs.get(pair, (0, 0)):
                assert pair in reported, f"{pair} changed without a balance event"

        for e in body:
            self.seen[type(e).__name__] += 1
            if isinstance(e, OrderExpired):
                self.seen[f"expired:{e.reason}"] += 1
            if isinstance(e, Rejected):
                self.seen[f"rejected:{e.code}"] += 1
            if isinstance(e, OrderAccepted):
                self.known_ids.append(e.order_id)

        if isinstance(c, Batch):
            assert shadow is not None
            self.check_batch(b, c, body, shadow, ts)
        elif isinstance(c, Place | Cancel | Replace | CancelAll):
            check_order_command(b, c, body, core)
        elif isinstance(c, Deposit | Withdraw | SetTakerLimit):
            self.check_money(b, c, body)
        elif isinstance(c, AdvanceTime):
            assert body == []
        else:  # listings, at set-up
            assert len(body) == 1 and isinstance(body[0], TokenListed | MarketListed), body

        check_invariants(core)
        check_conservation(core, self.flows)
        return events

    def check_batch(self, b: Before, c: Batch, body: list[Event], shadow: Core, ts: int) -> None:
        n = len(c.actions)
        if n > MAX_BATCH or not n or any(a.account != c.account for a in c.actions):
            code = "BATCH_TOO_LARGE" if n > MAX_BATCH else "INVALID_BATCH"
            assert body == [Rejected("batch", c.account, code)], body
            assert self.core.state_hash() == b.hash
            return
        if any(not isinstance(a, Place | Cancel | Replace) for a in c.actions):
            assert body == [Rejected("batch", c.account, "INVALID_BATCH")], body
            assert self.core.state_hash() == b.hash
            return
        # the same actions, one command each, on a copy: same events, same state
        one_by_one: list[Event] = []
        for a in c.actions:
            ab = capture(shadow, a, ts)
            ev = [e for e in shadow.apply(a, ts) if not isinstance(e, BalanceChanged)]
            check_order_command(ab, a, ev, shadow)
            one_by_one += ev
        assert body == one_by_one, "a batch differs from its actions applied one by one"
        assert shadow.state_hash() == self.core.state_hash()

    def check_money(self, b: Before, c: Deposit | Withdraw | SetTakerLimit, body: list[Event]):
        code = b.expected_code
        if code is not None:
            assert body == [Rejected(TAGS[type(c)], c.account, code)], (c, body)
            assert self.core.state_hash() == b.hash
            return
        if isinstance(c, Deposit):
            assert body == [DepositCredited(c.account, c.token, c.amount, c.deposit_id)]
            self.flows[c.token] += body[0].amount
        elif isinstance(c, Withdraw):
            w = body[0]
            assert isinstance(w, WithdrawalAuthorised) and len(body) == 1
            assert (w.account, w.token, w.amount) == (c.account, c.token, c.amount)
            assert self.core.withdrawals[w.withdrawal_id].amount == c.amount
            self.flows[c.token] -= w.amount
        else:
            assert body == [TakerLimitSet(c.account, c.token, c.limit)]
            assert self.core.accounts[c.account].credit.get(c.token, 0) == c.limit

    # ------------------------------------------------------------------ set-up

    @initialize()
    def setup(self) -> None:
        self.core = new_core(0)
        self.now = T0
        self.last_ts = 0
        self.steps = 0
        self.flows: Counter[str] = Counter()
        self.known_ids: list[int] = []
        self.seen: Counter[str] = Counter()
        self.run(ListToken(WBTC, "WBTC", 8))
        self.run(ListMarket(BTC_MKT, WBTC, USDC, BTC_TICK, BTC_LOT, BTC_MIN))
        for a in ACCOUNTS[:3]:
            for tok, amount in ((WETH, 5 * E18 // 100), (WBTC, 2 * 10**5), (USDC, 150 * E6)):
                self.run(Deposit(a, tok, amount, self.core.last_deposit_id + 1))
        self.run(Deposit(TAKER, USDC, 10 * E6, self.core.last_deposit_id + 1))
        self.run(SetTakerLimit(TAKER, USDC, 100 * E6))
        self.run(SetTakerLimit(TAKER, WETH, E18 // 100))
        self.run(SetTakerLimit(TAKER, WBTC, 10**5))
        # a ladder on both sides of both books, one account per level
        for market, spec in SPECS.items():
            for i, account in enumerate(ACCOUNTS[:3]):
                for side in (BUY, SELL):
                    price = spec.mid + (-(i + 1) if side is BUY else i + 1) * spec.tick
                    self.run(Place(account, market, side, price, spec.min_qty * (i + 1)))

    # ------------------------------------------------------------------ drawing commands

    def draw_place(self, data: st.DataObject, account: str, passive: bool = False) -> Place:
        """An order around the mid; ``passive``: valid, on its own side of the mid, resting."""
        market = data.draw(st.sampled_from((MKT, MKT, BTC_MKT)), "market")
        spec = SPECS[market]
        side = data.draw(st.sampled_from((BUY, SELL)), "side")
        off = data.draw(st.integers(0 if passive else -4, 6), "ticks from mid")  # < 0: across
        price = spec.mid + (-off if side is BUY else off) * spec.tick
        qty = spec.min_qty + spec.lot * data.draw(st.integers(0, 40), "extra lots")
        if passive:
            tif, order_type = data.draw(st.sampled_from((GTC, GTC, POST_ONLY)), "tif"), LIMIT
        else:
            tif, order_type = data.draw(st.sampled_from(KINDS), "tif, type")
        if order_type is MARKET and data.draw(st.booleans(), "far protective limit"):
            price = spec.mid + (10 if side is BUY else -10) * spec.tick
        expires = 0
        if tif in (GTC, POST_ONLY) and data.draw(st.sampled_from((False, False, True)), "gtt?"):
            expires = self.now + data.draw(st.integers(1, 40), "lifetime")
        coid = data.draw(st.sampled_from(("",) * 4 + COIDS), "coid")
        stp = data.draw(st.sampled_from(tuple(SelfTradePrevention)), "stp")
        bad = "" if passive or not self.rarely(data) else data.draw(st.sampled_from(BAD_PLACE))
        if bad == "price0":
            price = 0
        elif bad == "price-":
            price = -spec.tick
        elif bad == "off_tick":
            price += spec.tick // 2
        elif bad == "price_huge":
            price = UINT256_MAX + 1
        elif bad == "notional_huge":
            price = UINT256_MAX // spec.tick * spec.tick
        elif bad == "qty0":
            qty = 0
        elif bad == "qty-":
            qty = -spec.lot
        elif bad == "off_lot":
            qty += spec.lot // 2
        elif bad == "below_min":
            qty = spec.min_qty - spec.lot
        elif bad == "qty_huge":
            qty = (UINT256_MAX // spec.lot + 1) * spec.lot
        elif bad == "unknown_market":
            market = NO_MARKET
        elif bad == "market_order_gtc":
            tif, order_type = data.draw(st.sampled_from((GTC, POST_ONLY)), "tif"), MARKET
        elif bad == "expiry_now":
            expires = self.now
        elif bad == "expiry_past":
            expires = self.now - 1
        elif bad == "expiry_huge":
            expires = UINT256_MAX + 1
        elif bad == "expiry_on_ioc":
            tif, expires = data.draw(st.sampled_from((IOC, FOK)), "tif"), self.now + 5
        elif bad == "coid_too_long":
            coid = "x" * 65
        return Place(account, market, side, price, qty, tif, order_type, coid, stp, expires)

    @staticmethod
    def rarely(data: st.DataObject) -> bool:
        """About one time in eight: for deliberately bad values."""
        # the first value is the simplest, which hypothesis draws most: it must be the usual one
        return data.draw(st.sampled_from((False,) * 7 + (True,)), "rarely")

    def draw_target(self, data: st.DataObject, account: str | None) -> tuple[str, str, int, str]:
        """(account, market, order_id, client_order_id) naming an order: mostly an open one
        (of ``account``, if given), sometimes a closed, future, foreign or missing one."""
        core = self.core
        mode = data.draw(st.sampled_from(TARGET_MODES), "target")
        pick = data.draw(st.integers(0, 1_000), "pick")
        ids = sorted(o.id for o in core.orders.values() if account in (None, o.account))
        if mode in ("open", "by_coid", "wrong_market") and ids:
            o = core.orders[ids[pick % len(ids)]]
            market = o.market
            if mode == "wrong_market":
                market = BTC_MKT if market == MKT else MKT
            if mode == "by_coid" and o.client_order_id:
                return o.account, market, 0, o.client_order_id
            return o.account, market, o.id, ""
        if account is None:
            account = self.draw_account(data)
        market = data.draw(st.sampled_from((MKT, BTC_MKT, NO_MARKET)), "market")
        if mode == "any" and self.known_ids:
            return account, market, self.known_ids[pick % len(self.known_ids)], ""
        if mode == "future":  # maybe placed earlier in the same batch
            return account, market, core.next_order_id + pick % 3, ""
        if mode == "coid":
            return account, market, 0, COIDS[pick % len(COIDS)]
        return account, market, 0, ""

    def draw_cancel(self, data: st.DataObject, account: str | None) -> Cancel:
        account, market, oid, coid = self.draw_target(data, account)
        return Cancel(account, market, oid, coid)

    def draw_replace(self, data: st.DataObject, account: str | None) -> Replace:
        account, market, oid, coid = self.draw_target(data, account)
        spec = SPECS.get(market, SPECS[MKT])
        o = _open(self.core, account, market, oid, coid)
        mode = data.draw(st.sampled_from(REPLACE_MODES), "replace mode")
        lots = data.draw(st.integers(1, 20), "lots")
        ticks = data.draw(st.integers(-5, 5), "ticks")
        if o is None:
            side = data.draw(st.sampled_from((BUY, SELL)), "side")
            return Replace(account, market, side, spec.mid, spec.min_qty, oid, coid)
        side, price, qty = o.side, o.price, o.qty
        if mode == "smaller":
            qty = max(spec.lot, qty - lots * spec.lot)  # maybe below the minimum
        elif mode == "larger":
            qty += lots * spec.lot
        elif mode == "new_price":
            price += ticks * spec.tick
        elif mode == "cross":
            price = spec.mid + (lots if side is BUY else -lots) * spec.tick
        elif mode == "wrong_side":
            side = _other(side)
        elif mode == "off_tick":
            price += spec.tick // 2
        elif mode == "off_lot":
            qty += spec.lot // 2
        elif mode == "qty0":
            qty = 0
        elif mode == "below_min":
            qty = spec.min_qty - spec.lot
        return Replace(account, market, side, price, qty, oid, coid)

    def draw_account(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from((*ACCOUNTS, *ACCOUNTS, STRANGER)), "account")

    # ------------------------------------------------------------------ rules

    @rule(data=st.data())
    def place(self, data: st.DataObject) -> None:
        self.run(self.draw_place(data, self.draw_account(data)))

    @rule(data=st.data())
    def make(self, data: st.DataObject) -> None:
        """A resting order: builds the depth that the other rules trade against."""
        account = data.draw(st.sampled_from(ACCOUNTS), "account")
        self.run(self.draw_place(data, account, passive=True))

    @rule(data=st.data())
    def make_more(self, data: st.DataObject) -> None:  # rules are drawn evenly: more depth
        self.make(data)

    @rule(data=st.data())
    def take(self, data: st.DataObject) -> None:
        """An order sized and priced against what rests: it crosses one or more levels."""
        market = data.draw(st.sampled_from((MKT, BTC_MKT)), "market")
        spec = SPECS[market]
        side = data.draw(st.sampled_from((BUY, SELL)), "side")
        opp = queue(self.core, market, _other(side))
        if not opp:
            self.run(self.draw_place(data, data.draw(st.sampled_from(ACCOUNTS), "account")))
            return
        prices = sorted({x[2] for x in opp}, reverse=side is SELL)
        depth = data.draw(st.integers(0, len(prices) - 1), "levels deep")
        limit = prices[depth]
        if data.draw(st.booleans(), "beyond the level"):
            limit += (1 if side is BUY else -1) * spec.tick
        reachable = sum(x[3] for x in opp if _crosses(side, limit, x[2]))
        lots = data.draw(st.integers(-3, 3), "lots around what is reachable")
        qty = max(spec.min_qty, reachable + lots * spec.lot)
        if data.draw(st.booleans(), "part of it"):
            qty = max(spec.min_qty, qty // 2 // spec.lot * spec.lot)
        tif, order_type = data.draw(st.sampled_from(KINDS), "tif, type")
        account = data.draw(st.sampled_from(ACCOUNTS), "account")
        stp = data.draw(st.sampled_from(tuple(SelfTradePrevention)), "stp")
        self.run(Place(account, market, side, limit, qty, tif, order_type, "", stp))

    @rule(data=st.data())
    def take_more(self, data: st.DataObject) -> None:
        self.take(data)

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        if self.rarely(data):
            account = self.draw_account(data)
            market = data.draw(st.sampled_from(("", MKT, BTC_MKT, NO_MARKET)), "market")
            self.run(CancelAll(account, market))
        else:
            self.run(self.draw_cancel(data, None))

    @rule(data=st.data())
    def replace(self, data: st.DataObject) -> None:
        self.run(self.draw_replace(data, None))

    @rule(data=st.data())
    def batch(self, data: st.DataObject) -> None:
        account = data.draw(st.sampled_from(ACCOUNTS), "account")
        shape = data.draw(
            st.sampled_from(("ok",) * 6 + ("empty", "too_large", "foreign", "not_batchable")),
            "batch shape",
        )
        actions: list[Any] = []
        for _ in range(data.draw(st.integers(1, 5), "batch size")):
            kind = data.draw(st.sampled_from(("place", "place", "cancel", "replace")), "action")
            if kind == "place":
                actions.append(self.draw_place(data, account))
            elif kind == "cancel":
                actions.append(self.draw_cancel(data, account))
            else:
                actions.append(self.draw_replace(data, account))
        if shape == "empty":
            actions = []
        elif shape == "too_large":
            actions = [Cancel(account, MKT, 10**9 + i) for i in range(MAX_BATCH + 1)]
        elif shape == "foreign":
            other = next(a for a in ACCOUNTS if a != account)
            actions.insert(len(actions) // 2, Cancel(other, MKT, 1))
        elif shape == "not_batchable":
            actions.append(CancelAll(account))
        self.run(Batch(account, tuple(actions)))

    @rule(data=st.data())
    def money(self, data: st.DataObject) -> None:
        """Deposits, withdrawals and credit limits: one rule, so that orders dominate."""
        what = data.draw(st.sampled_from(("deposit", "deposit", "withdraw", "limit")), "money")
        if what == "deposit":
            self.deposit(
                self.draw_account(data),
                data.draw(st.sampled_from((*TOKENS, *TOKENS, NO_TOKEN)), "token"),
                data.draw(st.sampled_from(("",) * 6 + ("zero", "neg", "huge", "dup", "gap"))),
                data,
            )
        elif what == "withdraw":
            self.withdraw(
                self.draw_account(data),
                data.draw(st.sampled_from((*TOKENS, NO_TOKEN)), "token"),
                data.draw(st.sampled_from(("part", "part", "all", "over", "zero", "neg", "huge"))),
                data.draw(st.integers(1, 4), "quarters"),
            )
        else:
            self.set_taker_limit(
                data.draw(st.sampled_from((TAKER, TAKER, TAKER, "alice")), "account"),
                data.draw(st.sampled_from((*TOKENS, NO_TOKEN)), "token"),
                data.draw(
                    st.sampled_from(("some", "some", "zero", "exposure", "below", "neg", "huge"))
                ),
                data,
            )

    def deposit(self, account: str, token: str, bad: str, data: st.DataObject) -> None:
        amount = data.draw(st.integers(1, DEPOSIT_MAX.get(token, 10**6)), "amount")
        amount = {"zero": 0, "neg": -amount, "huge": UINT256_MAX + 1}.get(bad, amount)
        dep_id = self.core.last_deposit_id + {"dup": 0, "gap": 2}.get(bad, 1)
        self.run(Deposit(account, token, amount, dep_id))

    def withdraw(self, account: str, token: str, mode: str, frac: int) -> None:
        a = self.core.accounts.get(account)
        free = a.free(token) if a is not None else 0
        amount = {
            "part": max(1, free * frac // 4),
            "all": max(1, free),
            "over": max(1, free + 1),
            "zero": 0,
            "neg": -1,
            "huge": UINT256_MAX + 1,
        }[mode]
        self.run(Withdraw(account, token, amount))

    def set_taker_limit(self, account: str, token: str, mode: str, data: st.DataObject) -> None:
        a = self.core.accounts.get(account)
        free = a.free(token) if a is not None else 0
        limit = {
            "some": data.draw(st.integers(0, 2 * DEPOSIT_MAX.get(token, 10**6)), "limit"),
            "zero": 0,
            "exposure": max(0, -free),
            "below": -free - 1,
            "neg": -1,
            "huge": UINT256_MAX + 1,
        }[mode]
        self.run(SetTakerLimit(account, token, limit))

    @rule(dt=st.integers(1, 25), explicit=st.booleans())
    def advance(self, dt: int, explicit: bool) -> None:
        """Move the clock; either an AdvanceTime now, or the next command meets the expiries."""
        self.now += dt
        if explicit:
            self.run(AdvanceTime())

    # ------------------------------------------------------------------ invariants, teardown

    @invariant()
    def never_crossed(self) -> None:
        if not hasattr(self, "core"):
            return
        for m in self.core.markets.values():
            bid, ask = m.bids.best_price(), m.asks.best_price()
            assert bid is None or ask is None or bid < ask

    def teardown(self) -> None:
        if not hasattr(self, "core"):
            return
        data = self.core.snapshot()
        restored = Core.restore(data)
        assert restored.state_hash() == self.core.state_hash()
        assert restored.snapshot() == data
        check_invariants(restored)
        check_conservation(restored, self.flows)
        for m in self.core.markets:
            for side in (BUY, SELL):
                assert queue(restored, m, side) == queue(self.core, m, side)


CoreMachine.TestCase.settings = settings(
    # about 10 s on a fast machine, well under 40 s on a slow 2-core one
    max_examples=100,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestCoreMachine = CoreMachine.TestCase

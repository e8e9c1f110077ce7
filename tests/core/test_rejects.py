"""Every bad command: its documented RejectCode, one Rejected event, state unchanged."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from server.core import (
    MAX_BATCH,
    REJECT_MESSAGES,
    UINT256_MAX,
    AdvanceTime,
    Batch,
    Cancel,
    CancelAll,
    Command,
    Core,
    Deposit,
    ExpireReason,
    ListMarket,
    ListToken,
    OrderExpired,
    OrderType,
    Place,
    RejectCode,
    Rejected,
    Replace,
    SetTakerLimit,
    Side,
    TimeInForce,
    Withdraw,
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
)

R = RejectCode
BUY = Side.BUY
SELL = Side.SELL
GTC = TimeInForce.GTC
IOC = TimeInForce.IOC
FOK = TimeInForce.FOK
POST_ONLY = TimeInForce.POST_ONLY
MARKET = OrderType.MARKET

P = 2_000 * E6
Q = E18
TOO_BIG = 2**256
NOWHERE = "NOPE-USDC"
WBTC = "0x" + "33" * 20
DAI = "0x" + "44" * 20
MKT2 = "WBTC-USDC"
NOW = 1_000


class World:
    """funded_core with: alice bid (coid "a1"), bob ask, a second market, a poor account."""

    def __init__(self) -> None:
        core = funded_core()
        core.apply(ListToken(WBTC, "WBTC", 8), 0)
        core.apply(ListMarket(MKT2, WBTC, USDC, 10_000, 10_000, 10_000), 0)
        Funder(core)("poor", USDC, 10 * E6)
        self.core = core
        self.alice = self.rest(Place("alice", MKT, BUY, P - 10 * TICK, Q, client_order_id="a1"))
        self.bob = self.rest(Place("bob", MKT, SELL, P + 10 * TICK, Q, client_order_id="b1"))
        self.post = self.rest(Place("carol", MKT, BUY, P - 20 * TICK, Q, tif=POST_ONLY))

    def rest(self, cmd: Place) -> int:
        events = self.core.apply(cmd, 0)
        assert type(events[0]).__name__ == "OrderAccepted", events
        return events[0].order_id  # type: ignore[union-attr]


def assert_rejected(
    core: Core, cmd: Command, code: RejectCode, action: str, ts: int = NOW
) -> Rejected:
    h = core.state_hash()
    events = core.apply(cmd, ts)
    assert len(events) == 1, events
    (r,) = events
    assert isinstance(r, Rejected)
    assert (r.code, r.action) == (code, action)
    assert r.account == getattr(cmd, "account", "")
    assert core.state_hash() == h
    return r


# ---------------------------------------------------------------- place

BIG_PRICE = UINT256_MAX // TICK * TICK  # on tick and within uint256 on its own


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"qty": 0}, R.INVALID_QUANTITY),
        ({"qty": -Q}, R.INVALID_QUANTITY),
        ({"price": 0}, R.INVALID_PRICE),
        ({"price": -P}, R.INVALID_PRICE),
        ({"price": P + 1}, R.PRICE_OFF_TICK),
        ({"price": TICK // 2}, R.PRICE_OFF_TICK),
        ({"qty": Q + 1}, R.QUANTITY_OFF_LOT),
        ({"qty": MIN_QTY + LOT // 2}, R.QUANTITY_OFF_LOT),
        ({"qty": LOT}, R.BELOW_MIN_SIZE),
        ({"qty": MIN_QTY - LOT}, R.BELOW_MIN_SIZE),
        ({"market": NOWHERE}, R.UNKNOWN_MARKET),
        ({"market": ""}, R.UNKNOWN_MARKET),
        ({"price": TOO_BIG}, R.VALUE_OUT_OF_RANGE),
        ({"qty": TOO_BIG}, R.VALUE_OUT_OF_RANGE),
        ({"price": BIG_PRICE, "qty": 10 * Q}, R.VALUE_OUT_OF_RANGE),  # notional > uint256
        ({"order_type": MARKET}, R.INVALID_TIME_IN_FORCE),
        ({"order_type": MARKET, "tif": GTC}, R.INVALID_TIME_IN_FORCE),
        ({"order_type": MARKET, "tif": POST_ONLY}, R.INVALID_TIME_IN_FORCE),
        ({"expires_at_ms": NOW - 1}, R.INVALID_EXPIRY),
        ({"expires_at_ms": NOW}, R.INVALID_EXPIRY),
        ({"expires_at_ms": -5}, R.INVALID_EXPIRY),
        ({"expires_at_ms": TOO_BIG}, R.INVALID_EXPIRY),
        ({"expires_at_ms": NOW + 1, "tif": IOC}, R.INVALID_EXPIRY),
        ({"expires_at_ms": NOW + 1, "tif": FOK}, R.INVALID_EXPIRY),
        ({"expires_at_ms": NOW + 1, "tif": IOC, "order_type": MARKET}, R.INVALID_EXPIRY),
        ({"client_order_id": "x" * 65}, R.INVALID_CLIENT_ORDER_ID),
        ({"client_order_id": "a1"}, R.DUPLICATE_CLIENT_ORDER_ID),
        ({"qty": 5_001 * Q}, R.INSUFFICIENT_BALANCE),  # 10,002,000 USDC > 10,000,000
        ({"side": SELL, "price": P + 20 * TICK, "qty": 1_001 * Q}, R.INSUFFICIENT_BALANCE),
        ({"account": "poor", "qty": Q // 100 * 2}, R.INSUFFICIENT_BALANCE),  # 40 USDC > 10
        ({"account": "poor", "side": SELL}, R.INSUFFICIENT_BALANCE),  # no WETH at all
        ({"account": "nobody"}, R.INSUFFICIENT_BALANCE),  # never deposited
        ({"account": "nobody", "side": SELL}, R.INSUFFICIENT_BALANCE),
        ({"tif": POST_ONLY, "price": P + 10 * TICK}, R.POST_ONLY_WOULD_CROSS),
        ({"tif": POST_ONLY, "side": SELL, "price": P - 10 * TICK}, R.POST_ONLY_WOULD_CROSS),
    ],
)
def test_place_rejects(kw: dict, code: RejectCode) -> None:
    w = World()
    assert BIG_PRICE <= UINT256_MAX and 10 * Q * BIG_PRICE // E18 > UINT256_MAX
    args = {"account": "alice", "market": MKT, "side": BUY, "price": P, "qty": Q, **kw}
    cmd = Place(**args)
    r = assert_rejected(w.core, cmd, code, "place")
    assert (r.order_id, r.client_order_id) == (0, cmd.client_order_id)


def test_insufficient_balance_counts_locked_funds() -> None:
    w = World()
    Funder(w.core)("dave", USDC, 2 * P)
    w.core.apply(Place("dave", MKT, BUY, P, Q), 0)  # locks half
    assert_rejected(w.core, Place("dave", MKT, BUY, P, Q + LOT), R.INSUFFICIENT_BALANCE, "place")
    assert w.rest(Place("dave", MKT, BUY, P, Q)) > 0


# ---------------------------------------------------------------- cancel


def test_cancel_rejects() -> None:
    w = World()
    c = w.core
    assert_rejected(c, Cancel("alice", NOWHERE, order_id=w.alice), R.UNKNOWN_MARKET, "cancel")
    assert_rejected(c, Cancel("alice", MKT, order_id=999), R.ORDER_NOT_FOUND, "cancel")
    assert_rejected(c, Cancel("alice", MKT), R.ORDER_NOT_FOUND, "cancel")
    assert_rejected(c, Cancel("alice", MKT, client_order_id="zz"), R.ORDER_NOT_FOUND, "cancel")
    assert_rejected(c, Cancel("alice", MKT2, order_id=w.alice), R.ORDER_NOT_FOUND, "cancel")


def test_cancel_of_another_accounts_order_looks_like_unknown() -> None:
    w = World()
    c = w.core
    theirs = assert_rejected(c, Cancel("bob", MKT, order_id=w.alice), R.ORDER_NOT_FOUND, "cancel")
    unknown = assert_rejected(c, Cancel("bob", MKT, order_id=999), R.ORDER_NOT_FOUND, "cancel")
    assert (theirs.action, theirs.account, theirs.code) == (
        unknown.action,
        unknown.account,
        unknown.code,
    )
    by_coid = assert_rejected(
        c, Cancel("bob", MKT, client_order_id="a1"), R.ORDER_NOT_FOUND, "cancel"
    )
    assert by_coid == Rejected("cancel", "bob", R.ORDER_NOT_FOUND, 0, "a1")


def test_cancel_all_unknown_market() -> None:
    w = World()
    assert_rejected(w.core, CancelAll("alice", NOWHERE), R.UNKNOWN_MARKET, "cancel_all")


# ---------------------------------------------------------------- replace


def _rp(**kw: object) -> Callable[[World], Replace]:
    """A Replace of alice's bid with ``kw`` changed; order "bob"/"post" names World's orders."""

    def make(w: World) -> Replace:
        args: dict = {
            "account": "alice",
            "market": MKT,
            "side": BUY,
            "price": P - 10 * TICK,
            "qty": Q // 2,
            "order_id": w.alice,
            **kw,
        }
        named = {"bob": w.bob, "post": w.post}
        args["order_id"] = named.get(args["order_id"], args["order_id"])
        return Replace(**args)

    return make


REPLACE_CASES = [
    ("unknown-market", _rp(market=NOWHERE), R.UNKNOWN_MARKET),
    ("unknown-order", _rp(order_id=999), R.ORDER_NOT_FOUND),
    ("unknown-coid", _rp(order_id=0, client_order_id="nope"), R.ORDER_NOT_FOUND),
    ("other-market", _rp(market=MKT2), R.ORDER_NOT_FOUND),
    ("other-account", _rp(order_id="bob", side=SELL), R.ORDER_NOT_FOUND),
    ("other-account-coid", _rp(order_id=0, client_order_id="b1"), R.ORDER_NOT_FOUND),
    ("side", _rp(side=SELL), R.REPLACE_SIDE_MISMATCH),
    ("qty-zero", _rp(qty=0), R.INVALID_QUANTITY),
    ("qty-negative", _rp(qty=-Q), R.INVALID_QUANTITY),
    ("price-zero", _rp(price=0), R.INVALID_PRICE),
    ("price-negative", _rp(price=-P), R.INVALID_PRICE),
    ("off-tick", _rp(price=P + 1), R.PRICE_OFF_TICK),
    ("off-lot", _rp(qty=Q + 1), R.QUANTITY_OFF_LOT),
    ("below-min", _rp(qty=LOT), R.BELOW_MIN_SIZE),
    ("price-range", _rp(price=TOO_BIG), R.VALUE_OUT_OF_RANGE),
    ("qty-range", _rp(qty=TOO_BIG), R.VALUE_OUT_OF_RANGE),
    ("notional-range", _rp(price=BIG_PRICE, qty=10 * Q), R.VALUE_OUT_OF_RANGE),
    ("insufficient", _rp(qty=5_001 * Q), R.INSUFFICIENT_BALANCE),
    (
        "post-only-cross",
        _rp(account="carol", order_id="post", price=P + 10 * TICK),
        R.POST_ONLY_WOULD_CROSS,
    ),
]


@pytest.mark.parametrize(
    ("make", "code"),
    [(m, c) for _, m, c in REPLACE_CASES],
    ids=[n for n, _, _ in REPLACE_CASES],
)
def test_replace_rejects(make: Callable[[World], Replace], code: RejectCode) -> None:
    w = World()
    cmd = make(w)
    r = assert_rejected(w.core, cmd, code, "replace")
    assert (r.order_id, r.client_order_id) == (cmd.order_id, cmd.client_order_id)


# ---------------------------------------------------------------- batches


def test_batch_rejects() -> None:
    w = World()
    c = w.core
    place = Place("alice", MKT, BUY, P - 30 * TICK, Q)
    assert_rejected(c, Batch("alice", (place,) * (MAX_BATCH + 1)), R.BATCH_TOO_LARGE, "batch")
    assert_rejected(c, Batch("alice", ()), R.INVALID_BATCH, "batch")
    other = Cancel("bob", MKT, order_id=w.bob)
    assert_rejected(c, Batch("alice", (place, other)), R.INVALID_BATCH, "batch")
    # A batch whose own actions are each bad: one Rejected per action, state unchanged.
    h = c.state_hash()
    bad = (Cancel("alice", MKT, order_id=999), Place("alice", MKT, BUY, 0, Q))
    events = c.apply(Batch("alice", bad), NOW)
    assert [(e.action, e.code) for e in events if isinstance(e, Rejected)] == [
        ("cancel", R.ORDER_NOT_FOUND),
        ("place", R.INVALID_PRICE),
    ]
    assert len(events) == 2
    assert c.state_hash() == h


# ---------------------------------------------------------------- money commands


@pytest.mark.parametrize(
    ("amount", "token", "deposit_id", "code"),
    [
        (0, USDC, "next", R.INVALID_AMOUNT),
        (-1, USDC, "next", R.INVALID_AMOUNT),
        (TOO_BIG, USDC, "next", R.VALUE_OUT_OF_RANGE),
        (E6, DAI, "next", R.UNKNOWN_TOKEN),
        (E6, "", "next", R.UNKNOWN_TOKEN),
        (E6, USDC, 1, R.DUPLICATE_DEPOSIT),
        (E6, USDC, "last", R.DUPLICATE_DEPOSIT),
        (E6, USDC, "gap", R.DEPOSIT_OUT_OF_ORDER),
    ],
)
def test_deposit_rejects(amount: int, token: str, deposit_id: int | str, code: RejectCode) -> None:
    w = World()
    last = w.core.last_deposit_id
    did = {"next": last + 1, "last": last, "gap": last + 2}.get(str(deposit_id), deposit_id)
    assert isinstance(did, int)
    assert_rejected(w.core, Deposit("alice", token, amount, did), code, "deposit")
    assert w.core.last_deposit_id == last


@pytest.mark.parametrize(
    ("account", "token", "amount", "code"),
    [
        ("alice", USDC, 0, R.INVALID_AMOUNT),
        ("alice", USDC, -E6, R.INVALID_AMOUNT),
        ("alice", USDC, TOO_BIG, R.VALUE_OUT_OF_RANGE),
        ("alice", DAI, E6, R.UNKNOWN_TOKEN),
        ("alice", USDC, 10_000_000 * E6 + 1, R.INSUFFICIENT_BALANCE),
        ("poor", USDC, 10 * E6 + 1, R.INSUFFICIENT_BALANCE),
        ("poor", WETH, 1, R.INSUFFICIENT_BALANCE),
        ("nobody", USDC, 1, R.INSUFFICIENT_BALANCE),
        ("bob", WETH, 999 * Q + 1, R.INSUFFICIENT_BALANCE),  # 1 WETH of 1000 is locked
    ],
)
def test_withdraw_rejects(account: str, token: str, amount: int, code: RejectCode) -> None:
    w = World()
    assert_rejected(w.core, Withdraw(account, token, amount), code, "withdraw")


@pytest.mark.parametrize(
    ("token", "limit", "code"),
    [
        (USDC, TOO_BIG, R.VALUE_OUT_OF_RANGE),
        (USDC, -1, R.INVALID_AMOUNT),
        (DAI, E6, R.UNKNOWN_TOKEN),
    ],
)
def test_set_taker_limit_rejects(token: str, limit: int, code: RejectCode) -> None:
    w = World()
    assert_rejected(w.core, SetTakerLimit("tk", token, limit), code, "set_taker_limit")
    assert "tk" not in w.core.accounts


def test_set_taker_limit_below_exposure() -> None:
    w = World()
    c = w.core
    c.apply(SetTakerLimit("tk", WETH, 2 * Q), 0)
    c.apply(Place("tk", MKT, SELL, P - 10 * TICK, Q), 0)  # fills alice's bid: balance -1 WETH
    assert c.balance("tk", WETH) == (-Q, 0)
    cmd = SetTakerLimit("tk", WETH, Q - 1)
    assert_rejected(c, cmd, R.LIMIT_BELOW_EXPOSURE, "set_taker_limit")
    assert_rejected(c, SetTakerLimit("tk", WETH, 0), R.LIMIT_BELOW_EXPOSURE, "set_taker_limit")


# ---------------------------------------------------------------- operator commands


@pytest.mark.parametrize(
    ("cmd", "code"),
    [
        (ListToken(WETH, "WETH2", 18), R.TOKEN_EXISTS),
        (ListToken(DAI, "DAI", 37), R.INVALID_TOKEN),
        (ListToken(DAI, "DAI", -1), R.INVALID_TOKEN),
        (ListToken("", "DAI", 18), R.INVALID_TOKEN),
    ],
)
def test_list_token_rejects(cmd: ListToken, code: RejectCode) -> None:
    w = World()
    r = assert_rejected(w.core, cmd, code, "list_token")
    assert r.account == ""


@pytest.mark.parametrize(
    ("cmd", "code"),
    [
        (ListMarket(MKT, WETH, USDC, TICK, LOT, MIN_QTY), R.MARKET_EXISTS),
        (ListMarket(MKT, WBTC, USDC, 10_000, 10_000, 10_000), R.MARKET_EXISTS),
        # lot * tick = 10**17, not a multiple of 10**18
        (ListMarket("M", WETH, USDC, TICK, LOT // 10, MIN_QTY), R.INVALID_MARKET),
        (ListMarket("M", WETH, USDC, TICK + 1, LOT, MIN_QTY), R.INVALID_MARKET),
        (ListMarket("M", WBTC, USDC, 10_000, 10_000, 15_000), R.INVALID_MARKET),  # min % lot
        (ListMarket("M", DAI, USDC, TICK, LOT, MIN_QTY), R.INVALID_MARKET),  # unknown base
        (ListMarket("M", WETH, DAI, TICK, LOT, MIN_QTY), R.INVALID_MARKET),  # unknown quote
        (ListMarket("M", WETH, WETH, E18, E18, E18), R.INVALID_MARKET),  # base == quote
        (ListMarket("M", WETH, USDC, 0, LOT, MIN_QTY), R.INVALID_MARKET),
        (ListMarket("M", WETH, USDC, -TICK, -LOT, MIN_QTY), R.INVALID_MARKET),
        (ListMarket("M", WETH, USDC, TICK, 0, MIN_QTY), R.INVALID_MARKET),
        (ListMarket("M", WETH, USDC, TICK, LOT, 0), R.INVALID_MARKET),
        (ListMarket("M", WETH, USDC, TOO_BIG, E18, E18), R.INVALID_MARKET),
        (ListMarket("", WETH, USDC, TICK, LOT, MIN_QTY), R.INVALID_MARKET),
    ],
)
def test_list_market_rejects(cmd: ListMarket, code: RejectCode) -> None:
    w = World()
    r = assert_rejected(w.core, cmd, code, "list_market")
    assert r.account == ""


def test_valid_market_spec_is_accepted() -> None:
    # The control for the cases above: only the broken field makes them fail.
    w = World()
    events = w.core.apply(ListMarket("M", WETH, USDC, TICK, LOT, MIN_QTY), 0)
    assert type(events[0]).__name__ == "MarketListed"


# ---------------------------------------------------------------- expiries and the table


def test_rejected_command_still_runs_due_expiries() -> None:
    w = World()
    c = w.core
    o = w.rest(Place("alice", MKT, BUY, P - 30 * TICK, Q, expires_at_ms=NOW))
    events = c.apply(Cancel("alice", MKT, order_id=999), NOW)
    assert [type(e).__name__ for e in events] == ["OrderExpired", "Rejected", "BalanceChanged"]
    assert events[0] == OrderExpired(o, "alice", MKT, Q, ExpireReason.GTT)
    assert c.apply(AdvanceTime(), NOW + 1) == []


def test_every_reject_code_has_a_message() -> None:
    assert set(REJECT_MESSAGES) == set(RejectCode)
    for code in RejectCode:
        assert isinstance(REJECT_MESSAGES[code], str) and REJECT_MESSAGES[code].strip()
    assert len(set(REJECT_MESSAGES.values())) == len(RejectCode)

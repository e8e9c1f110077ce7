"""Query read models: orders in every status, fill history, balances, markets, books."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from server.core import (
    Cancel,
    CancelAll,
    Fill,
    OrderAccepted,
    Place,
    Replace,
    SetTakerLimit,
    Side,
    TimeInForce,
    Withdraw,
)
from server.streams import DarkMarket, Views
from tests.streams import (
    ACCOUNTS,
    ALICE,
    BOB,
    CAROL,
    DARK,
    E6,
    E18,
    LIT,
    LOT,
    TICK,
    USDC,
    WETH,
    Exchange,
    batches,
)

P = 3000 * E6


def setup(keep: int = 1000) -> tuple[Exchange, Views]:
    x = Exchange()
    return x, Views(x.core, keep=keep)


def step(x: Exchange, v: Views, *commands: Any) -> None:
    v.apply(x.run(commands))


def status(v: Views, account: str, order_id: int = 0, coid: str = "", market: str = "") -> Any:
    got = v.order(account, market, order_id, coid)
    return None if got is None else got["order"]["status"]


def test_order_status_open_filled_cancelled_expired() -> None:
    x, v = setup()
    step(
        x,
        v,
        Place(ALICE, LIT, Side.SELL, P, E18, client_order_id="s1"),  # 1: filled below
        Place(ALICE, LIT, Side.SELL, P + TICK, E18),  # 2: cancelled
        Place(ALICE, LIT, Side.SELL, P + 2 * TICK, E18, client_order_id="s3"),  # 3: open
        Place(BOB, LIT, Side.BUY, P, 2 * E18, TimeInForce.IOC),  # 4: fills 1, expires rest
        Cancel(ALICE, LIT, 2),
        Place(BOB, LIT, Side.BUY, P - TICK, E18, expires_at_ms=x.ts_ms + 10),  # 5: gtt
    )
    step(x, v, Place(CAROL, LIT, Side.BUY, P - 10 * TICK, E18))  # 6
    x.ts_ms += 100
    step(x, v, Cancel(CAROL, LIT, 999))  # time passes: 5 expires
    assert [status(v, ALICE, i) for i in (1, 2, 3)] == ["filled", "cancelled", "open"]
    assert status(v, BOB, 4) == "expired" and status(v, BOB, 5) == "expired"
    one = v.order(ALICE, LIT, 1, "")
    assert one == {
        "order": {
            "order_id": 1,
            "market": LIT,
            "side": "sell",
            "price": str(P),
            "qty": "0",
            "filled": str(E18),
            "tif": "GTC",
            "order_type": "limit",
            "client_order_id": "s1",
            "expires_at_ms": 0,
            "status": "filled",
        }
    }
    four = v.order(BOB, "", 4)
    assert four is not None
    assert four["order"]["qty"] == str(E18) and four["order"]["filled"] == str(E18)
    # Nobody sees another account's order, whatever its status; a wrong market is unknown.
    for oid in range(1, 7):
        owner = ALICE if oid <= 3 else BOB if oid <= 5 else CAROL
        for other in ACCOUNTS:
            if other != owner:
                assert v.order(other, "", oid) is None
        assert v.order(owner, DARK, oid) is None
    assert v.order(ALICE, "", 99) is None
    # By client order id: the open one, else the latest closed one.
    assert status(v, ALICE, coid="s3") == "open"
    assert status(v, ALICE, coid="s1") == "filled"
    assert status(v, BOB, coid="s1") is None
    step(x, v, Place(ALICE, LIT, Side.BUY, P - 20 * TICK, E18, client_order_id="s1"))  # 7
    got = v.order(ALICE, "", 0, "s1")
    assert got is not None and got["order"]["order_id"] == 7 and got["order"]["status"] == "open"
    step(x, v, Cancel(ALICE, LIT, 0, "s1"))
    got = v.order(ALICE, "", 0, "s1")
    assert got is not None and got["order"]["order_id"] == 7
    assert got["order"]["status"] == "cancelled"
    assert v.order(ALICE, "", 0, "") is None


def test_open_order_tracks_fills_and_replaces() -> None:
    x, v = setup()
    step(x, v, Place(ALICE, LIT, Side.SELL, P, E18))
    step(x, v, Place(BOB, LIT, Side.BUY, P, E18 // 4, TimeInForce.IOC))
    step(x, v, Replace(ALICE, LIT, Side.SELL, P + TICK, E18 // 2, 1))
    got = v.order(ALICE, LIT, 1)
    assert got is not None
    assert (got["order"]["price"], got["order"]["qty"], got["order"]["filled"]) == (
        str(P + TICK),
        str(E18 // 2),
        str(E18 // 4),
    )
    step(x, v, CancelAll(ALICE))
    got = v.order(ALICE, LIT, 1)
    assert got is not None and got["order"]["status"] == "cancelled"
    assert (got["order"]["price"], got["order"]["qty"]) == (str(P + TICK), str(E18 // 2))


def test_orders_open_before_views_existed() -> None:
    x = Exchange()
    x.run([Place(ALICE, LIT, Side.SELL, P, E18, client_order_id="old")])
    v = Views(x.core)
    assert status(v, ALICE, coid="old") == "open"
    step(x, v, Place(BOB, LIT, Side.BUY, P, E18))
    got = v.order(ALICE, "", 0, "old")
    assert got is not None and got["order"]["status"] == "filled"


def test_closed_orders_bounded_by_keep() -> None:
    x, v = setup(keep=5)
    for i in range(12):
        coid = ("a", "b", "", "", "", "", "", "", "a", "", "", "")[i]
        step(x, v, Place(ALICE, LIT, Side.BUY, P - TICK, E18, client_order_id=coid))
        step(x, v, Cancel(ALICE, LIT, i + 1))
    assert [status(v, ALICE, i) for i in range(1, 13)] == [None] * 7 + ["cancelled"] * 5
    assert status(v, ALICE, coid="b") is None  # order 2, forgotten
    got = v.order(ALICE, "", 0, "a")
    assert got is not None and got["order"]["order_id"] == 9
    assert len(v._closed_coid) == 1
    assert len(v._closed[ALICE]) == 5


def test_fills_newest_first_filtered_and_bounded() -> None:
    x, v = setup(keep=4)
    for i in range(6):
        step(x, v, Place(ALICE, LIT, Side.SELL, P, (i + 1) * 10 * LOT))
        step(x, v, Place(BOB, LIT, Side.BUY, P, (i + 1) * 10 * LOT, TimeInForce.IOC))
    step(x, v, Place(ALICE, DARK, Side.SELL, P, E18))
    step(x, v, Place(CAROL, DARK, Side.BUY, P, E18))
    alice = v.fills(ALICE)["fills"]
    assert [f["market"] for f in alice] == [DARK, LIT, LIT, LIT]
    assert [f["qty"] for f in alice[1:]] == [str(n * 10 * LOT) for n in (6, 5, 4)]
    assert [f["seq"] for f in alice] == sorted((f["seq"] for f in alice), reverse=True)
    assert all(f["liquidity"] == "maker" and f["side"] == "sell" for f in alice)
    assert alice[0]["ts_ms"] == x.ts_ms
    lit = v.fills(BOB, LIT, limit=2)["fills"]
    assert [f["qty"] for f in lit] == [str(60 * LOT), str(50 * LOT)]
    assert all(f["liquidity"] == "taker" for f in lit)
    assert v.fills(CAROL, LIT) == {"fills": []}
    assert v.fills("nobody") == {"fills": []}
    assert set(alice[0]) == {
        "type",
        "order_id",
        "market",
        "side",
        "liquidity",
        "price",
        "qty",
        "quote_qty",
        "remaining",
        "seq",
        "ts_ms",
    }


def test_balances_with_credit_and_locks() -> None:
    x, v = setup()
    step(
        x,
        v,
        SetTakerLimit(CAROL, USDC, 500 * E6),
        Place(CAROL, LIT, Side.BUY, P, E18),
        Withdraw(CAROL, WETH, E18),
    )
    assert v.balances(CAROL) == {
        "balances": [
            {
                "token": WETH,
                "balance": str(999 * E18),
                "locked": "0",
                "available": str(999 * E18),
            },
            {
                "token": USDC,
                "balance": str(10_000_000 * E6),
                "locked": str(3000 * E6),
                "available": str(10_000_000 * E6 - 3000 * E6 + 500 * E6),
            },
        ]
    }
    assert v.balances("nobody") == {"balances": []}


def test_markets_book_open_orders() -> None:
    x, v = setup()
    m = v.markets()
    assert m["tokens"] == [
        {"token": WETH, "symbol": "WETH", "decimals": 18},
        {"token": USDC, "symbol": "USDC", "decimals": 6},
    ]
    assert m["markets"][0] == {
        "market": LIT,
        "base": WETH,
        "quote": USDC,
        "tick": str(TICK),
        "lot": str(LOT),
        "min_qty": str(10 * LOT),
        "lit": True,
    }
    assert m["markets"][1]["lit"] is False
    step(
        x,
        v,
        Place(ALICE, LIT, Side.BUY, P, E18),
        Place(BOB, LIT, Side.BUY, P, E18),
        Place(BOB, LIT, Side.BUY, P - TICK, E18),
        Place(ALICE, LIT, Side.SELL, P + TICK, 2 * E18),
        Place(ALICE, DARK, Side.SELL, P + TICK, 2 * E18),
    )
    assert v.book(LIT, 1, seq=17) == {
        "market": LIT,
        "seq": 17,
        "bids": [[str(P), str(2 * E18)]],
        "asks": [[str(P + TICK), str(2 * E18)]],
    }
    assert v.book(LIT, 5)["bids"] == [[str(P), str(2 * E18)], [str(P - TICK), str(E18)]]
    with pytest.raises(KeyError):
        v.book("NOPE-USDC", 5)
    with pytest.raises(DarkMarket) as info:
        v.book(DARK, 5)
    assert info.value.code == "DARK_MARKET"
    assert [o["order_id"] for o in v.open_orders(ALICE)["orders"]] == [1, 4, 5]
    assert [o["order_id"] for o in v.open_orders(ALICE, DARK)["orders"]] == [5]
    assert all(o["status"] == "open" for o in v.open_orders(ALICE)["orders"])
    assert v.open_orders(CAROL) == {"orders": []}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches)
def test_order_answers_follow_the_events(flow: list[list[Any]]) -> None:
    """Every order ever accepted: its owner gets it with the right status and filled total,
    everyone else gets None; fills are every fill of the account, newest first."""
    x, v = setup()
    owner: dict[int, str] = {}
    filled: dict[int, int] = defaultdict(int)
    fills: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for batch in flow:
        results = x.run(batch)
        v.apply(results)
        for r in results:
            for e in r.events:
                if type(e) is OrderAccepted:
                    owner[e.order_id] = e.account
                elif type(e) is Fill:
                    filled[e.maker_order_id] += e.qty
                    filled[e.taker_order_id] += e.qty
                    fills[e.maker_account].append((r.seq, e.maker_order_id, str(e.qty)))
                    fills[e.taker_account].append((r.seq, e.taker_order_id, str(e.qty)))
        for oid, account in owner.items():
            got = v.order(account, "", oid)
            assert got is not None
            o = got["order"]
            assert int(o["filled"]) == filled[oid]
            is_open = oid in x.core.orders
            assert (o["status"] == "open") == is_open
            if is_open:
                assert o["qty"] == str(x.core.orders[oid].qty)
            elif o["status"] == "filled":
                assert o["qty"] == "0"
            else:
                assert o["status"] in ("cancelled", "expired") and int(o["qty"]) > 0
            for other in ACCOUNTS:
                if other != account:
                    assert v.order(other, "", oid) is None
        for a in ACCOUNTS:
            got_fills = v.fills(a, limit=1000)["fills"]
            assert [(f["seq"], f["order_id"], f["qty"]) for f in got_fills] == fills[a][::-1]

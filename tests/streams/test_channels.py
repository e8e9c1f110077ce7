"""Stream channels: subscribe checks, snapshots, seq numbers and push messages.

The strong test is the book: clients that subscribe (and leave, and come back) at random
points of random flows rebuild, from a snapshot and the deltas after it, exactly the core's
top-N levels after every batch, with seq numbers that go up by one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.core import Cancel, Fill, ListMarket, Place, Side, TimeInForce
from server.streams import ChannelError, Channels, DarkMarket, user_events, wire_name
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


def decode(payloads: list[tuple[str, bytes]]) -> list[tuple[str, dict[str, Any]]]:
    return [(k, msgspec.json.decode(p)) for k, p in payloads]


def everything(key: str) -> bool:
    return True


def books(key: str) -> bool:
    return key.startswith("book:")


def test_key_checks() -> None:
    c = Channels(Exchange().core)
    assert c.key("user", "", ALICE) == f"user:{ALICE}"
    assert c.key("settlements", LIT, ALICE) == f"settlements:{ALICE}"
    assert c.key("trades", LIT, None) == f"trades:{LIT}"
    assert c.key("book", LIT, ALICE) == f"book:{LIT}"
    for channel in ("user", "settlements"):
        for account in (None, ""):
            with pytest.raises(ChannelError) as info:
                c.key(channel, "", account)
            assert info.value.code == "NOT_LOGGED_IN"
    for channel in ("trades", "book"):
        for market in ("", "NOPE-USDC"):
            with pytest.raises(ChannelError) as info:
                c.key(channel, market, ALICE)
            assert info.value.code == "UNKNOWN_MARKET"
        with pytest.raises(DarkMarket) as dark:
            c.key(channel, DARK, ALICE)
        assert dark.value.code == "DARK_MARKET"
    with pytest.raises(ChannelError) as info:
        c.key("candles", LIT, ALICE)
    assert info.value.code == "UNKNOWN_CHANNEL"
    assert [wire_name(k) for k in (f"user:{ALICE}", f"settlements:{ALICE}")] == [
        "user",
        "settlements",
    ]
    assert wire_name(f"book:{LIT}") == f"book:{LIT}"


def test_snapshots() -> None:
    x = Exchange()
    c = Channels(x.core, book_depth=2)
    results = x.run(
        [
            Place(ALICE, LIT, Side.BUY, P, E18),
            Place(ALICE, LIT, Side.BUY, P - TICK, E18),
            Place(ALICE, LIT, Side.BUY, P - 2 * TICK, E18),
            Place(BOB, LIT, Side.SELL, P + TICK, E18),
        ]
    )
    assert c.publish(results, lambda k: False) == []  # nobody listens; the book's seq moves
    assert c.snapshot(c.key("book", LIT, None)) == {
        "channel": f"book:{LIT}",
        "seq": 1,
        "snapshot": {
            "bids": [[str(P), str(E18)], [str(P - TICK), str(E18)]],
            "asks": [[str(P + TICK), str(E18)]],
        },
    }
    assert c.snapshot(f"trades:{LIT}") == {
        "channel": f"trades:{LIT}",
        "seq": 0,
        "snapshot": {"trades": []},
    }
    assert c.snapshot(f"settlements:{ALICE}") == {
        "channel": "settlements",
        "seq": 0,
        "snapshot": {"settlements": []},
    }
    user = c.snapshot(f"user:{BOB}")
    assert user["channel"] == "user" and user["seq"] == 0
    assert [b["token"] for b in user["snapshot"]["balances"]] == [WETH, USDC]
    assert user["snapshot"]["balances"][0]["locked"] == str(E18)
    assert [(o["order_id"], o["status"]) for o in user["snapshot"]["orders"]] == [(4, "open")]
    assert msgspec.json.decode(msgspec.json.encode(user)) == user


def test_trades_channel_seq_and_recent() -> None:
    x = Exchange()
    c = Channels(x.core, recent_trades=3)
    key = f"trades:{LIT}"
    nobody: Callable[[str], bool] = lambda k: False  # noqa: E731
    c.publish(x.run([Place(ALICE, LIT, Side.SELL, P + TICK * i, E18) for i in range(5)]), nobody)
    # Two fills in one command: one message; nobody listens, but the seq moves on.
    assert c.publish(x.run([Place(BOB, LIT, Side.BUY, P + TICK, 2 * E18)]), nobody) == []
    assert c.seq(key) == 1
    snap = c.snapshot(key)
    assert snap["seq"] == 1
    assert [t["price"] for t in snap["snapshot"]["trades"]] == [str(P + TICK), str(P)]
    out = decode(
        c.publish(
            x.run(
                [
                    Place(BOB, LIT, Side.BUY, P + 2 * TICK, E18 // 2, TimeInForce.IOC),
                    Cancel(ALICE, LIT, 5),
                    Place(BOB, LIT, Side.BUY, P + 3 * TICK, E18, TimeInForce.IOC),
                ]
            ),
            everything,
        )
    )
    trades = [m for k, m in out if k == key]
    assert [m["seq"] for m in trades] == [2, 3]
    assert trades[0] == {
        "channel": key,
        "seq": 2,
        "ts_ms": x.ts_ms - 2,
        "trades": [
            {
                "price": str(P + 2 * TICK),
                "qty": str(E18 // 2),
                "quote_qty": str((3000 * E6 + 2 * TICK) // 2),
                "taker_side": "buy",
            }
        ],
    }
    assert [(t["price"], t["qty"]) for t in trades[1]["trades"]] == [
        (str(P + 2 * TICK), str(E18 // 2)),
        (str(P + 3 * TICK), str(E18 // 2)),
    ]
    recent = c.snapshot(key)
    assert recent["seq"] == 3
    assert [t["price"] for t in recent["snapshot"]["trades"]] == [
        str(P + 3 * TICK),
        str(P + 2 * TICK),
        str(P + 2 * TICK),
    ]


def test_user_channel() -> None:
    x = Exchange()
    c = Channels(x.core)
    alice = f"user:{ALICE}"
    only_alice: Callable[[str], bool] = lambda k: k == alice  # noqa: E731
    r1 = x.run([Place(ALICE, LIT, Side.SELL, P, E18), Place(CAROL, LIT, Side.BUY, P - TICK, E18)])
    out = decode(c.publish(r1, only_alice))
    assert out == [
        (
            alice,
            {
                "channel": "user",
                "seq": 1,
                "ts_ms": r1[0].ts_ms,
                "events": user_events(ALICE, r1[0].events),
            },
        )
    ]
    assert c.snapshot(alice)["seq"] == 1 and c.seq(f"user:{BOB}") == 0
    r2 = x.run([Place(BOB, LIT, Side.BUY, P, E18 // 2)])
    out = decode(c.publish(r2, everything))
    assert [(k, m["seq"]) for k, m in out] == [
        (f"trades:{LIT}", 1),
        (f"user:{BOB}", 1),  # in the order of the command's events: bob's order came first
        (alice, 2),
        (f"book:{LIT}", 2),  # r1 changed the book too, unheard
    ]
    assert out[2][1]["events"][0]["liquidity"] == "maker"
    # What was pushed is kept for the batch, equal to what the answer would build itself.
    for account in (ALICE, BOB):
        assert c.batch_user_events[(r2[0].seq, account)] == user_events(account, r2[0].events)
    assert ALICE not in repr(out[1][1]) and BOB not in repr(out[2][1])


def test_wanted_asked_once_per_key() -> None:
    x = Exchange()
    c = Channels(x.core)
    c.snapshot(f"book:{LIT}")
    asked: list[str] = []

    def wanted(key: str) -> bool:
        asked.append(key)
        return True

    c.publish(
        x.run([Place(ALICE, LIT, Side.SELL, P, E18), Place(BOB, LIT, Side.BUY, P, E18)] * 3),
        wanted,
    )
    assert len(asked) == len(set(asked))
    # The book ends each batch as empty as it began: no message, so nobody is asked about it.
    assert set(asked) == {f"user:{ALICE}", f"user:{BOB}", f"trades:{LIT}"}


def test_book_deltas_and_depth() -> None:
    x = Exchange()
    c = Channels(x.core, book_depth=2)
    key = f"book:{LIT}"
    first = decode(c.publish(x.run([Place(ALICE, LIT, Side.BUY, P - TICK, E18)]), books))
    assert [m["seq"] for _, m in first] == [1]
    assert c.snapshot(key)["snapshot"]["bids"] == [[str(P - TICK), str(E18)]]
    # A better bid and one beyond the depth; then the best one leaves: the third comes in.
    r = x.run(
        [
            Place(BOB, LIT, Side.BUY, P, E18),
            Place(BOB, LIT, Side.BUY, P - 2 * TICK, E18),
            Place(ALICE, LIT, Side.BUY, P - 3 * TICK, E18),
        ]
    )
    assert decode(c.publish(r, books)) == [
        (
            key,
            {
                "channel": key,
                "seq": 2,
                "ts_ms": r[-1].ts_ms,
                "bids": [[str(P), str(E18)]],
                "asks": [],
            },
        )
    ]
    out = decode(c.publish(x.run([Cancel(BOB, LIT, 2), Cancel(BOB, LIT, 99)]), books))
    assert out == [
        (
            key,
            {
                "channel": key,
                "seq": 3,
                "ts_ms": x.ts_ms,
                "bids": [[str(P), "0"], [str(P - 2 * TICK), str(E18)]],
                "asks": [],
            },
        )
    ]
    # A batch that changes nothing in the top 2: no message, no seq.
    assert c.publish(x.run([Cancel(ALICE, LIT, 4)]), books) == []
    assert c.seq(key) == 3
    # Nobody listening: no message, but the seq still names the book's new version.
    assert c.publish(x.run([Place(ALICE, LIT, Side.SELL, P + TICK, E18)]), lambda k: False) == []
    snap = c.snapshot(key)
    assert snap["seq"] == 4 and snap["snapshot"]["asks"] == [[str(P + TICK), str(E18)]]


def test_dark_market_is_silent() -> None:
    x = Exchange()
    c = Channels(x.core)
    results = x.run(
        [
            Place(ALICE, DARK, Side.SELL, P, E18),
            Place(BOB, DARK, Side.BUY, P, E18),
            ListMarket("OTHER", USDC, WETH, 1, 10**6, 10**6, False),
        ]
    )
    assert any(type(e) is Fill for r in results for e in r.events)
    out = decode(c.publish(results, everything))
    assert {k for k, _ in out} == {f"user:{ALICE}", f"user:{BOB}"}
    assert c.seq(f"trades:{DARK}") == 0 and c.seq(f"book:{DARK}") == 0


class BookClient:
    """What a client builds from a book snapshot and the deltas after it."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.seq: int = snapshot["seq"]
        snap = snapshot["snapshot"]
        self.sides = [
            {int(p): int(q) for p, q in snap["bids"]},
            {int(p): int(q) for p, q in snap["asks"]},
        ]

    def apply(self, msg: dict[str, Any]) -> None:
        assert msg["seq"] == self.seq + 1
        self.seq = msg["seq"]
        assert msg["bids"] or msg["asks"]
        for side, levels in zip(self.sides, (msg["bids"], msg["asks"]), strict=True):
            for p, q in levels:
                if q == "0":
                    del side[int(p)]  # only ever for a level the client has
                else:
                    side[int(p)] = int(q)

    def l2(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        bids, asks = self.sides
        return sorted(bids.items(), reverse=True), sorted(asks.items())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches, st.data())
def test_book_deltas_rebuild_the_book(flow: list[list[Any]], data: st.DataObject) -> None:
    """Random flows and subscribers that come and go: snapshot + deltas == core top-N."""
    depth = data.draw(st.integers(1, 4))
    x = Exchange()
    c = Channels(x.core, book_depth=depth)
    key = f"book:{LIT}"
    steady = BookClient(c.snapshot(key))
    late: BookClient | None = None
    market = x.core.markets[LIT]
    for batch in flow:
        results = x.run(batch)
        if late is None and data.draw(st.booleans()):
            late = BookClient(c.snapshot(key))  # joins before the batch is published
        out = decode(c.publish(results, lambda k: k == key))
        assert all(k == key for k, _ in out) and len(out) <= 1
        for _, msg in out:
            assert msg["ts_ms"] == results[-1].ts_ms
            steady.apply(msg)
            if late is not None:
                late.apply(msg)
        assert steady.l2() == market.l2(depth)
        assert steady.seq == c.seq(key)
        if late is not None:
            assert late.l2() == market.l2(depth) and late.seq == steady.seq
            if data.draw(st.booleans()):
                late = None  # it leaves (steady stays, so the baseline is kept)
    # Everyone leaves, the book moves on, and a newcomer starts from a fresh snapshot.
    c.publish(x.run([Place(CAROL, LIT, Side.SELL, P + 50 * TICK, 10 * LOT)]), lambda k: False)
    newcomer = BookClient(c.snapshot(key))
    assert newcomer.seq in (steady.seq, steady.seq + 1)  # +1 if the new ask made the top N
    assert newcomer.l2() == market.l2(depth)
    for _, msg in decode(c.publish(x.run([Cancel(CAROL, LIT, 0, "")] + flow[0]), everything)):
        if msg["channel"] == key:
            newcomer.apply(msg)
    assert newcomer.l2() == market.l2(depth)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches)
def test_no_identity_on_public_channels(flow: list[list[Any]]) -> None:
    x = Exchange()
    c = Channels(x.core, book_depth=3)
    for key in (f"book:{LIT}", f"trades:{LIT}"):
        c.snapshot(key)
    last: dict[str, int] = {}
    for batch in flow:
        for key, payload in c.publish(x.run(batch), everything):
            text = payload.decode()
            msg = msgspec.json.decode(payload)
            assert msg["seq"] == last.get(key, 0) + 1
            last[key] = msg["seq"]
            if key.startswith("user:"):
                me = key[len("user:") :]
                assert all(a not in text for a in ACCOUNTS if a != me)
                assert set(msg) == {"channel", "seq", "ts_ms", "events"}
            else:
                assert DARK not in text
                assert all(a not in text for a in ACCOUNTS)
                assert "order_id" not in text and "account" not in text
                if key.startswith("trades:"):
                    assert set(msg) == {"channel", "seq", "ts_ms", "trades"}
                    for t in msg["trades"]:
                        assert set(t) == {"price", "qty", "quote_qty", "taker_side"}
                else:
                    assert set(msg) == {"channel", "seq", "ts_ms", "bids", "asks"}
    for key in (f"book:{LIT}", f"trades:{LIT}"):
        text = msgspec.json.encode(c.snapshot(key)).decode()
        assert all(a not in text for a in ACCOUNTS) and "order_id" not in text

"""Book sides: idle levels, the cached best price, compaction."""

from __future__ import annotations

import random

from server.core import Cancel, Place, Side, TimeInForce
from server.core.book import IDLE_LEVELS_MIN, NO_LEVEL
from tests.core.fixtures import E6, MIN_QTY, MKT, TICK, funded_core

P0 = 3000 * E6


def test_best_follows_cancels_in_any_order_and_idle_levels_are_compacted() -> None:
    core = funded_core(("alice",))
    asks = core.markets[MKT].asks
    ids = []
    for i in range(3 * IDLE_LEVELS_MIN):
        (accepted, *_rest) = core.apply(Place("alice", MKT, Side.SELL, P0 + i * TICK, MIN_QTY), 0)
        ids.append((accepted.order_id, P0 + i * TICK))  # type: ignore[attr-defined]
    rng = random.Random(3)
    rng.shuffle(ids)
    live = {p for _, p in ids}
    for oid, price in ids:
        core.apply(Cancel("alice", MKT, oid), 0)
        live.discard(price)
        assert asks.best_price() == (min(live) if live else None)
        # memory stays bounded by the peak book: idle levels never pass the threshold, and
        # the threshold is at most twice the live levels at the last compaction
        assert asks.idle <= asks.compact_above <= max(IDLE_LEVELS_MIN, 2 * len(ids))
    assert asks.best == NO_LEVEL
    assert core.markets[MKT].l2() == ([], [])
    assert len(asks.levels) == asks.idle < len(ids)  # compaction ran at least once


def test_idle_level_is_reused_and_invisible() -> None:
    core = funded_core(("alice",))
    m = core.markets[MKT]
    (a, *_r) = core.apply(Place("alice", MKT, Side.BUY, P0, MIN_QTY), 0)
    core.apply(Place("alice", MKT, Side.BUY, P0 - TICK, MIN_QTY), 0)
    level = m.bids.levels[-P0]
    core.apply(Cancel("alice", MKT, a.order_id), 0)  # type: ignore[attr-defined]
    assert m.bids.idle == 1 and m.bids.best_price() == P0 - TICK
    assert m.l2() == ([(P0 - TICK, MIN_QTY)], [])
    # idle levels are not state: a restore (which builds live levels only) hashes the same
    restored = type(core).restore(core.snapshot())
    assert restored.state_hash() == core.state_hash()
    assert restored.markets[MKT].bids.idle == 0
    # a new order at P0 reuses the idle level and becomes the best again
    core.apply(Place("alice", MKT, Side.BUY, P0, 2 * MIN_QTY), 0)
    assert m.bids.levels[-P0] is level and m.bids.idle == 0
    assert m.bids.best_price() == P0
    assert m.l2()[0] == [(P0, 2 * MIN_QTY), (P0 - TICK, MIN_QTY)]


def test_deep_level_swept_in_time_order_by_one_order_and_by_many() -> None:
    makers = tuple(f"m{i}" for i in range(50))
    core = funded_core((*makers, "taker"))
    ids = []
    for i in range(1500):
        (acc, *_r) = core.apply(Place(makers[i % 50], MKT, Side.SELL, P0, MIN_QTY), 0)
        ids.append(acc.order_id)  # type: ignore[attr-defined]
    # one order takes the first 1000 in time order
    events = core.apply(Place("taker", MKT, Side.BUY, P0, 1000 * MIN_QTY), 0)
    fills = [e for e in events if type(e).__name__ == "Fill"]
    assert [f.maker_order_id for f in fills] == ids[:1000]  # type: ignore[attr-defined]
    # then 500 single-maker IOCs take the rest, still in time order
    taken = []
    for _ in range(500):
        events = core.apply(Place("taker", MKT, Side.BUY, P0, MIN_QTY, TimeInForce.IOC), 0)
        taken += [e.maker_order_id for e in events if type(e).__name__ == "Fill"]  # type: ignore[attr-defined]
    assert taken == ids[1000:]
    assert core.markets[MKT].asks.best_price() is None
    assert core.balance("taker", "0x" + "11" * 20)[0] == 1_000 * 10**18 + 1500 * MIN_QTY

"""Benchmark: the exchange core (``server.core.Core``) against a bare order book.

Run: ``.venv/bin/python bench/engine.py [--json PATH] [--ops N] [--seed S] [--quick]``.

The flow follows exchange-core's benchmark mix: 9% GTC place, 3% IOC place, 6% cancel and
82% move (a replace that changes only the price of a live order, same open quantity), with
about 1,000 resting orders over about 750 price levels around a slowly drifting mid, and
1,000 funded accounts; about 5% of the ops trade (exchange-core quotes about 6%). A seeded
generator writes the whole flow first, simulating the book with the bare baseline itself so
that every cancel and move targets a live order. Buy orders come from one half of the
accounts and sell orders from the other, so no order ever meets its own account: the core's
self-trade prevention never fires and both books stay equal.

Each system gets the same flow, as a prebuilt list of ``(function, args)`` calls timed by the
same loop: ``BaselineBook`` methods for the baseline, ``core.apply(command, ts_ms)`` for the
core. The book is filled (warm-up, not timed), then ``gc.collect(); gc.freeze()``, then the
measured calls run with the garbage collector on. Each repetition runs a throughput pass
(one clock read around the whole loop) and a separate latency pass (``perf_counter_ns``
around every call), interleaved baseline / core. Headline ops/s is the best repetition;
latency percentiles are the median over repetitions of each percentile.

Stages: ``generate_flow`` -> ``core_commands`` -> ``validate`` (untimed: rejects, fills, and
the final books of both compared) -> ``measure`` (``run_baseline`` / ``run_core``) -> hooks ->
``report``. More measurements (the journal's throughput, replay speed) plug in through
``EXTRA_MEASUREMENTS``; the results' ``journal`` key is null until such a hook fills it.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sortedcontainers import SortedDict

from server.core import (
    Cancel,
    Command,
    Core,
    Deposit,
    Fill,
    ListMarket,
    ListToken,
    Place,
    Rejected,
    Replace,
    Side,
    TimeInForce,
)
from server.sequencer import AesGcmSealer, Sequencer

# ---------------------------------------------------------------------------- parameters

# The market of tests/core/fixtures.py: WETH (18 decimals) / USDC (6 decimals).
WETH = "0x" + "11" * 20
USDC = "0x" + "22" * 20
MKT = "WETH-USDC"
E18 = 10**18
E6 = 10**6
TICK = 10_000  # 0.01 USDC
LOT = 10**14  # 0.0001 WETH
MIN_QTY = 10**15  # 0.001 WETH
FUND_WETH = 1_000_000 * E18  # per account: nothing is ever short of balance
FUND_USDC = 10_000_000_000 * E6

N_ACCOUNTS = 1_000
RESTING = 1_000  # resting orders to hold (and to place in the warm-up)
MID_TICKS = 300_000  # 3,000.00 USDC per WETH, in ticks
DEPTH_TICKS = 1_100  # passive offsets: min of two uniform draws in 1..DEPTH_TICKS ticks
DRIFT_PER_MILLE = 10  # chance per op that the mid moves one tick either way
MIN_LOTS, MAX_LOTS = MIN_QTY // LOT, 300  # order sizes, in lots
IOC_MAX_LOTS = 60  # IOC sizes: MIN_LOTS..IOC_MAX_LOTS lots
CROSS_TICKS = 3  # an aggressive price goes up to this many ticks through the best
GTC_AGGR_BASE, GTC_AGGR_GAIN = 130, 4  # per mille, and per mille per order of imbalance
MOVE_AGGR_GAIN = 1  # per mille per order of imbalance (moves are passive when balanced)
TS0 = 1_700_000_000_000  # ts_ms of the first command
OPS_PER_MS = 16  # ts_ms advances by one every this many commands

DEFAULT_OPS = 300_000
QUICK_OPS = 30_000
DEFAULT_REPEATS = 3
TARGET_RATIO = 0.6

BUY, SELL = 0, 1
GTC, IOC, CANCEL, MOVE = 0, 1, 2, 3
KINDS = ("gtc", "ioc", "cancel", "move")
MIX_PERCENT = {GTC: 9, IOC: 3, CANCEL: 6, MOVE: 82}
SIDES = (Side.BUY, Side.SELL)

Op = tuple[int, int, int, int, int, int]
"""(kind, order id, side, price, qty, account index); price and qty in base units.

A place carries the id the core will give it (ids are consecutive from 1, one per accepted
place, IOC included); a cancel carries price and qty 0; a move the new price and the open
qty at that moment.
"""

Call = tuple[Callable[..., Any], tuple[Any, ...]]


# ---------------------------------------------------------------------------- baseline


class BaselineBook:
    """The yardstick: per side a SortedDict of price -> deque of order records, plus an id index.

    A record is ``[order_id, qty, side, price]``, the same list in its level and in ``orders``.
    No accounts, no events, no validation. Bids are keyed by -price so that on both sides the
    best level is the first key.
    """

    __slots__ = ("asks", "bids", "orders")

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self.orders: dict[int, list[int]] = {}

    def _take(self, side: int, price: int, qty: int) -> int:
        """Match against the other side while the price crosses; return what is left."""
        if side == BUY:
            book, limit = self.asks, price
        else:
            book, limit = self.bids, -price
        if not book:
            return qty
        key, level = book.peekitem(0)
        if key > limit:
            return qty
        orders = self.orders
        while True:
            while level:
                rec = level[0]
                if rec[1] > qty:
                    rec[1] -= qty
                    return 0
                qty -= rec[1]
                level.popleft()
                del orders[rec[0]]
                if not qty:
                    break
            if not level:
                del book[key]
            if not qty or not book:
                return qty
            key, level = book.peekitem(0)
            if key > limit:
                return qty

    def _rest(self, rec: list[int]) -> None:
        self.orders[rec[0]] = rec
        if rec[2] == BUY:
            book, key = self.bids, -rec[3]
        else:
            book, key = self.asks, rec[3]
        level = book.get(key)
        if level is None:
            book[key] = deque((rec,))
        else:
            level.append(rec)

    def place(self, oid: int, side: int, price: int, qty: int) -> None:
        """GTC: match, then rest what is left."""
        qty = self._take(side, price, qty)
        if qty:
            self._rest([oid, qty, side, price])

    def ioc(self, side: int, price: int, qty: int) -> None:
        """IOC: match, then drop what is left."""
        self._take(side, price, qty)

    def cancel(self, oid: int) -> None:
        rec = self.orders.pop(oid)
        if rec[2] == BUY:
            book, key = self.bids, -rec[3]
        else:
            book, key = self.asks, rec[3]
        level = book[key]
        if len(level) == 1:
            del book[key]
        else:
            level.remove(rec)

    def move(self, oid: int, price: int) -> None:
        """Take the order out, then enter it again at ``price`` (matching if it crosses)."""
        rec = self.orders[oid]  # stays indexed while it re-enters: no maker has its id
        side = rec[2]
        if side == BUY:
            book, key = self.bids, -rec[3]
        else:
            book, key = self.asks, rec[3]
        level = book[key]
        if len(level) == 1:
            del book[key]
        else:
            level.remove(rec)
        qty = self._take(side, price, rec[1])
        if not qty:
            del self.orders[oid]
            return
        rec[1] = qty
        rec[3] = price
        key = -price if side == BUY else price
        level = book.get(key)
        if level is None:
            book[key] = deque((rec,))
        else:
            level.append(rec)

    def depth(self) -> tuple[list[tuple[int, list[tuple[int, int]]]], ...]:
        """Both sides, best level first: [(price, [(order id, qty), ...]), ...]."""
        bids = [(-k, [(r[0], r[1]) for r in lv]) for k, lv in self.bids.items()]
        asks = [(k, [(r[0], r[1]) for r in lv]) for k, lv in self.asks.items()]
        return bids, asks


def baseline_calls(book: BaselineBook, ops: Sequence[Op]) -> list[Call]:
    """The flow as bound calls on ``book``."""
    place, ioc, cancel, move = book.place, book.ioc, book.cancel, book.move
    calls: list[Call] = []
    append = calls.append
    for kind, oid, side, price, qty, _ in ops:
        if kind == MOVE:
            append((move, (oid, price)))
        elif kind == GTC:
            append((place, (oid, side, price, qty)))
        elif kind == CANCEL:
            append((cancel, (oid,)))
        else:
            append((ioc, (side, price, qty)))
    return calls


# ---------------------------------------------------------------------------- the flow


@dataclass
class Flow:
    seed: int
    accounts: list[str]
    warmup: list[Op]  # GTC places that fill the book (not timed)
    ops: list[Op]  # the measured flow
    stats: dict[str, Any] = field(default_factory=dict)

    def mix(self) -> dict[str, int]:
        counts = Counter(op[0] for op in self.ops)
        return {name: counts[k] for k, name in enumerate(KINDS)}


class _Generator:
    """Writes the flow while running it on a BaselineBook, to know what is live."""

    def __init__(self, seed: int, resting: int) -> None:
        self.rng = random.Random(seed)
        self.book = BaselineBook()
        self.resting = resting
        self.mid = MID_TICKS
        self.next_oid = 1
        self.live: list[int] = []  # ids that may still rest; pruned lazily when picked
        self.owner: dict[int, int] = {}

    def account(self, side: int) -> int:
        half = N_ACCOUNTS // 2  # buyers are 0..half-1, sellers half..N_ACCOUNTS-1
        return self.rng.randrange(half) if side == BUY else half + self.rng.randrange(half)

    def qty(self, max_lots: int = MAX_LOTS) -> int:
        return self.rng.randint(MIN_LOTS, max_lots) * LOT

    def passive(self, side: int) -> int:
        randint = self.rng.randint
        off = min(randint(1, DEPTH_TICKS), randint(1, DEPTH_TICKS))
        return (self.mid - off if side == BUY else self.mid + off) * TICK

    def best_opposite(self, side: int) -> int | None:
        opp = self.book.asks if side == BUY else self.book.bids
        if not opp:
            return None
        key: int = opp.peekitem(0)[0]
        return key if side == BUY else -key

    def aggressive(self, side: int) -> int:
        best = self.best_opposite(side)
        if best is None:
            return self.passive(side)
        through = self.rng.randint(0, CROSS_TICKS) * TICK
        return best + through if side == BUY else best - through

    def crosses(self, side: int, price: int) -> bool:
        best = self.best_opposite(side)
        return best is not None and (price >= best if side == BUY else price <= best)

    def pick(self, movable: bool) -> list[int]:
        """A live order, uniformly; a move needs one whose open qty is at least the minimum."""
        live, orders, randrange = self.live, self.book.orders, self.rng.randrange
        while True:
            i = randrange(len(live))
            rec = orders.get(live[i])
            if rec is None:
                live[i] = live[-1]
                live.pop()
            elif not movable or rec[1] >= MIN_QTY:
                return rec

    def new_order(self, side: int) -> tuple[int, int]:
        oid = self.next_oid
        self.next_oid = oid + 1
        acct = self.account(side)
        self.owner[oid] = acct
        return oid, acct


def generate_flow(n_ops: int, seed: int, resting: int = RESTING) -> Flow:
    """The warm-up places and ``n_ops`` measured operations, all integers."""
    g = _Generator(seed, resting)
    rng, book, live = g.rng, g.book, g.live
    randrange = rng.randrange
    warmup: list[Op] = []
    for _ in range(resting):
        side = randrange(2)
        oid, acct = g.new_order(side)
        op = (GTC, oid, side, g.passive(side), g.qty(), acct)
        book.place(*op[1:5])
        live.append(oid)
        warmup.append(op)

    kinds = [k for k, pct in MIX_PERCENT.items() for _ in range(n_ops * pct // 100)]
    kinds += [MOVE] * (n_ops - len(kinds))
    rng.shuffle(kinds)

    half = resting // 2
    n_side = [0, 0]  # resting orders per side, refreshed every few ops
    trade_ops = 0
    samples_orders: list[int] = []
    samples_levels: list[int] = []
    ops: list[Op] = []
    for i, kind in enumerate(kinds):
        if i % 16 == 0:
            n_bids = sum(len(level) for level in book.bids.values())
            n_side = [n_bids, len(book.orders) - n_bids]
            if i % 64 == 0:
                samples_orders.append(len(book.orders))
                samples_levels.append(len(book.bids) + len(book.asks))
        if randrange(1000) < DRIFT_PER_MILLE:
            g.mid += 1 if randrange(2) else -1
        if kind in (MOVE, CANCEL):
            rec = g.pick(movable=kind == MOVE)
            oid, side = rec[0], rec[2]
            acct = g.owner[oid]
            if kind == CANCEL:
                op = (CANCEL, oid, side, 0, 0, acct)
                book.cancel(oid)
            else:
                excess = n_side[1 - side] - half
                if randrange(1000) < MOVE_AGGR_GAIN * excess:
                    price = g.aggressive(side)
                else:
                    price = g.passive(side)
                if price == rec[3]:
                    price += -TICK if side == BUY else TICK
                op = (MOVE, oid, side, price, rec[1], acct)
                trade_ops += g.crosses(side, price)
                book.move(oid, price)
        else:
            side = randrange(2)
            oid, acct = g.new_order(side)
            if kind == IOC:
                price = g.aggressive(side)
                op = (IOC, oid, side, price, g.qty(IOC_MAX_LOTS), acct)
                trade_ops += g.crosses(side, price)
                book.ioc(side, price, op[4])
            else:
                excess = n_side[1 - side] - half
                if randrange(1000) < GTC_AGGR_BASE + GTC_AGGR_GAIN * excess:
                    price = g.aggressive(side)
                else:
                    price = g.passive(side)
                op = (GTC, oid, side, price, g.qty(), acct)
                trade_ops += g.crosses(side, price)
                book.place(oid, side, price, op[4])
                live.append(oid)
        ops.append(op)

    stats = {
        "resting_avg": round(statistics.fmean(samples_orders), 1),
        "resting_min": min(samples_orders),
        "resting_max": max(samples_orders),
        "levels_avg": round(statistics.fmean(samples_levels), 1),
        "levels_min": min(samples_levels),
        "levels_max": max(samples_levels),
        "trade_ops": trade_ops,
        "trade_ops_pct": round(100 * trade_ops / max(1, n_ops), 2),
        "mid_drift_ticks": g.mid - MID_TICKS,
    }
    accounts = [f"0x{i + 1:040x}" for i in range(N_ACCOUNTS)]
    return Flow(seed, accounts, warmup, ops, stats)


# ---------------------------------------------------------------------------- the core


def core_commands(flow: Flow, ops: Sequence[Op]) -> list[Command]:
    """The flow as the core's Command objects."""
    accounts = flow.accounts
    ioc = TimeInForce.IOC
    cmds: list[Command] = []
    append = cmds.append
    for kind, oid, side, price, qty, acct in ops:
        if kind == MOVE:
            append(Replace(accounts[acct], MKT, SIDES[side], price, qty, oid))
        elif kind == GTC:
            append(Place(accounts[acct], MKT, SIDES[side], price, qty))
        elif kind == CANCEL:
            append(Cancel(accounts[acct], MKT, oid))
        else:
            append(Place(accounts[acct], MKT, SIDES[side], price, qty, ioc))
    return cmds


def new_core(flow: Flow) -> Core:
    """A core with the tokens, the market and funded accounts, and the warm-up applied."""
    core = Core()
    for cmd in setup_commands(flow):
        for ev in core.apply(cmd, TS0):
            if type(ev) is Rejected:
                raise RuntimeError(f"set-up rejected: {ev}")
    return core


def setup_commands(flow: Flow) -> list[Command]:
    """Listings, deposits for every account, and the warm-up orders."""
    setup: list[Command] = [
        ListToken(WETH, "WETH", 18),
        ListToken(USDC, "USDC", 6),
        ListMarket(MKT, WETH, USDC, TICK, LOT, MIN_QTY),
    ]
    deposit_id = 0
    for acct in flow.accounts:
        for token, amount in ((WETH, FUND_WETH), (USDC, FUND_USDC)):
            deposit_id += 1
            setup.append(Deposit(acct, token, amount, deposit_id))
    return setup + core_commands(flow, flow.warmup)


def core_calls(core: Core, cmds: Sequence[Command], start: int = 0) -> list[Call]:
    """``cmds`` (the flow's ops from index ``start``) as calls of ``core.apply``."""
    apply = core.apply
    return [(apply, (cmd, TS0 + (start + i) // OPS_PER_MS)) for i, cmd in enumerate(cmds)]


def core_depth(core: Core) -> tuple[list[tuple[int, list[tuple[int, int]]]], ...]:
    m = core.markets[MKT]
    return tuple(
        [(lv.price, [(o.id, o.qty) for o in lv.orders.values()]) for lv in bs.iter_levels()]
        for bs in (m.bids, m.asks)
    )


# ---------------------------------------------------------------------------- measuring


@dataclass
class Run:
    total_ns: int
    ops: int
    latencies: list[int] | None = None

    @property
    def ops_per_s(self) -> float:
        return self.ops * 1e9 / self.total_ns


CHUNK = 4096
"""Ops per timed chunk. The calls of a chunk (and the core's Command objects) are built just
before it runs, untimed, as a server decodes a command just before applying it: prebuilding
all 300k up front would time cold memory reads of the inputs instead of the engines."""


def time_calls(calls: list[Call], per_call: bool) -> Run:
    """Run the calls after gc.collect() + gc.freeze(); the collector stays on while timing."""
    return time_chunks([lambda: calls], per_call)


def time_chunks(chunks: Sequence[Callable[[], list[Call]]], per_call: bool) -> Run:
    """Build each chunk's calls (untimed), then time running them; totals over all chunks."""
    gc.collect()
    gc.freeze()
    now = time.perf_counter_ns
    total = 0
    n = 0
    lat: list[int] = []
    try:
        for build in chunks:
            calls = build()
            n += len(calls)
            if per_call:
                for fn, args in calls:
                    t0 = now()
                    fn(*args)
                    lat.append(now() - t0)
            else:
                t0 = now()
                for fn, args in calls:
                    fn(*args)
                total += now() - t0
            del calls
        if per_call:
            return Run(sum(lat), n, lat)
        return Run(total, n)
    finally:
        gc.unfreeze()


def _chunked(n: int) -> list[tuple[int, int]]:
    return [(i, min(i + CHUNK, n)) for i in range(0, n, CHUNK)]


def run_paired(flow: Flow, first: str) -> dict[str, list[int]]:
    """Throughput, paired: both engines walk the flow together, chunk by chunk, each chunk
    timed for one right after the other (``first`` goes first). A burst of noise from
    another tenant then hits both sides of a chunk, not one whole run of one side."""
    book = BaselineBook()
    for fn, args in baseline_calls(book, flow.warmup):
        fn(*args)
    core = new_core(flow)
    ops = flow.ops
    ns: dict[str, list[int]] = {"baseline": [], "core": []}
    now = time.perf_counter_ns
    gc.collect()
    gc.freeze()
    try:
        for a, b in _chunked(len(ops)):
            calls = {
                "baseline": baseline_calls(book, ops[a:b]),
                "core": core_calls(core, core_commands(flow, ops[a:b]), a),
            }
            for name in (first, "core" if first == "baseline" else "baseline"):
                chunk = calls[name]
                t0 = now()
                for fn, args in chunk:
                    fn(*args)
                ns[name].append(now() - t0)
    finally:
        gc.unfreeze()
    return ns


def run_baseline(flow: Flow, per_call: bool) -> Run:
    book = BaselineBook()
    for fn, args in baseline_calls(book, flow.warmup):
        fn(*args)
    ops = flow.ops
    return time_chunks(
        [lambda a=a, b=b: baseline_calls(book, ops[a:b]) for a, b in _chunked(len(ops))],
        per_call,
    )


def run_core(flow: Flow, cmds: Sequence[Command], per_call: bool) -> Run:
    """The core on the flow; its Command objects are built chunk by chunk, like the
    baseline's calls (``cmds`` is the same flow, kept for the hooks' signature)."""
    core = new_core(flow)
    ops = flow.ops
    return time_chunks(
        [
            lambda a=a, b=b: core_calls(core, core_commands(flow, ops[a:b]), a)
            for a, b in _chunked(len(ops))
        ],
        per_call,
    )


def validate(flow: Flow, cmds: Sequence[Command]) -> dict[str, Any]:
    """Untimed: run both, count the core's rejects and fills, and compare the final books."""
    book = BaselineBook()
    for fn, args in baseline_calls(book, flow.warmup) + baseline_calls(book, flow.ops):
        fn(*args)
    core = new_core(flow)
    rejects: Counter[str] = Counter()
    fills = fill_ops = 0
    for fn, args in core_calls(core, cmds):
        n = 0
        for ev in fn(*args):
            if type(ev) is Fill:
                n += 1
            elif type(ev) is Rejected:
                rejects[f"{ev.action}:{ev.code}"] += 1
        fills += n
        fill_ops += n > 0
    mine, theirs = book.depth(), core_depth(core)
    return {
        "rejects": dict(rejects.most_common()),
        "fills": fills,
        "fill_ops": fill_ops,
        "books_match": mine == theirs,
        "final_resting": len(core.orders),
        "final_levels": len(mine[0]) + len(mine[1]),
    }


def percentiles(lat: Sequence[int]) -> dict[str, float]:
    s = sorted(lat)
    n = len(s)

    def rank(q: float) -> int:
        return s[min(n - 1, max(0, math.ceil(q * n) - 1))]

    return {
        "p50": rank(0.50),
        "p99": rank(0.99),
        "p99_9": rank(0.999),
        "mean": round(sum(s) / n, 1),
        "max": s[-1],
    }


def _median_percentiles(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def _by_kind(flow: Flow, lat: Sequence[int]) -> dict[str, dict[str, float]]:
    groups: dict[int, list[int]] = {k: [] for k in range(len(KINDS))}
    for op, ns in zip(flow.ops, lat, strict=True):
        groups[op[0]].append(ns)
    return {KINDS[k]: percentiles(v) for k, v in groups.items() if v}


def measure(flow: Flow, cmds: Sequence[Command], repeats: int, console: Console) -> dict[str, Any]:
    """Throughput and latency passes, interleaved baseline / core, ``repeats`` times."""
    tp: dict[str, list[float]] = {"baseline": [], "core": []}
    lat: dict[str, list[dict[str, float]]] = {"baseline": [], "core": []}
    kinds: dict[str, list[dict[str, dict[str, float]]]] = {"baseline": [], "core": []}
    last: dict[str, list[int]] = {}
    runners: dict[str, Callable[[bool], Run]] = {
        "baseline": lambda per_call: run_baseline(flow, per_call),
        "core": lambda per_call: run_core(flow, cmds, per_call),
    }
    chunk_ns: dict[str, list[list[int]]] = {"baseline": [], "core": []}
    n_ops = len(flow.ops)
    for rep in range(repeats):
        # Interleaved, and the order flips every repetition so that neither always goes first.
        order = list(runners.items())[:: -1 if rep % 2 else 1]
        paired = run_paired(flow, first=order[0][0])
        for name, per_chunk in paired.items():
            chunk_ns[name].append(per_chunk)
            tp[name].append(n_ops * 1e9 / sum(per_chunk))
            console.print(
                f"  rep {rep + 1}/{repeats} {name:8} throughput {tp[name][-1]:>10,.0f} ops/s"
            )
        for name, runner in order:
            r = runner(True)
            assert r.latencies is not None
            lat[name].append(percentiles(r.latencies))
            kinds[name].append(_by_kind(flow, r.latencies))
            last[name] = r.latencies
            p = lat[name][-1]
            console.print(
                f"  rep {rep + 1}/{repeats} {name:8} latency    p50 {p['p50']:,} ns"
                f"  p99 {p['p99']:,} ns  p99.9 {p['p99_9']:,} ns"
            )
        gc.collect()
    # The estimate: for every chunk, its fastest time over the repetitions (the timeit rule:
    # noise only ever adds time), summed over the flow.
    best = {
        name: n_ops * 1e9 / sum(min(times) for times in zip(*reps, strict=True))
        for name, reps in chunk_ns.items()
    }
    ratio = best["core"] / best["baseline"]
    return {
        "baseline_ops_per_s": round(best["baseline"]),
        "core_ops_per_s": round(best["core"]),
        "ratio": round(ratio, 4),
        "target_ratio": TARGET_RATIO,
        "pass": ratio >= TARGET_RATIO,
        "ops_per_s_runs": {n: [round(x) for x in v] for n, v in tp.items()},
        "ops_per_s_median": {n: round(statistics.median(v)) for n, v in tp.items()},
        "latency_ns": {n: _median_percentiles(v) for n, v in lat.items()},
        "latency_ns_by_kind": {
            n: {k: _median_percentiles([r[k] for r in v]) for k in v[0]} for n, v in kinds.items()
        },
        "_latencies": last,  # the last repetition's samples, for the histogram (not in JSON)
    }


Measurement = Callable[[Flow, Sequence[Command], dict[str, Any]], dict[str, Any]]

GROUP_COMMIT = 1024  # commands per journal record (one write + one fsync)


def measure_journal(flow: Flow, cmds: Sequence[Command], results: dict[str, Any]) -> dict[str, Any]:
    """Journaled throughput (sequencer + sealed WAL, group commit to a temporary directory)
    against the in-memory core in the same run, then replay speed from that journal."""
    key = bytes(range(32))
    clock = lambda: TS0  # noqa: E731 - a fixed time: the flow has no good-til-time orders
    best_mem = best_wal = 0.0
    commits = 0
    commit_ns: list[int] = []
    with tempfile.TemporaryDirectory(prefix="mw-bench-") as d:
        for rep in range(results["repeats"]):
            mem = run_core(flow, cmds, per_call=False)
            best_mem = max(best_mem, mem.ops_per_s)
            wal_dir = Path(d) / f"rep{rep}"
            seq = Sequencer.open(wal_dir, AesGcmSealer(key), clock, snapshot_every=10**12)
            for c in setup_commands(flow):
                seq.submit(c)
            seq.commit()
            submit, commit = seq.submit, seq.commit
            now = time.perf_counter_ns
            gc.collect()
            gc.freeze()
            total = 0
            ops = flow.ops
            for a in range(0, len(ops), GROUP_COMMIT):
                # Inputs built per group, untimed, as for the in-memory core (run_core).
                group = core_commands(flow, ops[a : a + GROUP_COMMIT])
                t0 = now()
                for c in group:
                    submit(c)
                c0 = now()
                commit()
                t1 = now()
                commit_ns.append(t1 - c0)
                total += t1 - t0
            gc.unfreeze()
            commits = len(commit_ns) // (rep + 1) + 1
            best_wal = max(best_wal, len(cmds) * 1e9 / total)
            live_hash = seq.core.state_hash()
            seq.close()
        journal_bytes = sum(p.stat().st_size for p in (wal_dir / "journal").iterdir())
        n_replayed = len(cmds) + len(setup_commands(flow))
        t0 = time.perf_counter_ns()
        recovered = Sequencer.open(wal_dir, AesGcmSealer(key), clock, snapshot_every=10**12)
        replay_s = (time.perf_counter_ns() - t0) / 1e9
        same = recovered.core.state_hash() == live_hash
        recovered.close()
    commit_ns.sort()
    journal = {
        "group_commit": GROUP_COMMIT,
        "records_per_run": commits,
        "core_in_memory_ops_per_s": round(best_mem),
        "journaled_ops_per_s": round(best_wal),
        "ratio": round(best_wal / best_mem, 3),
        "target_ratio": 0.5,
        "pass": best_wal / best_mem >= 0.5,
        "commit_p50_us": round(commit_ns[len(commit_ns) // 2] / 1000, 1),
        "commit_p99_us": round(commit_ns[int(len(commit_ns) * 0.99)] / 1000, 1),
        "journal_bytes_per_command": round(journal_bytes / n_replayed, 1),
        "replay_commands": n_replayed,
        "replay_commands_per_s": round(n_replayed / replay_s),
        "replay_state_hash_matches": same,
        "aggregate": f"best of {results['repeats']} repetitions",
    }
    return {"journal": journal}


EXTRA_MEASUREMENTS: list[Measurement] = [measure_journal]
"""Hooks for later measurements (journaled throughput, replay speed). Each gets the flow, the
measured commands (already built) and the results so far, and returns keys to merge into the
results, e.g. ``{"journal": {...}}``. ``new_core(flow)`` gives a funded, warmed-up core and
``time_calls`` the same timing loop as above."""


# ---------------------------------------------------------------------------- reporting


def _us(ns: float) -> str:
    return f"{ns / 1000:,.2f}"


def report(results: dict[str, Any], console: Console) -> None:
    lat = results["latency_ns"]
    reps = results["repeats"]
    t = Table(title=f"Exchange core vs bare book - {results['ops']:,} ops, seed {results['seed']}")
    t.add_column("")
    t.add_column("baseline", justify="right")
    t.add_column("core", justify="right")
    t.add_column("core / baseline", justify="right")
    b, c = results["baseline_ops_per_s"], results["core_ops_per_s"]
    t.add_row(f"ops/s (best chunks of {reps})", f"{b:,}", f"{c:,}", f"{c / b:.3f}")
    for key, label in (("p50", "p50"), ("p99", "p99"), ("p99_9", "p99.9"), ("mean", "mean")):
        bl, cl = lat["baseline"][key], lat["core"][key]
        t.add_row(f"{label} us (median of {reps})", _us(bl), _us(cl), f"{cl / bl:.2f}x")
    console.print(t)

    k = Table(title="Latency by command, us (p50 / p99, median of repetitions)")
    k.add_column("command")
    k.add_column("count", justify="right")
    k.add_column("baseline", justify="right")
    k.add_column("core", justify="right")
    by = results["latency_ns_by_kind"]
    for name, count in results["mix"].items():
        if name in by["core"]:
            bl, cl = by["baseline"][name], by["core"][name]
            k.add_row(
                name,
                f"{count:,}",
                f"{_us(bl['p50'])} / {_us(bl['p99'])}",
                f"{_us(cl['p50'])} / {_us(cl['p99'])}",
            )
    console.print(k)

    bk, v = results["book"], results["validation"]
    console.print(
        f"book: {bk['resting_avg']:,} resting orders on average ({bk['resting_min']}-"
        f"{bk['resting_max']}), {bk['levels_avg']:,} price levels ({bk['levels_min']}-"
        f"{bk['levels_max']}); {bk['trade_ops_pct']}% of ops trade; mid drift "
        f"{bk['mid_drift_ticks']:+} ticks; {results['warmup_orders']:,} warm-up orders"
    )
    console.print(
        f"core check: {v['fills']:,} fills in {v['fill_ops']:,} ops; final books "
        + ("[green]match[/]" if v["books_match"] else "[red]DIFFER[/]")
        + f"; rejects: {v['rejects'] or 'none'}"
    )
    j = results.get("journal")
    if j:
        jt = Table(title=f"Journal: sealed WAL, group commit of {j['group_commit']:,} commands")
        jt.add_column("")
        jt.add_column("value", justify="right")
        jt.add_row("core in memory, ops/s", f"{j['core_in_memory_ops_per_s']:,}")
        jt.add_row("journaled, ops/s", f"{j['journaled_ops_per_s']:,}")
        jt.add_row("journaled / in memory (target >= 0.5)", f"{j['ratio']:.3f}")
        jt.add_row(
            "commit (write + fsync) p50 / p99, us",
            f"{j['commit_p50_us']:,} / {j['commit_p99_us']:,}",
        )
        jt.add_row("journal bytes per command", f"{j['journal_bytes_per_command']}")
        jt.add_row("replay, commands/s", f"{j['replay_commands_per_s']:,}")
        jt.add_row("replayed state hash matches", str(j["replay_state_hash_matches"]))
        console.print(jt)
    console.print(f"gc: {results['gc']}")
    console.print(f"python {results['python']}, git {results['git']}")
    verdict = "[bold green]PASS[/]" if results["pass"] else "[bold red]MISS[/]"
    console.print(
        f"ratio core/baseline {results['ratio']:.3f} vs target {results['target_ratio']}: "
        + verdict
    )
    if j:
        console.print(
            f"ratio journaled/in-memory {j['ratio']:.3f} vs target {j['target_ratio']}: "
            + ("[bold green]PASS[/]" if j["pass"] else "[bold red]MISS[/]")
        )


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    public = {k: v for k, v in results.items() if not k.startswith("_")}
    path.write_text(json.dumps(public, indent=2, sort_keys=True) + "\n")


def write_histogram(latencies: dict[str, list[int]], path: Path) -> str | None:
    """A log-x latency histogram, core vs baseline, if matplotlib is importable."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    lo = max(1, min(min(v) for v in latencies.values()))
    hi = max(max(v) for v in latencies.values())
    n_bins = 80
    bins = [lo * (hi / lo) ** (i / n_bins) for i in range(n_bins + 1)]
    fig, ax = plt.subplots(figsize=(9, 5))
    for name, v in latencies.items():
        ax.hist(v, bins=bins, histtype="step", linewidth=1.4, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("latency per command (ns)")
    ax.set_ylabel("commands")
    ax.set_title("Exchange core vs bare book: per-command latency (last repetition)")
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return str(path)


# ---------------------------------------------------------------------------- main


def git_revision() -> str | None:
    """The checked-out commit, with "+dirty" when server/ has local changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "server"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return None
    return (rev + ("+dirty" if dirty else "")) or None


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--json", type=Path, help="write the results as JSON here")
    ap.add_argument("--ops", type=int, help=f"measured ops (default {DEFAULT_OPS:,})")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_OPS:,} ops")
    ap.add_argument("--repeats", type=int, default=DEFAULT_REPEATS)
    args = ap.parse_args(argv)
    n_ops = args.ops or (QUICK_OPS if args.quick else DEFAULT_OPS)
    console = Console()

    t0 = time.perf_counter()
    flow = generate_flow(n_ops, args.seed)
    cmds = core_commands(flow, flow.ops)
    console.print(
        f"generated {n_ops:,} ops (+{len(flow.warmup):,} warm-up) and commands in "
        f"{time.perf_counter() - t0:.1f} s"
    )
    validation = validate(flow, cmds)
    results: dict[str, Any] = {
        "benchmark": "engine",
        "ops": n_ops,
        "seed": args.seed,
        "repeats": args.repeats,
        "warmup_orders": len(flow.warmup),
        "mix": flow.mix(),
        "mix_percent_target": {KINDS[k]: v for k, v in MIX_PERCENT.items()},
        "book": flow.stats,
        "validation": validation,
        "aggregate": {
            "ops_per_s": f"per {CHUNK}-op chunk, the fastest of {args.repeats} repetitions, "
            "summed over the flow; both engines walk the flow together, chunk by chunk "
            "(whole-run figures per repetition also recorded)",
            "latency": f"median over {args.repeats} repetitions of each percentile",
        },
        "timing": "throughput: one perf_counter_ns pair around the whole loop; latency: a "
        "separate pass with perf_counter_ns around every call; same (fn, args) loop for both; "
        "repetitions interleave baseline and core, alternating which goes first",
        "gc": "gc.collect() + gc.freeze() after the warm-up, collector enabled while timing",
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "git": git_revision(),
        "journal": None,
    }
    results.update(measure(flow, cmds, args.repeats, console))
    for hook in EXTRA_MEASUREMENTS:
        results.update(hook(flow, cmds, results))
    latencies = results.pop("_latencies")
    report(results, console)
    if args.json:
        png = write_histogram(latencies, args.json.with_suffix(".png"))
        results["histogram"] = png
        write_json(results, args.json)
        console.print(f"wrote {args.json}" + (f" and {png}" if png else ""))
        if png is None:
            console.print("no latency histogram: matplotlib is not installed (optional)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

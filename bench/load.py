"""Benchmark: the whole exchange under load, over loopback, against its limits on this machine.

Run: ``.venv/bin/python bench/load.py [--bots N] [--orders N] [--window W] [--quick]
[--json PATH] [--no-plot]``.

The real server runs as a subprocess (fresh data directory, ``dev_operator = true``, rate and
error limits raised out of the way, a free loopback port). N bot processes drive it with the
SDK's ``Client``: each bot has its own account (a deterministic key), funded with both tokens,
one connection, logged in, subscribed to its ``user`` channel. A bot signs (or, in session
mode, encodes) all of its orders with ``Client.prepare`` *before* the timed phase, so client
signing never takes the server's cores while it is measured; then it sends them with
``send_prepared`` from W lanes, each lane one request in flight (closed loop: a window of W
outstanding requests per connection).

The flow (deterministic from ``--seed``), per bot: ~60% resting GTC limit orders 1-8 ticks
from a mid that swings in a +-20 tick triangle wave (prices cycle in a band of ~56 levels),
~27% crossing IOC orders priced 12 ticks through the mid (they take liquidity), ~13% cancels
by ``client_order_id`` of one of the bot's last 128 resting orders placed at least 32 orders
earlier (it may have been filled by then: that cancel answers ``ORDER_NOT_FOUND``, counted
as an expected reject, not as an error). Quantities are random lots (1-2,000 resting, 1-4,000
crossing: many distinct values, so that fills rarely share a join key, below); the book
holds a few thousand orders at the end of a default run. Even bots
sell and odd bots buy, so every trade is between two bots and self-trade prevention never
fires (one bot alone never trades).

Phases, in one run (the same machine state for the limits and the runs they bound):

1. ``recovery``: single-thread ``server.auth.recovery.recover`` over pre-made signatures
   (best of 3 passes): the signed-order target's yardstick, measured right before ...
2. ``signed``: closed loop, every order signed (``prepare(..., sign=True)``).
3. ``session``: closed loop, the same kind of flow unsigned after the login (session mode).
4. ``echo``: right after it (the exchange and its bots sit idle), a minimal websockets
   (asyncio + uvloop, ``compression=None``) echo server in its own process, driven by as
   many client processes as bots, each one connection with the same window and lanes,
   frames of the session orders' mean size: the session target's yardstick.
5. ``half_rate``: open loop, signed, every bot sending on a fixed schedule so that the total
   is 50% of the signed orders/s measured in phase 2.

Timing. All clocks are ``time.perf_counter_ns`` (``CLOCK_MONOTONIC`` on Linux: one clock for
every process, so times compare across them); the SDK stamps ``Answer.received_ns`` with it.
Ack latency = ``received_ns`` - the time just before ``send_prepared``. The measured window of
a run is from the moment every bot has had its warm-up orders (the first 10%) acknowledged to
the moment the first bot finishes: orders/s = answers received in the window / its length;
latencies are those of the orders sent in it. In the open-loop run a lane that is late (the
loop's timers have 1 ms resolution) sends at once; latency is measured from the actual send,
and how late sends were against the schedule is reported as ``schedule_lag``.

Order-to-fill latency is measured at the MAKER: from the taker sending a crossing order (in
one bot process) to the maker's fill arriving on the maker's ``user`` subscription (in
another, or the same, bot process), stamped by a hook on the subscription's push handler as
the SDK's reader hands the frame over. Taker and maker fills are joined on (``ts_ms``,
price, qty), which both sides see; keys that occur more than once on either side are
dropped as ambiguous (their count is reported). The taker's own fill comes in its ack, so
the taker's order-to-fill is the ack latency of its crossing orders (also reported).

CPU. A sampler thread reads ``/proc/<pid>/stat`` (utime + stime, all threads) of the server
and of every bot every 20 ms, and ``/proc/stat`` for the whole machine; each run's CPU
seconds are interpolated at its window's edges and given as a share of (cores x wall time).
``other`` is the rest of the machine (this orchestrator, the kernel's softirq work not
charged to a process, and anything else running on a shared host).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import gc
import hashlib
import json
import math
import multiprocessing as mp
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from array import array
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import msgspec
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere: the repo's packages first
    sys.path.insert(0, str(ROOT))

from client_sdk.client import Client  # noqa: E402
from client_sdk.errors import ExchangeError  # noqa: E402
from client_sdk.models import Fill, decode_action_result, decode_user_update  # noqa: E402
from client_sdk.signing import Signer  # noqa: E402

# ---------------------------------------------------------------------------- parameters

WETH = "0x" + "11" * 20
USDC = "0x" + "22" * 20
MKT = "WETH-USDC"
E18 = 10**18
E6 = 10**6
TICK = 10_000  # 0.01 USDC
LOT = 10**15  # 0.001 WETH
FUND_WETH = 1_000_000 * E18  # per bot: nobody is ever short of balance
FUND_USDC = 10_000_000_000 * E6
MID_TICKS = 300_000  # 3,000.00 USDC per WETH, in ticks
SWING_TICKS = 20  # the mid swings +-this many ticks ...
SWING_PERIOD = 4_000  # ... once every this many orders of each bot (a triangle wave)
PASSIVE_TICKS = 8  # resting orders 1..this many ticks from the mid
CROSS_TICKS = PASSIVE_TICKS + 4  # crossing orders this far through the mid
REST_LOTS, CROSS_LOTS = 2_000, 4_000  # quantities: 1..this many lots (varied: see fills)
PCT_CANCEL, PCT_CROSS = 13, 27  # the rest (60%) rests
CANCEL_LAG = 32  # a cancel targets a resting order placed at least this many orders earlier,
CANCEL_TRACK = 128  # one of the bot's last this many resting orders
STORAGE_KEY_HEX = "5a" * 32

DEFAULT_BOTS = 4
DEFAULT_ORDERS = 20_000  # per bot, per closed-loop run
DEFAULT_WINDOW = 128
DEFAULT_HALF_SECONDS = 10.0
QUICK_BOTS, QUICK_ORDERS, QUICK_HALF_SECONDS = 2, 4_000, 4.0
WARMUP_FRACTION = 0.10
RECOVERY_SIGS = 4_000
RECOVERY_PASSES = 3
SAMPLE_EVERY_S = 0.02
PHASE_TIMEOUT_S = 300.0

NOISY_SHARE = 0.10  # "other" CPU above this share of the machine: the run was disturbed
TARGET_SIGNED_VS_RECOVERY = 1.0
TARGET_SESSION_VS_ECHO = 0.5
TARGET_HALF_RATE_P99_MS = 2.0

REST, CROSS, CANCEL = 0, 1, 2
KIND_NAMES = ("rest", "cross", "cancel")
EXPECTED_REJECTS = {(CANCEL, "ORDER_NOT_FOUND")}  # a cancel that came after the fill
CLOCK = time.perf_counter_ns

Order = tuple[str, dict[str, Any], int]  # (method, params with int amounts, kind)


def bot_key(index: int) -> bytes:
    """Bot ``index``'s private key: deterministic, so its account is the same every run."""
    return hashlib.sha256(f"myrtle-wyckoff load bot {index}".encode()).digest()


# ---------------------------------------------------------------------------- the flow


def make_flow(bot: int, n: int, seed: int, tag: str) -> list[Order]:
    """Bot ``bot``'s ``n`` orders for run ``tag``: rest / cross / cancel, amounts as ints."""
    rng = random.Random(f"{seed}:{tag}:{bot}")
    out: list[Order] = []
    resting: deque[tuple[int, str]] = deque()  # (index, client_order_id) of resting orders
    for i in range(n):
        phase = (i % SWING_PERIOD) / SWING_PERIOD
        tri = 4 * phase - 1 if phase < 0.5 else 3 - 4 * phase  # -1 .. 1 .. -1
        mid = MID_TICKS + round(SWING_TICKS * tri)
        r = rng.randrange(100)
        if r < PCT_CANCEL and resting and resting[0][0] <= i - CANCEL_LAG:
            k = rng.randrange(len(resting))
            while resting[k][0] > i - CANCEL_LAG:  # the old end of the deque qualifies
                k = rng.randrange(k + 1)
            _, coid = resting[k]
            del resting[k]
            out.append(("cancel", {"market": MKT, "order_id": 0, "client_order_id": coid}, CANCEL))
            continue
        side = "buy" if bot % 2 else "sell"
        sign = 1 if bot % 2 else -1
        coid = f"{tag}{bot}-{i}"
        if r < PCT_CANCEL + PCT_CROSS:
            price = (mid + sign * CROSS_TICKS) * TICK
            qty = rng.randint(1, CROSS_LOTS) * LOT
            tif, kind = "IOC", CROSS
        else:
            price = (mid - sign * rng.randint(1, PASSIVE_TICKS)) * TICK
            qty = rng.randint(1, REST_LOTS) * LOT
            tif, kind = "GTC", REST
            resting.append((i, coid))
            if len(resting) > CANCEL_TRACK:
                resting.popleft()  # most likely filled by now: stop tracking it
        params = {
            "market": MKT,
            "side": side,
            "price": price,
            "qty": qty,
            "tif": tif,
            "order_type": "limit",
            "client_order_id": coid,
            "stp": "expire_maker",
            "expires_at_ms": 0,
        }
        out.append(("place", params, kind))
    return out


# ---------------------------------------------------------------------------- lanes


async def run_lanes(
    frames: Sequence[tuple[int, bytes]],
    send: Callable[[bytes, int], Any],
    window: int,
    start_ns: int,
    schedule: Sequence[int] | None,
    progress: Any,
    on_answer: Callable[[int, Any], None],
) -> tuple[array[int], array[int]]:
    """Send every frame from ``window`` lanes (one request in flight each), in order.

    Closed loop when ``schedule`` is None; otherwise frame k is sent at ``start_ns +
    schedule[k]`` at the earliest (open loop). Returns (send times, answer times), ns.
    """
    n = len(frames)
    sent = array("q", bytes(8 * n))
    acked = array("q", bytes(8 * n))
    nxt = 0
    clock = CLOCK
    sleep = asyncio.sleep

    async def lane() -> None:
        nonlocal nxt
        while nxt < n:
            k = nxt
            nxt = k + 1
            if schedule is not None:
                delay = start_ns + schedule[k] - clock()
                if delay > 0:
                    await sleep(delay / 1e9)
            rid, frame = frames[k]
            sent[k] = clock()
            answer = await send(frame, rid)
            acked[k] = answer.received_ns or clock()
            on_answer(k, answer)
            if not k & 255:
                progress.value = k + 1

    await asyncio.gather(*(lane() for _ in range(min(window, n))))
    progress.value = n
    return sent, acked


async def wait_until(t_ns: int) -> None:
    delay = t_ns - CLOCK()
    if delay > 0:
        await asyncio.sleep(delay / 1e9)


# ---------------------------------------------------------------------------- bot process


@dataclass
class BotRun:
    """What a bot sends back after a run (times in ns of the shared monotonic clock)."""

    sent: array[int]
    acked: array[int]
    kinds: bytes
    codes: dict[str, int]  # error answers by "kind:code"
    taker_fills: list[tuple[int, int, int, int]]  # (ts_ms, price, qty, sent ns)
    maker_fills: list[tuple[int, int, int, int]]  # (ts_ms, price, qty, received ns)
    taker_fill_acks: list[int]  # ack latency of crossing orders that filled, ns
    pushes: int
    gaps: int
    failures: list[str]
    frame_bytes: float


class _BotProtocolError(RuntimeError):
    pass


def bot_main(index: int, url: str, ctrl: Connection, progress: Any) -> None:
    """A bot process: one account, one connection; runs what the orchestrator sends."""
    import uvloop

    gc.disable()  # turned back on (with the setup frozen) before each timed run
    with contextlib.suppress(EOFError, KeyboardInterrupt, BrokenPipeError):
        uvloop.run(_bot(index, url, ctrl, progress))


async def _bot(index: int, url: str, ctrl: Connection, progress: Any) -> None:
    loop = asyncio.get_running_loop()
    signer = Signer(bot_key(index))
    client = await Client.connect(
        url,
        signer=signer,
        session=True,
        reconnect=False,
        request_timeout=60.0,
        max_queue=10**8,  # pushes are kept until a run ends, never dropped
    )
    if not client.session_active:
        raise _BotProtocolError("the server did not grant session mode")
    sub = await client.subscribe("user")
    await sub.get(timeout=10)  # the snapshot
    stamps: list[tuple[int, bytes]] = []
    sub.on_push = lambda received_ns, data: stamps.append((received_ns, data))
    ctrl.send(("connected", signer.account))
    while True:
        msg = await loop.run_in_executor(None, ctrl.recv)
        if msg[0] == "stop":
            break
        run = await _bot_run(client, index, msg[1], ctrl, progress, stamps)
        with contextlib.suppress(TimeoutError):
            while True:  # drain the subscription (the SDK kept every push for us)
                await sub.get(timeout=0.05)
        stamps.clear()
        ctrl.send(("done", run))
    await client.close()


async def _bot_run(
    client: Client,
    index: int,
    spec: dict[str, Any],
    ctrl: Connection,
    progress: Any,
    stamps: list[tuple[int, bytes]],
) -> BotRun:
    """One run: prepare (sign) every order, say ready, wait for "go", send, collect."""
    loop = asyncio.get_running_loop()
    orders = make_flow(index, spec["orders"], spec["seed"], spec["tag"])
    frames = [client.prepare(m, p, sign=spec["signed"]) for m, p, _ in orders]
    kinds = bytes(k for _, _, k in orders)
    schedule: list[int] | None = None
    if spec.get("interval_ns"):
        iv = spec["interval_ns"]
        offset = iv * index // spec["bots"]
        schedule = [offset + k * iv for k in range(len(frames))]
    frame_bytes = sum(len(f.frame) for f in frames) / max(1, len(frames))
    gc.collect()
    gc.freeze()
    ctrl.send(("ready", frame_bytes))
    _, start_ns = await loop.run_in_executor(None, ctrl.recv)
    stamps.clear()
    codes: Counter[str] = Counter()
    raws: dict[int, bytes] = {}
    failures: list[str] = []

    def on_answer(k: int, answer: Any) -> None:
        if answer.error is not None:
            codes[f"{KIND_NAMES[kinds[k]]}:{answer.error.code}"] += 1
        elif kinds[k] == CROSS:
            raws[k] = answer.result

    stats = client.stats
    pushes0, gaps0 = stats.pushes, stats.gaps + stats.resyncs
    gc.enable()
    await wait_until(start_ns)
    try:
        sent, acked = await run_lanes(
            [(f.id, f.frame) for f in frames],
            client.send_prepared,
            spec["window"],
            start_ns,
            schedule,
            progress,
            on_answer,
        )
    except ExchangeError as e:
        failures.append(f"{type(e).__name__}: {e} (close code {client.close_code})")
        sent = acked = array("q")
        raws.clear()
    await asyncio.sleep(0.2)  # let the last pushes (fills of our resting orders) arrive
    gc.disable()
    gc.unfreeze()
    run = _bot_results(sent, acked, kinds, codes, raws, stamps, failures)
    run.pushes = stats.pushes - pushes0
    run.gaps = stats.gaps + stats.resyncs - gaps0
    run.frame_bytes = frame_bytes
    return run


def _bot_results(
    sent: array[int],
    acked: array[int],
    kinds: bytes,
    codes: Counter[str],
    raws: dict[int, bytes],
    stamps: list[tuple[int, bytes]],
    failures: list[str],
) -> BotRun:
    taker: list[tuple[int, int, int, int]] = []
    taker_acks: list[int] = []
    for k, raw in raws.items():
        result = decode_action_result(raw)
        filled = False
        for e in result.events:
            if isinstance(e, Fill) and e.liquidity == "taker":
                taker.append((result.ts_ms, e.price, e.qty, sent[k]))
                filled = True
        if filled:
            taker_acks.append(acked[k] - sent[k])
    maker: list[tuple[int, int, int, int]] = []
    for t, data in stamps:
        update = decode_user_update(data)
        for e in update.events:
            if isinstance(e, Fill) and e.liquidity == "maker":
                maker.append((update.ts_ms, e.price, e.qty, t))
    return BotRun(
        sent=sent,
        acked=acked,
        kinds=kinds,
        codes=dict(codes),
        taker_fills=taker,
        maker_fills=maker,
        taker_fill_acks=taker_acks,
        pushes=0,
        gaps=0,
        failures=failures,
        frame_bytes=0.0,
    )


# ---------------------------------------------------------------------------- echo baseline


class _Id(msgspec.Struct):
    id: int = 0


def echo_server_main(ctrl: Connection) -> None:
    """A minimal websockets echo server (asyncio + uvloop, no compression)."""
    import uvloop
    from websockets.asyncio.server import ServerConnection, serve

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, compression=None, max_size=1 << 20) as srv:
            port = next(iter(srv.sockets)).getsockname()[1]
            ctrl.send(port)
            await asyncio.get_running_loop().run_in_executor(None, ctrl.recv)

    with contextlib.suppress(EOFError, KeyboardInterrupt):
        uvloop.run(main())


def echo_client_main(index: int, url: str, ctrl: Connection, progress: Any) -> None:
    """An echo client: the bots' lanes and window over a bare websockets connection, with
    one reader that decodes each answer's id with msgspec, as the SDK's reader does."""
    import uvloop

    gc.disable()
    with contextlib.suppress(EOFError, KeyboardInterrupt, BrokenPipeError):
        uvloop.run(_echo_client(index, url, ctrl, progress))


async def _echo_client(index: int, url: str, ctrl: Connection, progress: Any) -> None:
    from websockets.asyncio.client import connect

    loop = asyncio.get_running_loop()
    ws = await connect(url, compression=None, max_size=1 << 26)
    pending: dict[int, asyncio.Future[Any]] = {}
    decode = msgspec.json.Decoder(_Id).decode

    class _Echoed:
        __slots__ = ("error", "received_ns")

        def __init__(self, t: int) -> None:
            self.received_ns = t
            self.error = None

    async def reader() -> None:
        clock = CLOCK
        with contextlib.suppress(Exception):
            while True:
                data = await ws.recv(decode=False)
                now = clock()
                fut = pending.pop(decode(data).id, None)
                if fut is not None:
                    fut.set_result(_Echoed(now))

    read_task = asyncio.create_task(reader())

    async def send(frame: bytes, rid: int) -> Any:
        fut = loop.create_future()
        pending[rid] = fut
        await ws.send(frame, text=True)
        return await fut

    ctrl.send(("connected", index))
    _, spec = await loop.run_in_executor(None, ctrl.recv)
    size = int(spec["frame_bytes"])
    frames: list[tuple[int, bytes]] = []
    for k in range(spec["orders"]):
        rid = k + 1
        head = b'{"id":%d,"method":"echo","params":{"pad":"' % rid
        pad = max(0, size - len(head) - 3)
        frames.append((rid, head + b"x" * pad + b'"}}'))
    gc.collect()
    gc.freeze()
    ctrl.send(("ready", sum(len(f) for _, f in frames) / len(frames)))
    _, start_ns = await loop.run_in_executor(None, ctrl.recv)
    gc.enable()
    await wait_until(start_ns)
    sent, acked = await run_lanes(
        frames, send, spec["window"], start_ns, None, progress, lambda k, a: None
    )
    run = BotRun(sent, acked, bytes(len(frames)), {}, [], [], [], 0, 0, [], size)
    ctrl.send(("done", run))
    await loop.run_in_executor(None, ctrl.recv)
    read_task.cancel()
    await ws.close()


# ---------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    """The real server, ``python -m server serve``, in a fresh temporary data directory."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.config = {
            "host": "127.0.0.1",
            "data_dir": str(tmp / "data"),
            "dev_operator": True,
            "rate_per_connection": 10**9,
            "rate_per_account": 10**9,
            "max_errors": 10**9,  # missed cancels are refused requests: never close for them
            "outbound_queue": 65_536,
        }
        toml = "".join(
            f"{k} = {json.dumps(v) if not isinstance(v, bool) else str(v).lower()}\n"
            for k, v in self.config.items()
        )
        (tmp / "myrtle.toml").write_text(toml)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MYRTLE_")}
        env.update(MYRTLE_PORT=str(self.port), MYRTLE_STORAGE_KEY_HEX=STORAGE_KEY_HEX)
        self.log_path = tmp / "server.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--config", str(tmp / "myrtle.toml")],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.pid = self.proc.pid

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def wait_healthy(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}):\n{self.log()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no /health after {timeout} s:\n{self.log()}") from None
                time.sleep(0.05)

    def stop(self) -> int:
        """SIGTERM by PID, then SIGKILL after 10 s; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")


class Workers:
    """N worker processes (bots or echo clients), each with a control pipe and a progress
    counter, all started with the "spawn" method (no state inherited from this process)."""

    def __init__(self, target: Callable[..., None], url: str, n: int) -> None:
        ctx = mp.get_context("spawn")
        self.progress = [ctx.Value("q", 0, lock=False) for _ in range(n)]
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        for i in range(n):
            ours, theirs = ctx.Pipe()
            p = ctx.Process(target=target, args=(i, url, theirs, self.progress[i]), daemon=True)
            p.start()
            theirs.close()
            self.pipes.append(ours)
            self.procs.append(p)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def recv_all(
        self, expect: str, timeout: float = PHASE_TIMEOUT_S, tick: Any = None
    ) -> list[Any]:
        out: list[Any] = [None] * len(self.pipes)
        deadline = time.monotonic() + timeout
        waiting = set(range(len(self.pipes)))
        while waiting:
            for i in list(waiting):
                if self.pipes[i].poll(0.02):
                    msg = self.pipes[i].recv()
                    if msg[0] != expect:
                        raise RuntimeError(f"worker {i}: expected {expect!r}, got {msg[0]!r}")
                    out[i] = msg[1]
                    waiting.discard(i)
                elif not self.procs[i].is_alive():
                    raise RuntimeError(f"worker {i} died (exit code {self.procs[i].exitcode})")
            if tick is not None:
                tick()
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers {sorted(waiting)} gave no {expect!r} in {timeout} s")
        return out

    def send_all(self, msg: Any) -> None:
        for p in self.pipes:
            p.send(msg)

    def done_count(self) -> int:
        return sum(v.value for v in self.progress)

    def reset_progress(self) -> None:
        for v in self.progress:
            v.value = 0

    def stop(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(("stop", None))
        for p in self.procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()  # by PID: the process object we started
                p.join()


# ---------------------------------------------------------------------------- CPU sampling


def proc_cpu_ticks(pid: int) -> int | None:
    """utime + stime of a process (all its threads), in clock ticks; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def tree_cpu_ticks(pid: int) -> int | None:
    """``proc_cpu_ticks`` of a process plus its live children (the server's verifier
    processes count as the server)."""
    own = proc_cpu_ticks(pid)
    if own is None:
        return None
    total = own
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2 :].split()
        if int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total


def machine_busy_ticks() -> int:
    """Busy ticks of the whole machine (all CPUs), from /proc/stat."""
    with open("/proc/stat", "rb") as f:
        parts = f.readline().split()[1:]
    values = [int(v) for v in parts[:8]]  # user nice system idle iowait irq softirq steal
    return sum(values) - values[3] - values[4]


class CpuSampler(threading.Thread):
    """Samples CPU ticks of the given pids and of the machine every SAMPLE_EVERY_S."""

    def __init__(self) -> None:
        super().__init__(daemon=True, name="cpu-sampler")
        self.groups: dict[str, list[int]] = {}
        self.samples: list[tuple[int, dict[str, int]]] = []
        self.hz = os.sysconf("SC_CLK_TCK")
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

    def watch(self, group: str, pids: list[int]) -> None:
        with self._lock:
            self.groups[group] = list(pids)

    def sample(self) -> None:
        with self._lock:
            groups = dict(self.groups)
        row: dict[str, int] = {"machine": machine_busy_ticks()}
        for name, pids in groups.items():
            ticks = tree_cpu_ticks if name == "server" else proc_cpu_ticks
            row[name] = sum(ticks(p) or 0 for p in pids)
        self.samples.append((CLOCK(), row))

    def run(self) -> None:
        while not self._stop_event.wait(SAMPLE_EVERY_S):
            self.sample()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def at(self, t_ns: int, group: str) -> float:
        """CPU seconds of ``group`` at time ``t_ns``, linearly interpolated."""
        times = [t for t, _ in self.samples]
        i = bisect.bisect_left(times, t_ns)
        if i == 0:
            t1, r1 = self.samples[0]
            return r1.get(group, 0) / self.hz
        if i >= len(times):
            t0, r0 = self.samples[-1]
            return r0.get(group, 0) / self.hz
        t0, r0 = self.samples[i - 1]
        t1, r1 = self.samples[i]
        a, b = r0.get(group, 0), r1.get(group, 0)
        return (a + (b - a) * (t_ns - t0) / max(1, t1 - t0)) / self.hz

    def between(self, t0: int, t1: int, groups: Sequence[str]) -> dict[str, Any]:
        wall = (t1 - t0) / 1e9
        cores = os.cpu_count() or 1
        out: dict[str, Any] = {"wall_s": round(wall, 3), "cores": cores}
        used = 0.0
        for g in (*groups, "machine"):
            s = max(0.0, self.at(t1, g) - self.at(t0, g))
            if g != "machine":
                used += s
            out[g] = {"cpu_s": round(s, 3), "share": round(s / (cores * wall), 3)}
        other = max(0.0, out["machine"]["cpu_s"] - used)
        out["other"] = {"cpu_s": round(other, 3), "share": round(other / (cores * wall), 3)}
        return out


SERVER_HISTOGRAMS = {
    "myrtle_commit_latency_seconds": "commit_ms",
    "myrtle_batch_items": "batch_items",
    "myrtle_verify_latency_seconds": "verify_ms",
    "myrtle_ack_latency_seconds": "server_ack_ms",
}


def scrape_metrics(port: int) -> dict[str, float]:
    """The server's /metrics: every ``_sum``, ``_count`` and ``_bucket`` sample, by name."""
    out: dict[str, float] = {}
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        with contextlib.suppress(ValueError):
            out[name] = float(value)
    return out


def metrics_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """Per histogram: mean over the run and the share of observations above each bound."""
    out: dict[str, Any] = {}
    for metric, key in SERVER_HISTOGRAMS.items():
        n = after.get(metric + "_count", 0) - before.get(metric + "_count", 0)
        total = after.get(metric + "_sum", 0) - before.get(metric + "_sum", 0)
        if n <= 0:
            continue
        scale = 1 if key == "batch_items" else 1000  # seconds -> ms
        above: dict[str, float] = {}
        prefix = metric + '_bucket{le="'
        for name, v in after.items():
            if name.startswith(prefix) and "+Inf" not in name:
                bound = float(name[len(prefix) : -2])
                below = v - before.get(name, 0)
                label = f"{bound * scale:g}"
                above[label] = round(1 - below / n, 4)
        out[key] = {"count": int(n), "mean": round(total / n * scale, 3), "share_above": above}
    return out


# ---------------------------------------------------------------------------- statistics


def percentile(sorted_values: Sequence[int], q: float) -> int:
    """Nearest-rank percentile of an ascending sequence."""
    n = len(sorted_values)
    return sorted_values[min(n - 1, max(0, math.ceil(q * n) - 1))]


def ms_stats(values_ns: Sequence[int]) -> dict[str, float | int | None]:
    v = sorted(values_ns)
    if not v:
        return {"count": 0, "p50": None, "p99": None, "p999": None, "max": None, "mean": None}
    return {
        "count": len(v),
        "p50": round(percentile(v, 0.50) / 1e6, 3),
        "p99": round(percentile(v, 0.99) / 1e6, 3),
        "p999": round(percentile(v, 0.999) / 1e6, 3),
        "max": round(v[-1] / 1e6, 3),
        "mean": round(sum(v) / len(v) / 1e6, 3),
    }


@dataclass
class Window:
    t0: int
    t1: int
    answers: int

    @property
    def seconds(self) -> float:
        return (self.t1 - self.t0) / 1e9

    @property
    def rate(self) -> float:
        return self.answers / self.seconds if self.t1 > self.t0 else 0.0


def steady_window(runs: Sequence[BotRun]) -> Window:
    """From every bot past its warm-up to the first bot done; the answers inside it."""
    t0 = max(r.acked[max(0, int(len(r.acked) * WARMUP_FRACTION) - 1)] for r in runs)
    t1 = min(max(r.acked) for r in runs)
    if t1 <= t0:  # a bot ran alone for long: fall back to the whole run after warm-ups
        t1 = max(max(r.acked) for r in runs)
    answers = sum(1 for r in runs for a in r.acked if t0 < a <= t1)
    return Window(t0, t1, answers)


@dataclass
class RunSummary:
    name: str
    window: Window
    results: dict[str, Any] = field(default_factory=dict)
    ack_ns: list[int] = field(default_factory=list)
    fill_ns: list[int] = field(default_factory=list)
    runs: Sequence[BotRun] = ()


def summarize(name: str, runs: Sequence[BotRun], sampler: CpuSampler, group: str) -> RunSummary:
    failed = [f for r in runs for f in r.failures]
    if failed or any(not len(r.acked) for r in runs):
        raise RuntimeError(f"{name}: a bot failed: {failed}")
    w = steady_window(runs)
    ack = [a - s for r in runs for s, a in zip(r.sent, r.acked, strict=True) if w.t0 <= s <= w.t1]
    codes: Counter[str] = Counter()
    for r in runs:
        codes.update(r.codes)
    errors = {
        c: n
        for c, n in codes.items()
        if (KIND_NAMES.index(c.split(":")[0]), c.split(":")[1]) not in EXPECTED_REJECTS
    }
    kinds: Counter[str] = Counter()
    for r in runs:
        kinds.update(KIND_NAMES[k] for k in r.kinds)
    # Order-to-fill at the maker: join taker sends and maker receipts on (ts_ms, price, qty).
    takers: dict[tuple[int, int, int], list[int]] = {}
    makers: dict[tuple[int, int, int], list[int]] = {}
    for r in runs:
        for ts, price, qty, t in r.taker_fills:
            takers.setdefault((ts, price, qty), []).append(t)
        for ts, price, qty, t in r.maker_fills:
            makers.setdefault((ts, price, qty), []).append(t)
    fill: list[int] = []
    ambiguous = 0
    for key, ts in takers.items():
        ms = makers.get(key)
        if ms is None:
            continue
        if len(ts) != 1 or len(ms) != 1:
            ambiguous += len(ts)
            continue
        if w.t0 <= ts[0] <= w.t1:
            fill.append(ms[0] - ts[0])
    taker_fill = [x for r in runs for x in r.taker_fill_acks]
    total = sum(len(r.sent) for r in runs)
    results: dict[str, Any] = {
        "orders": total,
        "answered": sum(1 for r in runs for a in r.acked if a),
        "orders_per_s": round(w.rate),
        "window_s": round(w.seconds, 3),
        "measured_orders": len(ack),
        "ack_ms": ms_stats(ack),
        "order_to_fill_ms": {
            **ms_stats(fill),
            "measured_at": "maker's user push",
            "taker_fills": sum(len(v) for v in takers.values()),
            "maker_fills": sum(len(v) for v in makers.values()),
            "ambiguous_dropped": ambiguous,
        },
        "taker_fill_in_ack_ms": ms_stats(taker_fill),
        "mix": dict(kinds),
        "rejects": {c: n for c, n in codes.items() if c not in errors},
        "errors": errors,
        "failures": [f for r in runs for f in r.failures],
        "stream_gaps": sum(r.gaps for r in runs),
        "pushes_per_order": round(sum(r.pushes for r in runs) / max(1, total), 3),
        "frame_bytes": round(sum(r.frame_bytes for r in runs) / max(1, len(runs)), 1),
        "cpu": sampler.between(w.t0, w.t1, ["server", group]),
    }
    return RunSummary(name, w, results, ack, fill, runs)


# ---------------------------------------------------------------------------- limits


def measure_recovery(n: int = RECOVERY_SIGS, passes: int = RECOVERY_PASSES) -> dict[str, Any]:
    """Single-thread recovery rate over pre-made (digest, 0x signature) pairs."""
    from coincurve import PrivateKey

    from server.auth.recovery import recover

    key = PrivateKey(bot_key(10**6))
    rng = random.Random(7)
    items = []
    for _ in range(n):
        digest = rng.randbytes(32)
        sig = key.sign_recoverable(digest, hasher=None)
        items.append((digest, "0x" + sig[:64].hex() + f"{sig[64] + 27:02x}"))
    expected = recover(*items[0])
    rates = []
    for _ in range(passes):
        t0 = CLOCK()
        for digest, sig in items:
            recover(digest, sig)
        rates.append(n * 1e9 / (CLOCK() - t0))
    assert all(recover(d, s) == expected for d, s in items[:10])
    return {
        "recoveries_per_s": round(max(rates)),
        "passes": [round(r) for r in rates],
        "signatures": n,
        "what": "server.auth.recovery.recover(digest, 0x-hex signature), one thread, best pass",
    }


# ---------------------------------------------------------------------------- orchestration


class Bench:
    def __init__(self, args: argparse.Namespace, console: Console) -> None:
        self.args = args
        self.console = console
        self.sampler = CpuSampler()
        self.port = 0  # the exchange server's, while it runs (for /metrics)
        self.progress = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            TextColumn("{task.completed:>9,.0f}/{task.total:<9,.0f}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )

    def run_phase(
        self,
        workers: Workers,
        label: str,
        spec: dict[str, Any],
        group: str,
        server_metrics: bool = True,
    ) -> list[BotRun]:
        n = self.args.bots
        workers.reset_progress()
        workers.send_all(("run", spec))
        sign_task = self.progress.add_task(f"{label}: prepare", total=n)
        ready = workers.recv_all("ready")
        self.progress.update(sign_task, completed=n)
        spec["frame_bytes_prepared"] = sum(ready) / n
        total = spec["orders"] * n
        task = self.progress.add_task(label, total=total)
        scrape = server_metrics and self.port
        before = scrape_metrics(self.port) if scrape else {}
        start = CLOCK() + 200_000_000  # everyone starts together, 0.2 s from now
        spec["start_ns"] = start
        workers.send_all(("go", start))

        def tick() -> None:
            self.progress.update(task, completed=workers.done_count())

        runs: list[BotRun] = workers.recv_all("done", tick=tick)
        self.progress.update(task, completed=total)
        if scrape:
            spec["server_metrics"] = metrics_delta(before, scrape_metrics(self.port))
        return runs

    def exchange_run(
        self, bots: Workers, label: str, name: str, spec: dict[str, Any], url: str
    ) -> RunSummary:
        runs = self.run_phase(bots, label, spec, "bots")
        summary = summarize(name, runs, self.sampler, "bots")
        summary.results["server_metrics"] = spec.get("server_metrics")
        summary.results["book_after"] = self.book_state(url)
        return summary

    def echo_run(self, frame_bytes: float) -> list[BotRun]:
        """The echo baseline: as many client processes, connections, lanes and window as the
        bots, frames of ``frame_bytes``, as many messages as orders."""
        a = self.args
        echo_srv, echo_ctrl = start_echo_server()
        try:
            port = echo_ctrl.recv()
            clients = Workers(echo_client_main, f"ws://127.0.0.1:{port}/", a.bots)
            try:
                clients.recv_all("connected", timeout=60)
                self.sampler.watch("echo_server", [echo_srv.pid])
                self.sampler.watch("echo_clients", clients.pids)
                spec = {"orders": a.orders, "window": a.window, "frame_bytes": frame_bytes}
                runs = self.run_phase(clients, "echo (baseline)", spec, "echo_clients", False)
                clients.send_all(("bye", None))
            finally:
                clients.stop()
        finally:
            with contextlib.suppress(OSError):
                echo_ctrl.send("stop")
            echo_srv.join(timeout=5)
            if echo_srv.is_alive():
                echo_srv.kill()
                echo_srv.join()
        return runs

    def book_state(self, url: str) -> dict[str, Any]:
        async def go() -> dict[str, Any]:
            async with await Client.connect(url) as c:
                book = await c.book(MKT, 1000)
            return {
                "bid_levels": len(book.bids),
                "ask_levels": len(book.asks),
                "resting_lots": sum(q for _, q in book.bids + book.asks) // LOT,
            }

        return asyncio.run(go())

    def setup(self, url: str, accounts: list[str]) -> None:
        async def go() -> None:
            async with await Client.connect(url) as c:
                await c.call("dev_list_token", {"token": WETH, "symbol": "WETH", "decimals": 18})
                await c.call("dev_list_token", {"token": USDC, "symbol": "USDC", "decimals": 6})
                await c.call(
                    "dev_list_market",
                    {
                        "market": MKT,
                        "base": WETH,
                        "quote": USDC,
                        "tick": str(TICK),
                        "lot": str(LOT),
                        "min_qty": str(LOT),
                        "lit": True,
                    },
                )
                for account in accounts:
                    for token, amount in ((WETH, FUND_WETH), (USDC, FUND_USDC)):
                        await c.call(
                            "dev_deposit",
                            {"account": account, "token": token, "amount": str(amount)},
                        )

        asyncio.run(go())

    def run(self) -> dict[str, Any]:
        a = self.args
        results: dict[str, Any] = {
            "benchmark": "load",
            "machine": machine_info(),
            "config": {
                "bots": a.bots,
                "orders_per_bot": a.orders,
                "window": a.window,
                "half_rate_seconds": a.half_seconds,
                "seed": a.seed,
                "quick": a.quick,
                "warmup_fraction": WARMUP_FRACTION,
                "mix_percent": {
                    "rest": 100 - PCT_CANCEL - PCT_CROSS,
                    "cross": PCT_CROSS,
                    "cancel": PCT_CANCEL,
                },
                "clock": "time.perf_counter_ns = "
                + time.get_clock_info("perf_counter").implementation,
            },
        }
        summaries: dict[str, RunSummary] = {}
        self.sampler.sample()
        self.sampler.start()
        with tempfile.TemporaryDirectory(prefix="mw-load-") as tmp, self.progress:
            server = ServerProcess(Path(tmp))
            bots: Workers | None = None
            try:
                server.wait_healthy()
                self.port = server.port
                results["config"]["server"] = server.config | {"verify_workers": 2}
                self.sampler.watch("server", [server.pid])
                accounts = [Signer(bot_key(i)).account for i in range(a.bots)]
                self.setup(server.url, accounts)
                bots = Workers(bot_main, server.url, a.bots)
                bots.recv_all("connected", timeout=60)
                self.sampler.watch("bots", bots.pids)

                task = self.progress.add_task("recovery (1 thread)", total=1)
                results["recovery_rate"] = measure_recovery()
                self.progress.update(task, completed=1)

                base = {"seed": a.seed, "window": a.window, "bots": a.bots, "orders": a.orders}
                summaries["signed"] = self.exchange_run(
                    bots, "signed", "signed", {**base, "tag": "s", "signed": True}, server.url
                )
                summaries["session"] = self.exchange_run(
                    bots, "session", "session", {**base, "tag": "u", "signed": False}, server.url
                )
                # Right after the session run, while the exchange and its bots sit idle.
                echo_runs = self.echo_run(summaries["session"].results["frame_bytes"])
                half = max(1.0, summaries["signed"].results["orders_per_s"] / 2)
                interval = round(1e9 * a.bots / half)
                half_spec = {
                    **base,
                    "orders": max(50, round(half * a.half_seconds / a.bots)),
                    "tag": "h",
                    "signed": True,
                    "interval_ns": interval,
                    "window": max(a.window, 256),  # lanes: enough never to hold the schedule
                }
                hs = self.exchange_run(
                    bots, "half rate (open loop)", "half_rate", half_spec, server.url
                )
                start = half_spec["start_ns"]
                lag = [
                    t - (start + interval * i // a.bots + k * interval)
                    for i, r in enumerate(hs.runs)
                    for k, t in enumerate(r.sent)
                ]
                hs.results["target_rate"] = round(half)
                hs.results["schedule_lag_ms"] = ms_stats(lag)
                summaries["half_rate"] = hs
            except BaseException:
                self.console.print("[red]failed; the server's log ends with:[/]")
                self.console.print("\n".join(server.log().splitlines()[-15:]), markup=False)
                raise
            finally:
                if bots is not None:
                    bots.stop()
                code = server.stop()
                log = server.log()
                self.port = 0
            results["server_exit_code"] = code
            results["server_log_errors"] = [
                line for line in log.splitlines() if " ERROR " in line or "Traceback" in line
            ][:20]

        self.sampler.stop()
        ew = steady_window(echo_runs)
        echo_ack = [
            x - s
            for r in echo_runs
            for s, x in zip(r.sent, r.acked, strict=True)
            if ew.t0 <= s <= ew.t1
        ]
        results["echo_rate"] = {
            "messages_per_s": round(ew.rate),
            "window_s": round(ew.seconds, 3),
            "frame_bytes": round(sum(r.frame_bytes for r in echo_runs) / len(echo_runs), 1),
            "rtt_ms": ms_stats(echo_ack),
            "cpu": self.sampler.between(ew.t0, ew.t1, ["echo_server", "echo_clients"]),
            "what": "websockets asyncio + uvloop echo server, compression=None; the bots' "
            "process count, connections, lanes and window",
        }
        for name, s in summaries.items():
            results[name] = s.results
        results["cpu_share"] = {
            name: {
                "wall_s": s.results["cpu"]["wall_s"],
                "server": s.results["cpu"]["server"],
                "bots": s.results["cpu"]["bots"],
                "other": s.results["cpu"]["other"],
            }
            for name, s in summaries.items()
        }
        cpu_of = {"echo": results["echo_rate"]["cpu"]}
        cpu_of.update({name: s.results["cpu"] for name, s in summaries.items()})
        results["noisy_runs"] = [
            name for name, cpu in cpu_of.items() if cpu["other"]["share"] > NOISY_SHARE
        ]
        results["ratios"] = ratios(results)
        results["cpu_budget"] = cpu_budget(results)
        results["pass"] = all(r["pass"] for r in results["ratios"])
        results["_latencies"] = {
            "signed ack": summaries["signed"].ack_ns,
            "session ack": summaries["session"].ack_ns,
            "half-rate ack": summaries["half_rate"].ack_ns,
            "signed order-to-fill (maker)": summaries["signed"].fill_ns,
            "echo round trip": echo_ack,
        }
        return results


def start_echo_server() -> tuple[Any, Connection]:
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    p = ctx.Process(target=echo_server_main, args=(theirs,), daemon=True)
    p.start()
    theirs.close()
    return p, ours


def ratios(results: dict[str, Any]) -> list[dict[str, Any]]:
    rec = results["recovery_rate"]["recoveries_per_s"]
    echo = results["echo_rate"]["messages_per_s"]
    signed = results["signed"]["orders_per_s"]
    session = results["session"]["orders_per_s"]
    p99 = results["half_rate"]["ack_ms"]["p99"]
    out = [
        {
            "name": "signed orders/s / single-core recovery rate",
            "value": round(signed / rec, 3),
            "target": TARGET_SIGNED_VS_RECOVERY,
            "pass": signed / rec >= TARGET_SIGNED_VS_RECOVERY,
            "detail": f"{signed:,} / {rec:,}",
        },
        {
            "name": "session orders/s / websockets echo rate",
            "value": round(session / echo, 3),
            "target": TARGET_SESSION_VS_ECHO,
            "pass": session / echo >= TARGET_SESSION_VS_ECHO,
            "detail": f"{session:,} / {echo:,}",
        },
        {
            "name": "p99 ack at half the signed max, ms (aim: under)",
            "value": p99,
            "target": TARGET_HALF_RATE_P99_MS,
            "pass": p99 is not None and p99 < TARGET_HALF_RATE_P99_MS,
            "detail": f"at {results['half_rate']['orders_per_s']:,}/s "
            f"(target rate {results['half_rate']['target_rate']:,}/s)",
        },
    ]
    errors = sum(sum(results[k]["errors"].values()) for k in ("signed", "session", "half_rate"))
    failures = sum(len(results[k]["failures"]) for k in ("signed", "session", "half_rate"))
    out.append(
        {
            "name": "errors (answers other than expected rejects, failures, server errors)",
            "value": errors + failures + len(results["server_log_errors"]),
            "target": 0,
            "pass": errors + failures + len(results["server_log_errors"]) == 0,
            "detail": "must be 0 for the figures to count",
        }
    )
    return out


def cpu_budget(results: dict[str, Any]) -> dict[str, Any]:
    """CPU microseconds per order (per message for echo) of each side, measured in each
    run's window, and the rates the machine's cores allow at those costs.

    A ceiling is ``cores x 1e6 / (sum of the per-order CPU of everything an order needs)``:
    no design can beat it with those costs on this machine, since every core is busy at it.
    """
    cores = results["machine"]["cpus"] or 1
    recovery_us = 1e6 / results["recovery_rate"]["recoveries_per_s"]

    def per_order(run: dict[str, Any], count_per_s: float, group: str) -> float:
        cpu = run["cpu"]
        cpu_s: float = cpu[group]["cpu_s"]
        wall_s: float = cpu["wall_s"]
        return 1e6 * cpu_s / max(1.0, count_per_s * wall_s)

    echo = results["echo_rate"]
    echo_srv = per_order(echo, echo["messages_per_s"], "echo_server")
    echo_cli = per_order(echo, echo["messages_per_s"], "echo_clients")
    us: dict[str, dict[str, float]] = {
        "echo": {"server": echo_srv, "clients": echo_cli},
        "recovery": {"server": recovery_us},
    }
    for name in ("signed", "session", "half_rate"):
        r = results[name]
        us[name] = {g: per_order(r, r["orders_per_s"], g) for g in ("server", "bots")}

    def ceiling(*parts: float) -> int:
        return round(cores * 1e6 / sum(parts))

    rec = results["recovery_rate"]["recoveries_per_s"]
    session_target = TARGET_SESSION_VS_ECHO * echo["messages_per_s"]
    ceilings = [
        {
            "name": "signed: these bots + a server that only frames (echo) and recovers",
            "orders_per_s": ceiling(us["signed"]["bots"], echo_srv, recovery_us),
            "target": rec,
        },
        {
            "name": "signed: echo clients + a server that only frames (echo) and recovers",
            "orders_per_s": ceiling(echo_cli, echo_srv, recovery_us),
            "target": rec,
        },
        {
            "name": "signed: these bots + this server, every core busy",
            "orders_per_s": ceiling(us["signed"]["bots"], us["signed"]["server"]),
            "target": rec,
        },
        {
            "name": "session: these bots + this server, every core busy",
            "orders_per_s": ceiling(us["session"]["bots"], us["session"]["server"]),
            "target": round(session_target),
        },
    ]
    return {
        "cores": cores,
        "us_per_order": {k: {g: round(x, 1) for g, x in v.items()} for k, v in us.items()},
        "ceilings": ceilings,
    }


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()
    busy0, t0 = machine_busy_ticks(), time.monotonic()
    time.sleep(1.0)
    busy = (machine_busy_ticks() - busy0) / os.sysconf("SC_CLK_TCK")
    return {
        "cpus": os.cpu_count(),
        "busy_share_before_start": round(
            busy / ((os.cpu_count() or 1) * (time.monotonic() - t0)), 3
        ),
        "cpu_model": model,
        "loadavg_at_start": [round(x, 2) for x in load],
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git": git_revision(),
    }


def git_revision() -> str | None:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "server", "client_sdk"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return None
    return (rev + ("+dirty" if dirty else "")) or None


# ---------------------------------------------------------------------------- reporting


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.3f}"


def report(results: dict[str, Any], console: Console) -> None:
    cfg = results["config"]
    t = Table(
        title=f"Load over loopback: {cfg['bots']} bot processes x window {cfg['window']}, "
        f"{cfg['orders_per_bot']:,} orders per bot per closed-loop run"
    )
    for col in ("run", "orders/s", "ack p50", "p99", "p99.9", "fill p50", "fill p99"):
        t.add_column(col, justify="left" if col == "run" else "right", no_wrap=True)
    echo = results["echo_rate"]
    t.add_row(
        "echo",
        f"{echo['messages_per_s']:,}",
        _ms(echo["rtt_ms"]["p50"]),
        _ms(echo["rtt_ms"]["p99"]),
        _ms(echo["rtt_ms"]["p999"]),
        "-",
        "-",
    )
    for name in ("signed", "session", "half_rate"):
        r = results[name]
        fill = r["order_to_fill_ms"]
        t.add_row(
            name.replace("_", " "),
            f"{r['orders_per_s']:,}",
            _ms(r["ack_ms"]["p50"]),
            _ms(r["ack_ms"]["p99"]),
            _ms(r["ack_ms"]["p999"]),
            _ms(fill["p50"]),
            _ms(fill["p99"]),
        )
    console.print(t)
    console.print(
        "latencies in ms; fill = order-to-fill at the maker (taker's send -> maker's user push); "
        f"recovery, one thread: {results['recovery_rate']['recoveries_per_s']:,}/s"
    )

    c = Table(
        title=f"CPU seconds in each measured window (share of {results['machine']['cpus']} "
        "cores x wall); echo: its server and clients"
    )
    for col in ("run", "wall s", "server", "bots", "other", "machine"):
        c.add_column(col, justify="left" if col == "run" else "right", no_wrap=True)

    def cell(x: dict[str, float]) -> str:
        return f"{x['cpu_s']:.2f} ({x['share']:.0%})"

    e = echo["cpu"]
    c.add_row(
        "echo",
        f"{e['wall_s']:.2f}",
        cell(e["echo_server"]),
        cell(e["echo_clients"]),
        cell(e["other"]),
        cell(e["machine"]),
    )
    for name in ("signed", "session", "half_rate"):
        x = results[name]["cpu"]
        c.add_row(
            name.replace("_", " "),
            f"{x['wall_s']:.2f}",
            cell(x["server"]),
            cell(x["bots"]),
            cell(x["other"]),
            cell(x["machine"]),
        )
    console.print(c)

    sm = Table(title="Server pipeline (from /metrics): means per batch / per request")
    for col in ("run", "batches", "items/batch", "verify ms", "commit ms", "server ack ms"):
        sm.add_column(col, justify="left" if col == "run" else "right", no_wrap=True)
    for name in ("signed", "session", "half_rate"):
        m = results[name].get("server_metrics") or {}

        def mean(key: str, m: dict[str, Any] = m) -> str:
            return f"{m[key]['mean']:,.2f}" if key in m else "-"

        batches = m.get("batch_items", {}).get("count", 0)
        sm.add_row(
            name.replace("_", " "),
            f"{batches:,}",
            mean("batch_items"),
            mean("verify_ms"),
            mean("commit_ms"),
            mean("server_ack_ms"),
        )
    console.print(sm)

    b = results["cpu_budget"]
    u = b["us_per_order"]
    bt = Table(
        title=f"What {b['cores']} cores allow: CPU µs per order (echo: per message; recovery: "
        f"{u['recovery']['server']:.1f} µs, one thread)"
    )
    for col in ("run", "server µs", "bots µs"):
        bt.add_column(col, justify="left" if col == "run" else "right", no_wrap=True)
    bt.add_row("echo", f"{u['echo']['server']:.1f}", f"{u['echo']['clients']:.1f}")
    for name in ("signed", "session", "half_rate"):
        bt.add_row(name.replace("_", " "), f"{u[name]['server']:.1f}", f"{u[name]['bots']:.1f}")
    console.print(bt)
    for cl in b["ceilings"]:
        reach = "above" if cl["orders_per_s"] >= cl["target"] else "BELOW"
        console.print(
            f"ceiling, {cl['name']}: {cl['orders_per_s']:,}/s ({reach} the target "
            f"{cl['target']:,}/s)"
        )

    for name in ("signed", "session", "half_rate"):
        r = results[name]
        f = r["order_to_fill_ms"]
        console.print(
            f"{name}: {r['measured_orders']:,} orders in a {r['window_s']:.2f} s window "
            f"(of {r['orders']:,}); mix {r['mix']}; expected rejects {r['rejects'] or 'none'}; "
            f"errors {r['errors'] or 'none'}; {r['pushes_per_order']} pushes/order; "
            f"fills matched {f['count']:,} of {f['maker_fills']:,} maker fills "
            f"({f['ambiguous_dropped']} ambiguous); taker fill in ack p50/p99 "
            f"{_ms(r['taker_fill_in_ack_ms']['p50'])}/{_ms(r['taker_fill_in_ack_ms']['p99'])} ms; "
            f"book after {r['book_after']}; frame {r['frame_bytes']:.0f} B"
        )
    hr = results["half_rate"]
    console.print(
        f"half rate: target {hr['target_rate']:,}/s, achieved {hr['orders_per_s']:,}/s, "
        f"schedule lag p50/p99 {_ms(hr['schedule_lag_ms']['p50'])}/"
        f"{_ms(hr['schedule_lag_ms']['p99'])} ms"
    )
    for name in results.get("noisy_runs", []):
        console.print(
            f"[yellow]warning:[/] other processes took more than {NOISY_SHARE:.0%} of the "
            f"machine during the {name} run: its figures are not clean; run again"
        )
    if results["server_log_errors"]:
        console.print(f"[red]server log errors:[/] {results['server_log_errors']}")
    console.print(f"python {results['machine']['python']}, git {results['machine']['git']}")
    for r in results["ratios"]:
        verdict = "[bold green]PASS[/]" if r["pass"] else "[bold red]MISS[/]"
        console.print(
            f"{r['name']}: {r['value']} vs target {r['target']} ({r['detail']}): " + verdict
        )


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    public = {k: v for k, v in results.items() if not k.startswith("_")}
    path.write_text(json.dumps(public, indent=2, sort_keys=True) + "\n")


def write_histogram(latencies: dict[str, list[int]], path: Path) -> str | None:
    """Log-x histograms of the latencies, if matplotlib is importable."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    series = {k: [x / 1e6 for x in v if x > 0] for k, v in latencies.items() if v}
    if not series:
        return None
    lo = max(1e-3, min(min(v) for v in series.values()))
    hi = max(max(v) for v in series.values()) * 1.01
    n_bins = 80
    bins = [lo * (hi / lo) ** (i / n_bins) for i in range(n_bins + 1)]
    fig, ax = plt.subplots(figsize=(9, 5))
    for name, v in series.items():
        ax.hist(v, bins=bins, histtype="step", linewidth=1.4, label=f"{name} ({len(v):,})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("orders")
    ax.set_title("Load over loopback: acknowledgement and order-to-fill latency")
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return str(path)


# ---------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--bots", type=int, help=f"bot processes (default {DEFAULT_BOTS})")
    ap.add_argument("--orders", type=int, help=f"orders per bot per run ({DEFAULT_ORDERS:,})")
    ap.add_argument("--window", type=int, default=DEFAULT_WINDOW, help="requests in flight")
    ap.add_argument("--half-seconds", type=float, help="length of the open-loop run")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="a short smoke run (~20 s)")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "load.json")
    ap.add_argument("--no-plot", action="store_true", help="skip the PNG histogram")
    args = ap.parse_args(argv)
    args.bots = args.bots or (QUICK_BOTS if args.quick else DEFAULT_BOTS)
    args.orders = args.orders or (QUICK_ORDERS if args.quick else DEFAULT_ORDERS)
    args.half_seconds = args.half_seconds or (
        QUICK_HALF_SECONDS if args.quick else DEFAULT_HALF_SECONDS
    )
    if args.bots < 1 or args.orders < 20 or args.window < 1:
        ap.error("need --bots >= 1, --orders >= 20, --window >= 1")
    console = Console()
    t0 = time.monotonic()
    results = Bench(args, console).run()
    latencies = results.pop("_latencies")
    results["elapsed_s"] = round(time.monotonic() - t0, 1)
    report(results, console)
    png = None if args.no_plot else write_histogram(latencies, args.json.with_suffix(".png"))
    results["histogram"] = png
    write_json(results, args.json)
    console.print(
        f"wrote {args.json}" + (f" and {png}" if png else "") + f" in {results['elapsed_s']} s"
    )
    if png is None and not args.no_plot:
        console.print("no latency histogram: matplotlib is not installed (`make bench`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

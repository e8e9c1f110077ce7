"""``make run`` for now: a seeded random order flow through the sequencer and the core.

It lists WETH and USDC, credits deposits, lets a few traders place, replace and cancel
orders around a drifting mid price, prints every fill and the final book, then restarts
from the sealed journal and shows that recovery reproduces the same state hash.

    python -m server.demo [--seed N] [--orders N] [--dir PATH]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from client_sdk.units import format_units
from server.core import (
    Cancel,
    Command,
    Deposit,
    Fill,
    ListMarket,
    ListToken,
    OrderType,
    Place,
    Rejected,
    Replace,
    Side,
    TimeInForce,
)
from server.sequencer import AesGcmSealer, Sequenced, Sequencer

__all__ = ["main"]

WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
USDC = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
MARKET = "WETH-USDC"
TICK = 10_000  # 0.01 USDC
LOT = 10**14  # 0.0001 WETH
TRADERS = ("alice", "bob", "carol", "dave", "erin")


def _setup() -> list[Command]:
    cmds: list[Command] = [
        ListToken(WETH, "WETH", 18),
        ListToken(USDC, "USDC", 6),
        ListMarket(MARKET, WETH, USDC, TICK, LOT, 10 * LOT),
    ]
    dep = 0
    for t in TRADERS:
        for token, amount in ((WETH, 50 * 10**18), (USDC, 150_000 * 10**6)):
            dep += 1
            cmds.append(Deposit(t, token, amount, dep))
    return cmds


def _flow(rng: random.Random, n: int) -> list[Command]:
    mid = 3000 * 10**6
    placed: list[tuple[str, int, Side]] = []  # (trader, order id guess, side)
    out: list[Command] = []
    next_id = 1
    for _ in range(n):
        mid += rng.randint(-3, 3) * TICK
        t = rng.choice(TRADERS)
        r = rng.random()
        if r < 0.7 or not placed:
            side = rng.choice((Side.BUY, Side.SELL))
            offset = rng.randint(-8, 12) * TICK
            price = mid - offset if side is Side.BUY else mid + offset
            qty = rng.randint(1, 40) * 10 * LOT
            if rng.random() < 0.1:
                out.append(Place(t, MARKET, side, price, qty, TimeInForce.IOC, OrderType.MARKET))
            else:
                out.append(Place(t, MARKET, side, price, qty))
            placed.append((t, next_id, side))
            next_id += 1
        elif r < 0.85:
            owner, oid, side = rng.choice(placed)
            price = mid + (-1 if side is Side.BUY else 1) * rng.randint(0, 6) * TICK
            out.append(Replace(owner, MARKET, side, price, rng.randint(1, 40) * 10 * LOT, oid))
        else:
            owner, oid, _side = rng.choice(placed)
            out.append(Cancel(owner, MARKET, oid))
    return out


def _px(units: int) -> str:
    return format_units(units, 6)


def _qty(units: int) -> str:
    return format_units(units, 18)


def run(seed: int, orders: int, directory: str, console: Console) -> str:
    key = os.urandom(32)  # in the TEE, derived from the dstack KMS
    clock = lambda: time.time_ns() // 1_000_000  # noqa: E731
    seq = Sequencer.open(directory, AesGcmSealer(key), clock, snapshot_every=250)
    rng = random.Random(seed)
    fills = Table(title=f"Fills (seed {seed})", header_style="bold")
    for col in ("seq", "taker", "side", "price USDC", "qty WETH", "maker", "USDC paid"):
        fills.add_column(col, justify="right" if col not in ("taker", "maker", "side") else "left")
    rejects: dict[str, int] = {}
    for i, command in enumerate(_setup() + _flow(rng, orders)):
        seq.submit(command)
        if i % 16 == 15:  # a group commit every 16 commands
            _show(seq.commit(), fills, rejects)
    _show(seq.commit(), fills, rejects)
    n_fills = fills.row_count
    console.print(fills)
    _print_book(seq, console)
    _print_balances(seq, console)
    if rejects:
        console.print(
            "Rejected (stale cancels/replaces of orders already filled): "
            + ", ".join(f"{k} x{v}" for k, v in sorted(rejects.items()))
        )
    state = seq.core.state_hash()
    seq.close()
    recovered = Sequencer.open(directory, AesGcmSealer(key), clock).core.state_hash()
    console.print(
        f"\n{seq.committed_seq} commands, {n_fills} fills, journal and snapshots sealed "
        f"in {directory}\nstate hash          {state}\nrecovered from disk {recovered} "
        + ("[green]identical[/green]" if recovered == state else "[red]DIFFERENT[/red]")
    )
    return state


def _show(results: Sequence[Sequenced], fills: Table, rejects: dict[str, int]) -> None:
    for r in results:
        for e in r.events:
            if isinstance(e, Fill):
                fills.add_row(
                    str(r.seq),
                    e.taker_account,
                    e.taker_side.value,
                    _px(e.price),
                    _qty(e.qty),
                    e.maker_account,
                    _px(e.quote_qty),
                )
            elif isinstance(e, Rejected):
                rejects[e.code.value] = rejects.get(e.code.value, 0) + 1


def _print_book(seq: Sequencer, console: Console) -> None:
    bids, asks = seq.core.markets[MARKET].l2(depth=10)
    book = Table(title=f"{MARKET} book (top 10 levels)", header_style="bold")
    for col in ("bid qty", "bid", "ask", "ask qty"):
        book.add_column(col, justify="right")
    for i in range(max(len(bids), len(asks))):
        b = bids[i] if i < len(bids) else None
        a = asks[i] if i < len(asks) else None
        book.add_row(
            _qty(b[1]) if b else "",
            f"[green]{_px(b[0])}[/green]" if b else "",
            f"[red]{_px(a[0])}[/red]" if a else "",
            _qty(a[1]) if a else "",
        )
    console.print(book)


def _print_balances(seq: Sequencer, console: Console) -> None:
    table = Table(title="Balances (locked by open orders)", header_style="bold")
    for col in ("trader", "WETH", "WETH locked", "USDC", "USDC locked", "open orders"):
        table.add_column(col, justify="left" if col == "trader" else "right")
    for t in TRADERS:
        wb, wl = seq.core.balance(t, WETH)
        ub, ul = seq.core.balance(t, USDC)
        table.add_row(t, _qty(wb), _qty(wl), _px(ub), _px(ul), str(len(seq.core.open_orders(t))))
    console.print(table)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m server.demo", description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--orders", type=int, default=200)
    p.add_argument("--dir", help="where the journal goes (default: a temporary directory)")
    args = p.parse_args(argv)
    console = Console()
    if args.dir:
        run(args.seed, args.orders, args.dir, console)
    else:
        with tempfile.TemporaryDirectory(prefix="myrtle-demo-") as d:
            run(args.seed, args.orders, d, console)
    console.print(
        "\nNext: `make test` runs the test suite; `make bench` measures the engine against a "
        "bare order book, and the journal; `.venv/bin/python -m server.demo --seed 7 --orders "
        "2000` runs a longer flow."
    )


if __name__ == "__main__":
    main()

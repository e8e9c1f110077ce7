"""A seeded command flow for journal and recovery tests: listings, deposits, trading."""

from __future__ import annotations

import random

from server.core import (
    Cancel,
    Command,
    Deposit,
    ListMarket,
    ListToken,
    Place,
    Replace,
    Side,
    TimeInForce,
    Withdraw,
)
from tests.core.fixtures import E6, E18, LOT, MIN_QTY, MKT, TICK, USDC, WETH

ACCOUNTS = ("alice", "bob", "carol", "dave")


def setup_commands() -> list[Command]:
    cmds: list[Command] = [
        ListToken(WETH, "WETH", 18),
        ListToken(USDC, "USDC", 6),
        ListMarket(MKT, WETH, USDC, TICK, LOT, MIN_QTY),
    ]
    dep = 0
    for a in ACCOUNTS:
        for token, amount in ((WETH, 100 * E18), (USDC, 1_000_000 * E6)):
            dep += 1
            cmds.append(Deposit(a, token, amount, dep))
    return cmds


def trading_commands(seed: int, n: int) -> list[Command]:
    """Orders around 3000 USDC; cancels and replaces name order ids that may or may not be
    open (the core rejects the stale ones, which is part of what is journaled)."""
    rng = random.Random(seed)
    out: list[Command] = []
    for _ in range(n):
        a = rng.choice(ACCOUNTS)
        r = rng.random()
        oid = rng.randint(1, max(1, len(out)))
        if r < 0.6:
            side = rng.choice((Side.BUY, Side.SELL))
            price = 3000 * E6 + rng.randint(-20, 20) * TICK
            qty = rng.randint(1, 30) * MIN_QTY
            tif = rng.choice((TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC))
            out.append(Place(a, MKT, side, price, qty, tif))
        elif r < 0.8:
            out.append(Cancel(a, MKT, oid))
        elif r < 0.97:
            side = rng.choice((Side.BUY, Side.SELL))
            price = 3000 * E6 + rng.randint(-20, 20) * TICK
            out.append(Replace(a, MKT, side, price, rng.randint(1, 30) * MIN_QTY, oid))
        else:
            out.append(Withdraw(a, rng.choice((WETH, USDC)), rng.randint(1, 10**6)))
    return out

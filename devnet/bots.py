"""Demo bots that trade on the devnet through the SDK, like any user's bot would.

- ``MarketMaker``: quotes a few levels on both sides of a mid that random-walks, replacing
  its quotes with one batch each round (session mode: no signature per action).
- ``Taker``: now and then sends an IOC order that crosses the spread (signed).
- ``Trader``: rests a limit order near the mid, and cancels it later (signed).

Prices and quantities are exact integers on the market's grid; the randomness is seeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from client_sdk import CancelAction, Client, ExchangeError, Fill, PlaceAction, Signer

__all__ = ["DARK", "MARKET", "USDC", "WETH", "BotStats", "MarketMaker", "Taker", "Trader"]

WETH: Final = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
USDC: Final = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
MARKET: Final = "WETH-USDC"
DARK: Final = "WETH-USDC-DARK"
E18: Final = 10**18
E6: Final = 10**6
TICK: Final = 10_000  # 0.01 USDC
LOT: Final = 10**14  # 0.0001 WETH
MIN_QTY: Final = 10**15  # 0.001 WETH
START_MID: Final = 3_000 * E6


@dataclass
class BotStats:
    orders: int = 0
    fills: int = 0
    errors: int = 0
    last_price: int = 0
    names: list[str] = field(default_factory=list)


def _on_grid(price: int) -> int:
    return max(TICK, price // TICK * TICK)


class _Bot:
    def __init__(self, name: str, client: Client, stats: BotStats, seed: int) -> None:
        self.name = name
        self.client = client
        self.stats = stats
        self.rng = random.Random(seed)
        stats.names.append(name)

    async def mid(self) -> int:
        book = await self.client.book(MARKET, depth=1)
        if book.bids and book.asks:
            return _on_grid((book.bids[0][0] + book.asks[0][0]) // 2)
        if book.bids:
            return book.bids[0][0] + TICK
        if book.asks:
            return book.asks[0][0] - TICK
        return START_MID

    def qty(self, lots_min: int, lots_max: int) -> int:
        return MIN_QTY + self.rng.randint(lots_min, lots_max) * LOT

    def count(self, events: Sequence[object]) -> None:
        self.stats.orders += 1
        for e in events:
            if isinstance(e, Fill):
                self.stats.fills += 1
                self.stats.last_price = e.price

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.step()
            except ExchangeError as e:  # a refused order is part of trading; keep going
                self.stats.errors += 1
                if self.stats.errors % 50 == 1:
                    print(f"  [{self.name}] {type(e).__name__} {getattr(e, 'code', '')}: {e}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.pause())

    async def step(self) -> None:
        raise NotImplementedError

    def pause(self) -> float:
        return 0.5


class MarketMaker(_Bot):
    """Quotes ``levels`` levels a side; the mid drifts by a random walk."""

    levels = 4

    def __init__(self, name: str, client: Client, stats: BotStats, seed: int) -> None:
        super().__init__(name, client, stats, seed)
        self.fair = START_MID

    async def step(self) -> None:
        self.fair = _on_grid(self.fair + self.rng.randint(-30, 30) * TICK)
        actions: list[PlaceAction | CancelAction] = []
        for i in range(self.levels):
            for side, sign in (("buy", -1), ("sell", 1)):
                coid = f"{self.name}-{side}-{i}"
                actions.append(CancelAction(MARKET, client_order_id=coid))
                price = self.fair + sign * (5 + 10 * i) * TICK
                actions.append(
                    PlaceAction(MARKET, side, price, self.qty(0, 40), client_order_id=coid)
                )
        result = await self.client.batch(actions)
        self.count(result.events)

    def pause(self) -> float:
        return 0.4 + self.rng.random() * 0.3


class Taker(_Bot):
    async def step(self) -> None:
        mid = await self.mid()
        side = self.rng.choice(("buy", "sell"))
        limit = mid + 200 * TICK if side == "buy" else max(TICK, mid - 200 * TICK)
        result = await self.client.place(MARKET, side, limit, self.qty(0, 20), tif="IOC")
        self.count(result.events)

    def pause(self) -> float:
        return 0.6 + self.rng.random()


class Trader(_Bot):
    def __init__(self, name: str, client: Client, stats: BotStats, seed: int) -> None:
        super().__init__(name, client, stats, seed)
        self.open: list[str] = []
        self.n = 0

    async def step(self) -> None:
        if len(self.open) >= 3:
            coid = self.open.pop(0)
            with contextlib.suppress(ExchangeError):  # it may have traded meanwhile
                await self.client.cancel(MARKET, client_order_id=coid)
            return
        mid = await self.mid()
        side = self.rng.choice(("buy", "sell"))
        offset = self.rng.randint(-10, 25) * TICK
        price = mid - offset if side == "buy" else mid + offset
        self.n += 1
        coid = f"{self.name}-{self.n}"
        result = await self.client.place(
            MARKET, side, _on_grid(price), self.qty(0, 10), client_order_id=coid
        )
        self.open.append(coid)
        self.count(result.events)

    def pause(self) -> float:
        return 0.3 + self.rng.random() * 0.5


async def connect_bot(url: str, key: str, *, session: bool) -> Client:
    return await Client.connect(url, signer=Signer(key), session=session)

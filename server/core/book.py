"""Order books: price-time priority on sortedcontainers.

A side keeps its price levels in a SortedList of keys (the price for asks, minus the price
for bids, so better prices sort first) and a dict from key to level; the best live key is
cached. A level is a dict in time priority: O(1) append, O(1) removal of any order.
"""

from __future__ import annotations

from sortedcontainers import SortedList

from server.core.enums import OrderType, SelfTradePrevention, Side, TimeInForce

__all__ = ["NO_LEVEL", "BookSide", "Level", "Market", "Order", "Token"]

# The best key of an empty side: above every key (|key| <= 2**256), so that "does an order
# at limit_key cross?" is the single comparison ``side.best <= limit_key``.
NO_LEVEL = 2**300
# Idle (empty) levels are compacted away once there are more than this many and more than
# twice as many as there were live ones at the last compaction.
IDLE_LEVELS_MIN = 256


class Token:
    __slots__ = ("address", "decimals", "symbol")

    def __init__(self, address: str, symbol: str, decimals: int) -> None:
        self.address = address
        self.symbol = symbol
        self.decimals = decimals


class Order:
    """An open order. ``qty`` is what is still open; ``filled`` what has traded."""

    __slots__ = (
        "account",
        "client_order_id",
        "expires_at_ms",
        "filled",
        "id",
        "market",
        "order_type",
        "price",
        "qty",
        "side",
        "stp",
        "tif",
    )

    def __init__(
        self,
        id: int,
        account: str,
        market: str,
        side: Side,
        price: int,
        qty: int,
        tif: TimeInForce,
        order_type: OrderType,
        client_order_id: str,
        stp: SelfTradePrevention,
        expires_at_ms: int,
        filled: int = 0,
    ) -> None:
        self.id = id
        self.account = account
        self.market = market
        self.side = side
        self.price = price
        self.qty = qty
        self.tif = tif
        self.order_type = order_type
        self.client_order_id = client_order_id
        self.stp = stp
        self.expires_at_ms = expires_at_ms
        self.filled = filled


class Level:
    __slots__ = ("orders", "price", "qty")

    def __init__(self, price: int) -> None:
        self.price = price
        self.qty = 0  # sum of the open qty of its orders
        # A dict keeps insertion (time) order. Removing from the front leaves dead slots that
        # a new iterator skips until the dict next resizes, so matching walks a level with
        # one iterator and removes the makers it finished afterwards.
        self.orders: dict[int, Order] = {}


class BookSide:
    """One side of a book.

    A level that empties stays in ``keys`` and ``levels`` (an *idle* level) until it is
    used again or compacted away: with about one order per level, most moves would
    otherwise remove one key from the SortedList and add another, which costs more than
    everything else in the move. Only ``best`` must skip idle levels; everything that reads
    the book (``iter_levels``, ``l2``, snapshots) sees live levels only.
    """

    __slots__ = ("best", "compact_above", "idle", "keys", "levels", "sign")

    def __init__(self, sign: int) -> None:
        self.sign = sign  # +1 for asks, -1 for bids: key = sign * price
        self.keys = SortedList()  # every level's key, live or idle
        self.levels: dict[int, Level] = {}
        self.best = NO_LEVEL  # the first live key, cached: read on every order
        self.idle = 0  # how many levels are empty
        self.compact_above = IDLE_LEVELS_MIN  # compact when idle exceeds this

    def insert(self, o: Order) -> None:
        """Append an order at the back of its price level."""
        key = self.sign * o.price
        level = self.levels.get(key)
        if level is None:
            level = self.levels[key] = Level(o.price)
            self.keys.add(key)
        elif not level.orders:
            self.idle -= 1
        if key < self.best:
            self.best = key
        level.orders[o.id] = o
        level.qty += o.qty

    def remove(self, o: Order) -> None:
        """Take an order out of its level; a level left empty goes idle."""
        key = self.sign * o.price
        level = self.levels[key]
        del level.orders[o.id]
        level.qty -= o.qty
        if not level.orders:
            self.idle += 1
            if key == self.best:
                self.best = self._next_live(key)
            if self.idle > self.compact_above:
                self.compact()

    def _next_live(self, key: int) -> int:
        levels = self.levels
        for k in self.keys.irange(key, inclusive=(False, False)):
            if levels[k].orders:
                return int(k)
        return NO_LEVEL

    def compact(self) -> None:
        """Forget idle levels (bounded memory whatever prices have been seen)."""
        live = {k: lv for k, lv in self.levels.items() if lv.orders}
        self.levels = live
        self.keys = SortedList(live)
        self.idle = 0
        self.compact_above = max(IDLE_LEVELS_MIN, 2 * len(live))

    def best_price(self) -> int | None:
        return self.levels[self.best].price if self.best != NO_LEVEL else None

    def iter_levels(self, depth: int | None = None) -> list[Level]:
        """Live levels from the best price outwards (the first ``depth`` of them)."""
        out: list[Level] = []
        if depth is not None and depth <= 0:
            return out
        levels = self.levels
        for k in self.keys.irange(self.best):
            lv = levels[k]
            if lv.orders:
                out.append(lv)
                if len(out) == depth:
                    break
        return out


class Market:
    """A listed market and its book."""

    __slots__ = (
        "asks",
        "base",
        "base_decimals",
        "bids",
        "id",
        "lit",
        "lot",
        "min_qty",
        "quote",
        "quote_decimals",
        "scale",
        "tick",
    )

    def __init__(
        self,
        id: str,
        base: Token,
        quote: Token,
        tick: int,
        lot: int,
        min_qty: int,
        lit: bool,
    ) -> None:
        self.id = id
        self.base = base.address
        self.quote = quote.address
        self.base_decimals = base.decimals
        self.quote_decimals = quote.decimals
        self.scale = 10**base.decimals  # notional = qty * price // scale, always exact
        self.tick = tick
        self.lot = lot
        self.min_qty = min_qty
        self.lit = lit
        self.bids = BookSide(-1)
        self.asks = BookSide(1)

    def side(self, side: Side) -> BookSide:
        return self.bids if side is Side.BUY else self.asks

    def l2(self, depth: int | None = None) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Aggregated depth: ([(price, qty)] bids best first, [(price, qty)] asks best first)."""
        out: list[list[tuple[int, int]]] = []
        for bs in (self.bids, self.asks):
            out.append([(lv.price, lv.qty) for lv in bs.iter_levels(depth)])
        return out[0], out[1]

"""Order books: price-time priority on sortedcontainers.

A side keeps its price levels in a SortedList of keys (the price for asks, minus the price
for bids, so the best level is always ``keys[0]``) and a dict from key to level. A level is
an OrderedDict in time priority: O(1) append, O(1) removal of any order, O(1) front.
"""

from __future__ import annotations

from collections import OrderedDict

from sortedcontainers import SortedList

from server.core.enums import OrderType, SelfTradePrevention, Side, TimeInForce

__all__ = ["NO_LEVEL", "BookSide", "Level", "Market", "Order", "Token"]

# The best key of an empty side: above every key (|key| <= 2**256), so that "does an order
# at limit_key cross?" is the single comparison ``side.best <= limit_key``.
NO_LEVEL = 2**300


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
        self.orders: OrderedDict[int, Order] = OrderedDict()


class BookSide:
    __slots__ = ("best", "keys", "levels", "sign")

    def __init__(self, sign: int) -> None:
        self.sign = sign  # +1 for asks, -1 for bids: key = sign * price
        self.keys = SortedList()
        self.levels: dict[int, Level] = {}
        self.best = NO_LEVEL  # keys[0], cached: read on every order, changed rarely

    def insert(self, o: Order) -> None:
        """Append an order at the back of its price level."""
        key = self.sign * o.price
        level = self.levels.get(key)
        if level is None:
            level = self.levels[key] = Level(o.price)
            self.keys.add(key)
            if key < self.best:
                self.best = key
        level.orders[o.id] = o
        level.qty += o.qty

    def remove(self, o: Order) -> None:
        """Take an order out of its level; drop the level when it empties."""
        key = self.sign * o.price
        level = self.levels[key]
        del level.orders[o.id]
        level.qty -= o.qty
        if not level.orders:
            del self.levels[key]
            keys = self.keys
            keys.remove(key)
            if key == self.best:
                self.best = keys[0] if keys else NO_LEVEL

    def best_price(self) -> int | None:
        return self.levels[self.keys[0]].price if self.keys else None

    def iter_levels(self) -> list[Level]:
        """Levels from the best price outwards."""
        return [self.levels[k] for k in self.keys]


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
            keys = bs.keys if depth is None else bs.keys[:depth]
            out.append([(bs.levels[k].price, bs.levels[k].qty) for k in keys])
        return out[0], out[1]

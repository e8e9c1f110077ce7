"""Read models for the query methods (PROTOCOL.md, "Answers").

Open orders, balances and books are read from the core itself. What the core forgets is kept
here from the committed events: each account's last ``keep`` fills and closed orders (the
core drops an order the moment it closes, so the last known fields of every open order are
tracked from ``accepted``, ``fill`` and ``replaced`` events). ``apply`` must see every
committed batch, in order, exactly once. History from before the process started is not
kept: a restarted server answers ``order``/``fills`` for what happened since.

Every answer is a fresh JSON-ready dict, except the fill dicts inside ``fills``: they are
shared with the history, so callers must not mutate them.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from server.core.book import Order
from server.core.engine import Core
from server.core.enums import SelfTradePrevention
from server.core.events import Fill, OrderAccepted, OrderCancelled, OrderExpired, OrderReplaced
from server.streams.channels import DarkMarket
from server.streams.messages import balance_dicts, maker_fill, order_dict, taker_fill

if TYPE_CHECKING:
    from server.sequencer.sequencer import Sequenced

__all__ = ["DarkMarket", "Views"]

_STP = SelfTradePrevention.EXPIRE_MAKER  # not in events, never shown: a placeholder


def _copy(o: Order) -> Order:
    return Order(
        o.id,
        o.account,
        o.market,
        o.side,
        o.price,
        o.qty,
        o.tif,
        o.order_type,
        o.client_order_id,
        o.stp,
        o.expires_at_ms,
        o.filled,
    )


class Views:
    def __init__(self, core: Core, *, keep: int = 1000) -> None:
        """``core`` must be in its committed state (nothing applied but uncommitted)."""
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.core = core
        self.keep = keep
        self._fills: dict[str, deque[dict[str, Any]]] = {}  # account -> oldest first
        # account -> order id -> (the order as it closed, status), oldest first
        self._closed: dict[str, OrderedDict[int, tuple[Order, str]]] = {}
        self._closed_coid: dict[tuple[str, str], int] = {}  # latest closed with that coid
        # Open orders as the committed events left them (our own copies, not the core's).
        self._open: dict[int, Order] = {o.id: _copy(o) for o in core.orders.values()}
        self._open_coid: dict[tuple[str, str], int] = {
            (o.account, o.client_order_id): o.id for o in self._open.values() if o.client_order_id
        }

    # ------------------------------------------------------------------ updates

    def apply(self, results: Sequence[Sequenced]) -> None:
        """Take in a committed batch."""
        tracked = self._open
        for r in results:
            seq = r.seq
            ts_ms = r.ts_ms
            events: Sequence[Any] = r.events
            for e in events:
                t = type(e)
                if t is Fill:
                    q = e.qty
                    o = tracked.get(e.maker_order_id)
                    if o is not None:
                        o.qty = e.maker_remaining
                        o.filled += q
                        if not o.qty:
                            self._close(o, "filled")
                    o = tracked.get(e.taker_order_id)
                    if o is not None:
                        o.qty = e.taker_remaining
                        o.filled += q
                        if not o.qty:
                            self._close(o, "filled")
                    f = maker_fill(e)
                    f["seq"] = seq
                    f["ts_ms"] = ts_ms
                    self._add_fill(e.maker_account, f)
                    f = taker_fill(e)
                    f["seq"] = seq
                    f["ts_ms"] = ts_ms
                    self._add_fill(e.taker_account, f)
                elif t is OrderAccepted:
                    oid = e.order_id
                    coid = e.client_order_id
                    tracked[oid] = Order(
                        oid,
                        e.account,
                        e.market,
                        e.side,
                        e.price,
                        e.qty,
                        e.tif,
                        e.order_type,
                        coid,
                        _STP,
                        e.expires_at_ms,
                    )
                    if coid:
                        self._open_coid[(e.account, coid)] = oid
                elif t is OrderReplaced:
                    o = tracked.get(e.order_id)
                    if o is not None:
                        o.price = e.price
                        o.qty = e.qty
                elif t is OrderCancelled or t is OrderExpired:
                    o = tracked.get(e.order_id)
                    if o is not None:
                        o.qty = e.remaining
                        self._close(o, "cancelled" if t is OrderCancelled else "expired")

    def _add_fill(self, account: str, fill: dict[str, Any]) -> None:
        d = self._fills.get(account)
        if d is None:
            d = self._fills[account] = deque(maxlen=self.keep)
        d.append(fill)

    def _close(self, o: Order, status: str) -> None:
        del self._open[o.id]
        account = o.account
        coid = o.client_order_id
        if coid:
            k = (account, coid)
            if self._open_coid.get(k) == o.id:
                del self._open_coid[k]
            self._closed_coid[k] = o.id
        closed = self._closed.get(account)
        if closed is None:
            closed = self._closed[account] = OrderedDict()
        closed[o.id] = (o, status)
        if len(closed) > self.keep:
            oid, (old, _) = closed.popitem(last=False)
            k = (account, old.client_order_id)
            if old.client_order_id and self._closed_coid.get(k) == oid:
                del self._closed_coid[k]

    # ------------------------------------------------------------------ queries

    def markets(self) -> dict[str, Any]:
        """Listed tokens and markets, in listing order."""
        core = self.core
        return {
            "tokens": [
                {"token": t.address, "symbol": t.symbol, "decimals": t.decimals}
                for t in core.tokens.values()
            ],
            "markets": [
                {
                    "market": m.id,
                    "base": m.base,
                    "quote": m.quote,
                    "tick": str(m.tick),
                    "lot": str(m.lot),
                    "min_qty": str(m.min_qty),
                    "lit": m.lit,
                }
                for m in core.markets.values()
            ],
        }

    def book(self, market: str, depth: int = 50, seq: int = 0) -> dict[str, Any]:
        """Top ``depth`` levels of a lit market's book. ``seq`` is the book channel's
        (``Channels.seq("book:" + market)``): Views keeps no channel state.

        Raises KeyError for an unknown market, DarkMarket for a dark one.
        """
        m = self.core.markets[market]
        if not m.lit:
            raise DarkMarket(market)
        bids, asks = m.l2(depth)
        return {
            "market": market,
            "seq": seq,
            "bids": [[str(p), str(q)] for p, q in bids],
            "asks": [[str(p), str(q)] for p, q in asks],
        }

    def balances(self, account: str) -> dict[str, Any]:
        return {"balances": balance_dicts(self.core, account)}

    def open_orders(self, account: str, market: str = "") -> dict[str, Any]:
        """The account's open orders (in ``market``; "" for all), by id."""
        return {"orders": [order_dict(o, "open") for o in self.core.open_orders(account, market)]}

    def order(
        self, account: str, market: str = "", order_id: int = 0, client_order_id: str = ""
    ) -> dict[str, Any] | None:
        """One of the account's orders, open or among its last ``keep`` closed ones.

        By ``order_id``, or by ``client_order_id`` when ``order_id`` is 0 (the open order
        with it, else the latest closed one). A given ``market`` must match. None when
        unknown or another account's: nobody learns about others' orders.
        """
        found: tuple[Order, str] | None = None
        if order_id:
            o = self.core.orders.get(order_id)
            if o is None or o.account != account:
                o = self._open.get(order_id)
            if o is not None and o.account == account:
                found = (o, "open")
            else:
                closed = self._closed.get(account)
                found = closed.get(order_id) if closed is not None else None
        elif client_order_id:
            k = (account, client_order_id)
            oid = self._open_coid.get(k)
            if oid is not None:
                o = self.core.orders.get(oid)
                if o is None or o.account != account:
                    o = self._open[oid]
                found = (o, "open")
            else:
                oid = self._closed_coid.get(k)
                if oid is not None:
                    found = self._closed[account][oid]
        if found is None or (market and found[0].market != market):
            return None
        return {"order": order_dict(*found)}

    def fills(self, account: str, market: str = "", limit: int = 100) -> dict[str, Any]:
        """The account's last fills (in ``market``; "" for all), newest first."""
        out: list[dict[str, Any]] = []
        d = self._fills.get(account)
        if d and limit > 0:
            for f in reversed(d):
                if not market or f["market"] == market:
                    out.append(f)
                    if len(out) >= limit:
                        break
        return {"fills": out}

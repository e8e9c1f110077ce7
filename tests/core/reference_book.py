"""A deliberately naive reference matching engine, for differential tests of the core.

Obviously correct rather than fast: every resting order of every market sits in one flat
list; an incoming order filters that list for the crossing opposite orders, sorts them by
(price, arrival counter) and walks them one by one. There are no balances (the differential
flows are funded well enough that the core never rejects for money) and no sorted
containers. A FOK order is tried on a deep copy of the whole reference and kept only if it
filled completely there.

Outputs are plain tuples, so that the test can compare them with the core's events:

- ``("accepted", order_id)``
- ``("fill", maker_id, taker_id, price, qty)``
- ``("expired", order_id, reason, remaining)``   reason: ioc, fok, self_trade, gtt
- ``("cancelled", order_id, remaining, reason)``  reason: user, cancel_all
- ``("replaced", order_id, price, qty, priority_kept)``
- ``("rejected", action, code)``
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from server.core import (
    UINT256_MAX,
    AdvanceTime,
    Batch,
    Cancel,
    CancelAll,
    Command,
    OrderType,
    Place,
    Replace,
    SelfTradePrevention,
    Side,
    TimeInForce,
)

__all__ = ["MAX_BATCH", "RefEvent", "RefMarket", "RefOrder", "ReferenceBook"]

MAX_BATCH = 64
MAX_CLIENT_ORDER_ID = 64

RefEvent = tuple[object, ...]


@dataclass(frozen=True)
class RefMarket:
    tick: int
    lot: int
    min_qty: int
    base_decimals: int


@dataclass(eq=False)  # identity, not field equality: list.remove must remove *this* order
class RefOrder:
    id: int
    account: str
    market: str
    side: Side
    price: int
    qty: int  # open quantity
    tif: TimeInForce
    stp: SelfTradePrevention
    client_order_id: str
    expires_at_ms: int
    arrival: int = 0  # time priority: smaller is earlier; set when the order (re)enters


class _Rejected(Exception):
    def __init__(self, code: str) -> None:
        self.code = code


class ReferenceBook:
    def __init__(self, markets: dict[str, RefMarket]) -> None:
        self.markets = markets
        self.resting: list[RefOrder] = []
        self.next_id = 1
        self.arrivals = 0

    # ------------------------------------------------------------------ views

    def l2(self, market: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """([(price, qty)] bids best first, [(price, qty)] asks best first)."""
        out = []
        for side in (Side.BUY, Side.SELL):
            totals: dict[int, int] = {}
            for o in self.resting:
                if o.market == market and o.side is side:
                    totals[o.price] = totals.get(o.price, 0) + o.qty
            out.append(sorted(totals.items(), reverse=side is Side.BUY))
        return out[0], out[1]

    def queue(self, market: str, side: Side) -> list[tuple[int, str, int, int]]:
        """One side in price-time priority: [(id, account, price, qty)]."""
        orders = [o for o in self.resting if o.market == market and o.side is side]
        if side is Side.BUY:
            orders.sort(key=lambda o: (-o.price, o.arrival))
        else:
            orders.sort(key=lambda o: (o.price, o.arrival))
        return [(o.id, o.account, o.price, o.qty) for o in orders]

    # ------------------------------------------------------------------ entry point

    def apply(self, command: Command, ts_ms: int) -> list[RefEvent]:
        events: list[RefEvent] = []
        due = [o for o in self.resting if o.expires_at_ms and o.expires_at_ms <= ts_ms]
        for o in sorted(due, key=lambda o: (o.expires_at_ms, o.id)):
            self.resting.remove(o)
            events.append(("expired", o.id, "gtt", o.qty))
        if isinstance(command, Batch):
            if len(command.actions) > MAX_BATCH:
                events.append(("rejected", "batch", "BATCH_TOO_LARGE"))
            elif not command.actions or any(
                not isinstance(x, Place | Cancel | Replace) or x.account != command.account
                for x in command.actions
            ):
                events.append(("rejected", "batch", "INVALID_BATCH"))
            else:
                for x in command.actions:
                    self._one(x, ts_ms, events)
        elif isinstance(command, Place | Cancel | Replace | CancelAll):
            self._one(command, ts_ms, events)
        else:
            assert isinstance(command, AdvanceTime), f"the reference has no {command!r}"
        return events

    def _one(self, c: Place | Cancel | Replace | CancelAll, ts_ms: int, ev: list[RefEvent]) -> None:
        try:
            if isinstance(c, Place):
                self._place(c, ts_ms, ev)
            elif isinstance(c, Cancel):
                self._cancel(c, ev)
            elif isinstance(c, Replace):
                self._replace(c, ev)
            else:
                self._cancel_all(c, ev)
        except _Rejected as r:
            action = {Place: "place", Cancel: "cancel", Replace: "replace"}[type(c)]
            ev.append(("rejected", action, r.code))

    # ------------------------------------------------------------------ checks

    def _check(self, market: RefMarket, price: int, qty: int, min_qty: int | None = None) -> None:
        if qty <= 0:
            raise _Rejected("INVALID_QUANTITY")
        if price <= 0:
            raise _Rejected("INVALID_PRICE")
        if qty > UINT256_MAX or price > UINT256_MAX:
            raise _Rejected("VALUE_OUT_OF_RANGE")
        if price % market.tick != 0:
            raise _Rejected("PRICE_OFF_TICK")
        if qty % market.lot != 0:
            raise _Rejected("QUANTITY_OFF_LOT")
        if qty < (market.min_qty if min_qty is None else min_qty):
            raise _Rejected("BELOW_MIN_SIZE")
        if qty * price // 10**market.base_decimals > UINT256_MAX:
            raise _Rejected("VALUE_OUT_OF_RANGE")

    @staticmethod
    def _crosses(taker_side: Side, limit: int, maker_price: int) -> bool:
        return maker_price <= limit if taker_side is Side.BUY else maker_price >= limit

    def _would_cross(self, market: str, side: Side, price: int) -> bool:
        return any(
            o.market == market and o.side is not side and self._crosses(side, price, o.price)
            for o in self.resting
        )

    def _find(self, account: str, market: str, order_id: int, coid: str) -> RefOrder:
        for o in self.resting:
            if order_id and o.id != order_id:
                continue
            if not order_id and (not coid or o.client_order_id != coid):
                continue
            if o.account == account and o.market == market:
                return o
        raise _Rejected("ORDER_NOT_FOUND")

    # ------------------------------------------------------------------ matching

    def _match(self, taker: RefOrder, ev: list[RefEvent]) -> bool:
        """Trade ``taker`` against the crossing orders; True if self-trade prevention
        expired the taker."""
        candidates = [
            o
            for o in self.resting
            if o.market == taker.market
            and o.side is not taker.side
            and self._crosses(taker.side, taker.price, o.price)
        ]
        if taker.side is Side.BUY:
            candidates.sort(key=lambda o: (o.price, o.arrival))  # cheapest first
        else:
            candidates.sort(key=lambda o: (-o.price, o.arrival))  # dearest first
        for maker in candidates:
            if taker.qty == 0:
                break
            if maker.account == taker.account:
                stp = taker.stp
                if stp in (SelfTradePrevention.EXPIRE_MAKER, SelfTradePrevention.EXPIRE_BOTH):
                    self.resting.remove(maker)
                    ev.append(("expired", maker.id, "self_trade", maker.qty))
                if stp in (SelfTradePrevention.EXPIRE_TAKER, SelfTradePrevention.EXPIRE_BOTH):
                    ev.append(("expired", taker.id, "self_trade", taker.qty))
                    return True
                continue
            q = min(taker.qty, maker.qty)
            maker.qty -= q
            taker.qty -= q
            ev.append(("fill", maker.id, taker.id, maker.price, q))
            if maker.qty == 0:
                self.resting.remove(maker)
        return False

    def _rest(self, o: RefOrder) -> None:
        self.arrivals += 1
        o.arrival = self.arrivals
        self.resting.append(o)

    # ------------------------------------------------------------------ commands

    def _place(self, c: Place, ts_ms: int, ev: list[RefEvent]) -> None:
        market = self.markets.get(c.market)
        if market is None:
            raise _Rejected("UNKNOWN_MARKET")
        self._check(market, c.price, c.qty)
        tif = c.tif
        if c.order_type is OrderType.MARKET and tif not in (TimeInForce.IOC, TimeInForce.FOK):
            raise _Rejected("INVALID_TIME_IN_FORCE")
        if c.expires_at_ms and (
            tif in (TimeInForce.IOC, TimeInForce.FOK) or c.expires_at_ms <= ts_ms
        ):
            raise _Rejected("INVALID_EXPIRY")
        if c.expires_at_ms < 0 or c.expires_at_ms > UINT256_MAX:
            raise _Rejected("INVALID_EXPIRY")
        if c.client_order_id:
            if len(c.client_order_id) > MAX_CLIENT_ORDER_ID:
                raise _Rejected("INVALID_CLIENT_ORDER_ID")
            if any(
                o.account == c.account and o.client_order_id == c.client_order_id
                for o in self.resting
            ):
                raise _Rejected("DUPLICATE_CLIENT_ORDER_ID")
        if tif is TimeInForce.POST_ONLY and self._would_cross(c.market, c.side, c.price):
            raise _Rejected("POST_ONLY_WOULD_CROSS")
        order = RefOrder(
            self.next_id,
            c.account,
            c.market,
            c.side,
            c.price,
            c.qty,
            tif,
            c.stp,
            c.client_order_id,
            c.expires_at_ms,
        )
        self.next_id += 1
        ev.append(("accepted", order.id))
        if tif is TimeInForce.FOK:
            trial = copy.deepcopy(self)
            trial_order = copy.deepcopy(order)
            killed = trial._match(trial_order, [])
            if killed or trial_order.qty:
                ev.append(("expired", order.id, "fok", order.qty))
                return
        if self._match(order, ev):
            return
        if order.qty:
            if tif in (TimeInForce.GTC, TimeInForce.POST_ONLY):
                self._rest(order)
            else:
                ev.append(("expired", order.id, "ioc", order.qty))

    def _cancel(self, c: Cancel, ev: list[RefEvent]) -> None:
        if c.market not in self.markets:
            raise _Rejected("UNKNOWN_MARKET")
        o = self._find(c.account, c.market, c.order_id, c.client_order_id)
        self.resting.remove(o)
        ev.append(("cancelled", o.id, o.qty, "user"))

    def _cancel_all(self, c: CancelAll, ev: list[RefEvent]) -> None:
        if c.market and c.market not in self.markets:
            ev.append(("rejected", "cancel_all", "UNKNOWN_MARKET"))
            return
        for o in list(self.resting):
            if o.account == c.account and (not c.market or o.market == c.market):
                self.resting.remove(o)
                ev.append(("cancelled", o.id, o.qty, "cancel_all"))

    def _replace(self, c: Replace, ev: list[RefEvent]) -> None:
        market = self.markets.get(c.market)
        if market is None:
            raise _Rejected("UNKNOWN_MARKET")
        o = self._find(c.account, c.market, c.order_id, c.client_order_id)
        if c.side is not o.side:
            raise _Rejected("REPLACE_SIDE_MISMATCH")
        # a partly filled remainder below the minimum may be kept or shrunk, not grown
        self._check(market, c.price, c.qty, 0 if c.qty <= o.qty < market.min_qty else None)
        if c.price == o.price and c.qty <= o.qty:
            o.qty = c.qty  # keeps its place in the queue
            ev.append(("replaced", o.id, c.price, c.qty, True))
            return
        if o.tif is TimeInForce.POST_ONLY and self._would_cross(c.market, o.side, c.price):
            raise _Rejected("POST_ONLY_WOULD_CROSS")
        self.resting.remove(o)
        o.price = c.price
        o.qty = c.qty
        ev.append(("replaced", o.id, c.price, c.qty, False))
        if not self._match(o, ev) and o.qty:
            self._rest(o)  # the back of its new level

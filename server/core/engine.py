"""The exchange core: a pure, deterministic state machine.

``Core.apply(command, ts_ms)`` returns the events the command caused. Nothing in here reads a
clock, touches a file or socket, or draws a random number: the sequencer stamps ``ts_ms``.
Given the same commands and times, two cores reach the same ``state_hash()``.

Money rules (DESIGN.md, "Money"):
- a buy order locks ``qty * price // scale`` quote (exact, by market validation); a sell
  locks ``qty`` base;
- a taker order's full requirement is checked up front; it locks only what rests;
- a fill moves exactly ``qty`` base and ``qty * maker_price // scale`` quote.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable
from typing import Any

from server.core import snapshot as snap
from server.core.accounts import Account, Withdrawal
from server.core.book import BookSide, Level, Market, Order, Token
from server.core.commands import (
    MAX_BATCH,
    AdvanceTime,
    Batch,
    Cancel,
    CancelAll,
    Command,
    Deposit,
    ListMarket,
    ListToken,
    Place,
    Replace,
    SetTakerLimit,
    Withdraw,
)
from server.core.enums import (
    CancelReason,
    ExpireReason,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from server.core.events import (
    BalanceChanged,
    DepositCredited,
    Event,
    Fill,
    MarketListed,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderReplaced,
    Rejected,
    TakerLimitSet,
    TokenListed,
    WithdrawalAuthorised,
)
from server.core.rejects import RejectCode as R

__all__ = ["MAX_CLIENT_ORDER_ID", "MAX_DECIMALS", "UINT256_MAX", "Core"]

UINT256_MAX = 2**256 - 1
MAX_DECIMALS = 36
MAX_CLIENT_ORDER_ID = 64

BUY = Side.BUY
GTC = TimeInForce.GTC
IOC = TimeInForce.IOC
FOK = TimeInForce.FOK
POST_ONLY = TimeInForce.POST_ONLY
EXPIRE_MAKER = SelfTradePrevention.EXPIRE_MAKER
EXPIRE_TAKER = SelfTradePrevention.EXPIRE_TAKER


class _Reject(Exception):
    """Internal: abandons a command before it changed anything."""

    def __init__(self, code: R) -> None:
        self.code = code


class Core:
    """Markets, books, accounts, deposits seen and withdrawal authorisations."""

    def __init__(self) -> None:
        self.tokens: dict[str, Token] = {}
        self.markets: dict[str, Market] = {}
        self.accounts: dict[str, Account] = {}
        self.orders: dict[int, Order] = {}  # every open order, by id
        self.withdrawals: dict[int, Withdrawal] = {}
        self.next_order_id = 1
        self.next_withdrawal_id = 1
        self.last_deposit_id = 0
        self._coids: dict[tuple[str, str], int] = {}  # (account, client_order_id) -> order id
        self._expiries: list[tuple[int, int]] = []  # heap of (expires_at_ms, order id)
        self._events: list[Event] = []
        self._touched: dict[tuple[str, str], Account] = {}
        self._in_batch = False
        self._handlers: dict[type, Callable[[Any, int], None]] = {
            Place: self._place,
            Replace: self._replace,
            Cancel: self._cancel,
            CancelAll: self._cancel_all,
            Batch: self._batch,
            Deposit: self._deposit,
            Withdraw: self._withdraw,
            SetTakerLimit: self._set_taker_limit,
            ListToken: self._list_token,
            ListMarket: self._list_market,
            AdvanceTime: self._advance_time,
        }

    # ------------------------------------------------------------------ entry point

    def apply(self, command: Command, ts_ms: int) -> list[Event]:
        """Apply one command at time ``ts_ms`` (non-decreasing); return its events.

        Good-til-time orders due at ``ts_ms`` expire first. A rejected command changes
        nothing and yields a single ``Rejected`` event (besides any expiries).
        """
        events: list[Event] = []
        self._events = events
        if self._expiries and self._expiries[0][0] <= ts_ms:
            self._expire_due(ts_ms)
        self._handlers[type(command)](command, ts_ms)
        if self._touched:
            self._flush_balances()
        return events

    # ------------------------------------------------------------------ queries

    def balance(self, account: str, token: str) -> tuple[int, int]:
        """(balance, locked) of an account in a token."""
        a = self.accounts.get(account)
        if a is None:
            return 0, 0
        return a.balances.get(token, 0), a.locked.get(token, 0)

    def open_orders(self, account: str, market: str = "") -> list[Order]:
        a = self.accounts.get(account)
        if a is None:
            return []
        # By order id: the same order whatever history (or snapshot) built the index.
        return sorted(
            (o for o in a.orders.values() if not market or o.market == market),
            key=_order_id,
        )

    def order_lock(self, order: Order) -> tuple[str, int]:
        """(token, amount) that an open order locks."""
        m = self.markets[order.market]
        if order.side is BUY:
            return m.quote, order.qty * order.price // m.scale
        return m.base, order.qty

    def snapshot(self) -> bytes:
        """The whole state in canonical bytes (the snapshot and state hash input)."""
        return snap.encode(self)

    @classmethod
    def restore(cls, data: bytes) -> Core:
        core = cls()
        snap.decode_into(core, data)
        return core

    def state_hash(self) -> str:
        return hashlib.sha256(self.snapshot()).hexdigest()

    # ------------------------------------------------------------------ helpers

    def _reject(
        self, action: str, account: str, code: R, order_id: int = 0, client_order_id: str = ""
    ) -> None:
        self._events.append(Rejected(action, account, code, order_id, client_order_id))

    def _flush_balances(self) -> None:
        append = self._events.append
        touched = self._touched
        for (account_id, token), a in touched.items():
            append(
                BalanceChanged(account_id, token, a.balances.get(token, 0), a.locked.get(token, 0))
            )
        touched.clear()

    def _check_price_qty(self, m: Market, price: int, qty: int, min_qty: int) -> None:
        if qty <= 0:
            raise _Reject(R.INVALID_QUANTITY)
        if price <= 0:
            raise _Reject(R.INVALID_PRICE)
        if qty > UINT256_MAX or price > UINT256_MAX:
            raise _Reject(R.VALUE_OUT_OF_RANGE)
        if price % m.tick:
            raise _Reject(R.PRICE_OFF_TICK)
        if qty % m.lot:
            raise _Reject(R.QUANTITY_OFF_LOT)
        if qty < min_qty:
            raise _Reject(R.BELOW_MIN_SIZE)
        if qty * price // m.scale > UINT256_MAX:
            raise _Reject(R.VALUE_OUT_OF_RANGE)

    def _find(self, account: str, market: str, order_id: int, coid: str) -> Order:
        """An open order of ``account`` in ``market``; another account's order is 'not found'
        too, so that nobody can probe the book for other accounts' orders."""
        if order_id:
            o = self.orders.get(order_id)
        else:
            oid = self._coids.get((account, coid)) if coid else None
            o = self.orders.get(oid) if oid else None
        if o is None or o.account != account or o.market != market:
            raise _Reject(R.ORDER_NOT_FOUND)
        return o

    def _market(self, market: str) -> Market:
        m = self.markets.get(market)
        if m is None:
            raise _Reject(R.UNKNOWN_MARKET)
        return m

    def _rest(self, o: Order, m: Market, a: Account) -> None:
        """Put an order at the back of its level, register it, and lock what it needs."""
        if o.side is BUY:
            m.bids.insert(o)
            tok, lock = m.quote, o.qty * o.price // m.scale
        else:
            m.asks.insert(o)
            tok, lock = m.base, o.qty
        self.orders[o.id] = o
        a.orders[o.id] = o
        if o.client_order_id:
            self._coids[(a.id, o.client_order_id)] = o.id
        if o.expires_at_ms:
            heapq.heappush(self._expiries, (o.expires_at_ms, o.id))
        locked = a.locked[tok] = a.locked.get(tok, 0) + lock
        if self._in_batch or self._touched:
            self._touched[(a.id, tok)] = a
        else:
            # Resting is a command's last step; if it is the only balance change, emit it now.
            self._events.append(BalanceChanged(a.id, tok, a.balances.get(tok, 0), locked))

    def _unrest(self, o: Order, m: Market) -> Account:
        """Take an order out of the book and registries, and unlock what it still locks."""
        if o.side is BUY:
            m.bids.remove(o)
            tok, lock = m.quote, o.qty * o.price // m.scale
        else:
            m.asks.remove(o)
            tok, lock = m.base, o.qty
        del self.orders[o.id]
        a = self.accounts[o.account]
        del a.orders[o.id]
        if o.client_order_id:
            del self._coids[(a.id, o.client_order_id)]
        if lock:
            a.locked[tok] -= lock
            self._touched[(a.id, tok)] = a
        return a

    def _expire_due(self, ts_ms: int) -> None:
        heap = self._expiries
        while heap and heap[0][0] <= ts_ms:
            exp, oid = heapq.heappop(heap)
            o = self.orders.get(oid)
            if o is not None and o.expires_at_ms == exp:
                self._unrest(o, self.markets[o.market])
                self._events.append(
                    OrderExpired(o.id, o.account, o.market, o.qty, ExpireReason.GTT)
                )

    # ------------------------------------------------------------------ matching

    def _fillable(self, taker: Order, opp: BookSide, limit_key: int) -> int:
        """How much a FOK order would fill now, honouring its self-trade prevention."""
        total = 0
        for key in opp.keys:
            if key > limit_key:
                break
            for maker in opp.levels[key].orders.values():
                if maker.account == taker.account:
                    if taker.stp is EXPIRE_MAKER:
                        continue
                    return total
                total += maker.qty
                if total >= taker.qty:
                    return total
        return total

    def _match(self, t: Order, m: Market, ta: Account, opp: BookSide, limit_key: int) -> bool:
        """Trade ``t`` against the opposite side while prices cross.

        Returns True when self-trade prevention killed the taker's remainder.
        """
        levels = opp.levels
        scale = m.scale
        base = m.base
        quote = m.quote
        taker_buys = t.side is BUY
        accounts = self.accounts
        append = self._events.append
        makers: dict[str, Account] = {}  # accounts traded with, in the order of their fills
        killed = False
        while t.qty and opp.best <= limit_key:
            level = levels[opp.best]
            price = level.price
            done: list[Order] = []  # makers to take out: removed after the walk over the level
            for maker in level.orders.values():
                if not t.qty:
                    break
                if maker.account == t.account:
                    stp = t.stp
                    if stp is not EXPIRE_TAKER:
                        done.append(maker)
                        append(
                            OrderExpired(
                                maker.id, maker.account, m.id, maker.qty, ExpireReason.SELF_TRADE
                            )
                        )
                    if stp is not EXPIRE_MAKER:
                        killed = True
                        break
                    continue
                q = t.qty if t.qty < maker.qty else maker.qty
                quote_qty = q * price // scale
                ma = accounts[maker.account]
                if taker_buys:
                    buyer, seller = ta, ma
                    ma.locked[base] -= q
                else:
                    buyer, seller = ma, ta
                    ma.locked[quote] -= quote_qty
                bb = buyer.balances
                bb[base] = bb.get(base, 0) + q
                bb[quote] = bb.get(quote, 0) - quote_qty
                sb = seller.balances
                sb[base] = sb.get(base, 0) - q
                sb[quote] = sb.get(quote, 0) + quote_qty
                makers[ma.id] = ma
                maker.qty -= q
                maker.filled += q
                level.qty -= q
                t.qty -= q
                t.filled += q
                append(
                    Fill(
                        m.id,
                        price,
                        q,
                        quote_qty,
                        t.side,
                        maker.id,
                        maker.account,
                        maker.qty,
                        t.id,
                        t.account,
                        t.qty,
                    )
                )
                if not maker.qty:
                    done.append(maker)
            for maker in done:
                self._unrest(maker, m)
            if killed:
                break
        if makers:
            # Both tokens of everyone who traded changed: marked once, not once per fill.
            touched = self._touched
            touched[(ta.id, base)] = ta
            touched[(ta.id, quote)] = ta
            for ma in makers.values():
                touched[(ma.id, base)] = ma
                touched[(ma.id, quote)] = ma
        return killed

    def _execute(self, o: Order, m: Market, a: Account) -> None:
        """Match an order that is not in the book, then rest or expire what is left."""
        if o.side is BUY:
            opp, limit_key = m.asks, o.price
        else:
            opp, limit_key = m.bids, -o.price
        if opp.best <= limit_key and self._match(o, m, a, opp, limit_key):
            self._events.append(OrderExpired(o.id, o.account, m.id, o.qty, ExpireReason.SELF_TRADE))
            return
        if o.qty:
            if o.tif is GTC or o.tif is POST_ONLY:
                self._rest(o, m, a)
            else:
                self._events.append(OrderExpired(o.id, o.account, m.id, o.qty, ExpireReason.IOC))

    # ------------------------------------------------------------------ order commands

    def _place(self, c: Place, ts_ms: int) -> None:
        # The hot path: checks inline, the exact reject code found only on failure.
        m = self.markets.get(c.market)
        price = c.price
        qty = c.qty
        tif = c.tif
        coid = c.client_order_id
        try:
            if m is None:
                raise _Reject(R.UNKNOWN_MARKET)
            scale = m.scale
            if (
                qty <= 0
                or price <= 0
                or price % m.tick
                or qty % m.lot
                or qty < m.min_qty
                or ((qty | price) >> 128 and _too_big(qty, price, scale))
            ):
                self._check_price_qty(m, price, qty, m.min_qty)
            if c.order_type is OrderType.MARKET and tif is not IOC and tif is not FOK:
                raise _Reject(R.INVALID_TIME_IN_FORCE)
            exp = c.expires_at_ms
            if exp and (tif is IOC or tif is FOK or not ts_ms < exp <= UINT256_MAX):
                raise _Reject(R.INVALID_EXPIRY)
            if coid:
                if len(coid) > MAX_CLIENT_ORDER_ID:
                    raise _Reject(R.INVALID_CLIENT_ORDER_ID)
                if (c.account, coid) in self._coids:
                    raise _Reject(R.DUPLICATE_CLIENT_ORDER_ID)
            a = self.accounts.get(c.account)
            if c.side is BUY:
                tok, need, opp, limit_key = m.quote, qty * price // scale, m.asks, price
            else:
                tok, need, opp, limit_key = m.base, qty, m.bids, -price
            if a is None or (
                a.balances.get(tok, 0) - a.locked.get(tok, 0) + a.credit.get(tok, 0) < need
            ):
                raise _Reject(R.INSUFFICIENT_BALANCE)
            crosses = opp.best <= limit_key
            if tif is POST_ONLY and crosses:
                raise _Reject(R.POST_ONLY_WOULD_CROSS)
        except _Reject as r:
            self._reject("place", c.account, r.code, 0, coid)
            return
        oid = self.next_order_id
        self.next_order_id = oid + 1
        events = self._events
        events.append(
            OrderAccepted(oid, c.account, m.id, c.side, price, qty, tif, c.order_type, coid, exp)
        )
        if not crosses and (tif is IOC or tif is FOK):
            reason = ExpireReason.IOC if tif is IOC else ExpireReason.FOK
            events.append(OrderExpired(oid, c.account, m.id, qty, reason))
            return
        o = Order(oid, c.account, m.id, c.side, price, qty, tif, c.order_type, coid, c.stp, exp)
        if not crosses:
            self._rest(o, m, a)  # GTC or POST_ONLY that trades nothing: the common case
        elif tif is FOK and self._fillable(o, opp, limit_key) < qty:
            events.append(OrderExpired(oid, c.account, m.id, qty, ExpireReason.FOK))
        else:
            self._execute(o, m, a)

    def _cancel(self, c: Cancel, ts_ms: int) -> None:
        m = self.markets.get(c.market)
        o = self.orders.get(c.order_id) if c.order_id else None
        if m is None or o is None or o.account != c.account or o.market != c.market:
            try:
                m = self._market(c.market)
                o = self._find(c.account, c.market, c.order_id, c.client_order_id)
            except _Reject as r:
                self._reject("cancel", c.account, r.code, c.order_id, c.client_order_id)
                return
        self._unrest(o, m)
        self._events.append(OrderCancelled(o.id, o.account, o.market, o.qty, CancelReason.USER))

    def _cancel_all(self, c: CancelAll, ts_ms: int) -> None:
        if c.market and c.market not in self.markets:
            self._reject("cancel_all", c.account, R.UNKNOWN_MARKET)
            return
        for o in self.open_orders(c.account, c.market):
            self._unrest(o, self.markets[o.market])
            self._events.append(
                OrderCancelled(o.id, o.account, o.market, o.qty, CancelReason.CANCEL_ALL)
            )

    def _replace(self, c: Replace, ts_ms: int) -> None:
        price = c.price
        qty = c.qty
        try:
            m = self.markets.get(c.market)
            if m is None:
                raise _Reject(R.UNKNOWN_MARKET)
            o = self.orders.get(c.order_id) if c.order_id else None
            if o is None or o.account != c.account or o.market != c.market:
                o = self._find(c.account, c.market, c.order_id, c.client_order_id)
            if c.side is not o.side:
                raise _Reject(R.REPLACE_SIDE_MISMATCH)
            scale = m.scale
            # A partly filled order may have less open than the minimum size: a replace may
            # keep or shrink such a remainder, but not grow it, nor shrink a larger order,
            # below the minimum.
            min_qty = 0 if qty <= o.qty < m.min_qty else m.min_qty
            if (
                qty <= 0
                or price <= 0
                or price % m.tick
                or qty % m.lot
                or qty < min_qty
                or ((qty | price) >> 128 and _too_big(qty, price, scale))
            ):
                self._check_price_qty(m, price, qty, min_qty)
            a = self.accounts[o.account]
            if o.side is BUY:
                bs, opp, tok, limit_key = m.bids, m.asks, m.quote, price
                old, new = o.qty * o.price // scale, qty * price // scale
            else:
                bs, opp, tok, limit_key = m.asks, m.bids, m.base, -price
                old, new = o.qty, qty
            keep_priority = price == o.price and qty <= o.qty
            if not keep_priority:
                if new > old and (
                    a.balances.get(tok, 0) - a.locked[tok] + a.credit.get(tok, 0) + old < new
                ):
                    raise _Reject(R.INSUFFICIENT_BALANCE)
                crosses = opp.best <= limit_key
                if crosses and o.tif is POST_ONLY:
                    raise _Reject(R.POST_ONLY_WOULD_CROSS)
        except _Reject as r:
            self._reject("replace", c.account, r.code, c.order_id, c.client_order_id)
            return
        events = self._events
        if keep_priority:
            # Same price, not larger: the order keeps its place in the queue.
            bs.levels[bs.sign * price].qty -= o.qty - qty
            o.qty = qty
        elif not crosses:
            # The common move: to the back of its new level. BookSide.move, inlined: this is
            # most of the flow (82% of exchange-core's mix), and a call costs ~3% of it.
            levels = bs.levels
            key = bs.sign * o.price
            level = levels[key]
            del level.orders[o.id]
            level.qty -= o.qty
            compact = False
            if not level.orders:
                bs.idle += 1
                if key == bs.best:
                    bs.best = bs._next_live(key)
                compact = bs.idle > bs.compact_above
            o.price = price
            o.qty = qty
            key = bs.sign * price
            to = levels.get(key)
            if to is None:
                to = levels[key] = Level(price)
                bs.keys.add(key)
            elif not to.orders:
                bs.idle -= 1
            if key < bs.best:
                bs.best = key
            to.orders[o.id] = o
            to.qty += qty
            if compact:
                bs.compact()
        else:
            # It trades: out of the book, then in again like a new order.
            self._unrest(o, m)
            o.price = price
            o.qty = qty
            events.append(OrderReplaced(o.id, o.account, m.id, o.side, price, qty, False))
            self._execute(o, m, a)
            return
        events.append(OrderReplaced(o.id, o.account, m.id, o.side, price, qty, keep_priority))
        if new != old:
            locked = a.locked[tok] = a.locked[tok] + new - old
            if self._in_batch or self._touched:
                self._touched[(a.id, tok)] = a
            else:
                # The command's only balance change: emitted now, without the _touched round.
                events.append(BalanceChanged(a.id, tok, a.balances.get(tok, 0), locked))

    def _batch(self, c: Batch, ts_ms: int) -> None:
        actions = c.actions
        if len(actions) > MAX_BATCH:
            self._reject("batch", c.account, R.BATCH_TOO_LARGE)
            return
        if not actions or any(type(x) not in _BATCHABLE or x.account != c.account for x in actions):
            self._reject("batch", c.account, R.INVALID_BATCH)
            return
        handlers = self._handlers
        self._in_batch = True
        try:
            for x in actions:
                handlers[type(x)](x, ts_ms)
        finally:
            self._in_batch = False

    # ------------------------------------------------------------------ money commands

    def _check_amount(self, token: str, amount: int) -> None:
        if amount <= 0:
            raise _Reject(R.INVALID_AMOUNT)
        if amount > UINT256_MAX:
            raise _Reject(R.VALUE_OUT_OF_RANGE)
        if token not in self.tokens:
            raise _Reject(R.UNKNOWN_TOKEN)

    def _account(self, account: str) -> Account:
        a = self.accounts.get(account)
        if a is None:
            a = self.accounts[account] = Account(account)
        return a

    def _deposit(self, c: Deposit, ts_ms: int) -> None:
        try:
            self._check_amount(c.token, c.amount)
            if c.deposit_id <= self.last_deposit_id:
                raise _Reject(R.DUPLICATE_DEPOSIT)
            if c.deposit_id != self.last_deposit_id + 1:
                raise _Reject(R.DEPOSIT_OUT_OF_ORDER)
        except _Reject as r:
            self._reject("deposit", c.account, r.code)
            return
        a = self._account(c.account)
        a.balances[c.token] = a.balances.get(c.token, 0) + c.amount
        self.last_deposit_id = c.deposit_id
        self._touched[(a.id, c.token)] = a
        self._events.append(DepositCredited(c.account, c.token, c.amount, c.deposit_id))

    def _withdraw(self, c: Withdraw, ts_ms: int) -> None:
        a = self.accounts.get(c.account)
        try:
            self._check_amount(c.token, c.amount)
            # Credit is for trading, never for taking money out.
            if a is None or a.free(c.token) < c.amount:
                raise _Reject(R.INSUFFICIENT_BALANCE)
        except _Reject as r:
            self._reject("withdraw", c.account, r.code)
            return
        assert a is not None
        a.balances[c.token] -= c.amount
        wid = self.next_withdrawal_id
        self.next_withdrawal_id = wid + 1
        self.withdrawals[wid] = Withdrawal(wid, c.account, c.token, c.amount)
        self._touched[(a.id, c.token)] = a
        self._events.append(WithdrawalAuthorised(wid, c.account, c.token, c.amount))

    def _set_taker_limit(self, c: SetTakerLimit, ts_ms: int) -> None:
        try:
            if c.limit < 0:
                raise _Reject(R.INVALID_AMOUNT)
            if c.limit > UINT256_MAX:
                raise _Reject(R.VALUE_OUT_OF_RANGE)
            if c.token not in self.tokens:
                raise _Reject(R.UNKNOWN_TOKEN)
            a = self.accounts.get(c.account)
            if a is not None and a.free(c.token) + c.limit < 0:
                raise _Reject(R.LIMIT_BELOW_EXPOSURE)
        except _Reject as r:
            self._reject("set_taker_limit", c.account, r.code)
            return
        a = self._account(c.account)
        if c.limit:
            a.credit[c.token] = c.limit
        else:
            a.credit.pop(c.token, None)
        self._events.append(TakerLimitSet(c.account, c.token, c.limit))

    # ------------------------------------------------------------------ operator commands

    def _list_token(self, c: ListToken, ts_ms: int) -> None:
        if c.token in self.tokens:
            self._reject("list_token", "", R.TOKEN_EXISTS)
        elif not c.token or not 0 <= c.decimals <= MAX_DECIMALS:
            self._reject("list_token", "", R.INVALID_TOKEN)
        else:
            self.tokens[c.token] = Token(c.token, c.symbol, c.decimals)
            self._events.append(TokenListed(c.token, c.symbol, c.decimals))

    def _list_market(self, c: ListMarket, ts_ms: int) -> None:
        if c.market in self.markets:
            self._reject("list_market", "", R.MARKET_EXISTS)
            return
        base = self.tokens.get(c.base)
        quote = self.tokens.get(c.quote)
        if (
            not c.market
            or base is None
            or quote is None
            or base is quote
            or not 0 < c.tick <= UINT256_MAX
            or not 0 < c.lot <= UINT256_MAX
            or not 0 < c.min_qty <= UINT256_MAX
            or c.min_qty % c.lot
            or (c.lot * c.tick) % 10**base.decimals
        ):
            self._reject("list_market", "", R.INVALID_MARKET)
            return
        self.markets[c.market] = Market(c.market, base, quote, c.tick, c.lot, c.min_qty, c.lit)
        self._events.append(
            MarketListed(c.market, c.base, c.quote, c.tick, c.lot, c.min_qty, c.lit)
        )

    def _advance_time(self, c: AdvanceTime, ts_ms: int) -> None:
        """Expiry already ran in ``apply``; the command carries nothing else."""


_BATCHABLE = (Place, Cancel, Replace)


def _too_big(qty: int, price: int, scale: int) -> bool:
    """The slow half of the range check: only for values of 2**128 and more."""
    return qty > UINT256_MAX or price > UINT256_MAX or qty * price // scale > UINT256_MAX


def _order_id(o: Order) -> int:
    return o.id

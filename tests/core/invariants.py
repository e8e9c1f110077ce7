"""Whole-state invariants of the core, recomputed from scratch.

``check_invariants`` trusts none of the core's running totals: it rebuilds every lock, level
total and index from the open orders and compares. ``check_conservation`` compares the sum of
all balances per token with what came in (deposits) minus what went out (withdrawals).
"""

from __future__ import annotations

from collections import Counter

from server.core import Core, Side
from server.core.book import NO_LEVEL

__all__ = ["check_conservation", "check_invariants", "queue"]


def queue(core: Core, market: str, side: Side) -> list[tuple[int, str, int, int]]:
    """One side of a book in price-time priority: [(order id, account, price, qty)]."""
    bs = core.markets[market].side(side)
    return [
        (o.id, o.account, o.price, o.qty)
        for level in bs.iter_levels()
        for o in level.orders.values()
    ]


def check_invariants(core: Core) -> None:
    book_orders: dict[int, object] = {}
    expected_locked: dict[str, Counter[str]] = {a: Counter() for a in core.accounts}

    for mid, m in core.markets.items():
        assert m.id == mid
        assert m.scale == 10**m.base_decimals
        assert (m.lot * m.tick) % m.scale == 0, f"{mid}: lot*tick not a multiple of scale"
        for bs, side, sign in ((m.bids, Side.BUY, -1), (m.asks, Side.SELL, 1)):
            assert bs.sign == sign
            keys = list(bs.keys)
            assert keys == sorted(keys), f"{mid} {side}: keys not sorted"
            assert len(set(keys)) == len(keys), f"{mid} {side}: duplicate keys"
            assert set(keys) == set(bs.levels), f"{mid} {side}: keys != levels"
            live_keys = [k for k in keys if bs.levels[k].orders]
            want_best = live_keys[0] if live_keys else NO_LEVEL
            assert bs.best == want_best, f"{mid} {side}: cached best {bs.best} != {want_best}"
            assert bs.idle == len(keys) - len(live_keys), f"{mid} {side}: idle count wrong"
            assert [lv.price for lv in bs.iter_levels()] == [sign * k for k in live_keys]
            for key, level in bs.levels.items():
                assert key == sign * level.price, f"{mid} {side}: key {key} != price"
                if not level.orders:
                    assert level.qty == 0, f"{mid} {side}: idle level {level.price} has qty"
                    continue
                assert level.price > 0 and level.price % m.tick == 0
                assert level.qty == sum(o.qty for o in level.orders.values()), (
                    f"{mid} {side} {level.price}: level qty {level.qty} != sum of its orders"
                )
                for oid, o in level.orders.items():
                    assert oid == o.id
                    assert oid not in book_orders, f"order {oid} twice in the books"
                    book_orders[oid] = o
                    assert 0 < oid < core.next_order_id
                    assert o.market == mid and o.side is side and o.price == level.price
                    assert o.qty > 0, f"order {oid} rests with qty {o.qty}"
                    assert o.qty % m.lot == 0, f"order {oid}: open qty off lot"
                    assert o.filled >= 0 and o.filled % m.lot == 0
                    assert o.tif in ("GTC", "POST_ONLY"), f"order {oid} rests as {o.tif}"
                    assert (o.qty * o.price) % m.scale == 0, f"order {oid}: inexact notional"
                    assert o.account in core.accounts, f"order {oid}: unknown account"
                    if side is Side.BUY:
                        expected_locked[o.account][m.quote] += o.qty * o.price // m.scale
                    else:
                        expected_locked[o.account][m.base] += o.qty
        bids, asks = m.bids, m.asks
        best_bid, best_ask = bids.best_price(), asks.best_price()
        if best_bid is not None and best_ask is not None:
            assert best_bid < best_ask, f"{mid}: crossed book, bid {best_bid} >= ask {best_ask}"

    # every open order is in exactly one place in each registry
    assert set(core.orders) == set(book_orders), "core.orders != the books' orders"
    for oid, o in core.orders.items():
        assert book_orders[oid] is o
    account_orders: dict[int, object] = {}
    for aid, a in core.accounts.items():
        assert a.id == aid
        for oid, o in a.orders.items():
            assert oid == o.id and o.account == aid
            assert oid not in account_orders
            account_orders[oid] = o
    assert set(account_orders) == set(book_orders), "accounts' orders != the books' orders"
    for oid, o in account_orders.items():
        assert book_orders[oid] is o

    # client order ids: exactly the open orders that have one, per account
    want_coids = {
        (o.account, o.client_order_id): o.id for o in core.orders.values() if o.client_order_id
    }
    assert len(want_coids) == sum(1 for o in core.orders.values() if o.client_order_id), (
        "two open orders of one account share a client_order_id"
    )
    assert core._coids == want_coids, "client-order-id index out of step"

    # every good-til-time order is due to expire
    heap = set(core._expiries)
    for o in core.orders.values():
        if o.expires_at_ms:
            assert (o.expires_at_ms, o.id) in heap, f"order {o.id} missing from expiry heap"

    # money: locks, and available >= 0 (with credit for takers)
    for aid, a in core.accounts.items():
        tokens = set(a.balances) | set(a.locked) | set(a.credit) | set(core.tokens)
        for tok in tokens:
            assert tok in core.tokens, f"{aid}: unknown token {tok}"
            locked = a.locked.get(tok, 0)
            assert locked == expected_locked[aid][tok], (
                f"{aid} {tok}: locked {locked} != orders' {expected_locked[aid][tok]}"
            )
            credit = a.credit.get(tok, 0)
            assert credit >= 0
            balance = a.balances.get(tok, 0)
            assert balance - locked + credit >= 0, (
                f"{aid} {tok}: balance {balance} - locked {locked} + credit {credit} < 0"
            )
            assert a.available(tok) == balance - locked + credit
            assert a.free(tok) == balance - locked


def check_conservation(core: Core, expected: dict[str, int]) -> None:
    """Per token, the sum of all balances equals deposits minus withdrawals."""
    totals: Counter[str] = Counter()
    for a in core.accounts.values():
        for tok, bal in a.balances.items():
            totals[tok] += bal
    for tok in set(totals) | set(expected) | set(core.tokens):
        assert totals[tok] == expected.get(tok, 0), (
            f"{tok}: balances sum to {totals[tok]}, deposits - withdrawals = {expected.get(tok, 0)}"
        )

"""Canonical encoding of the core's whole state: snapshots and the state hash.

The encoding is deterministic: maps are written sorted, zero balances are left out, and
each book is written level by level from the best price, in time priority. Derived indexes
(client order ids, expiry heap, per-account order lists, level totals) are rebuilt on
restore, and the locked amounts written are checked against the orders on restore.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

import msgspec

from server.core.accounts import Account, Withdrawal
from server.core.book import Level, Market, Order, Token
from server.core.enums import OrderType, SelfTradePrevention, Side, TimeInForce

if TYPE_CHECKING:
    from server.core.engine import Core

__all__ = ["FORMAT_VERSION", "SnapshotError", "decode_into", "encode"]

FORMAT_VERSION = 1


class SnapshotError(Exception):
    """A snapshot does not describe a consistent state."""


class _Token(msgspec.Struct, array_like=True):
    address: str
    symbol: str
    decimals: int


class _Order(msgspec.Struct, array_like=True):
    id: int
    account: str
    side: Side
    price: int
    qty: int
    filled: int
    tif: TimeInForce
    order_type: OrderType
    client_order_id: str
    stp: SelfTradePrevention
    expires_at_ms: int


class _Market(msgspec.Struct, array_like=True):
    id: str
    base: str
    quote: str
    tick: int
    lot: int
    min_qty: int
    lit: bool
    bids: list[_Order]  # best price first, time priority within a price
    asks: list[_Order]


class _Account(msgspec.Struct, array_like=True):
    id: str
    balances: list[tuple[str, int]]
    locked: list[tuple[str, int]]
    credit: list[tuple[str, int]]


class _Withdrawal(msgspec.Struct, array_like=True):
    id: int
    account: str
    token: str
    amount: int


class _State(msgspec.Struct, array_like=True):
    version: int
    tokens: list[_Token]
    markets: list[_Market]
    accounts: list[_Account]
    withdrawals: list[_Withdrawal]
    next_order_id: int
    next_withdrawal_id: int
    last_deposit_id: int


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_State)


def _nonzero(d: dict[str, int]) -> list[tuple[str, int]]:
    return sorted((k, v) for k, v in d.items() if v)


def _orders(levels: list[Level]) -> list[_Order]:
    return [
        _Order(
            o.id,
            o.account,
            o.side,
            o.price,
            o.qty,
            o.filled,
            o.tif,
            o.order_type,
            o.client_order_id,
            o.stp,
            o.expires_at_ms,
        )
        for level in levels
        for o in level.orders.values()
    ]


def encode(core: Core) -> bytes:
    state = _State(
        FORMAT_VERSION,
        [_Token(t.address, t.symbol, t.decimals) for _, t in sorted(core.tokens.items())],
        [
            _Market(
                m.id,
                m.base,
                m.quote,
                m.tick,
                m.lot,
                m.min_qty,
                m.lit,
                _orders(m.bids.iter_levels()),
                _orders(m.asks.iter_levels()),
            )
            for _, m in sorted(core.markets.items())
        ],
        [
            _Account(a.id, _nonzero(a.balances), _nonzero(a.locked), _nonzero(a.credit))
            for _, a in sorted(core.accounts.items())
        ],
        [
            _Withdrawal(w.id, w.account, w.token, w.amount)
            for _, w in sorted(core.withdrawals.items())
        ],
        core.next_order_id,
        core.next_withdrawal_id,
        core.last_deposit_id,
    )
    return _encoder.encode(state)


def decode_into(core: Core, data: bytes) -> None:
    """Fill an empty core from ``encode`` output; raises SnapshotError if inconsistent."""
    try:
        state = _decoder.decode(data)
    except msgspec.DecodeError as e:
        raise SnapshotError(f"snapshot does not decode: {e}") from e
    if state.version != FORMAT_VERSION:
        raise SnapshotError(f"snapshot format {state.version}, expected {FORMAT_VERSION}")
    for t in state.tokens:
        core.tokens[t.address] = Token(t.address, t.symbol, t.decimals)
    for sa in state.accounts:
        a = core.accounts[sa.id] = Account(sa.id)
        a.balances = dict(sa.balances)
        a.credit = dict(sa.credit)
    core.next_order_id = state.next_order_id
    core.next_withdrawal_id = state.next_withdrawal_id
    core.last_deposit_id = state.last_deposit_id
    for w in state.withdrawals:
        core.withdrawals[w.id] = Withdrawal(w.id, w.account, w.token, w.amount)
    for sm in state.markets:
        m = core.markets[sm.id] = Market(
            sm.id,
            core.tokens[sm.base],
            core.tokens[sm.quote],
            sm.tick,
            sm.lot,
            sm.min_qty,
            sm.lit,
        )
        for so in [*sm.bids, *sm.asks]:
            owner = core.accounts.get(so.account)
            if owner is None:
                raise SnapshotError(f"order {so.id} belongs to unknown account {so.account}")
            o = Order(
                so.id,
                so.account,
                sm.id,
                so.side,
                so.price,
                so.qty,
                so.tif,
                so.order_type,
                so.client_order_id,
                so.stp,
                so.expires_at_ms,
                so.filled,
            )
            core._rest(o, m, owner)
    core._touched = {}
    core._events = []  # _rest reported balance events while rebuilding: nobody's
    heapq.heapify(core._expiries)
    for sa in state.accounts:
        rebuilt = _nonzero(core.accounts[sa.id].locked)
        if rebuilt != sa.locked:
            raise SnapshotError(f"account {sa.id}: locked {sa.locked} != orders' {rebuilt}")

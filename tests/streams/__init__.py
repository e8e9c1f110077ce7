"""Shared set-up for the streams tests: a real core, committed batches, random flows.

``Exchange`` plays the sequencer's part without a journal: it stamps each command with the
next seq and a time, applies it, and hands back ``Sequenced`` results in batches, as the
sequencer releases them after a commit. ``flows`` draws random order flow in a lit and a
dark market from three accounts whose ids are 0x addresses (so a leak is a plain substring).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from hypothesis import strategies as st

from server.core import (
    Cancel,
    CancelAll,
    Command,
    Core,
    Deposit,
    ListMarket,
    ListToken,
    OrderType,
    Place,
    Replace,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from server.sequencer.sequencer import Sequenced

__all__ = [
    "ACCOUNTS",
    "ALICE",
    "BOB",
    "CAROL",
    "DARK",
    "E6",
    "E18",
    "LIT",
    "LOT",
    "OPENING",
    "TICK",
    "USDC",
    "WETH",
    "Exchange",
    "Pick",
    "batches",
    "commands",
]

WETH = "0x" + "11" * 20
USDC = "0x" + "22" * 20
LIT = "WETH-USDC"
DARK = "WETH-USDC-DARK"
E18 = 10**18
E6 = 10**6
TICK = 10_000
LOT = 10**14
MIN_QTY = 10**15
ALICE = "0x" + "a1" * 20
BOB = "0x" + "b0" * 20
CAROL = "0x" + "c4" * 20
ACCOUNTS = (ALICE, BOB, CAROL)


class Exchange:
    """A core driven like the sequencer drives it: seq and time stamped, results batched."""

    def __init__(self, accounts: Iterable[str] = ACCOUNTS) -> None:
        self.core = Core()
        self.seq = 0
        self.ts_ms = 1_700_000_000_000
        self.run(
            [
                ListToken(WETH, "WETH", 18),
                ListToken(USDC, "USDC", 6),
                ListMarket(LIT, WETH, USDC, TICK, LOT, MIN_QTY, True),
                ListMarket(DARK, WETH, USDC, TICK, LOT, MIN_QTY, False),
            ]
        )
        for a in accounts:
            self.fund(a)

    def fund(self, account: str, weth: int = 1_000 * E18, usdc: int = 10_000_000 * E6) -> None:
        d = self.core.last_deposit_id
        self.run([Deposit(account, WETH, weth, d + 1), Deposit(account, USDC, usdc, d + 2)])

    def run(self, commands: Iterable[Command | Pick], dt_ms: int = 1) -> list[Sequenced]:
        """Apply commands one by one; their results, as one committed batch."""
        out: list[Sequenced] = []
        for command in commands:
            c = command.resolve(self.core) if isinstance(command, Pick) else command
            if c is None:
                continue
            self.seq += 1
            self.ts_ms += dt_ms
            events: list[Any] = self.core.apply(c, self.ts_ms)
            out.append(Sequenced(self.seq, self.ts_ms, c, events))
        return out

    def one(self, command: Command) -> Sequenced:
        return self.run([command])[0]


# ---------------------------------------------------------------------- random flows

_accounts = st.sampled_from(ACCOUNTS)
_markets = st.sampled_from((LIT, LIT, LIT, DARK))
_sides = st.sampled_from((Side.BUY, Side.SELL))
# A narrow band of prices around 3000 USDC so that books overlap and trade often.
_prices = st.integers(2995, 3005).map(lambda p: p * E6)
_qtys = st.integers(10, 300).map(lambda n: n * LOT)
_coids = st.sampled_from(("", "", "a", "b"))
_order_ids = st.integers(1, 16)
# Some already past (rejected), most due a few dozen commands later (expire with reason gtt).
_expiries = st.integers(1_700_000_000_000, 1_700_000_000_150)


@st.composite
def _place(draw: st.DrawFn) -> Place:
    tif = draw(st.sampled_from(list(TimeInForce)))
    return Place(
        draw(_accounts),
        draw(_markets),
        draw(_sides),
        draw(_prices),
        draw(_qtys),
        tif,
        OrderType.LIMIT,
        draw(_coids),
        draw(st.sampled_from(list(SelfTradePrevention))),
        draw(st.sampled_from((0, 0)) | _expiries)
        if tif in (TimeInForce.GTC, TimeInForce.POST_ONLY)
        else 0,
    )


_cancel = st.builds(Cancel, _accounts, _markets, _order_ids, st.just(""))
_cancel_coid = st.builds(Cancel, _accounts, _markets, st.just(0), _coids)
_cancel_all = st.builds(CancelAll, _accounts, st.sampled_from(("", LIT, DARK)))
_replace = st.builds(Replace, _accounts, _markets, _sides, _prices, _qtys, _order_ids, st.just(""))


class Pick(NamedTuple):
    """Resolved when run: cancel (``price`` 0) or replace the ``nth`` open order (mod their
    number) as its owner, to ``price`` and ``qty``; random ids alone mostly miss."""

    nth: int
    price: int
    qty: int

    def resolve(self, core: Core) -> Command | None:
        if not core.orders:
            return None
        o = list(core.orders.values())[self.nth % len(core.orders)]
        if not self.price:
            return Cancel(o.account, o.market, o.id, "")
        price = o.price if self.price < 0 else self.price
        qty = o.qty if self.qty < 0 else self.qty  # same price and qty: keeps priority
        return Replace(o.account, o.market, o.side, price, qty, o.id, "")


_pick = st.builds(
    Pick,
    st.integers(0, 50),
    st.sampled_from((0, 0, -1)) | _prices,
    st.sampled_from((-1,)) | _qtys,
)

commands = st.one_of(
    _place(),
    _place(),
    _place(),
    _place(),
    _pick,
    _pick,
    _cancel,
    _cancel_coid,
    _cancel_all,
    _replace,
)
"""Random order-flow commands (some rejected, as in real life)."""

# Both sides of both books a few levels deep, so that random orders trade from the start.
OPENING: list[Command | Pick] = [
    Place(a, m, side, (3000 + sign * k) * E6, 20 * LOT)
    for m in (LIT, DARK)
    for k in (1, 2, 3)
    for a in (ALICE, BOB)
    for side, sign in ((Side.BUY, -1), (Side.SELL, 1))
]

batches = st.lists(st.lists(commands, min_size=1, max_size=8), min_size=1, max_size=12).map(
    lambda flow: [OPENING, *flow]
)
"""Random flow cut into committed batches (the first one opens the books)."""

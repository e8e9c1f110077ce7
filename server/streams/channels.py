"""Stream channels: their state, their ``seq`` numbers and the messages they push.

Sans-I/O: the gateway calls ``publish`` with every committed batch, in order, and sends each
returned ``(key, payload)`` to the subscribers of ``key``; it answers a subscribe with
``snapshot(key)``. Keys are internal (``user:<account>``, ``settlements:<account>``,
``trades:<market>``, ``book:<market>``); the ``channel`` field on the wire drops the account.

Sequence rules (PROTOCOL.md, "Streams": ``seq`` goes up by exactly one per message on a
channel, and a snapshot carries the seq of the last message before it, so the first push
after it has ``snapshot seq + 1``):

- ``trades:<m>``: one message per committed command with fills in lit market ``m``, made
  whether or not anyone listens (cheap), so every subscriber sees the same seq for the same
  message; the last ``recent_trades`` trades are kept for snapshots.
- ``book:<m>``: the top ``book_depth`` levels of every lit market are kept as of its last
  seq. After a batch, each lit book whose market had events is diffed against them: one
  message per market per batch, none if nothing changed. The seq advances with every change
  whether or not anyone listens, so it names a version of the book: a client that comes back
  with an older seq knows it missed something. ``snapshot`` returns the kept levels.
- ``user:<a>``: one message per committed command with user events for ``a``, made only
  while someone listens; seq per account.
- ``settlements:<a>``: nothing pushed yet (seq 0).

Call ``snapshot`` and register the subscriber in one step (no ``await`` between), and call it
when the sequencer has nothing applied but uncommitted, or a snapshot may show a command that
is not durable yet (deltas stay consistent either way: they are diffs against what was
shown).

Public channels never carry an account, an order id or a client order id; dark markets have
no public channels at all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import msgspec

from server.core.engine import Core
from server.core.events import Fill, OrderAccepted, OrderCancelled, OrderExpired, OrderReplaced
from server.streams.messages import balance_dicts, order_dict, user_events_by_account

if TYPE_CHECKING:
    from server.sequencer.sequencer import Sequenced

__all__ = [
    "BOOK",
    "CHANNELS",
    "SETTLEMENTS",
    "TRADES",
    "USER",
    "ChannelError",
    "Channels",
    "DarkMarket",
    "Levels",
    "wire_name",
]

USER: Final = "user"
SETTLEMENTS: Final = "settlements"
TRADES: Final = "trades"
BOOK: Final = "book"
CHANNELS: Final = (USER, TRADES, BOOK, SETTLEMENTS)

Levels = list[tuple[int, int]]
"""Aggregated levels, best first: [(price, qty)]."""

_EMPTY_BOOK: Final[tuple[Levels, Levels]] = ([], [])

# Events that may change a book (all carry ``market``).
_BOOK_EVENTS: Final = frozenset({Fill, OrderAccepted, OrderCancelled, OrderExpired, OrderReplaced})


class ChannelError(Exception):
    """A subscribe that cannot be served; ``code`` is a gateway/reject code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class DarkMarket(ChannelError):
    """A dark market has no public channels or book (code ``DARK_MARKET``)."""

    def __init__(self, market: str) -> None:
        super().__init__("DARK_MARKET", f"{market} is dark: it has no public channels or book")


def wire_name(key: str) -> str:
    """The ``channel`` field for a key: private channels do not repeat the account."""
    if key.startswith("user:"):
        return USER
    if key.startswith("settlements:"):
        return SETTLEMENTS
    return key


def _levels(levels: Levels) -> list[list[str]]:
    return [[str(p), str(q)] for p, q in levels]


def _diff(old: Levels, new: Levels, best_high: bool) -> list[list[str]]:
    """Levels that changed or appeared (with their qty) and that left ("0"), best first."""
    if old == new:
        return []
    before = dict(old)
    after = dict(new)
    changed = [(p, q) for p, q in new if before.get(p) != q]
    changed += [(p, 0) for p in before if p not in after]
    changed.sort(reverse=best_high)
    return [[str(p), str(q)] for p, q in changed]


class Channels:
    def __init__(self, core: Core, *, book_depth: int = 50, recent_trades: int = 50) -> None:
        if book_depth < 1 or recent_trades < 0:
            raise ValueError("book_depth must be >= 1 and recent_trades >= 0")
        self.core = core
        self.book_depth = book_depth
        self.recent_trades = recent_trades
        self._seq: dict[str, int] = {}
        self._trades: dict[str, deque[dict[str, Any]]] = {}  # market -> oldest first
        # market -> the top-N as of the last published seq, for every lit market
        self._books: dict[str, tuple[Levels, Levels]] = {
            m: market.l2(book_depth) for m, market in core.markets.items() if market.lit
        }
        self._encode = msgspec.json.Encoder().encode
        # (seq, account) -> the user events pushed for that command in the last publish():
        # the action's own answer reuses them instead of building them again.
        self.batch_user_events: dict[tuple[int, str], list[dict[str, Any]]] = {}

    # ------------------------------------------------------------------ subscribe

    def key(self, channel: str, market: str = "", account: str | None = None) -> str:
        """The key of a subscribe's channel, or ChannelError (NOT_LOGGED_IN, UNKNOWN_MARKET,
        DARK_MARKET, UNKNOWN_CHANNEL). ``market`` is ignored for private channels."""
        if channel in (USER, SETTLEMENTS):
            if not account:
                raise ChannelError("NOT_LOGGED_IN", f"log in to subscribe to {channel}")
            return f"{channel}:{account}"
        if channel in (TRADES, BOOK):
            m = self.core.markets.get(market) if market else None
            if m is None:
                raise ChannelError("UNKNOWN_MARKET", f"no such market: {market!r}")
            if not m.lit:
                raise DarkMarket(market)
            return f"{channel}:{market}"
        raise ChannelError("UNKNOWN_CHANNEL", f"no such channel: {channel!r}")

    def seq(self, key: str) -> int:
        """The seq of the last message on a channel (0 before the first)."""
        return self._seq.get(key, 0)

    def snapshot(self, key: str) -> dict[str, Any]:
        """The ``result`` of a subscribe answer: ``{"channel", "seq", "snapshot"}``, JSON-ready
        (the gateway encodes it with the answer). ``key`` must come from ``key()``."""
        kind, _, rest = key.partition(":")
        snap: dict[str, Any]
        if kind == USER:
            snap = {
                "balances": balance_dicts(self.core, rest),
                "orders": [order_dict(o, "open") for o in self.core.open_orders(rest)],
            }
        elif kind == TRADES:
            trades = self._trades.get(rest)
            snap = {"trades": list(reversed(trades)) if trades else []}
        elif kind == BOOK:
            base = self._books.get(rest, _EMPTY_BOOK)
            snap = {"bids": _levels(base[0]), "asks": _levels(base[1])}
        elif kind == SETTLEMENTS:
            snap = {"settlements": []}
        else:
            raise ChannelError("UNKNOWN_CHANNEL", f"no such channel: {key!r}")
        return {"channel": wire_name(key), "seq": self._seq.get(key, 0), "snapshot": snap}

    # ------------------------------------------------------------------ publish

    def publish(
        self, results: Sequence[Sequenced], wanted: Callable[[str], bool]
    ) -> list[tuple[str, bytes]]:
        """The push messages of a committed batch: ``[(key, encoded message)]`` for the
        channels ``wanted(key)`` is true for (it is asked at most once per key), in order.

        Must see every committed batch, in order, exactly once.
        """
        out: list[tuple[str, bytes]] = []
        self.batch_user_events.clear()
        if not results:
            return out
        asked: dict[str, bool] = {}

        def want(key: str) -> bool:
            w = asked.get(key)
            if w is None:
                w = asked[key] = wanted(key)
            return w

        def want_user(account: str) -> bool:
            return wanted("user:" + account)

        user_asked: dict[str, bool] = {}  # account -> wanted("user:" + account)
        encode = self._encode
        seqs = self._seq
        markets = self.core.markets
        touched: set[str] = set()
        for r in results:
            ts_ms = r.ts_ms
            events: Sequence[Any] = r.events
            trades: dict[str, list[dict[str, Any]]] = {}
            for e in events:
                t = type(e)
                if t is Fill:
                    m = e.market
                    touched.add(m)
                    lst = trades.get(m)
                    if lst is None:
                        lst = trades[m] = []
                    lst.append(
                        {
                            "price": str(e.price),
                            "qty": str(e.qty),
                            "quote_qty": str(e.quote_qty),
                            "taker_side": e.taker_side,
                        }
                    )
                elif t in _BOOK_EVENTS:
                    touched.add(e.market)
            for m, lst in trades.items():
                if not markets[m].lit:
                    continue
                key = "trades:" + m
                seq = seqs[key] = seqs.get(key, 0) + 1
                recent = self._trades.get(m)
                if recent is None:
                    recent = self._trades[m] = deque(maxlen=self.recent_trades)
                recent.extend(lst)
                if want(key):
                    msg = {"channel": key, "seq": seq, "ts_ms": ts_ms, "trades": lst}
                    out.append((key, encode(msg)))
            for account, evs in user_events_by_account(events, want_user, user_asked).items():
                self.batch_user_events[(r.seq, account)] = evs
                key = "user:" + account
                seq = seqs[key] = seqs.get(key, 0) + 1
                msg = {"channel": USER, "seq": seq, "ts_ms": ts_ms, "events": evs}
                out.append((key, encode(msg)))
        self._publish_books(touched, results[-1].ts_ms, want, out)
        return out

    def _publish_books(
        self,
        touched: set[str],
        ts_ms: int,
        want: Callable[[str], bool],
        out: list[tuple[str, bytes]],
    ) -> None:
        books = self._books
        markets = self.core.markets
        depth = self.book_depth
        for m in sorted(touched):
            market = markets[m]
            if not market.lit:
                continue
            key = "book:" + m
            new = market.l2(depth)
            old = books.get(m, _EMPTY_BOOK)  # a market listed after start began empty
            books[m] = new
            bids = _diff(old[0], new[0], True)
            asks = _diff(old[1], new[1], False)
            if bids or asks:
                seq = self._seq[key] = self._seq.get(key, 0) + 1
                if want(key):
                    msg = {"channel": key, "seq": seq, "ts_ms": ts_ms, "bids": bids, "asks": asks}
                    out.append((key, self._encode(msg)))

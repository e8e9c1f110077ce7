"""Typed answers and stream messages (msgspec Structs).

These are domain types: amounts are ``int`` token base units. On the wire they are decimal
strings of those integers; the decoders here turn them into ints exactly (msgspec parses
the digits as an integer of any size; anything that is not an exact integer is refused,
nothing goes through a float). ``Decimal`` appears only in the helpers that format for
people (``MarketSpec``).

What is sent is built in ``client.py``; the Structs prefixed with ``_`` below are wire
envelopes that only the decoder uses.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final, TypeVar

import msgspec

from client_sdk.signing import Domain
from client_sdk.units import format_units, from_units, price_to_units, qty_to_units

__all__ = [
    "Accepted",
    "ActionResult",
    "AgentApproval",
    "Balance",
    "BalanceRow",
    "BookSnapshot",
    "BookUpdate",
    "CancelAction",
    "Cancelled",
    "Deposited",
    "DomainInfo",
    "Expired",
    "Fill",
    "Info",
    "Level",
    "LoginResult",
    "Market",
    "MarketSpec",
    "Markets",
    "Order",
    "PlaceAction",
    "Rejected",
    "ReplaceAction",
    "Replaced",
    "SettlementsSnapshot",
    "SettlementsUpdate",
    "Snapshot",
    "StreamMessage",
    "Token",
    "Trade",
    "TradesSnapshot",
    "TradesUpdate",
    "UnknownEvent",
    "Update",
    "UserEvent",
    "UserSnapshot",
    "UserUpdate",
    "WithdrawalEvent",
    "decode_action_result",
    "decode_events",
    "decode_user_update",
]

Level = tuple[int, int]
"""One book level: (price, qty) in base units."""

_E = TypeVar("_E")


# --- user events (docs/PROTOCOL.md, "User events") ---


class _Event(msgspec.Struct, tag_field="type", frozen=True):
    pass


class Accepted(_Event, tag="accepted", frozen=True):
    order_id: int
    market: str
    side: str
    price: int
    qty: int
    tif: str
    order_type: str
    client_order_id: str = ""
    expires_at_ms: int = 0


class Fill(_Event, tag="fill", frozen=True):
    """One match, seen from the account's side. ``seq``/``ts_ms`` are set in ``fills()``."""

    order_id: int
    market: str
    side: str
    liquidity: str
    price: int
    qty: int
    quote_qty: int
    remaining: int
    seq: int = 0
    ts_ms: int = 0


class Cancelled(_Event, tag="cancelled", frozen=True):
    order_id: int
    market: str
    remaining: int
    reason: str


class Expired(_Event, tag="expired", frozen=True):
    order_id: int
    market: str
    remaining: int
    reason: str


class Replaced(_Event, tag="replaced", frozen=True):
    order_id: int
    market: str
    side: str
    price: int
    qty: int
    priority_kept: bool


class Balance(_Event, tag="balance", frozen=True):
    token: str
    balance: int
    locked: int


class Deposited(_Event, tag="deposited", frozen=True):
    token: str
    amount: int
    deposit_id: int


class WithdrawalEvent(_Event, tag="withdrawal", frozen=True):
    withdrawal_id: int
    token: str
    amount: int


class Rejected(_Event, tag="rejected", frozen=True):
    """A command (or one batch action) that changed nothing; ``code`` is its reject code."""

    action: str
    code: str
    order_id: int = 0
    client_order_id: str = ""


class UnknownEvent(msgspec.Struct, frozen=True):
    """An event type this SDK does not know yet (a newer server): kept, not dropped."""

    type: str
    fields: dict[str, Any]


UserEvent = (
    Accepted
    | Fill
    | Cancelled
    | Expired
    | Replaced
    | Balance
    | Deposited
    | WithdrawalEvent
    | Rejected
    | UnknownEvent
)

_KnownEvent = (
    Accepted
    | Fill
    | Cancelled
    | Expired
    | Replaced
    | Balance
    | Deposited
    | WithdrawalEvent
    | Rejected
)
_KNOWN_TAGS: Final = frozenset(
    {
        "accepted",
        "fill",
        "cancelled",
        "expired",
        "replaced",
        "balance",
        "deposited",
        "withdrawal",
        "rejected",
    }
)
_event_decoder: Final = msgspec.json.Decoder(_KnownEvent, strict=False)
_any_decoder: Final = msgspec.json.Decoder(dict[str, Any])


def decode_events(raws: list[msgspec.Raw]) -> list[UserEvent]:
    """Events one by one: a known type must decode; an unknown one becomes ``UnknownEvent``."""
    out: list[UserEvent] = []
    for raw in raws:
        try:
            out.append(_event_decoder.decode(raw))
        except msgspec.ValidationError:
            fields = _any_decoder.decode(raw)
            kind = fields.pop("type", None)
            if not isinstance(kind, str) or kind in _KNOWN_TAGS:
                raise
            out.append(UnknownEvent(kind, fields))
    return out


# --- answers ---


class ActionResult(msgspec.Struct, frozen=True):
    """What an action did: its sequence number, time and the account's events."""

    seq: int
    ts_ms: int
    events: list[UserEvent]

    def of_type(self, kind: type[_E]) -> list[_E]:
        """The events of one type: ``result.of_type(Fill)``."""
        return [e for e in self.events if isinstance(e, kind)]

    @property
    def order_id(self) -> int:
        """The id of the first order this action accepted (0 if none)."""
        for e in self.events:
            if isinstance(e, Accepted):
                return e.order_id
        return 0


class AgentApproval(msgspec.Struct, frozen=True):
    seq: int
    ts_ms: int
    agent: str
    name: str
    valid_until_ms: int


class LoginResult(msgspec.Struct, frozen=True):
    account: str
    signer: str
    session: bool
    """Whether this connection accepts unsigned actions (session mode)."""


class DomainInfo(msgspec.Struct, frozen=True):
    name: str
    version: str
    chain_id: int
    verifying_contract: str


class Info(msgspec.Struct, frozen=True):
    domain: DomainInfo
    time_ms: int
    session_mode: bool
    limits: dict[str, Any] = {}

    def signing_domain(self) -> Domain:
        """The EIP-712 domain actions are signed under."""
        d = self.domain
        return Domain(
            chain_id=d.chain_id,
            verifying_contract=d.verifying_contract,
            name=d.name,
            version=d.version,
        )


class Token(msgspec.Struct, frozen=True):
    token: str
    symbol: str
    decimals: int


class Market(msgspec.Struct, frozen=True):
    market: str
    base: str
    quote: str
    tick: int
    lot: int
    min_qty: int
    lit: bool


class MarketSpec(msgspec.Struct, frozen=True):
    """A market with its two tokens: exact conversion between human decimals and units."""

    market: Market
    base: Token
    quote: Token

    @property
    def name(self) -> str:
        return self.market.market

    def price_units(self, price: str | int | Decimal) -> int:
        """A price in quote tokens per whole base token, in quote units, on the tick
        (``OffGridError``/``UnitsError`` otherwise)."""
        return price_to_units(price, self.quote.decimals, self.market.tick)

    def qty_units(self, qty: str | int | Decimal) -> int:
        """A quantity in base tokens, in base units, on the lot."""
        return qty_to_units(qty, self.base.decimals, self.market.lot)

    def price_decimal(self, units: int) -> Decimal:
        return from_units(units, self.quote.decimals)

    def qty_decimal(self, units: int) -> Decimal:
        return from_units(units, self.base.decimals)

    def format_price(self, units: int) -> str:
        return format_units(units, self.quote.decimals)

    def format_qty(self, units: int) -> str:
        return format_units(units, self.base.decimals)


class Markets(msgspec.Struct, frozen=True):
    """The ``markets`` answer: listed tokens and markets."""

    tokens: list[Token]
    markets: list[Market]

    def token(self, address: str) -> Token | None:
        a = address.lower()
        return next((t for t in self.tokens if t.token.lower() == a), None)

    def token_by_symbol(self, symbol: str) -> Token | None:
        return next((t for t in self.tokens if t.symbol == symbol), None)

    def spec(self, market: str) -> MarketSpec | None:
        """The market and its tokens, or None if it (or a token) is not listed."""
        m = next((m for m in self.markets if m.market == market), None)
        if m is None:
            return None
        base, quote = self.token(m.base), self.token(m.quote)
        if base is None or quote is None:
            return None
        return MarketSpec(m, base, quote)


class Order(msgspec.Struct, frozen=True):
    """An order; ``qty`` is the open quantity, ``filled`` what has traded."""

    order_id: int
    market: str
    side: str
    price: int
    qty: int
    filled: int
    tif: str
    order_type: str
    client_order_id: str = ""
    expires_at_ms: int = 0
    status: str = "open"


class BalanceRow(msgspec.Struct, frozen=True):
    token: str
    balance: int
    locked: int
    available: int


class Trade(msgspec.Struct, frozen=True):
    """A public trade (no account, no order id)."""

    price: int
    qty: int
    quote_qty: int
    taker_side: str
    ts_ms: int = 0


# --- streams: the snapshot first (``resync`` when it replaces a broken sequence), then
# the updates, each with the channel's ``seq`` ---


class BookSnapshot(msgspec.Struct, frozen=True):
    """The book (best first): the ``book`` query's answer, or a ``book:<market>`` snapshot."""

    bids: list[Level]
    asks: list[Level]
    market: str = ""
    seq: int = 0
    channel: str = ""
    resync: bool = False


class TradesSnapshot(msgspec.Struct, frozen=True):
    trades: list[Trade]
    seq: int = 0
    channel: str = ""
    resync: bool = False


class UserSnapshot(msgspec.Struct, frozen=True):
    balances: list[BalanceRow]
    orders: list[Order]
    seq: int = 0
    channel: str = "user"
    resync: bool = False


class SettlementsSnapshot(msgspec.Struct, frozen=True):
    settlements: list[Any] = []
    seq: int = 0
    channel: str = "settlements"
    resync: bool = False


class BookUpdate(msgspec.Struct, frozen=True):
    """Levels that changed; qty 0: the level emptied or left the top 50."""

    channel: str
    seq: int
    ts_ms: int
    bids: list[Level] = []
    asks: list[Level] = []


class TradesUpdate(msgspec.Struct, frozen=True):
    channel: str
    seq: int
    ts_ms: int
    trades: list[Trade]


class UserUpdate(msgspec.Struct, frozen=True):
    """The account's events of one command."""

    channel: str
    seq: int
    ts_ms: int
    events: list[UserEvent]


class SettlementsUpdate(msgspec.Struct, frozen=True):
    channel: str
    seq: int
    ts_ms: int
    settlements: list[Any] = []


Snapshot = BookSnapshot | TradesSnapshot | UserSnapshot | SettlementsSnapshot
Update = BookUpdate | TradesUpdate | UserUpdate | SettlementsUpdate
StreamMessage = Snapshot | Update


# --- batch actions (requests) ---


class PlaceAction(msgspec.Struct, frozen=True):
    """A place inside ``Client.batch``; amounts in base units."""

    market: str
    side: str
    price: int
    qty: int
    tif: str = "GTC"
    order_type: str = "limit"
    client_order_id: str = ""
    stp: str = "expire_maker"
    expires_at_ms: int = 0


class CancelAction(msgspec.Struct, frozen=True):
    market: str
    order_id: int = 0
    client_order_id: str = ""


class ReplaceAction(msgspec.Struct, frozen=True):
    market: str
    side: str
    price: int
    qty: int
    order_id: int = 0
    client_order_id: str = ""


# --- wire envelopes the decoders use ---


class _ActionResultFast(msgspec.Struct, frozen=True):
    seq: int
    ts_ms: int
    events: list[_KnownEvent]


class _ActionResultRaw(msgspec.Struct, frozen=True):
    seq: int
    ts_ms: int
    events: list[msgspec.Raw]


class _UserUpdateFast(msgspec.Struct, frozen=True):
    channel: str
    seq: int
    ts_ms: int
    events: list[_KnownEvent]


class _UserUpdateRaw(msgspec.Struct, frozen=True):
    channel: str
    seq: int
    ts_ms: int
    events: list[msgspec.Raw]


class _FillsRaw(msgspec.Struct, frozen=True):
    fills: list[Fill]


class _OrdersRaw(msgspec.Struct, frozen=True):
    orders: list[Order]


class _OrderRaw(msgspec.Struct, frozen=True):
    order: Order


class _BalancesRaw(msgspec.Struct, frozen=True):
    balances: list[BalanceRow]


class _SubscribeRaw(msgspec.Struct, frozen=True):
    channel: str
    seq: int
    snapshot: msgspec.Raw = msgspec.Raw(b"{}")


_action_fast: Final = msgspec.json.Decoder(_ActionResultFast, strict=False)
_action_slow: Final = msgspec.json.Decoder(_ActionResultRaw, strict=False)
_user_fast: Final = msgspec.json.Decoder(_UserUpdateFast, strict=False)
_user_slow: Final = msgspec.json.Decoder(_UserUpdateRaw, strict=False)


def decode_action_result(data: bytes | msgspec.Raw) -> ActionResult:
    """An action's result; events of a type this SDK does not know become ``UnknownEvent``."""
    try:
        r = _action_fast.decode(data)
        return ActionResult(r.seq, r.ts_ms, list(r.events))
    except msgspec.ValidationError:
        s = _action_slow.decode(data)
        return ActionResult(s.seq, s.ts_ms, decode_events(s.events))


def decode_user_update(data: bytes | msgspec.Raw) -> UserUpdate:
    try:
        r = _user_fast.decode(data)
        return UserUpdate(r.channel, r.seq, r.ts_ms, list(r.events))
    except msgspec.ValidationError:
        s = _user_slow.decode(data)
        return UserUpdate(s.channel, s.seq, s.ts_ms, decode_events(s.events))

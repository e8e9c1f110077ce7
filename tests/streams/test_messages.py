"""Wire shapes of events: exact string amounts, one-sided fills, nobody else's identity."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings

from server.core import (
    UINT256_MAX,
    BalanceChanged,
    CancelReason,
    DepositCredited,
    ExpireReason,
    Fill,
    MarketListed,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderReplaced,
    OrderType,
    Place,
    RejectCode,
    Rejected,
    Side,
    TakerLimitSet,
    TimeInForce,
    TokenListed,
    WithdrawalAuthorised,
)
from server.core.book import Order
from server.core.enums import SelfTradePrevention
from server.sequencer.state import AgentApproved, LoggedIn, Refused
from server.streams.messages import (
    AMOUNT_FIELDS,
    order_dict,
    user_events,
    user_events_by_account,
    wire_event,
)
from tests.streams import ACCOUNTS, ALICE, BOB, CAROL, E6, E18, LIT, USDC, WETH, Exchange, batches

BIG = UINT256_MAX

SAMPLES: list[Any] = [
    Rejected("place", ALICE, RejectCode.INSUFFICIENT_BALANCE, 7, "x"),
    OrderAccepted(1, ALICE, LIT, Side.BUY, BIG, BIG - 1, TimeInForce.GTC, OrderType.LIMIT, "c", 5),
    Fill(LIT, BIG, BIG - 1, BIG - 2, Side.SELL, 1, ALICE, BIG - 3, 2, BOB, BIG - 4),
    OrderCancelled(3, ALICE, LIT, BIG, CancelReason.CANCEL_ALL),
    OrderExpired(4, ALICE, LIT, BIG, ExpireReason.GTT),
    OrderReplaced(5, ALICE, LIT, Side.SELL, BIG, BIG - 1, True),
    BalanceChanged(ALICE, USDC, -BIG, BIG),
    DepositCredited(ALICE, WETH, BIG, 9),
    WithdrawalAuthorised(3, ALICE, WETH, BIG),
    TokenListed(WETH, "WETH", 18),
    MarketListed(LIT, WETH, USDC, BIG, BIG - 1, BIG - 2, False),
    TakerLimitSet(ALICE, USDC, BIG),
]


def _reference(event: Any) -> dict[str, Any]:
    """msgspec's own view with every amount field as a decimal string."""
    d: dict[str, Any] = msgspec.to_builtins(event)
    return {k: str(v) if k in AMOUNT_FIELDS else v for k, v in d.items()}


def _only_plain(value: Any) -> None:
    """No enum members, no floats: plain JSON types all the way down."""
    if isinstance(value, dict):
        for v in value.values():
            _only_plain(v)
    elif isinstance(value, list):
        for v in value:
            _only_plain(v)
    else:
        assert type(value) in (str, int, bool), value


def test_wire_event_amounts_are_exact_strings() -> None:
    for e in SAMPLES:
        w = wire_event(e)
        assert w == _reference(e)
        _only_plain(w)
        for k, v in w.items():
            if k in AMOUNT_FIELDS:
                assert type(v) is str and int(v) == getattr(e, k)
    fill = wire_event(SAMPLES[2])
    assert (
        fill["price"]
        == "115792089237316195423570985008687907853269984665640564039457584007913129639935"
    )
    assert fill["maker_order_id"] == 1 and fill["taker_side"] == "sell"
    assert wire_event(SAMPLES[6])["balance"] == "-" + str(BIG)
    assert msgspec.json.decode(msgspec.json.encode(fill)) == fill


def test_wire_event_auth_events_and_non_events() -> None:
    assert wire_event(LoggedIn(ALICE, BOB)) == {
        "type": "logged_in",
        "account": ALICE,
        "signer": BOB,
    }
    try:
        wire_event({"type": "fill"})
    except TypeError:
        pass
    else:
        raise AssertionError("a dict is not an event")


def test_user_events_fill_from_each_side() -> None:
    x = Exchange()
    x.one(Place(ALICE, LIT, Side.SELL, 3000 * E6, 2 * E18))
    r = x.one(Place(BOB, LIT, Side.BUY, 3001 * E6, E18 // 2, TimeInForce.IOC))
    alice = user_events(ALICE, r.events)
    bob = user_events(BOB, r.events)
    assert user_events(CAROL, r.events) == []
    assert alice[0] == {
        "type": "fill",
        "order_id": 1,
        "market": LIT,
        "side": "sell",
        "liquidity": "maker",
        "price": str(3000 * E6),
        "qty": str(E18 // 2),
        "quote_qty": str(1500 * E6),
        "remaining": str(3 * E18 // 2),
    }
    assert [e["type"] for e in alice] == ["fill", "balance", "balance"]
    assert bob[0]["type"] == "accepted" and bob[0]["qty"] == str(E18 // 2)
    assert bob[1] == {
        "type": "fill",
        "order_id": 2,
        "market": LIT,
        "side": "buy",
        "liquidity": "taker",
        "price": str(3000 * E6),
        "qty": str(E18 // 2),
        "quote_qty": str(1500 * E6),
        "remaining": "0",
    }
    for evs in (alice, bob):
        text = json.dumps(evs)
        assert ALICE not in text and BOB not in text
        assert all("account" not in e for e in evs)
    balances = {(e["token"], e["balance"], e["locked"]) for e in alice if e["type"] == "balance"}
    assert balances == {
        (WETH, str(1000 * E18 - E18 // 2), str(3 * E18 // 2)),
        (USDC, str(10_000_000 * E6 + 1500 * E6), "0"),
    }


def test_user_events_self_trade_gives_both_views() -> None:
    f = Fill(LIT, 10, 20, 30, Side.BUY, 1, ALICE, 0, 2, ALICE, 5)
    views = user_events(ALICE, [f])
    assert [(v["liquidity"], v["side"], v["order_id"], v["remaining"]) for v in views] == [
        ("maker", "sell", 1, "0"),
        ("taker", "buy", 2, "5"),
    ]


def test_user_events_skip_unknown_and_foreign_events() -> None:
    events: list[object] = [
        LoggedIn(ALICE, ALICE),
        AgentApproved(ALICE, BOB, "bot", 5),
        Refused("Place", ALICE, "NONCE_REUSED", "no"),
        TokenListed(WETH, "WETH", 18),
        TakerLimitSet(ALICE, USDC, 5),
        object(),
        BalanceChanged(BOB, USDC, 1, 0),
        DepositCredited(ALICE, USDC, 7, 1),
        WithdrawalAuthorised(1, ALICE, USDC, 3),
        Rejected("cancel", ALICE, RejectCode.ORDER_NOT_FOUND, 9, ""),
    ]
    assert user_events(ALICE, events) == [
        {"type": "deposited", "token": USDC, "amount": "7", "deposit_id": 1},
        {"type": "withdrawal", "withdrawal_id": 1, "token": USDC, "amount": "3"},
        {
            "type": "rejected",
            "action": "cancel",
            "code": "ORDER_NOT_FOUND",
            "order_id": 9,
            "client_order_id": "",
        },
    ]
    assert user_events(BOB, events) == [
        {"type": "balance", "token": USDC, "balance": "1", "locked": "0"}
    ]


def test_user_event_shapes_match_protocol() -> None:
    expected = {
        "accepted": {
            "order_id",
            "market",
            "side",
            "price",
            "qty",
            "tif",
            "order_type",
            "client_order_id",
            "expires_at_ms",
        },
        "fill": {
            "order_id",
            "market",
            "side",
            "liquidity",
            "price",
            "qty",
            "quote_qty",
            "remaining",
        },
        "cancelled": {"order_id", "market", "remaining", "reason"},
        "expired": {"order_id", "market", "remaining", "reason"},
        "replaced": {"order_id", "market", "side", "price", "qty", "priority_kept"},
        "balance": {"token", "balance", "locked"},
        "deposited": {"token", "amount", "deposit_id"},
        "withdrawal": {"withdrawal_id", "token", "amount"},
        "rejected": {"action", "code", "order_id", "client_order_id"},
    }
    seen = set()
    for e in SAMPLES:
        for v in user_events(ALICE, [e]) + user_events(BOB, [e]):
            assert set(v) == expected[v["type"]] | {"type"}
            seen.add(v["type"])
            wire = _reference(e)
            for k, val in v.items():
                if k in wire and k != "side":
                    assert val == wire[k], (k, e)
    assert seen == set(expected)


def test_order_dict() -> None:
    o = Order(
        7,
        ALICE,
        LIT,
        Side.BUY,
        3000 * E6,
        E18,
        TimeInForce.POST_ONLY,
        OrderType.LIMIT,
        "q",
        SelfTradePrevention.EXPIRE_BOTH,
        123,
        filled=5,
    )
    assert order_dict(o, "open") == {
        "order_id": 7,
        "market": LIT,
        "side": "buy",
        "price": str(3000 * E6),
        "qty": str(E18),
        "filled": "5",
        "tif": "POST_ONLY",
        "order_type": "limit",
        "client_order_id": "q",
        "expires_at_ms": 123,
        "status": "open",
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches)
def test_user_events_never_reveal_others(flow: list[list[Any]]) -> None:
    x = Exchange()
    for batch in flow:
        for r in x.run(batch):
            grouped = user_events_by_account(r.events, lambda a: a in ACCOUNTS)
            for a in ACCOUNTS:
                mine = user_events(a, r.events)
                assert grouped.get(a, []) == mine
                text = msgspec.json.encode(mine).decode()
                assert all(other not in text for other in ACCOUNTS if other != a)
            for e in r.events:
                assert wire_event(e) == _reference(e)

"""``myrtle`` (typer) against the scripted server, run in a thread with its own event loop."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from client_sdk.cli import WatchState, app
from client_sdk.models import (
    BookSnapshot,
    BookUpdate,
    Fill,
    Market,
    MarketSpec,
    Token,
    Trade,
    TradesUpdate,
    UserUpdate,
)
from client_sdk.signing import Signer
from tests.client_sdk.fake_server import (
    LOT,
    MARKET,
    TICK,
    USDC,
    WETH,
    Conn,
    FakeServer,
    Received,
    Reply,
    ThreadedFakeServer,
)

KEY = "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
runner = CliRunner()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with ThreadedFakeServer() as s:
        yield s


def run(server: FakeServer, *args: str, key: bool = True) -> Any:
    env = {"MYRTLE_URL": server.url, "MYRTLE_KEY": KEY if key else None}
    return runner.invoke(app, list(args), env=env)


def test_balances_table_shows_human_decimals(server: FakeServer) -> None:
    r = run(server, "balances")
    assert r.exit_code == 0, r.output
    assert "WETH" in r.stdout and "USDC" in r.stdout
    assert "1.5" in r.stdout and "0.5" in r.stdout  # 1.5 WETH balance, 0.5 locked
    assert "3000.25" in r.stdout
    assert "1500000000000000000" not in r.stdout
    assert [q.method for q in server.requests] == ["info", "login", "balances", "markets"]


def test_place_converts_exactly(server: FakeServer) -> None:
    r = run(
        server,
        "place",
        MARKET,
        "buy",
        "3000.01",
        "0.25",
        "--tif",
        "IOC",
        "--client-order-id",
        "cli-1",
    )
    assert r.exit_code == 0, r.output
    (p,) = [q for q in server.requests if q.method == "place"]
    assert p.params["price"] == "3000010000"
    assert p.params["qty"] == "250000000000000000"
    assert p.params["tif"] == "IOC" and p.params["client_order_id"] == "cli-1"
    assert "accepted" in r.stdout and "price=3000.01" in r.stdout and "qty=0.25" in r.stdout


@pytest.mark.parametrize(
    ("price", "qty"), [("3000.001", "1"), ("3000", "0.00001"), ("-1", "1"), ("abc", "1")]
)
def test_off_grid_or_bad_input_exits_2_without_sending(
    server: FakeServer, price: str, qty: str
) -> None:
    r = run(server, "place", MARKET, "buy", price, qty)
    assert r.exit_code == 2, r.output
    assert r.stderr.strip()
    assert "place" not in [q.method for q in server.requests]


def test_bad_side_and_missing_key_exit_2(server: FakeServer) -> None:
    assert run(server, "place", MARKET, "hold", "1", "1").exit_code == 2
    r = run(server, "balances", key=False)
    assert r.exit_code == 2 and "key" in r.stderr


def test_exchange_errors_print_category_and_code_and_exit_1(server: FakeServer) -> None:
    async def refuse(conn: Conn, r: Received) -> Any:
        return Reply("INSUFFICIENT_BALANCE", "not enough")

    server.handlers["place"] = refuse
    r = run(server, "place", MARKET, "sell", "3000", "1")
    assert r.exit_code == 1
    assert r.stderr.strip() == "InsufficientFunds INSUFFICIENT_BALANCE: not enough"
    r = run(server, "place", "NOPE-USDC", "sell", "3000", "1")
    assert r.exit_code == 1 and r.stderr.startswith("BadSymbol UNKNOWN_MARKET")


def test_unreachable_server_exits_1() -> None:
    with ThreadedFakeServer() as s:
        url = s.url
    r = runner.invoke(app, ["--url", url, "--key", KEY, "balances"])
    assert r.exit_code == 1 and "NetworkError CONNECT_FAILED" in r.stderr


def test_orders_and_cancel(server: FakeServer) -> None:
    server.orders = [
        {
            "order_id": 7,
            "market": MARKET,
            "side": "sell",
            "price": "3100500000",
            "qty": str(2 * 10**17),
            "filled": str(10**17),
            "tif": "GTC",
            "order_type": "limit",
            "client_order_id": "mine",
            "expires_at_ms": 0,
            "status": "open",
        }
    ]
    r = run(server, "orders", "--market", MARKET)
    assert r.exit_code == 0, r.output
    assert "3100.5" in r.stdout and "0.2" in r.stdout and "mine" in r.stdout
    assert run(server, "cancel", MARKET, "7").exit_code == 0
    assert run(server, "cancel", MARKET, "--client-order-id", "mine").exit_code == 0
    cancels = [q.params for q in server.requests if q.method == "cancel"]
    assert [(c["order_id"], c["client_order_id"]) for c in cancels] == [(7, ""), (0, "mine")]
    assert run(server, "cancel", MARKET).exit_code == 2


def test_agent_key_with_account(server: FakeServer) -> None:
    owner = Signer(KEY).address
    r = runner.invoke(
        app,
        ["--url", server.url, "--key", "0x" + "42" * 32, "--account", owner, "balances"],
    )
    assert r.exit_code == 0, r.output
    login = next(q for q in server.requests if q.method == "login")
    assert login.params["account"] == owner and login.recovered == Signer("0x" + "42" * 32).address


def test_watch_runs_for_n_updates(server: FakeServer) -> None:
    server.snapshots["book:WETH-USDC"] = {
        "bids": [["2999990000", str(10**18)]],
        "asks": [["3000010000", str(2 * 10**18)]],
    }
    r = run(server, "watch", MARKET, "--updates", "3")  # three snapshots: book, trades, user
    assert r.exit_code == 0, r.output
    assert "2999.99" in r.stdout and "3000.01" in r.stdout
    assert {q.params["channel"] for q in server.requests if q.method == "subscribe"} == {
        "book",
        "trades",
        "user",
    }


def test_watch_state_applies_stream_messages() -> None:
    spec = MarketSpec(
        Market(MARKET, WETH, USDC, TICK, LOT, 10 * LOT, True),
        Token(WETH, "WETH", 18),
        Token(USDC, "USDC", 6),
    )
    w = WatchState(spec, depth=2)
    w.apply(BookSnapshot(bids=[(10, 1), (9, 1), (8, 1)], asks=[(11, 5)]))
    w.apply(BookUpdate("book:WETH-USDC", 1, 0, bids=[(10, 0), (7, 3)], asks=[(12, 1)]))
    assert w.bids == {9: 1, 8: 1, 7: 3} and w.asks == {11: 5, 12: 1}
    w.apply(TradesUpdate("trades:WETH-USDC", 1, 5, [Trade(3_000_000_000, 10**17, 0, "buy")]))
    fill = Fill(1, MARKET, "buy", "taker", 3_000_000_000, 10**17, 300_000_000, 0)
    w.apply(UserUpdate("user", 1, 6, [fill]))
    assert list(w.fills) == [(6, fill)] and len(w.trades) == 1
    w.apply(BookSnapshot(bids=[], asks=[], resync=True))
    assert w.bids == {} and w.resyncs == 1
    assert w.render() is not None

"""The asyncio client against a scripted server on a real socket (tests/client_sdk/fake_server)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from client_sdk import (
    Accepted,
    ActionResult,
    Backoff,
    BookSnapshot,
    BookUpdate,
    CancelAction,
    Client,
    Domain,
    ExchangeError,
    Fill,
    InsufficientFunds,
    InvalidOrder,
    NetworkError,
    OffGridError,
    OrderNotFound,
    PlaceAction,
    ReplaceAction,
    RequestTimeout,
    Signer,
    SigningError,
    TradesSnapshot,
    TradesUpdate,
    UnknownEvent,
    UserSnapshot,
    UserUpdate,
)
from client_sdk.errors import BadSymbol
from client_sdk.signing import typed_data
from tests.client_sdk.fake_server import (
    CHAIN_ID,
    HANG,
    LOT,
    MARKET,
    REGISTRY,
    TICK,
    USDC,
    WETH,
    Conn,
    FakeServer,
    Received,
    Reply,
)
from tests.servers import start

KEY = "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
AGENT_KEY = "0x" + "42" * 32
DOMAIN = Domain(chain_id=CHAIN_ID, verifying_contract=REGISTRY)
FAST = Backoff(initial=0.01, maximum=0.05)


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with FakeServer() as s:
        yield s


@pytest.fixture
async def client(server: FakeServer) -> AsyncIterator[Client]:
    c = await Client.connect(server.url, signer=Signer(KEY), backoff=FAST, request_timeout=5)
    yield c
    await c.close()


def eth_recover(type_name: str, message: dict[str, Any], signature: str) -> str:
    signable = encode_typed_data(full_message=typed_data(DOMAIN, type_name, message))
    return str(Account.recover_message(signable, signature=signature)).lower()


# --- connect, login, signing ---


async def test_connect_reads_info_binds_the_domain_and_logs_in(server: FakeServer) -> None:
    signer = Signer(KEY)
    async with await Client.connect(server.url, signer=signer) as c:
        assert server.methods() == ["info", "login"]
        assert signer.domain == DOMAIN
        assert c.logged_in and not c.session_active
        assert c.login_result is not None and c.login_result.account == signer.address
        assert c.info_result is not None and c.info_result.session_mode
    assert not c.connected


async def test_no_signer_no_login_and_public_queries_only(server: FakeServer) -> None:
    async with await Client.connect(server.url) as c:
        assert server.methods() == ["info"]
        markets = await c.markets()
        assert markets.markets[0].tick == 10_000
        with pytest.raises(ValueError, match="signer"):
            await c.place(MARKET, "buy", 1, 1)
        with pytest.raises(ExchangeError) as e:
            await c.balances()
        assert e.value.code == "NOT_LOGGED_IN"


async def test_a_signer_bound_to_another_domain_is_refused(server: FakeServer) -> None:
    other = Domain(chain_id=1, verifying_contract=REGISTRY)
    with pytest.raises(SigningError, match="signs under"):
        await Client.connect(server.url, signer=Signer(KEY, other))
    same = await Client.connect(server.url, signer=Signer(KEY, DOMAIN))
    await same.close()


async def test_signed_actions_recover_to_the_signer(client: Client, server: FakeServer) -> None:
    signer = client.signer
    assert signer is not None
    login = server.of("login")[0].params
    assert (
        eth_recover(
            "Login", {"account": signer.address, "nonce": login["nonce"]}, login["signature"]
        )
        == signer.address
    )

    r = await client.place(
        MARKET, "sell", 3_150_250_000, 15 * 10**17, client_order_id="c-1", tif="POST_ONLY"
    )
    assert isinstance(r.events[0], Accepted) and r.order_id == 1
    p = server.of("place")[0].params
    assert p["price"] == "3150250000" and p["qty"] == "1500000000000000000"
    message = signer.place_message(
        MARKET,
        "sell",
        3_150_250_000,
        15 * 10**17,
        nonce=p["nonce"],
        tif="POST_ONLY",
        client_order_id="c-1",
    )
    assert eth_recover("Place", message, p["signature"]) == signer.address
    assert "signer" not in p

    await client.cancel(MARKET, order_id=1)
    await client.cancel_all()
    await client.replace(MARKET, "sell", 3_150_260_000, 10**17, client_order_id="c-1")
    await client.batch(
        [
            PlaceAction(MARKET, "buy", 3_000_000_000, 10**17),
            CancelAction(MARKET, order_id=1),
            ReplaceAction(MARKET, "sell", 3_100_000_000, 10**17, order_id=2),
        ]
    )
    await client.withdraw(USDC, 5_000_000)
    approval = await client.approve_agent("0x" + "ab" * 20, "bot", 1_900_000_000_000)
    assert approval.name == "bot" and approval.valid_until_ms == 1_900_000_000_000
    # the fake server recovered every one of them with the server's own EIP-712 code
    signed = [r for r in server.requests if r.method not in ("info",)]
    assert len(signed) == 8
    assert all(r.recovered == signer.address for r in signed)
    nonces = [r.params["nonce"] for r in signed]
    assert nonces == sorted(set(nonces))


async def test_an_agent_signs_for_its_account(server: FakeServer) -> None:
    owner = Signer(KEY).address
    agent = Signer(AGENT_KEY, account=owner)
    async with await Client.connect(server.url, signer=agent) as c:
        await c.place(MARKET, "buy", 3_000_000_000, 10**17)
        with pytest.raises(SigningError, match="own key"):
            await c.withdraw(USDC, 1)
    for r in server.of("login") + server.of("place"):
        assert r.params["account"] == owner
        assert r.params["signer"] == agent.address == r.recovered


async def test_session_mode_sends_no_signature(server: FakeServer) -> None:
    async with await Client.connect(server.url, signer=Signer(KEY), session=True) as c:
        assert c.session_active
        await c.place(MARKET, "buy", 3_000_000_000, 10**17)
        await c.cancel(MARKET, client_order_id="x")
        await c.batch([PlaceAction(MARKET, "buy", 3_000_000_000, 10**17)])
        await c.withdraw(USDC, 1_000_000)  # always signed
    for method in ("place", "cancel", "batch"):
        (r,) = server.of(method)
        assert "signature" not in r.params and "nonce" not in r.params
        assert r.params["account"] == Signer(KEY).address
    (w,) = server.of("withdraw")
    assert w.recovered == Signer(KEY).address


async def test_session_refused_by_the_server_falls_back_to_signing() -> None:
    async with FakeServer(session_mode=False) as server:
        c = await Client.connect(server.url, signer=Signer(KEY), session=True)
        assert c.logged_in and not c.session_active
        await c.place(MARKET, "buy", 3_000_000_000, 10**17)
        assert server.of("place")[0].recovered == Signer(KEY).address
        await c.close()


async def test_amounts_must_be_exact_ints(client: Client) -> None:
    with pytest.raises(ValueError, match="price"):
        await client.place(MARKET, "buy", 3000.5, 10**17)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="qty"):
        await client.place(MARKET, "buy", 1, -1)


# --- answers and errors ---


async def test_concurrent_requests_are_correlated_by_id() -> None:
    async with FakeServer(concurrent=True) as server:

        async def slow_book(conn: Conn, r: Received) -> Any:
            depth = r.params["depth"]
            await asyncio.sleep((30 - depth) * 0.002)  # later requests answer first
            return {
                "market": r.params["market"],
                "seq": depth,
                "bids": [[str(depth), "1"]],
                "asks": [],
            }

        server.handlers["book"] = slow_book
        async with await Client.connect(server.url) as c:
            books = await asyncio.gather(*(c.book(MARKET, depth=d) for d in range(1, 30)))
            assert [b.seq for b in books] == list(range(1, 30))
            assert all(b.bids == [(b.seq, 1)] for b in books)
            ids = [r.id for r in server.of("book")]
            assert len(set(ids)) == 29 and all(isinstance(i, int) for i in ids)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("INSUFFICIENT_BALANCE", InsufficientFunds),
        ("ORDER_NOT_FOUND", OrderNotFound),
        ("PRICE_OFF_TICK", InvalidOrder),
    ],
)
async def test_an_error_answer_raises_its_category(
    client: Client, server: FakeServer, code: str, cls: type[ExchangeError]
) -> None:
    async def refuse(conn: Conn, r: Received) -> Any:
        return Reply(code, "no", seq=77)

    server.handlers["place"] = refuse
    with pytest.raises(cls) as e:
        await client.place(MARKET, "buy", 3_000_000_000, 10**17)
    assert (e.value.code, e.value.message, e.value.seq) == (code, "no", 77)
    assert e.value.category == cls.CATEGORY


async def test_an_uncorrelated_error_goes_to_the_oldest_request(
    client: Client, server: FakeServer
) -> None:
    async def hang(conn: Conn, r: Received) -> Any:
        return HANG

    server.handlers["balances"] = hang
    task = asyncio.create_task(client.balances())
    await server.wait_until(lambda: bool(server.of("balances")))
    await server.send_raw(
        '{"id":null,"error":{"code":"BAD_JSON","category":"ProtocolError","message":"x"}}'
    )
    with pytest.raises(ExchangeError) as e:
        await task
    assert e.value.code == "BAD_JSON"


async def test_unknown_event_types_are_kept_and_inexact_amounts_refused(
    client: Client, server: FakeServer
) -> None:
    async def odd(conn: Conn, r: Received) -> Any:
        return {
            "seq": 5,
            "ts_ms": 1,
            "events": [
                {"type": "balance", "token": USDC, "balance": str(2**200), "locked": "0"},
                {"type": "loyalty_points", "points": 3},
            ],
        }

    server.handlers["cancel_all"] = odd
    r = await client.cancel_all()
    assert r.events[0].balance == 2**200  # type: ignore[union-attr]
    assert r.events[1] == UnknownEvent("loyalty_points", {"points": 3})

    async def float_amount(conn: Conn, r: Received) -> Any:
        return {"balances": [{"token": USDC, "balance": "1.5", "locked": "0", "available": "1"}]}

    server.handlers["balances"] = float_amount
    with pytest.raises(ExchangeError) as e:
        await client.balances()
    assert e.value.code == "BAD_ANSWER"


async def test_queries_decode_amounts_exactly(client: Client, server: FakeServer) -> None:
    server.orders = [
        {
            "order_id": 9,
            "market": MARKET,
            "side": "buy",
            "price": "3000000000",
            "qty": str(10**18 + 1),
            "filled": "0",
            "tif": "GTC",
            "order_type": "limit",
            "client_order_id": "k",
            "expires_at_ms": 0,
            "status": "open",
        }
    ]
    server.fills = [
        {
            "type": "fill",
            "order_id": 9,
            "market": MARKET,
            "side": "buy",
            "liquidity": "maker",
            "price": "3000000000",
            "qty": "1",
            "quote_qty": "0",
            "remaining": str(10**18),
            "seq": 12,
            "ts_ms": 34,
        }
    ]
    rows = await client.balances()
    assert rows[0].available == 10**18 and rows[1].balance == 3_000_250_000
    (o,) = await client.open_orders()
    assert o.qty == 10**18 + 1
    assert (await client.order(MARKET, client_order_id="k")).order_id == 9
    with pytest.raises(OrderNotFound):
        await client.order(MARKET, order_id=5)
    (f,) = await client.fills()
    assert (f.seq, f.ts_ms, f.remaining) == (12, 34, 10**18)


async def test_decimal_helpers_are_exact_and_refuse_off_grid(
    client: Client, server: FakeServer
) -> None:
    spec = await client.market_spec(MARKET)
    assert spec.base.token == WETH and spec.quote.symbol == "USDC"
    assert spec.price_units("3000.01") == 3_000_010_000
    assert spec.format_qty(15 * 10**17) == "1.5"
    r = await client.place_decimal(MARKET, "buy", Decimal("3000.01"), "0.0002")
    assert isinstance(r, ActionResult)
    p = server.of("place")[-1].params
    assert (p["price"], p["qty"]) == ("3000010000", "200000000000000")
    before = len(server.requests)
    with pytest.raises(OffGridError):
        await client.place_decimal(MARKET, "buy", "3000.001", "1")
    with pytest.raises(OffGridError):
        await client.place_decimal(MARKET, "buy", "3000", "0.00001")
    assert len(server.requests) == before  # refused before sending
    with pytest.raises(BadSymbol):
        await client.market_spec("NOPE-USDC")


async def test_request_timeout(server: FakeServer) -> None:
    async def hang(conn: Conn, r: Received) -> Any:
        return HANG

    server.handlers["markets"] = hang
    server.concurrent = True
    async with await Client.connect(server.url, request_timeout=0.2) as c:
        with pytest.raises(RequestTimeout):
            await c.markets()
        assert (await c.info()).domain.chain_id == CHAIN_ID  # the connection is fine


async def test_prepare_and_send_prepared(client: Client, server: FakeServer) -> None:
    frames = [
        client.prepare(
            "place",
            {
                "market": MARKET,
                "side": "buy",
                "price": 3_000_000_000,
                "qty": 10**17,
                "client_order_id": f"p-{i}",
            },
        )
        for i in range(5)
    ]
    assert [f.id for f in frames] == sorted({f.id for f in frames})
    assert all(isinstance(f.frame, bytes) for f in frames)
    answers = await asyncio.gather(*(client.send_prepared(f.frame, f.id) for f in frames))
    for f, a in zip(frames, answers, strict=True):
        assert a.id == f.id and a.error is None and a.received_ns > 0
        assert a.decode(ActionResult).seq > 0
    assert all(r.recovered == Signer(KEY).address for r in server.of("place"))
    q = client.prepare("balances")
    a = await client.send_prepared(q.frame, q.id)
    assert a.error is None


async def test_prepared_in_session_mode_is_unsigned_unless_asked(server: FakeServer) -> None:
    async with await Client.connect(server.url, signer=Signer(KEY), session=True) as c:
        params = {"market": MARKET, "side": "buy", "price": 3_000_000_000, "qty": 10**17}
        unsigned, signed = c.prepare("place", params), c.prepare("place", params, sign=True)
        assert b"signature" not in unsigned.frame and b"signature" in signed.frame
        for p in (unsigned, signed):
            (await c.send_prepared(p.frame, p.id)).raise_for_error()


# --- streams ---


async def test_subscription_snapshot_then_updates(client: Client, server: FakeServer) -> None:
    server.snapshots["book:WETH-USDC"] = {"bids": [["3000000000", "100"]], "asks": []}
    server.seqs["book:WETH-USDC"] = 17
    sub = await client.subscribe("book", MARKET)
    snap = await sub.get(timeout=5)
    assert snap == BookSnapshot(
        bids=[(3_000_000_000, 100)],
        asks=[],
        market=MARKET,
        seq=17,
        channel="book:WETH-USDC",
        resync=False,
    )
    await server.push("book:WETH-USDC", {"bids": [["3000000000", "0"]], "asks": []})
    await server.push("book:WETH-USDC", {"bids": [], "asks": [["3000010000", str(10**18)]]})
    u1, u2 = await sub.get(timeout=5), await sub.get(timeout=5)
    assert isinstance(u1, BookUpdate) and u1.seq == 18 and u1.bids == [(3_000_000_000, 0)]
    assert isinstance(u2, BookUpdate) and u2.seq == 19 and u2.asks == [(3_000_010_000, 10**18)]

    trades = await client.subscribe("trades", MARKET)
    assert isinstance(await trades.get(timeout=5), TradesSnapshot)
    await server.push(
        "trades:WETH-USDC",
        {"trades": [{"price": "3000000000", "qty": "5", "quote_qty": "0", "taker_side": "sell"}]},
    )
    t = await trades.get(timeout=5)
    assert isinstance(t, TradesUpdate) and t.trades[0].qty == 5

    user = await client.subscribe("user")
    us = await user.get(timeout=5)
    assert isinstance(us, UserSnapshot) and us.balances[0].token == WETH
    await server.push(
        "user",
        {
            "events": [
                {
                    "type": "cancelled",
                    "order_id": 3,
                    "market": MARKET,
                    "remaining": "7",
                    "reason": "user",
                }
            ]
        },
    )
    uu = await user.get(timeout=5)
    assert isinstance(uu, UserUpdate) and uu.events[0].remaining == 7  # type: ignore[union-attr]

    await sub.unsubscribe()
    with pytest.raises(StopAsyncIteration):
        await sub.get(timeout=5)
    assert server.of("unsubscribe")[0].params == {"channel": "book", "market": MARKET}
    assert client.stats.gaps == 0


async def test_a_gap_resubscribes_and_yields_a_resync_snapshot(
    client: Client, server: FakeServer
) -> None:
    sub = await client.subscribe("book", MARKET)
    assert (await sub.get(timeout=5)).seq == 0
    await server.push("book:WETH-USDC", {"bids": [["1", "1"]], "asks": []})  # seq 1
    server.snapshots["book:WETH-USDC"] = {"bids": [["2", "2"]], "asks": []}
    await server.push("book:WETH-USDC", {"bids": [["2", "2"]], "asks": []}, seq=3)  # 2 missed
    u = await sub.get(timeout=5)
    assert isinstance(u, BookUpdate) and u.seq == 1
    resync = await sub.get(timeout=5)
    assert isinstance(resync, BookSnapshot)
    assert resync.resync and resync.seq == 3 and resync.bids == [(2, 2)]
    assert sub.gaps == 1 and client.stats.gaps == 1 and client.stats.resyncs == 1
    assert len(server.of("subscribe")) == 2
    await server.push("book:WETH-USDC", {"bids": [], "asks": []})  # seq 4
    assert (await sub.get(timeout=5)).seq == 4


async def test_a_slow_consumer_overflows_into_a_resync(server: FakeServer) -> None:
    async with await Client.connect(server.url, max_queue=3) as c:
        sub = await c.subscribe("trades", MARKET)
        for _ in range(6):  # the snapshot + 6 updates do not fit in 3
            await server.push("trades:WETH-USDC", {"trades": []})
        await server.wait_until(lambda: c.stats.resyncs == 1)
        items = [await sub.get(timeout=5) for _ in range(4)]
        assert [type(i) for i in items[:3]] == [TradesSnapshot, TradesUpdate, TradesUpdate]
        assert [i.seq for i in items[:3]] == [0, 1, 2]  # what was queued stays valid
        resync = items[3]
        assert isinstance(resync, TradesSnapshot) and resync.resync and resync.seq >= 3
        while resync.seq < 6:  # then the stream goes on from the fresh snapshot
            resync = await sub.get(timeout=5)
        assert sub.gaps == 1


# --- reconnect ---


async def test_reconnect_logs_in_again_and_resubscribes(server: FakeServer) -> None:
    signer = Signer(KEY)
    c = await Client.connect(server.url, signer=signer, session=True, backoff=FAST)
    user = await c.subscribe("user")
    book = await c.subscribe("book", MARKET)
    first_user, first_book = await user.get(timeout=5), await book.get(timeout=5)
    assert isinstance(first_user, UserSnapshot) and not first_user.resync
    assert isinstance(first_book, BookSnapshot) and not first_book.resync
    await server.push("book:WETH-USDC", {"bids": [], "asks": []})
    assert (await book.get(timeout=5)).seq == 1

    server.drop()
    await server.wait_connections(2)
    u, b = await user.get(timeout=5), await book.get(timeout=5)
    assert isinstance(u, UserSnapshot) and u.resync
    assert isinstance(b, BookSnapshot) and b.resync and b.seq == 1
    assert book.gaps == 0  # the seq shows nothing was missed
    await server.wait_until(lambda: c.connected)
    assert c.stats.reconnects == 1 and c.session_active

    logins = server.of("login")
    assert [r.conn.index for r in logins] == [0, 1]
    assert logins[1].params["nonce"] > logins[0].params["nonce"]
    assert logins[1].recovered == signer.address
    assert [r.conn.index for r in server.of("subscribe")] == [0, 0, 1, 1]
    assert (await c.balances())[0].token == WETH  # private queries work: logged in again
    await server.push("book:WETH-USDC", {"bids": [], "asks": []})
    assert (await book.get(timeout=5)).seq == 2
    await c.close()


async def test_messages_missed_while_disconnected_count_as_a_gap(server: FakeServer) -> None:
    c = await Client.connect(server.url, backoff=Backoff(initial=0.2, maximum=0.2, jitter=0))
    book = await c.subscribe("book", MARKET)
    await book.get(timeout=5)
    server.drop()
    await server.push("book:WETH-USDC", {"bids": [], "asks": []})  # nobody hears it
    s = await book.get(timeout=5)
    assert isinstance(s, BookSnapshot)
    assert s.resync and s.seq == 1 and book.gaps == 1 and c.stats.gaps == 1
    await c.close()


async def test_a_request_in_flight_when_the_connection_drops_raises_network_error(
    server: FakeServer,
) -> None:
    async def hang_then_drop(conn: Conn, r: Received) -> Any:
        server.drop()
        return HANG

    server.handlers["place"] = hang_then_drop
    c = await Client.connect(server.url, signer=Signer(KEY), backoff=FAST)
    with pytest.raises(NetworkError) as e:
        await c.place(MARKET, "buy", 3_000_000_000, 10**17, client_order_id="maybe")
    assert not isinstance(e.value, RequestTimeout)
    assert "client_order_id" in e.value.message
    # the client comes back by itself; a request made meanwhile waits for it
    assert (await c.markets()).tokens[0].symbol == "WETH"
    assert c.stats.reconnects == 1
    await c.close()


@pytest.mark.parametrize("code", [4001, 1001])
async def test_slow_consumer_and_server_stopping_reconnect(server: FakeServer, code: int) -> None:
    c = await Client.connect(server.url, backoff=FAST)
    await server.close(code)
    await server.wait_connections(2)
    assert (await c.info()).session_mode
    assert c.close_code == code
    await c.close()


async def test_abuse_close_does_not_reconnect(server: FakeServer) -> None:
    c = await Client.connect(server.url, signer=Signer(KEY), backoff=FAST)
    sub = await c.subscribe("user")
    await sub.get(timeout=5)
    await server.close(4002, "abuse")
    with pytest.raises(NetworkError) as e:
        await sub.get(timeout=5)
    assert e.value.close_code == 4002
    with pytest.raises(NetworkError):
        await c.balances()
    await asyncio.sleep(0.1)  # several backoff periods: still one connection
    assert len(server.conns) == 1 and not c.connected
    await c.close()


async def test_no_reconnect_when_disabled(server: FakeServer) -> None:
    c = await Client.connect(server.url, reconnect=False)
    server.drop()
    await server.wait_until(lambda: not c.connected)
    with pytest.raises(NetworkError):
        await c.info()
    await c.close()


async def test_giving_up_after_max_attempts() -> None:
    server = await FakeServer().start()
    c = await Client.connect(server.url, backoff=Backoff(initial=0.01, max_attempts=2))
    sub = await c.subscribe("book", MARKET)
    await sub.get(timeout=5)
    await server.stop()  # nobody listens any more
    with pytest.raises(NetworkError) as e:
        await sub.get(timeout=5)
    assert e.value.code == "RECONNECT_FAILED"
    await c.close()


async def test_connect_failure_is_a_network_error() -> None:
    server = await FakeServer().start()
    url = server.url
    await server.stop()
    with pytest.raises(NetworkError) as e:
        await Client.connect(url)
    assert e.value.code == "CONNECT_FAILED"


async def test_close_ends_subscriptions_and_refuses_requests(
    client: Client, server: FakeServer
) -> None:
    sub = await client.subscribe("trades", MARKET)
    await sub.get(timeout=5)
    await client.close()
    with pytest.raises(StopAsyncIteration):
        await sub.get(timeout=5)
    with pytest.raises(NetworkError):
        await client.info()
    await client.close()  # idempotent
    await asyncio.sleep(0.05)
    assert len(server.conns) == 1


async def test_a_malformed_frame_from_the_server_is_skipped(
    client: Client, server: FakeServer
) -> None:
    await server.send_raw("not json")
    await server.send_raw(msgspec.json.encode({"id": 999_999, "result": {}}).decode())
    assert (await client.info()).time_ms > 0
    assert client.stats.uncorrelated == 1


async def test_signer_from_a_local_account_and_without_a_domain() -> None:
    s = Signer(Account.from_key(KEY))
    assert s.address == Signer(KEY).address and not s.has_domain
    with pytest.raises(SigningError, match="no domain"):
        s.sign_login(nonce=1)
    s.bind_domain(DOMAIN)
    s.bind_domain(
        Domain(chain_id=CHAIN_ID, verifying_contract=REGISTRY.upper().replace("0X", "0x"))
    )
    assert s.sign_login(nonce=1) == Signer(KEY, DOMAIN).sign_login(nonce=1)
    with pytest.raises(SigningError, match="signs under"):
        s.bind_domain(Domain(chain_id=1, verifying_contract=REGISTRY))


async def test_call_any_method(client: Client, server: FakeServer) -> None:
    async def deposit(conn: Conn, r: Received) -> Any:
        return {
            "seq": 1,
            "ts_ms": 2,
            "events": [{"type": "deposited", "amount": r.params["amount"]}],
        }

    server.handlers["dev_deposit"] = deposit
    account = Signer(KEY).address
    result = await client.call("dev_deposit", {"account": account, "token": USDC, "amount": "5"})
    assert result["events"][0]["amount"] == "5"
    with pytest.raises(ExchangeError) as e:
        await client.call("dev_deposit", {"account": account, "token": USDC, "amount": 5})
    assert e.value.code == "BAD_REQUEST"  # the strict decoder wants a decimal string


# --- the real gateway (a subprocess) ---


async def test_end_to_end_against_the_real_server(tmp_path: Path) -> None:
    srv = await asyncio.to_thread(start, tmp_path, "dev_operator = true\n")
    try:
        op = await Client.connect(srv.ws_url)
        await op.call("dev_list_token", {"token": WETH, "symbol": "WETH", "decimals": 18})
        await op.call("dev_list_token", {"token": USDC, "symbol": "USDC", "decimals": 6})
        await op.call(
            "dev_list_market",
            {
                "market": MARKET,
                "base": WETH,
                "quote": USDC,
                "tick": str(TICK),
                "lot": str(LOT),
                "min_qty": str(10 * LOT),
                "lit": True,
            },
        )
        maker, taker = Signer(KEY), Signer(AGENT_KEY)
        for s in (maker, taker):
            for token, amount in ((WETH, 10**19), (USDC, 10**11)):
                await op.call(
                    "dev_deposit", {"account": s.address, "token": token, "amount": str(amount)}
                )
        m = await Client.connect(srv.ws_url, signer=maker, session=True)
        t = await Client.connect(srv.ws_url, signer=taker)  # signs every action
        assert m.session_active and not t.session_active
        book = await op.subscribe("book", MARKET)
        user = await m.subscribe("user")
        assert isinstance(await book.get(timeout=5), BookSnapshot)
        assert isinstance(await user.get(timeout=5), UserSnapshot)

        placed = await m.place_decimal(MARKET, "sell", "3000", "1", client_order_id="s-1")
        assert placed.order_id == 1
        taken = await t.place_decimal(MARKET, "buy", "3000.5", "0.4", tif="IOC")
        (fill,) = taken.of_type(Fill)
        assert (fill.price, fill.qty, fill.quote_qty) == (3_000_000_000, 4 * 10**17, 1_200_000_000)
        with pytest.raises(InvalidOrder) as e:
            await m.place(MARKET, "sell", 3_000_000_001, 10**17)
        assert e.value.code == "PRICE_OFF_TICK"

        accepted, filled = await user.get(timeout=5), await user.get(timeout=5)
        assert isinstance(accepted, UserUpdate) and accepted.seq == 1
        assert isinstance(filled, UserUpdate)
        (maker_fill,) = [e for e in filled.events if isinstance(e, Fill)]
        assert maker_fill.liquidity == "maker" and maker_fill.remaining == 6 * 10**17
        updates = [await book.get(timeout=5) for _ in range(2)]
        assert [u.seq for u in updates] == [1, 2]
        order = await m.order(MARKET, client_order_id="s-1")
        assert (order.qty, order.filled, order.status) == (6 * 10**17, 4 * 10**17, "open")
        assert (await m.fills())[0].seq == taken.seq
        for c in (op, m, t):
            await c.close()
    finally:
        await asyncio.to_thread(srv.stop)


async def test_on_push_sees_every_in_order_push_with_its_receive_time(
    client: Client, server: FakeServer
) -> None:
    sub = await client.subscribe("book", MARKET)
    await sub.get(timeout=5)
    seen: list[tuple[int, bytes]] = []
    sub.on_push = lambda received_ns, data: seen.append((received_ns, data))
    before = time.perf_counter_ns()
    await server.push("book:WETH-USDC", {"bids": [["1", "1"]], "asks": []})
    await server.push("book:WETH-USDC", {"bids": [["1", "0"]], "asks": []}, seq=1)  # a repeat
    update = await sub.get(timeout=5)
    assert isinstance(update, BookUpdate) and update.seq == 1
    assert len(seen) == 1 and before <= seen[0][0] <= time.perf_counter_ns()
    assert msgspec.json.decode(seen[0][1])["seq"] == 1

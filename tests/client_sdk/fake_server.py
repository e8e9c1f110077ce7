"""A small scripted exchange on a real socket, for testing the SDK client (docs/PROTOCOL.md).

It decodes every request with the gateway's own strict decoder (``server.gateway.wire``), so
a frame the real server would refuse is refused here too, and it recovers the signer of
every signed action with the server's EIP-712 code. Answers are canned (``handlers``; a test
replaces any of them); stream pushes go out with chosen ``seq``s; and a test can drop the
connections or close them with a code.

    async with FakeServer() as server:
        client = await Client.connect(server.url, signer=...)
        await server.push("book:WETH-USDC", {"bids": [["1", "2"]], "asks": []})

``ThreadedFakeServer`` runs one in a background thread, for code that runs its own event
loop (the CLI under CliRunner).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from server.auth import Domain as ServerDomain
from server.auth import recover
from server.gateway.actions import signing_digest, to_command
from server.gateway.errors import category_of
from server.gateway.wire import (
    ApproveAgentParams,
    LoginParams,
    WireError,
    decode_request,
)

CHAIN_ID = 31337
REGISTRY = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
USDC = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
MARKET = "WETH-USDC"
TICK = 10_000  # 0.01 USDC
LOT = 10**14  # 0.0001 WETH

HANG = object()
"""A handler's reply that means: never answer this request."""


@dataclass
class Reply:
    """An error answer (``category`` from the server's table unless given)."""

    code: str
    message: str = "refused"
    category: str | None = None
    seq: int | None = None


@dataclass(eq=False)
class Conn:
    ws: ServerConnection
    index: int
    account: str | None = None
    signer: str | None = None
    session: bool = False
    channels: set[str] = field(default_factory=set)


@dataclass
class Received:
    """One request as the server got it."""

    conn: Conn
    id: int | str | None
    method: str
    params: dict[str, Any]
    typed: msgspec.Struct | None
    recovered: str | None = None
    """The address the signature recovers to (None when unsigned)."""


Handler = Callable[[Conn, Received], Awaitable[Any]]


class FakeServer:
    def __init__(self, *, session_mode: bool = True, concurrent: bool = False) -> None:
        self.session_mode = session_mode
        self.concurrent = concurrent
        """Answer each request in its own task (answers may then come out of order)."""
        self.domain = ServerDomain(chain_id=CHAIN_ID, verifying_contract=REGISTRY)
        self.requests: list[Received] = []
        self.conns: list[Conn] = []
        self.seqs: dict[str, int] = {}
        self.snapshots: dict[str, dict[str, Any]] = {}
        self.tokens = [
            {"token": WETH, "symbol": "WETH", "decimals": 18},
            {"token": USDC, "symbol": "USDC", "decimals": 6},
        ]
        self.markets = [
            {
                "market": MARKET,
                "base": WETH,
                "quote": USDC,
                "tick": str(TICK),
                "lot": str(LOT),
                "min_qty": str(10 * LOT),
                "lit": True,
            }
        ]
        self.balances = [
            {
                "token": WETH,
                "balance": str(15 * 10**17),
                "locked": str(5 * 10**17),
                "available": str(10**18),
            },
            {
                "token": USDC,
                "balance": "3000250000",
                "locked": "0",
                "available": "3000250000",
            },
        ]
        self.orders: list[dict[str, Any]] = []
        self.fills: list[dict[str, Any]] = []
        self.action_seq = 100
        self.next_order_id = 1
        self.handlers: dict[str, Handler] = {
            "info": self._info,
            "markets": self._markets,
            "login": self._login,
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "balances": self._private(lambda c, r: {"balances": self.balances}),
            "open_orders": self._private(lambda c, r: {"orders": self.orders}),
            "fills": self._private(lambda c, r: {"fills": self.fills}),
            "order": self._private(self._order),
            "book": self._book,
            "place": self._action,
            "cancel": self._action,
            "cancel_all": self._action,
            "replace": self._action,
            "batch": self._action,
            "withdraw": self._action,
            "approve_agent": self._approve_agent,
        }
        self._server: Server | None = None
        self._connected = asyncio.Condition()
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- lifecycle ---

    async def start(self) -> FakeServer:
        self._server = await serve(self._handle, "127.0.0.1", 0, compression=None)
        return self

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self._server is not None:
            self._server.close()
            for c in self.conns:
                c.ws.transport.abort()
            await self._server.wait_closed()

    async def __aenter__(self) -> FakeServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = next(iter(self._server.sockets)).getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    # --- what a test does ---

    def methods(self) -> list[str]:
        return [r.method for r in self.requests]

    def of(self, method: str) -> list[Received]:
        return [r for r in self.requests if r.method == method]

    async def wait_connections(self, n: int, timeout: float = 5.0) -> None:
        """Until ``n`` connections have been opened in total."""
        async with asyncio.timeout(timeout), self._connected:
            await self._connected.wait_for(lambda: len(self.conns) >= n)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.005)

    async def push(self, channel: str, body: dict[str, Any], seq: int | None = None) -> int:
        """Send ``body`` on ``channel`` to its subscribers with ``seq`` (default: the next)."""
        seq = self.seqs.get(channel, 0) + 1 if seq is None else seq
        self.seqs[channel] = seq
        frame = msgspec.json.encode(
            {"channel": channel, "seq": seq, "ts_ms": time.time_ns() // 1_000_000, **body}
        ).decode()
        for c in self.conns:
            if channel in c.channels:
                with contextlib.suppress(ConnectionClosed):
                    await c.ws.send(frame)
        return seq

    async def send_raw(self, frame: str, conn: int = -1) -> None:
        await self.conns[conn].ws.send(frame)

    def drop(self) -> None:
        """Cut every open connection (no close frame)."""
        for c in self.conns:
            c.ws.transport.abort()

    async def close(self, code: int, reason: str = "") -> None:
        """Close every open connection with ``code``."""
        for c in self.conns:
            with contextlib.suppress(ConnectionClosed):
                await c.ws.close(code, reason)

    # --- the connection ---

    async def _handle(self, ws: ServerConnection) -> None:
        conn = Conn(ws, len(self.conns))
        async with self._connected:
            self.conns.append(conn)
            self._connected.notify_all()
        try:
            async for message in ws:
                if not isinstance(message, str):
                    await ws.close(1003, "text frames only")
                    return
                if self.concurrent:
                    task = asyncio.create_task(self._answer(conn, message))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                else:
                    await self._answer(conn, message)
        except ConnectionClosed:
            pass

    async def _answer(self, conn: Conn, message: str) -> None:
        reply: Any
        rid: int | str | None = None
        try:
            req, typed = decode_request(message)
        except WireError as e:
            reply, rid = Reply(e.code, e.message), e.request_id
        else:
            rid = req.id
            params = msgspec.json.decode(req.params)
            received = Received(conn, req.id, req.method, params, typed)
            self.requests.append(received)
            reply = self._authenticate(conn, received)
            if reply is None:
                handler = self.handlers.get(req.method)
                if handler is None:
                    reply = Reply("UNKNOWN_METHOD", f"no method {req.method!r}")
                else:
                    reply = await handler(conn, received)
        if reply is HANG:
            return
        if isinstance(reply, Reply):
            category = reply.category or category_of(reply.code).value
            body: dict[str, Any] = {
                "code": reply.code,
                "category": category,
                "message": reply.message,
            }
            if reply.seq is not None:
                body["seq"] = reply.seq
            frame = {"id": rid, "error": body}
        else:
            frame = {"id": rid, "result": reply}
        with contextlib.suppress(ConnectionClosed):
            await conn.ws.send(msgspec.json.encode(frame).decode())

    def _authenticate(self, conn: Conn, r: Received) -> Reply | None:
        """Signed actions: the signature must recover to the signer (or the account)."""
        typed: Any = r.typed
        if typed is None or not hasattr(typed, "signature"):
            return None
        account: str = typed.account.lower()
        signature: str | None = typed.signature
        if signature is None:
            if conn.account != account or not conn.session:
                return Reply("SIGNATURE_REQUIRED", "unsigned actions need a login and session")
            return None
        try:
            plain = isinstance(typed, LoginParams | ApproveAgentParams)
            command = None if plain else to_command(typed)
            digest = signing_digest(self.domain, typed, command)
            r.recovered = recover(digest, signature)
        except WireError as e:
            return Reply(e.code, e.message)
        except Exception as e:
            return Reply("BAD_SIGNATURE", str(e))
        claimed = (typed.signer or account).lower()
        if r.recovered != claimed:
            return Reply("BAD_SIGNATURE", f"recovers {r.recovered}, not {claimed}")
        return None

    # --- default answers ---

    def _private(self, f: Callable[[Conn, Received], Any]) -> Handler:
        async def handler(conn: Conn, r: Received) -> Any:
            if conn.account is None:
                return Reply("NOT_LOGGED_IN", "log in first")
            result = f(conn, r)
            return await result if inspect.isawaitable(result) else result

        return handler

    async def _info(self, conn: Conn, r: Received) -> Any:
        return {
            "domain": {
                "name": self.domain.name,
                "version": self.domain.version,
                "chain_id": self.domain.chain_id,
                "verifying_contract": self.domain.verifying_contract,
            },
            "time_ms": time.time_ns() // 1_000_000,
            "session_mode": self.session_mode,
            "limits": {"max_frame_bytes": 1 << 20},
        }

    async def _markets(self, conn: Conn, r: Received) -> Any:
        return {"tokens": self.tokens, "markets": self.markets}

    async def _login(self, conn: Conn, r: Received) -> Any:
        account = r.params["account"].lower()
        if conn.account is not None and conn.account != account:
            return Reply("ALREADY_LOGGED_IN", "logged in as another account")
        conn.account, conn.signer = account, r.recovered
        conn.session = self.session_mode
        return {"account": account, "signer": r.recovered, "session": self.session_mode}

    def _channel(self, r: Received) -> str:
        kind, market = r.params["channel"], r.params.get("market", "")
        return f"{kind}:{market}" if kind in ("book", "trades") else kind

    async def _subscribe(self, conn: Conn, r: Received) -> Any:
        key = self._channel(r)
        kind = r.params["channel"]
        if kind in ("user", "settlements") and conn.account is None:
            return Reply("NOT_LOGGED_IN", "log in first")
        defaults: dict[str, dict[str, Any]] = {
            "book": {"bids": [], "asks": []},
            "trades": {"trades": []},
            "user": {"balances": self.balances, "orders": self.orders},
            "settlements": {"settlements": []},
        }
        default = defaults[kind]
        conn.channels.add(key)
        seq = self.seqs.setdefault(key, 0)
        return {"channel": key, "seq": seq, "snapshot": self.snapshots.get(key, default)}

    async def _unsubscribe(self, conn: Conn, r: Received) -> Any:
        key = self._channel(r)
        if key not in conn.channels:
            return Reply("UNKNOWN_CHANNEL", "not subscribed")
        conn.channels.discard(key)
        return {"channel": key}

    async def _order(self, conn: Conn, r: Received) -> Any:
        for o in self.orders:
            if (r.params.get("order_id") and o["order_id"] == r.params["order_id"]) or (
                r.params.get("client_order_id")
                and o["client_order_id"] == r.params["client_order_id"]
            ):
                return {"order": o}
        return Reply("ORDER_NOT_FOUND", "no such order")

    async def _book(self, conn: Conn, r: Received) -> Any:
        key = f"book:{r.params['market']}"
        snap = self.snapshots.get(key, {"bids": [], "asks": []})
        return {"market": r.params["market"], "seq": self.seqs.get(key, 0), **snap}

    async def _action(self, conn: Conn, r: Received) -> Any:
        self.action_seq += 1
        events: list[dict[str, Any]] = []
        if r.method == "place":
            p = r.params
            events.append(
                {
                    "type": "accepted",
                    "order_id": self.next_order_id,
                    **{
                        k: p.get(k, d)
                        for k, d in (
                            ("market", ""),
                            ("side", "buy"),
                            ("price", "0"),
                            ("qty", "0"),
                            ("tif", "GTC"),
                            ("order_type", "limit"),
                            ("client_order_id", ""),
                            ("expires_at_ms", 0),
                        )
                    },
                }
            )
            self.next_order_id += 1
        return {"seq": self.action_seq, "ts_ms": time.time_ns() // 1_000_000, "events": events}

    async def _approve_agent(self, conn: Conn, r: Received) -> Any:
        self.action_seq += 1
        p = r.params
        return {
            "seq": self.action_seq,
            "ts_ms": time.time_ns() // 1_000_000,
            "agent": p["agent"].lower(),
            "name": p["name"],
            "valid_until_ms": p["valid_until_ms"],
        }


class ThreadedFakeServer:
    """A FakeServer on its own event loop in a thread (``with ThreadedFakeServer() as s``).

    Change ``s.server``'s canned data before the code under test connects; ``call`` runs a
    coroutine on the server's loop."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.server: FakeServer

    def call(self, coro: Awaitable[Any]) -> Any:
        async def run() -> Any:
            return await coro

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=10)

    def __enter__(self) -> FakeServer:
        self._thread.start()

        async def start() -> FakeServer:
            return await FakeServer(**self._kwargs).start()

        self.server = self.call(start())
        return self.server

    def __exit__(self, *exc: object) -> None:
        try:
            self.call(self.server.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

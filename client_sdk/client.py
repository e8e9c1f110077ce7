"""The asyncio WebSocket client (docs/PROTOCOL.md).

::

    signer = Signer(private_key)  # the domain comes from the server's ``info``
    async with await Client.connect("wss://host/ws", signer=signer, session=True) as c:
        spec = await c.market_spec("WETH-USDC")
        r = await c.place("WETH-USDC", "buy", spec.price_units("3000"), spec.qty_units("0.5"))
        async for msg in await c.subscribe("book", "WETH-USDC"):
            ...

One connection; every request gets an increasing integer ``id`` and any number may be in
flight at once. A single reader task decodes each frame once, hands answers to the waiting
requests (one dict lookup) and pushes stream messages to their ``Subscription``.

Signing: on connect the client asks ``info`` for the EIP-712 domain and binds the signer to
it. Every action is signed with ``signer.next_nonce()``, except in session mode (``session=
True`` and the server allows it): after the login, trading actions go unsigned and the
connection authenticates them. ``withdraw`` and ``approve_agent`` are always signed.

Failures: an error answer raises the class of its category (``client_sdk.errors``). A
request in flight when the connection drops raises ``NetworkError``: it may or may not have
executed (``order(market, client_order_id=...)`` finds out). Unless we closed it, or the
server closed it with a code in ``no_reconnect_codes`` (4002, abuse), a dropped connection
is reopened with capped, jittered exponential backoff; the client logs in again if it was
logged in, and resubscribes every live subscription (each yields a fresh snapshot with
``resync=True``). Requests made meanwhile wait for the new connection (within their
timeout).

For benchmarks, ``prepare`` signs and encodes a request ahead of time and ``send_prepared``
sends it; the answer carries ``received_ns`` (``time.perf_counter_ns()`` when the reader
got it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import Any, Final, NamedTuple, TypeVar

import msgspec
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from client_sdk.errors import BadSymbol, ExchangeError, NetworkError, RequestTimeout, error_from
from client_sdk.models import (
    ActionResult,
    AgentApproval,
    BalanceRow,
    BookSnapshot,
    BookUpdate,
    CancelAction,
    Fill,
    Info,
    LoginResult,
    Markets,
    MarketSpec,
    Order,
    PlaceAction,
    ReplaceAction,
    SettlementsSnapshot,
    SettlementsUpdate,
    Snapshot,
    StreamMessage,
    TradesSnapshot,
    TradesUpdate,
    UserSnapshot,
    UserUpdate,
    _BalancesRaw,
    _FillsRaw,
    _OrderRaw,
    _OrdersRaw,
    _SubscribeRaw,
    decode_action_result,
    decode_user_update,
)
from client_sdk.signing import Signer

__all__ = [
    "Answer",
    "Backoff",
    "Client",
    "ClientStats",
    "ErrorBody",
    "Prepared",
    "Subscription",
]

log = logging.getLogger("myrtle.client")

_T = TypeVar("_T")
BatchAction = PlaceAction | CancelAction | ReplaceAction

UINT256_MAX: Final = 2**256 - 1
ACTIONS: Final = frozenset(
    {"login", "place", "cancel", "cancel_all", "replace", "batch", "approve_agent", "withdraw"}
)
ALWAYS_SIGNED: Final = frozenset({"login", "approve_agent", "withdraw"})
CHANNELS: Final = frozenset({"user", "trades", "book", "settlements"})


# --- wire envelopes ---


class ErrorBody(msgspec.Struct, frozen=True):
    code: str
    category: str = "ExchangeError"
    message: str = ""
    seq: int | None = None


class Answer(msgspec.Struct):
    """One decoded frame: an answer (``id`` with ``result`` or ``error``) or a push
    (``channel``, ``seq``). ``result`` stays raw JSON until someone asks for a type."""

    id: int | str | None = None
    result: msgspec.Raw = msgspec.Raw()
    error: ErrorBody | None = None
    channel: str | None = None
    seq: int = 0
    received_ns: int = 0
    """``time.perf_counter_ns()`` when the reader received the frame (set by the client)."""

    def raise_for_error(self) -> None:
        if self.error is not None:
            e = self.error
            raise error_from(e.code, e.category, e.message, seq=e.seq)

    def decode(self, type_: type[_T]) -> _T:
        """The result as ``type_`` (amounts exact), raising the error if it is one."""
        self.raise_for_error()
        special = _SPECIAL.get(type_)
        if special is not None:
            decoded: _T = _decoded(special, self.result)
            return decoded
        return _decoded(lambda r: msgspec.json.decode(r, type=type_, strict=False), self.result)


class Prepared(NamedTuple):
    """A request ready to send: its id and its encoded frame."""

    id: int
    frame: bytes


_frame_decoder: Final = msgspec.json.Decoder(Answer)
_SPECIAL: Final[dict[Any, Callable[[msgspec.Raw], Any]]] = {
    ActionResult: decode_action_result,
    UserUpdate: decode_user_update,
}
_encoder: Final = msgspec.json.Encoder()


def _decoder(t: type[_T]) -> msgspec.json.Decoder[_T]:
    return msgspec.json.Decoder(t, strict=False)


_info: Final = _decoder(Info)
_markets: Final = _decoder(Markets)
_book: Final = _decoder(BookSnapshot)
_balances: Final = _decoder(_BalancesRaw)
_orders: Final = _decoder(_OrdersRaw)
_order: Final = _decoder(_OrderRaw)
_fills: Final = _decoder(_FillsRaw)
_login: Final = _decoder(LoginResult)
_approval: Final = _decoder(AgentApproval)
_subscribed: Final = _decoder(_SubscribeRaw)
_anything: Final = msgspec.json.Decoder(dict[str, Any])

_SNAPSHOTS: Final[dict[str, msgspec.json.Decoder[Any]]] = {
    "book": _decoder(BookSnapshot),
    "trades": _decoder(TradesSnapshot),
    "user": _decoder(UserSnapshot),
    "settlements": _decoder(SettlementsSnapshot),
}
_book_update: Final = _decoder(BookUpdate)
_trades_update: Final = _decoder(TradesUpdate)
_settlements_update: Final = _decoder(SettlementsUpdate)
_UPDATES: Final[dict[str, Callable[[bytes], Any]]] = {
    "book": _book_update.decode,
    "trades": _trades_update.decode,
    "user": decode_user_update,
    "settlements": _settlements_update.decode,
}


def _amount(value: object, name: str) -> str:
    """An int amount as its wire form; floats (and anything inexact) are refused."""
    if type(value) is not int or not 0 <= value <= UINT256_MAX:
        raise ValueError(f"{name} must be an int of base units in uint256, got {value!r:.60}")
    return str(value)


def _uint(value: object, name: str) -> int:
    if type(value) is not int or not 0 <= value < 2**63:
        raise ValueError(f"{name} must be a non-negative int, got {value!r:.60}")
    return value


# --- configuration and stats ---


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect delays: ``initial * factor**attempt`` seconds, at most ``maximum``, minus a
    random part of up to ``jitter`` of it; ``max_attempts`` None retries forever."""

    initial: float = 0.1
    maximum: float = 10.0
    factor: float = 2.0
    jitter: float = 0.5
    max_attempts: int | None = None

    def delay(self, attempt: int) -> float:
        d = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        return d * (1.0 - self.jitter * random.random())


@dataclass(slots=True)
class ClientStats:
    requests: int = 0
    answers: int = 0
    pushes: int = 0
    gaps: int = 0
    """Sequence breaks seen on subscriptions (in a live stream, or across a reconnect)."""
    resyncs: int = 0
    """Fresh snapshots fetched to repair a subscription."""
    reconnects: int = 0
    uncorrelated: int = 0
    """Frames that matched nothing (late answers to timed-out requests, unknown channels)."""


# --- subscriptions ---

_CLOSED: Final = object()


class Subscription:
    """A stream: iterate it for the snapshot, then the updates (typed, ``seq`` checked).

    A snapshot with ``resync=True`` replaces everything before it: it comes after a gap (the
    ``seq`` jumped, the local queue overflowed, or the connection was reopened). ``gaps``
    counts them. Iteration ends after ``unsubscribe()`` or ``client.close()``; it raises
    ``NetworkError`` if the client gives up reconnecting.
    """

    def __init__(self, client: Client, kind: str, market: str, max_queue: int) -> None:
        self.kind = kind
        self.market = market
        self.channel = f"{kind}:{market}" if market else kind
        self.last_seq = 0
        self.gaps = 0
        self.resyncs = 0
        self._client = client
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._max_queue = max_queue
        self._update = _UPDATES[kind]
        self._snapshot = _SNAPSHOTS[kind]
        self._syncing = True  # until a snapshot arrives: pushes are dropped
        self._reconnected = False
        self._active = True
        self._error: BaseException | None = None
        self._has_snapshot = False
        self.on_push: Callable[[int, bytes], None] | None = None
        """Called with (``time.perf_counter_ns()`` at receipt, the raw frame) for every push
        taken in order, before it is queued: for latency measurements."""

    @property
    def active(self) -> bool:
        return self._active

    def _params(self) -> dict[str, Any]:
        return (
            {"channel": self.kind, "market": self.market} if self.market else {"channel": self.kind}
        )

    # reader side (synchronous: runs between two frames)

    def _on_push(self, seq: int, data: bytes) -> None:
        if self._syncing:
            return
        if seq != self.last_seq + 1:
            if seq <= self.last_seq:
                return  # already in the snapshot
            self._gap()
            return
        if self._queue.qsize() >= self._max_queue:
            log.warning("%s: the consumer fell behind; resyncing", self.channel)
            self._gap()
            return
        self.last_seq = seq
        hook = self.on_push
        if hook is not None:
            hook(time.perf_counter_ns(), data)
        self._queue.put_nowait(data)

    def _gap(self) -> None:
        """Messages were missed: subscribe again. What is queued stays valid (user events
        matter one by one); the fresh snapshot follows it."""
        self.gaps += 1
        self._client.stats.gaps += 1
        self._syncing = True
        self._client._spawn(self._resubscribe(self._client._epoch))

    def _on_subscribed(self, answer: Answer) -> None:
        if answer.error is not None or not self._active:
            return
        try:
            self._take_snapshot(answer)
        except (msgspec.DecodeError, ExchangeError) as e:
            self._client._subs.pop(self.channel, None)
            self._finish(ExchangeError("BAD_ANSWER", f"{self.channel} snapshot: {e}"))

    def _take_snapshot(self, answer: Answer) -> None:
        r = _subscribed.decode(answer.result)
        resync = self._has_snapshot
        if resync:
            self.resyncs += 1
            self._client.stats.resyncs += 1
            if self._reconnected and r.seq != self.last_seq:
                self.gaps += 1
                self._client.stats.gaps += 1
        snap = self._snapshot.decode(r.snapshot)
        fields: dict[str, Any] = {"seq": r.seq, "channel": self.channel, "resync": resync}
        if isinstance(snap, BookSnapshot):
            fields["market"] = self.market
        self._queue.put_nowait(msgspec.structs.replace(snap, **fields))
        self.last_seq = r.seq
        self._syncing = False
        self._reconnected = False
        self._has_snapshot = True

    def _on_disconnect(self) -> None:
        self._syncing = True
        self._reconnected = True

    def _finish(self, error: BaseException | None) -> None:
        if not self._active:
            return
        self._active = False
        self._error = error
        self._queue.put_nowait(_CLOSED)

    async def _resubscribe(self, epoch: int) -> None:
        try:
            await self._client._wait_ready()
            if self._client._epoch != epoch or not self._active:
                return  # reconnected meanwhile: the reconnect resubscribed
            answer = await self._client._subscribe_request(self)
        except NetworkError:
            return  # the reconnect resubscribes
        if answer.error is not None:
            e = answer.error
            self._client._subs.pop(self.channel, None)
            self._finish(error_from(e.code, e.category, e.message))

    # consumer side

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> StreamMessage:
        item = await self._queue.get()
        if item is _CLOSED:
            self._queue.put_nowait(_CLOSED)  # every later call ends too
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        if isinstance(item, bytes):
            msg: StreamMessage = _decoded(self._update, msgspec.Raw(item))
            return msg
        snap: Snapshot = item
        return snap

    async def get(self, timeout: float | None = None) -> StreamMessage:
        """The next message (``TimeoutError`` after ``timeout`` seconds)."""
        async with asyncio.timeout(timeout):
            return await self.__anext__()

    async def unsubscribe(self) -> None:
        """Stop the stream (the server is told if the connection is up)."""
        if not self._active:
            return
        self._client._subs.pop(self.channel, None)
        self._finish(None)
        try:
            await self._client._call("unsubscribe", self._params())
        except ExchangeError as e:  # gone with the connection, or unknown after a reconnect
            log.debug("unsubscribe %s: %s", self.channel, e)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.unsubscribe()


# --- the client ---


class Client:
    """An exchange connection; make one with ``await Client.connect(url, ...)``."""

    def __init__(
        self,
        url: str,
        *,
        signer: Signer | None = None,
        session: bool = False,
        reconnect: bool = True,
        ssl: Any = None,
        request_timeout: float = 10.0,
        auto_login: bool = True,
        backoff: Backoff | None = None,
        no_reconnect_codes: frozenset[int] = frozenset({4002}),
        open_timeout: float = 10.0,
        max_queue: int = 10_000,
        ws_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.url = url
        self.signer = signer
        self.session = session
        self.reconnect = reconnect
        self.request_timeout = request_timeout
        self.auto_login = auto_login
        self.backoff = backoff or Backoff()
        self.no_reconnect_codes = no_reconnect_codes
        self.stats = ClientStats()
        self.info_result: Info | None = None
        self.login_result: LoginResult | None = None
        self.clock_offset_ms = 0
        """The server's clock minus ours at connect (nonces are our clock's milliseconds)."""
        self.close_code: int | None = None
        """The close code of the last connection the server closed."""
        self._options: dict[str, Any] = {
            "open_timeout": open_timeout,
            "max_size": 1 << 26,
            "compression": None,
            **(ws_options or {}),
        }
        if ssl is not None:
            self._options["ssl"] = ssl
        self._max_queue = max_queue
        self._ws: ClientConnection | None = None
        self._ids = 0
        self._pending: dict[int | str, asyncio.Future[Answer]] = {}
        self._hooks: dict[int | str, Callable[[Answer], None]] = {}
        self._subs: dict[str, Subscription] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reader: asyncio.Task[int | None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closing = False
        self._failed: ExchangeError | None = None
        self._logged_in = False
        self._session_active = False
        self._markets: Markets | None = None
        self._epoch = 0  # connections opened

    # --- lifecycle ---

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        signer: Signer | None = None,
        session: bool = False,
        reconnect: bool = True,
        ssl: Any = None,
        request_timeout: float = 10.0,
        auto_login: bool = True,
        backoff: Backoff | None = None,
        no_reconnect_codes: frozenset[int] = frozenset({4002}),
        open_timeout: float = 10.0,
        max_queue: int = 10_000,
        ws_options: Mapping[str, Any] | None = None,
    ) -> Client:
        """Open the connection, read ``info`` (binding the signer to its domain) and, with a
        signer and ``auto_login``, log in. Raises ``NetworkError`` if the server cannot be
        reached, ``SigningError`` if the signer is bound to another domain."""
        self = cls(
            url,
            signer=signer,
            session=session,
            reconnect=reconnect,
            ssl=ssl,
            request_timeout=request_timeout,
            auto_login=auto_login,
            backoff=backoff,
            no_reconnect_codes=no_reconnect_codes,
            open_timeout=open_timeout,
            max_queue=max_queue,
            ws_options=ws_options,
        )
        self._ws = await self._open()
        self._reader = asyncio.create_task(self._read(self._ws))
        try:
            await self._handshake(login=signer is not None and auto_login)
        except BaseException:
            await self.close()
            raise
        self._ready.set()
        self._supervisor = asyncio.create_task(self._supervise())
        return self

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._ready.is_set() and self._failed is None and not self._closing

    @property
    def logged_in(self) -> bool:
        return self._logged_in

    @property
    def session_active(self) -> bool:
        """Whether actions currently go unsigned (session mode granted by the login)."""
        return self._session_active

    async def close(self) -> None:
        """Close the connection; requests in flight raise ``NetworkError``, subscriptions
        end. Idempotent."""
        if self._closing:
            return
        self._closing = True
        self._failed = NetworkError("the client is closed", code="CLOSED")
        self._ready.set()  # wake waiters: they see _failed
        if self._supervisor is not None:
            self._supervisor.cancel()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(BaseException):
                await self._reader
        for t in list(self._tasks):
            t.cancel()
        if self._supervisor is not None:
            with contextlib.suppress(BaseException):
                await self._supervisor
        self._fail_pending(self._failed)
        for sub in list(self._subs.values()):
            sub._finish(None)
        self._subs.clear()

    async def _open(self) -> ClientConnection:
        try:
            return await ws_connect(self.url, **self._options)
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as e:
            raise NetworkError(f"cannot connect to {self.url}: {e}", code="CONNECT_FAILED") from e

    async def _handshake(self, *, login: bool) -> None:
        """On a fresh connection: info (domain), login, then resubscribe what was live."""
        self._epoch += 1
        info = await self._query("info", {}, _info.decode, wait_ready=False)
        self.info_result = info
        self.clock_offset_ms = info.time_ms - time.time_ns() // 1_000_000
        if abs(self.clock_offset_ms) > 3_600_000:
            log.warning(
                "the server's clock is %d ms from ours: nonces may be refused", self.clock_offset_ms
            )
        if self.signer is not None:
            self.signer.bind_domain(info.signing_domain())
        if login:
            await self._do_login(wait_ready=False)
        subs = list(self._subs.values())
        answers = await asyncio.gather(*(self._subscribe_request(s, False) for s in subs))
        for sub, answer in zip(subs, answers, strict=True):
            if answer.error is not None:
                e = answer.error
                self._subs.pop(sub.channel, None)
                sub._finish(error_from(e.code, e.category, e.message))

    async def _supervise(self) -> None:
        while True:
            assert self._reader is not None
            code = await self._reader
            if self._closing:
                return
            if not self.reconnect or code in self.no_reconnect_codes:
                reason = f"the server closed the connection ({code})"
                self._fail(NetworkError(reason, code="CONNECTION_CLOSED", close_code=code))
                return
            if not await self._reconnect():
                return

    async def _reconnect(self) -> bool:
        attempt = 0
        while not self._closing:
            if self.backoff.max_attempts is not None and attempt >= self.backoff.max_attempts:
                self._fail(
                    NetworkError(
                        f"gave up reconnecting after {attempt} attempts", code="RECONNECT_FAILED"
                    )
                )
                return False
            await asyncio.sleep(self.backoff.delay(attempt))
            attempt += 1
            try:
                ws = await self._open()
            except NetworkError as e:
                log.info("reconnect attempt %d failed: %s", attempt, e)
                continue
            self._ws = ws
            self._reader = asyncio.create_task(self._read(ws))
            try:
                await self._handshake(login=self._logged_in)
            except NetworkError as e:
                log.info("reconnect attempt %d lost the connection: %s", attempt, e)
                with contextlib.suppress(Exception):
                    await ws.close()
                with contextlib.suppress(BaseException):
                    await self._reader
                continue
            except ExchangeError as e:  # the login was refused: retrying will not help
                self._fail(e)
                return False
            except Exception as e:  # e.g. SigningError: the deployment changed its domain
                self._fail(NetworkError(f"cannot resume the session: {e}", code="RESUME_FAILED"))
                return False
            self.stats.reconnects += 1
            log.info("reconnected to %s", self.url)
            self._ready.set()
            return True
        return False

    def _fail(self, error: ExchangeError) -> None:
        """Give up for good: every waiter and subscription gets ``error``."""
        self._failed = error
        self._ready.set()
        self._fail_pending(error)
        for sub in list(self._subs.values()):
            sub._finish(error)
        self._subs.clear()
        if self._ws is not None:
            self._spawn(self._ws.close())

    def _fail_pending(self, error: ExchangeError) -> None:
        futures = list(self._pending.values())
        self._pending.clear()  # in place: the reader holds this dict
        self._hooks.clear()
        for fut in futures:
            if not fut.done():
                fut.set_exception(error)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- the reader ---

    async def _read(self, ws: ClientConnection) -> int | None:
        """Dispatch frames until the connection ends; returns the server's close code."""
        pending = self._pending
        frames = _frame_decoder.decode
        clock = time.perf_counter_ns
        stats = self.stats
        code: int | None = None
        try:
            while True:
                data = await ws.recv(decode=False)
                now = clock()
                try:
                    f = frames(data)
                except msgspec.DecodeError as e:
                    log.warning("undecodable frame from the server: %s", e)
                    continue
                rid = f.id
                if rid is None and f.error is not None and pending:
                    # an error the server could not correlate: answers come in request
                    # order, so it is the oldest request still waiting
                    rid = next(iter(pending))
                if rid is not None:
                    stats.answers += 1
                    if self._hooks:
                        hook = self._hooks.pop(rid, None)
                        if hook is not None:
                            _guarded(hook, f)
                    fut = pending.pop(rid, None)
                    if fut is None:
                        stats.uncorrelated += 1
                    elif not fut.done():
                        f.received_ns = now
                        fut.set_result(f)
                elif f.channel is not None:
                    stats.pushes += 1
                    sub = self._subs.get(f.channel)
                    if sub is None:
                        stats.uncorrelated += 1
                    else:
                        sub._on_push(f.seq, data)  # never raises
        except ConnectionClosed as e:
            code = e.rcvd.code if e.rcvd is not None else None
            self.close_code = code
        finally:
            if not self._closing:
                self._ready.clear()
                self._session_active = False
            for sub in self._subs.values():
                sub._on_disconnect()
            self._fail_pending(
                NetworkError(
                    "the connection was lost; a request in flight may or may not have been "
                    "executed (look it up, e.g. order(market, client_order_id=...))",
                    close_code=code,
                )
            )
        return code

    # --- requests ---

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    async def _wait_ready(self) -> None:
        if not self._ready.is_set():
            await self._ready.wait()
        if self._failed is not None:
            raise self._failed

    async def _send(
        self,
        rid: int,
        frame: bytes,
        *,
        hook: Callable[[Answer], None] | None = None,
        wait_ready: bool = True,
    ) -> Answer:
        if wait_ready:
            await self._wait_ready()
        elif self._failed is not None:
            raise self._failed
        ws = self._ws
        assert ws is not None
        fut: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        if hook is not None:
            self._hooks[rid] = hook
        self.stats.requests += 1
        try:
            await ws.send(frame, text=True)
        except ConnectionClosed as e:
            self._pending.pop(rid, None)
            self._hooks.pop(rid, None)
            raise NetworkError("the connection was lost before the request was sent") from e
        return await fut

    async def _request(
        self,
        method: str,
        params: dict[str, Any],
        *,
        hook: Callable[[Answer], None] | None = None,
        wait_ready: bool = True,
        timeout: float | None = None,
    ) -> Answer:
        rid = self._next_id()
        frame = _encoder.encode({"id": rid, "method": method, "params": params})
        try:
            async with asyncio.timeout(self.request_timeout if timeout is None else timeout):
                return await self._send(rid, frame, hook=hook, wait_ready=wait_ready)
        except TimeoutError:
            self._pending.pop(rid, None)
            self._hooks.pop(rid, None)
            raise RequestTimeout(f"no answer to {method} (id {rid}) in time") from None

    async def _query(
        self,
        method: str,
        params: dict[str, Any],
        decode: Callable[[msgspec.Raw], _T],
        *,
        wait_ready: bool = True,
    ) -> _T:
        answer = await self._request(method, params, wait_ready=wait_ready)
        answer.raise_for_error()
        return _decoded(decode, answer.result)

    async def _call(self, method: str, params: dict[str, Any]) -> Answer:
        answer = await self._request(method, params)
        answer.raise_for_error()
        return answer

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Any method by name, params as the wire spells them (e.g. the ``dev_*`` operator
        methods); the result as plain JSON, or the error raised."""
        answer = await self._call(method, dict(params or {}))
        return _decoded(_anything.decode, answer.result)

    # --- signing ---

    def _need_signer(self) -> Signer:
        if self.signer is None:
            raise ValueError("this action needs a signer: Client.connect(url, signer=...)")
        return self.signer

    def _authorize(
        self,
        method: str,
        params: dict[str, Any],
        sign: Callable[[Signer, int], str],
        *,
        force_sign: bool = False,
    ) -> dict[str, Any]:
        """Add account (and, unless in session mode, nonce, signature and signer)."""
        signer = self._need_signer()
        params["account"] = signer.account
        if self._session_active and not force_sign and method not in ALWAYS_SIGNED:
            return params
        nonce = signer.next_nonce()
        params["nonce"] = nonce
        params["signature"] = sign(signer, nonce)
        if signer.is_agent:
            params["signer"] = signer.address
        return params

    def _action_params(
        self, method: str, p: Mapping[str, Any], *, force_sign: bool = False
    ) -> dict[str, Any]:
        """The wire params of an action, from params with int amounts; signed as needed."""
        if method == "place":
            place = PlaceAction(**p)
            return self._authorize(
                method,
                _place_wire(place),
                lambda s, n: s.sign_place(
                    place.market,
                    place.side,
                    place.price,
                    place.qty,
                    nonce=n,
                    tif=place.tif,
                    order_type=place.order_type,
                    client_order_id=place.client_order_id,
                    stp=place.stp,
                    expires_at_ms=place.expires_at_ms,
                ),
                force_sign=force_sign,
            )
        if method == "cancel":
            cancel = CancelAction(**p)
            return self._authorize(
                method,
                _cancel_wire(cancel),
                lambda s, n: s.sign_cancel(
                    cancel.market,
                    nonce=n,
                    order_id=cancel.order_id,
                    client_order_id=cancel.client_order_id,
                ),
                force_sign=force_sign,
            )
        if method == "replace":
            rep = ReplaceAction(**p)
            return self._authorize(
                method,
                _replace_wire(rep),
                lambda s, n: s.sign_replace(
                    rep.market,
                    rep.side,
                    rep.price,
                    rep.qty,
                    nonce=n,
                    order_id=rep.order_id,
                    client_order_id=rep.client_order_id,
                ),
                force_sign=force_sign,
            )
        if method == "cancel_all":
            market = str(p.get("market", ""))
            return self._authorize(
                method,
                {"market": market},
                lambda s, n: s.sign_cancel_all(market, nonce=n),
                force_sign=force_sign,
            )
        if method == "batch":
            actions: Sequence[BatchAction] = list(p["actions"])
            wire = [_batch_item(a) for a in actions]
            return self._authorize(
                method,
                {"actions": wire},
                lambda s, n: s.sign_batch([_batch_message(s, a) for a in actions], nonce=n),
                force_sign=force_sign,
            )
        if method == "login":
            return self._authorize(method, {}, lambda s, n: s.sign_login(nonce=n), force_sign=True)
        if method == "withdraw":
            token, amount = str(p["token"]), p["amount"]
            return self._authorize(
                method,
                {"token": token, "amount": _amount(amount, "amount")},
                lambda s, n: s.sign_withdraw(token, amount, nonce=n),
                force_sign=True,
            )
        if method == "approve_agent":
            agent, name = str(p["agent"]), str(p.get("name", ""))
            until = _uint(p["valid_until_ms"], "valid_until_ms")
            return self._authorize(
                method,
                {"agent": agent, "name": name, "valid_until_ms": until},
                lambda s, n: s.sign_approve_agent(agent, name, until, nonce=n),
                force_sign=True,
            )
        raise ValueError(f"not an action: {method!r}")

    async def _action(self, method: str, params: Mapping[str, Any]) -> ActionResult:
        answer = await self._request(method, self._action_params(method, params))
        answer.raise_for_error()
        return _decoded(decode_action_result, answer.result)

    # --- login ---

    async def login(self) -> LoginResult:
        """Log this connection in (a signed Login). With ``session=True`` and a server that
        allows it, trading actions are sent unsigned from then on."""
        return await self._do_login(wait_ready=True)

    async def _do_login(self, *, wait_ready: bool) -> LoginResult:
        answer = await self._request(
            "login", self._action_params("login", {}), wait_ready=wait_ready
        )
        answer.raise_for_error()
        result = _decoded(_login.decode, answer.result)
        self.login_result = result
        self._logged_in = True
        self._session_active = self.session and result.session
        return result

    # --- actions (amounts are ints in base units) ---

    async def place(
        self,
        market: str,
        side: str,
        price: int,
        qty: int,
        *,
        tif: str = "GTC",
        order_type: str = "limit",
        client_order_id: str = "",
        stp: str = "expire_maker",
        expires_at_ms: int = 0,
    ) -> ActionResult:
        """Place an order. ``price`` is quote units per whole base token, ``qty`` base
        units. A ``client_order_id`` lets you look the order up if the answer is lost."""
        return await self._action(
            "place",
            {
                "market": market,
                "side": str(side),
                "price": price,
                "qty": qty,
                "tif": str(tif),
                "order_type": str(order_type),
                "client_order_id": client_order_id,
                "stp": str(stp),
                "expires_at_ms": expires_at_ms,
            },
        )

    async def cancel(
        self, market: str, *, order_id: int = 0, client_order_id: str = ""
    ) -> ActionResult:
        return await self._action(
            "cancel",
            {"market": market, "order_id": order_id, "client_order_id": client_order_id},
        )

    async def cancel_all(self, market: str = "") -> ActionResult:
        """Cancel every open order of the account in ``market`` (empty: all markets)."""
        return await self._action("cancel_all", {"market": market})

    async def replace(
        self,
        market: str,
        side: str,
        price: int,
        qty: int,
        *,
        order_id: int = 0,
        client_order_id: str = "",
    ) -> ActionResult:
        """Change an order's price and open quantity (``side`` must be the order's)."""
        return await self._action(
            "replace",
            {
                "market": market,
                "side": str(side),
                "price": price,
                "qty": qty,
                "order_id": order_id,
                "client_order_id": client_order_id,
            },
        )

    async def batch(self, actions: Sequence[BatchAction]) -> ActionResult:
        """1 to 64 place/cancel/replace, applied in order, each accepted or rejected alone
        (a refused one is a ``Rejected`` event in the result)."""
        return await self._action("batch", {"actions": actions})

    async def withdraw(self, token: str, amount: int) -> ActionResult:
        """Withdraw ``amount`` base units of ``token`` (always signed, by the owner's key)."""
        return await self._action("withdraw", {"token": token, "amount": amount})

    async def approve_agent(self, agent: str, name: str, valid_until_ms: int) -> AgentApproval:
        """Let ``agent`` trade for this account until ``valid_until_ms`` (0 revokes it)."""
        params = self._action_params(
            "approve_agent", {"agent": agent, "name": name, "valid_until_ms": valid_until_ms}
        )
        answer = await self._call("approve_agent", params)
        return _decoded(_approval.decode, answer.result)

    # --- decimal helpers ---

    async def market_spec(self, market: str, *, refresh: bool = False) -> MarketSpec:
        """The market and its tokens (from ``markets()``, cached; fetched again once for a
        market not seen yet). ``BadSymbol`` if it is not listed."""
        if self._markets is None or refresh:
            self._markets = await self.markets()
        spec = self._markets.spec(market)
        if spec is None and not refresh:
            self._markets = await self.markets()
            spec = self._markets.spec(market)
        if spec is None:
            raise BadSymbol("UNKNOWN_MARKET", f"no market {market!r}")
        return spec

    async def place_decimal(
        self,
        market: str,
        side: str,
        price: str | int | Decimal,
        qty: str | int | Decimal,
        **kwargs: Any,
    ) -> ActionResult:
        """``place`` with a human price and quantity (``"3000.5"``, ``Decimal("0.25")``),
        converted exactly; off the tick or lot raises ``OffGridError`` before sending."""
        spec = await self.market_spec(market)
        return await self.place(
            market, side, spec.price_units(price), spec.qty_units(qty), **kwargs
        )

    # --- queries ---

    async def info(self) -> Info:
        return await self._query("info", {}, _info.decode)

    async def markets(self) -> Markets:
        markets = await self._query("markets", {}, _markets.decode)
        self._markets = markets
        return markets

    async def book(self, market: str, depth: int = 50) -> BookSnapshot:
        return await self._query("book", {"market": market, "depth": depth}, _book.decode)

    async def balances(self) -> list[BalanceRow]:
        return (await self._query("balances", {}, _balances.decode)).balances

    async def open_orders(self, market: str = "") -> list[Order]:
        return (await self._query("open_orders", {"market": market}, _orders.decode)).orders

    async def order(self, market: str, *, order_id: int = 0, client_order_id: str = "") -> Order:
        """One order, open or closed (its ``status``); ``OrderNotFound`` if unknown."""
        params = {"market": market, "order_id": order_id, "client_order_id": client_order_id}
        return (await self._query("order", params, _order.decode)).order

    async def fills(self, market: str = "", limit: int = 100) -> list[Fill]:
        """The account's fills, newest first."""
        return (await self._query("fills", {"market": market, "limit": limit}, _fills.decode)).fills

    # --- streams ---

    async def subscribe(self, channel: str, market: str = "") -> Subscription:
        """Subscribe to ``user``, ``settlements``, ``book`` or ``trades`` (the last two with a
        market). The first item is the snapshot."""
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}: one of {sorted(CHANNELS)}")
        sub = Subscription(self, channel, market, self._max_queue)
        if sub.channel in self._subs:
            raise ValueError(f"already subscribed to {sub.channel}")
        self._subs[sub.channel] = sub
        try:
            answer = await self._subscribe_request(sub)
            answer.raise_for_error()
        except BaseException:
            self._subs.pop(sub.channel, None)
            sub._finish(None)
            raise
        return sub

    async def _subscribe_request(self, sub: Subscription, wait_ready: bool = True) -> Answer:
        return await self._request(
            "subscribe", sub._params(), hook=sub._on_subscribed, wait_ready=wait_ready
        )

    @property
    def subscriptions(self) -> list[Subscription]:
        return list(self._subs.values())

    # --- benchmarks ---

    def prepare(
        self, method: str, params: Mapping[str, Any] | None = None, *, sign: bool = False
    ) -> Prepared:
        """Sign (actions, unless in session mode; ``sign=True`` always) and encode a request
        now, to send later with ``send_prepared``. Amounts in ``params`` are ints. The
        nonce is taken now: send prepared actions within the nonce window."""
        p = dict(params or {})
        wire = self._action_params(method, p, force_sign=sign) if method in ACTIONS else p
        rid = self._next_id()
        return Prepared(rid, _encoder.encode({"id": rid, "method": method, "params": wire}))

    async def send_prepared(
        self, frame: bytes, request_id: int, *, timeout: float | None = None
    ) -> Answer:
        """Send a ``prepare``d frame; the raw ``Answer`` (not raised: check ``.error``, or
        call ``raise_for_error()``), with ``received_ns`` stamped by the reader."""
        if timeout is None:
            return await self._send(request_id, frame)
        try:
            async with asyncio.timeout(timeout):
                return await self._send(request_id, frame)
        except TimeoutError:
            self._pending.pop(request_id, None)
            raise RequestTimeout(f"no answer to request {request_id} in time") from None


def _guarded(hook: Callable[[Answer], None], answer: Answer) -> None:
    try:
        hook(answer)
    except Exception:  # a bug must not kill the reader
        log.exception("answer hook failed")


def _decoded(decode: Callable[[msgspec.Raw], _T], raw: msgspec.Raw) -> _T:
    """Decode a result; an answer that does not fit the protocol raises ``ExchangeError``
    (code ``BAD_ANSWER``), not a msgspec error."""
    try:
        return decode(raw)
    except msgspec.DecodeError as e:
        raise ExchangeError("BAD_ANSWER", f"the server's answer does not fit: {e}") from e


# --- wire params of the actions ---


def _place_wire(a: PlaceAction) -> dict[str, Any]:
    return {
        "market": a.market,
        "side": str(a.side),
        "price": _amount(a.price, "price"),
        "qty": _amount(a.qty, "qty"),
        "tif": str(a.tif),
        "order_type": str(a.order_type),
        "client_order_id": a.client_order_id,
        "stp": str(a.stp),
        "expires_at_ms": _uint(a.expires_at_ms, "expires_at_ms"),
    }


def _cancel_wire(a: CancelAction) -> dict[str, Any]:
    return {
        "market": a.market,
        "order_id": _uint(a.order_id, "order_id"),
        "client_order_id": a.client_order_id,
    }


def _replace_wire(a: ReplaceAction) -> dict[str, Any]:
    return {
        "market": a.market,
        "side": str(a.side),
        "price": _amount(a.price, "price"),
        "qty": _amount(a.qty, "qty"),
        "order_id": _uint(a.order_id, "order_id"),
        "client_order_id": a.client_order_id,
    }


def _batch_item(a: BatchAction) -> dict[str, Any]:
    if isinstance(a, PlaceAction):
        return {"method": "place", "params": _place_wire(a)}
    if isinstance(a, CancelAction):
        return {"method": "cancel", "params": _cancel_wire(a)}
    if isinstance(a, ReplaceAction):
        return {"method": "replace", "params": _replace_wire(a)}
    raise TypeError(f"a batch holds PlaceAction, CancelAction or ReplaceAction, not {a!r:.60}")


def _batch_message(s: Signer, a: BatchAction) -> tuple[str, dict[str, Any]]:
    if isinstance(a, PlaceAction):
        return "Place", s.place_message(
            a.market,
            a.side,
            a.price,
            a.qty,
            nonce=0,
            tif=a.tif,
            order_type=a.order_type,
            client_order_id=a.client_order_id,
            stp=a.stp,
            expires_at_ms=a.expires_at_ms,
        )
    if isinstance(a, CancelAction):
        return "Cancel", s.cancel_message(
            a.market, nonce=0, order_id=a.order_id, client_order_id=a.client_order_id
        )
    return "Replace", s.replace_message(
        a.market,
        a.side,
        a.price,
        a.qty,
        nonce=0,
        order_id=a.order_id,
        client_order_id=a.client_order_id,
    )

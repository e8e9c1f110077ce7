"""The order path inside the gateway: receive -> verify -> sequence -> commit -> answer/publish.

1. **Receive** (``accept``, called by each connection as a text frame arrives): decode the
   frame, build the core command and the EIP-712 digest its signature must cover, take a
   token from the connection's bucket, and append one ``Item`` to the inbox. Every frame
   becomes exactly one item, even a bad one, so that a connection's answers leave in the
   order its requests came. A full inbox stops reading (TCP pushes back on the client).
2. **Verify** (``_verify`` task): take everything in the inbox and hand its signatures to
   the worker processes (``server.auth.verifier.VerifierPool``; threads would fight the
   busy event loop for the GIL), one chunk or more per worker, results in input order. It
   does not wait for them: up to ``MAX_VERIFYING`` batches are recovered while earlier ones
   are sequenced.
3. **Sequence** (``_sequence`` task): in arrival order, once a batch's signers are known
   (batches already recovered behind it join it), check what depends on earlier
   actions (login state, the account's rate, then agents and nonces inside
   ``ExchangeState``) and submit to the sequencer; seal the batch into one journal record;
   update the read models and compute every answer and push of the batch from the state
   right after it; append the record to the journal and ask the syncer process
   (``server.sequencer.syncer``) for its fdatasync, and go on with the next batch while
   the disk works.
4. **Deliver** (``_deliver`` task): in batch order, wait until the batch's record is
   durable, then send its answers and pushes. Nothing is acknowledged before it is
   durable, and queries see every action received before them.

The sequencer is touched by the sequence task alone, so the core keeps a single writer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, NoReturn

import msgspec

from server.auth.eip712 import AuthError, Domain
from server.auth.verifier import Verified, VerifierPool, WorkerLost, recover_batch
from server.core.commands import Batch, Deposit, ListMarket, ListToken
from server.core.events import Rejected
from server.core.rejects import REJECT_MESSAGES, RejectCode
from server.gateway.actions import signing_digest, to_command
from server.gateway.config import Config
from server.gateway.connection import CLOSE_ABUSE, Connection
from server.gateway.errors import CATEGORY_OF, GATEWAY_CODES, Category
from server.gateway.http import Metrics
from server.gateway.limits import TokenBucket
from server.gateway.wire import (
    ApproveAgentParams,
    BatchParams,
    BookParams,
    CancelAllParams,
    CancelParams,
    DevDepositParams,
    DevListMarketParams,
    DevListTokenParams,
    FillsParams,
    LoginParams,
    OpenOrdersParams,
    OrderParams,
    PlaceParams,
    ReplaceParams,
    SubscribeParams,
    WireError,
    WithdrawParams,
    decode_request,
    parse_amount,
)
from server.sequencer import AesGcmSealer, Sequencer
from server.sequencer.sequencer import Sealed, Sequenced
from server.sequencer.state import (
    AgentApproved,
    ApproveAgent,
    Entry,
    ExchangeState,
    LoggedIn,
    Login,
    Refused,
    Signed,
)
from server.sequencer.syncer import Syncer
from server.streams.channels import ChannelError, Channels, DarkMarket, wire_name
from server.streams.messages import user_events, wire_event
from server.streams.views import Views

__all__ = ["MAX_INBOX", "Item", "Pipeline", "open_sequencer"]

log = logging.getLogger("myrtle.gateway")

MAX_INBOX: Final = 16_384  # receivers wait while this many items are not yet sequenced
VERIFY_CHUNK: Final = 256
MAX_VERIFYING: Final = 4  # batches whose signers are recovered while earlier ones sequence
MAX_IN_FLIGHT: Final = 4  # sealed batches whose write may overlap the next batches

_CORE_ACTIONS = (PlaceParams, CancelParams, CancelAllParams, ReplaceParams, BatchParams)
_ACTIONS = (*_CORE_ACTIONS, WithdrawParams, LoginParams, ApproveAgentParams)
_DEV = (DevListTokenParams, DevListMarketParams, DevDepositParams)
# Logging in, approving agents and moving money out always carry their own signature.
_ALWAYS_SIGNED = (LoginParams, ApproveAgentParams, WithdrawParams)


class Failure(Exception):
    """An item that is answered with an error; ``code`` is any wire error code."""

    def __init__(self, code: str, message: str | None = None) -> None:
        if message is None:
            message = GATEWAY_CODES[code][1] if code in GATEWAY_CODES else code
        super().__init__(message)
        self.code = code
        self.message = message


class Item:
    """One received frame on its way through the pipeline."""

    __slots__ = (
        "command",
        "conn",
        "digest",
        "error",
        "method",
        "params",
        "received",
        "result",
        "rid",
        "verified",
    )

    def __init__(self, conn: Connection, received: float) -> None:
        self.conn = conn
        self.received = received
        self.rid: int | str | None = None
        self.method = ""
        self.params: Any = None
        self.command: Any = None  # the core command of a core action
        self.digest: bytes | None = None  # set when the item carries a signature to check
        self.verified: Verified | None = None
        self.error: Failure | None = None
        self.result: Sequenced | None = None


def _encode_error(rid: int | str | None, code: str, message: str, seq: int | None = None) -> bytes:
    category = CATEGORY_OF.get(code, Category.EXCHANGE).value
    error: dict[str, Any] = {"code": code, "category": category, "message": message}
    if seq is not None:
        error["seq"] = seq  # a refused or rejected action still took its place in the journal
    return msgspec.json.encode({"id": rid, "error": error})


def open_sequencer(config: Config, clock_ms: Callable[[], int]) -> tuple[Sequencer, Views]:
    """Recover the sequencer, with the read models rebuilt from the snapshot and the replay
    after it (so that fills and closed orders since the last snapshot survive a restart)."""
    views: list[Views] = []

    def observe(state: ExchangeState) -> Callable[[Sequenced], None]:
        views.append(Views(state.core))
        return lambda result: views[0].apply([result])

    sequencer = Sequencer.open(
        config.data_dir,
        AesGcmSealer(config.storage_key),
        clock_ms,
        snapshot_every=config.snapshot_every,
        observe_replay=observe,
    )
    return sequencer, views[0]


class Pipeline:
    def __init__(
        self,
        config: Config,
        sequencer: Sequencer,
        metrics: Metrics,
        clock_ms: Callable[[], int],
        views: Views | None = None,
    ) -> None:
        self.config = config
        self.sequencer = sequencer
        self.metrics = metrics
        self.clock_ms = clock_ms
        self.domain = Domain(config.chain_id, config.registry_address)
        core = sequencer.core
        self.views = views if views is not None else Views(core)
        self.channels = Channels(core)
        self.subscribers: dict[str, set[Connection]] = {}
        self.inbox: list[Item] = []
        self.has_inbox = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()
        self.paused: set[asyncio.Transport] = set()  # connections not read while inbox is full
        # Batches taken from the inbox, in order, with their signers' recovery under way.
        self.verifying: deque[
            tuple[list[Item], list[Item], asyncio.Future[list[Verified]], float]
        ] = deque()
        self.has_verifying = asyncio.Event()
        self.verify_room = asyncio.Semaphore(MAX_VERIFYING)
        # Sealed batches waiting to be durable, with what they will send (bounded: at most
        # MAX_IN_FLIGHT group commits overlap).
        self.released: asyncio.Queue[
            tuple[
                asyncio.Future[None] | None,
                Sealed | None,
                list[Item],
                list[tuple[Connection, bytes]],
                float,
            ]
        ] = asyncio.Queue(maxsize=MAX_IN_FLIGHT)
        self.delivering = False
        self.io = ThreadPoolExecutor(1, thread_name_prefix="journal")  # without a syncer
        self.syncer: Syncer | None = None  # started by warm_up
        self.account_rates: dict[str, TokenBucket] = {}
        self.verifier: VerifierPool | None = None  # started by warm_up or the first batch
        self.verifier_broken = False  # they would not start on first use: recover in place
        self.tasks: list[asyncio.Task[None]] = []
        self.info_result = {
            "domain": {
                "name": self.domain.name,
                "version": self.domain.version,
                "chain_id": self.domain.chain_id,
                "verifying_contract": self.domain.verifying_contract,
            },
            "session_mode": config.allow_sessions,
            "limits": {
                "max_frame_bytes": config.max_frame_bytes,
                "rate_per_connection": config.rate_per_connection,
                "rate_per_account": config.rate_per_account,
                "max_errors": config.max_errors,
                "outbound_queue": config.outbound_queue,
            },
        }

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.tasks = [
            loop.create_task(self._verify()),
            loop.create_task(self._sequence()),
            loop.create_task(self._deliver()),
        ]

    async def stop(self) -> None:
        """Finish what was received (answered as far as connections are open), then stop."""
        while self.inbox or self.verifying or self.sequencer.pending:
            await asyncio.sleep(0.01)
        await self._flush()
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.verifier is not None:
            await self.verifier.close()
        if self.syncer is not None:
            await self.syncer.close()
        self.io.shutdown(wait=True)

    # ------------------------------------------------------------------ 1. receive

    async def receive(self, conn: Connection, frame: str | bytes, now: float) -> None:
        """Turn one frame into an item in the inbox, waiting first while the inbox is full."""
        if not self.room.is_set():
            await self.room.wait()
        self.accept(conn, frame, now)

    def accept(
        self, conn: Connection, frame: str | bytes | bytearray | memoryview, now: float
    ) -> bool:
        """Turn one frame into an item in the inbox, now; False when the inbox is full (the
        caller stops reading until ``room`` is set again)."""
        item = Item(conn, now)
        try:
            if not conn.rate.take(now):
                raise Failure("RATE_LIMITED", "too many requests on this connection; slow down")
            req, params = decode_request(frame)
            item.rid = req.id
            item.method = req.method
            item.params = params
            if isinstance(params, _ACTIONS):
                self._prepare_action(item, params)
            elif isinstance(params, _DEV) and not self.config.dev_operator:
                raise Failure("UNKNOWN_METHOD", "the development operator methods are disabled")
        except WireError as e:
            if item.rid is None:
                item.rid = e.request_id
            item.error = Failure(e.code, e.message)
        except Failure as e:
            item.error = e
        except AuthError as e:
            item.error = Failure(e.code, str(e))
        except Exception:  # a bug: refuse this request, keep the connection and the server
            log.exception("preparing a %r request failed", item.method)
            item.error = Failure("INTERNAL_ERROR")
        inbox = self.inbox
        inbox.append(item)
        if len(inbox) == 1:
            self.has_inbox.set()
        if len(inbox) >= MAX_INBOX:
            self.room.clear()
            return False
        return True

    async def warm_up(self) -> None:
        """Start the journal syncer and the verifier processes now (spawning them takes
        ~0.3 s), so that the first burst of signed orders does not wait for it; raises if
        they cannot start. Without it (tests), a journal thread writes and fsyncs, and the
        verifiers start on first use."""
        if self.syncer is None and not self.sequencer.in_flight:  # never reorder writes
            syncer = Syncer()
            await syncer.start()
            self.syncer = syncer
        await self._start_verifier()

    async def _start_verifier(self) -> None:
        if self.verifier is None and self.config.verify_workers > 0 and not self.verifier_broken:
            verifier = VerifierPool(self.config.verify_workers, VERIFY_CHUNK)
            await verifier.start()
            self.verifier = verifier

    def pause(self, transport: asyncio.Transport) -> None:
        """Stop reading a connection until the inbox has room (TCP pushes back on it)."""
        transport.pause_reading()
        self.paused.add(transport)

    def _prepare_action(self, item: Item, p: Any) -> None:
        if isinstance(p, (*_CORE_ACTIONS, WithdrawParams)):
            item.command = to_command(p)
        if p.signature is not None:
            item.digest = signing_digest(self.domain, p, item.command)
        elif isinstance(p, _ALWAYS_SIGNED) or p.nonce is not None:
            raise Failure("SIGNATURE_REQUIRED", f"{item.method} must be signed")

    # ------------------------------------------------------------------ 2. verify

    async def _verify(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.has_inbox.wait()
            await self.verify_room.acquire()  # meanwhile the inbox grows into a larger batch
            items = self.inbox
            self.inbox = []
            self.has_inbox.clear()
            self.room.set()
            if self.paused:
                for transport in self.paused:
                    if not transport.is_closing():
                        transport.resume_reading()
                self.paused.clear()
            signed = [i for i in items if i.digest is not None and i.error is None]
            pairs = _signatures(signed)
            if self.verifier is None and pairs:  # a pipeline used without warm_up (tests)
                try:
                    await self._start_verifier()
                except Exception:
                    log.exception("the verifier processes did not start; recovering in place")
                    self.verifier_broken = True
            if self.verifier is not None:
                recovering = self.verifier.submit(pairs)
            else:
                recovering = loop.create_future()
                recovering.set_result(recover_batch(pairs))
            self.verifying.append((items, signed, recovering, time.perf_counter()))
            self.has_verifying.set()

    async def _verified(self) -> list[Item]:
        """The next batch, its signers recovered, with the batches behind it that are
        recovered already."""
        while not self.verifying:
            self.has_verifying.clear()
            await self.has_verifying.wait()
        items = await self._recovered()
        while self.verifying and self.verifying[0][2].done():
            items.extend(await self._recovered())
        return items

    async def _recovered(self) -> list[Item]:
        items, signed, recovering, started = self.verifying[0]
        try:
            verified = await recovering
        except WorkerLost:  # (logged by the pool) recover this batch here instead
            verified = recover_batch(_signatures(signed))
        self.verifying.popleft()
        self.verify_room.release()
        for item, v in zip(signed, verified, strict=True):
            item.verified = v
        if signed:
            self.metrics.verify_latency.observe(time.perf_counter() - started)
        return items

    # ------------------------------------------------------------------ 3. sequence + commit

    async def _sequence(self) -> None:
        while True:
            items = await self._verified()
            now = time.monotonic()
            submit = self.sequencer.submit
            for item in items:
                if item.error is not None or item.params is None:
                    continue
                try:
                    entry = self._entry(item, now)
                except Failure as e:
                    item.error = e
                    continue
                except WireError as e:
                    item.error = Failure(e.code, e.message)
                    continue
                except Exception:  # a bug: refuse this request, keep the exchange running
                    log.exception("sequencing a %r request failed", item.method)
                    item.error = Failure("INTERNAL_ERROR")
                    continue
                if entry is not None:
                    item.result = submit(entry)
                    if type(entry) is Login:
                        self._logged_in(item)
            self.metrics.inbox_depth.set(len(self.inbox))
            self.metrics.batch_size.observe(len(items))
            # Everything this batch will send is computed now, from the state right after
            # it, and held until its record is durable. Meanwhile the next batch is applied
            # while the syncer process fdatasyncs this one's record: group commits overlap,
            # acknowledgements never precede durability.
            sealed = self.sequencer.seal()
            try:
                sends = self._prepare(items, sealed.results if sealed is not None else [])
            except Exception:  # a bug must not stop the exchange; it is logged loudly
                log.exception("preparing the answers of a batch failed")
                sends = []
            write = None
            if sealed is not None:
                if self.syncer is not None:
                    try:
                        path = self.sequencer.append(sealed)
                    except Exception:
                        _journal_failed()
                    write = self.syncer.sync(path)
                else:
                    write = asyncio.get_running_loop().run_in_executor(
                        self.io, self.sequencer.write, sealed
                    )
            await self.released.put((write, sealed, items, sends, time.perf_counter()))
            if self.sequencer.snapshot_due:  # under sustained load: make room for it
                await self._flush()
                if self.sequencer.snapshot_due:  # (_deliver may have taken it meanwhile)
                    self.sequencer.snapshot()  # nothing is pending or in flight now

    async def _flush(self) -> None:
        """Wait until every sealed batch is durable and its answers are sent."""
        while self.released.qsize() or self.sequencer.in_flight or self.delivering:
            await asyncio.sleep(0.0005)

    async def _deliver(self) -> None:
        """Send each batch's answers and pushes, in batch order, once it is durable."""
        observe = self.metrics.ack_latency.observe
        while True:
            write, sealed, items, sends, sealed_at = await self.released.get()
            self.delivering = True
            try:
                if write is not None and sealed is not None:
                    try:
                        await write
                    except Exception:
                        _journal_failed()
                    self.sequencer.durable(sealed)
                    self.metrics.commit_latency.observe(time.perf_counter() - sealed_at)
                for conn, data in sends:
                    conn.send(data)
                now = time.monotonic()
                for item in items:
                    observe(now - item.received)
                sequencer = self.sequencer
                if (
                    sequencer.snapshot_due
                    and self.released.empty()
                    and not sequencer.pending
                    and not sequencer.in_flight
                ):
                    sequencer.snapshot()  # quiet moment: everything applied is durable
            finally:
                self.delivering = False

    def _entry(self, item: Item, now: float) -> Entry | None:
        p = item.params
        if isinstance(p, _ACTIONS):
            account = p.account.lower()
            signer = self._signer(item, p, account)
            bucket = self.account_rates.get(account)
            if bucket is None:
                rate = self.config.rate_per_account
                bucket = self.account_rates[account] = TokenBucket(rate, 2 * rate, now)
            if not bucket.take(now):
                raise Failure("RATE_LIMITED", f"too many actions for {account}; slow down")
            if isinstance(p, LoginParams):
                if item.conn.account not in (None, account):
                    raise Failure(
                        "ALREADY_LOGGED_IN",
                        f"this connection is logged in as {item.conn.account}",
                    )
                assert p.nonce is not None
                return Login(account, signer, p.nonce)
            if isinstance(p, ApproveAgentParams):
                assert p.nonce is not None
                return ApproveAgent(
                    account, signer, p.agent.lower(), p.name, p.valid_until_ms, p.nonce
                )
            return Signed(signer, p.nonce if p.signature is not None else None, item.command)
        if isinstance(p, DevListTokenParams):
            return ListToken(p.token.lower(), p.symbol, p.decimals)
        if isinstance(p, DevListMarketParams):
            return ListMarket(
                p.market,
                p.base.lower(),
                p.quote.lower(),
                parse_amount(p.tick, "tick"),
                parse_amount(p.lot, "lot"),
                parse_amount(p.min_qty, "min_qty"),
                p.lit,
            )
        if isinstance(p, DevDepositParams):
            deposit_id = self.sequencer.core.last_deposit_id + 1
            return Deposit(
                p.account.lower(), p.token.lower(), parse_amount(p.amount, "amount"), deposit_id
            )
        return None  # queries and subscriptions: answered after the commit

    def _signer(self, item: Item, p: Any, account: str) -> str:
        """Who signed: the recovered key, or in session mode the connection's login."""
        v = item.verified
        if v is not None:
            if v.error is not None:
                raise Failure(v.error.code, str(v.error))
            claimed = p.signer.lower() if p.signer is not None else account
            if v.signer != claimed:
                role = "signer" if p.signer is not None else "account"
                raise Failure(
                    "BAD_SIGNATURE", f"the signature recovers {v.signer}, not the {role} {claimed}"
                )
            assert v.signer is not None
            return v.signer
        conn = item.conn
        if not self.config.allow_sessions:
            raise Failure("SIGNATURE_REQUIRED", "session mode is off: every action is signed")
        if conn.account is None or conn.signer is None:
            raise Failure("NOT_LOGGED_IN", "unsigned actions need a login on this connection")
        if conn.account != account:
            raise Failure(
                "UNAUTHORIZED_SIGNER", f"this session is logged in as {conn.account}, not {account}"
            )
        return conn.signer

    def _logged_in(self, item: Item) -> None:
        assert item.result is not None
        ev = item.result.events[0] if item.result.events else None
        if type(ev) is LoggedIn:
            item.conn.account = ev.account
            item.conn.signer = ev.signer

    # ------------------------------------------------------------------ 4. answer + publish

    def _prepare(
        self, items: list[Item], committed: list[Sequenced]
    ) -> list[tuple[Connection, bytes]]:
        """Every answer and push a batch causes, in the order they must leave."""
        if committed:
            self.views.apply(committed)
        subscribers = self.subscribers
        pushes = self.channels.publish(committed, subscribers.__contains__)
        # Who gets each push is fixed now: a subscription answered below starts from a
        # snapshot that already includes this batch.
        deliveries = [(list(subscribers[key]), payload) for key, payload in pushes]
        sends: list[tuple[Connection, bytes]] = []
        now = time.monotonic()
        actions = 0
        for item in items:
            conn = item.conn
            if conn.closing:
                continue
            if item.result is not None:
                actions += 1
            try:
                if item.error is not None:
                    raise item.error
                body = self._answer(item)
            except Exception as exc:
                e = exc if isinstance(exc, Failure) else _internal(item, exc)
                seq = item.result.seq if item.result is not None else None
                sends.append((conn, _encode_error(item.rid, e.code, e.message, seq)))
                if conn.errors.add(now):
                    conn.close(CLOSE_ABUSE, "too many refused requests")
            else:
                sends.append((conn, body))
        for conns, payload in deliveries:
            for conn in conns:
                sends.append((conn, payload))
        self.metrics.actions.inc(actions)
        return sends

    def _answer(self, item: Item) -> bytes:
        p = item.params
        rid = item.rid
        result = item.result
        if result is not None:
            return msgspec.json.encode({"id": rid, "result": self._action_result(item, result)})
        conn = item.conn
        method = item.method
        body: Any
        if method == "dev_state_hash":
            if not self.config.dev_operator:
                raise Failure("UNKNOWN_METHOD", "the development operator methods are disabled")
            body = {
                "seq": self.sequencer.committed_seq,
                "state_hash": self.sequencer.state.state_hash(),
                "core_state_hash": self.sequencer.core.state_hash(),
            }
        elif method == "info":
            body = {**self.info_result, "time_ms": self.clock_ms()}
        elif method == "markets":
            body = self.views.markets()
        elif method == "book":
            assert isinstance(p, BookParams)
            try:
                body = self.views.book(p.market, p.depth, self.channels.seq("book:" + p.market))
            except KeyError:
                raise Failure("UNKNOWN_MARKET", f"no market {p.market!r}") from None
            except DarkMarket:
                raise Failure("DARK_MARKET", f"{p.market} is dark: it has no public book") from None
        elif method in ("subscribe", "unsubscribe"):
            assert isinstance(p, SubscribeParams)
            body = self._subscription(conn, method, p)
        else:
            account = conn.account
            if account is None:
                raise Failure("NOT_LOGGED_IN", f"{method} needs a login on this connection")
            if method == "balances":
                body = self.views.balances(account)
            elif method == "open_orders":
                assert isinstance(p, OpenOrdersParams)
                body = self.views.open_orders(account, p.market)
            elif method == "order":
                assert isinstance(p, OrderParams)
                body = self.views.order(account, p.market, p.order_id, p.client_order_id)
                if body is None:
                    raise Failure("ORDER_NOT_FOUND", REJECT_MESSAGES[RejectCode.ORDER_NOT_FOUND])
            elif method == "fills":
                assert isinstance(p, FillsParams)
                body = self.views.fills(account, p.market, p.limit)
            else:  # decode_request knows no other method
                raise Failure("NOT_IMPLEMENTED")
        return msgspec.json.encode({"id": rid, "result": body})

    def _action_result(self, item: Item, result: Sequenced) -> dict[str, Any]:
        events = result.events
        p = item.params
        if isinstance(p, _DEV):
            for ev in events:
                if type(ev) is Rejected:
                    raise Failure(ev.code.value, REJECT_MESSAGES[ev.code])
            return {
                "seq": result.seq,
                "ts_ms": result.ts_ms,
                "events": [wire_event(e) for e in events],
            }
        for ev in events:
            if isinstance(ev, Refused):
                raise Failure(ev.code, ev.message)
            if isinstance(ev, Rejected) and type(item.command) is not Batch:
                raise Failure(ev.code.value, REJECT_MESSAGES[ev.code])
            if isinstance(ev, LoggedIn):
                return {
                    "account": ev.account,
                    "signer": ev.signer,
                    "session": self.config.allow_sessions,
                }
            if isinstance(ev, AgentApproved):
                return {
                    "seq": result.seq,
                    "ts_ms": result.ts_ms,
                    "agent": ev.agent,
                    "name": ev.name,
                    "valid_until_ms": ev.valid_until_ms,
                }
        account = p.account.lower()
        pushed = self.channels.batch_user_events.get((result.seq, account))
        mine = pushed if pushed is not None else user_events(account, events)
        return {"seq": result.seq, "ts_ms": result.ts_ms, "events": mine}

    def _subscription(self, conn: Connection, method: str, p: SubscribeParams) -> Any:
        try:
            key = self.channels.key(p.channel, p.market, conn.account)
        except ChannelError as e:
            raise Failure(e.code, e.message) from None
        if method == "unsubscribe":
            if key not in conn.subscriptions:
                name = f"{p.channel} {p.market}" if p.market else p.channel
                raise Failure("UNKNOWN_CHANNEL", f"not subscribed to {name}")
            self.unsubscribe(conn, key)
            return {"channel": wire_name(key)}
        snapshot = self.channels.snapshot(key)
        conn.subscriptions.add(key)
        self.subscribers.setdefault(key, set()).add(conn)
        return snapshot

    def unsubscribe(self, conn: Connection, key: str) -> None:
        conn.subscriptions.discard(key)
        subs = self.subscribers.get(key)
        if subs is not None:
            subs.discard(conn)
            if not subs:
                del self.subscribers[key]

    def disconnected(self, conn: Connection) -> None:
        for key in list(conn.subscriptions):
            self.unsubscribe(conn, key)


def _journal_failed() -> NoReturn:
    """The journal cannot be written or synced: nothing more may be acknowledged. A restart
    recovers every acknowledged action from the journal."""
    log.critical("journal write failed; stopping", exc_info=True)
    os._exit(70)


def _signatures(signed: list[Item]) -> list[tuple[bytes, bytes | str]]:
    return [(i.digest, i.params.signature) for i in signed if i.digest is not None]


def _internal(item: Item, exc: Exception) -> Failure:
    log.error("answering a %r request failed", item.method, exc_info=exc)
    return Failure("INTERNAL_ERROR")

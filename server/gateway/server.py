"""The gateway process: open the sequencer (recovery), serve ``/ws``, ``/health`` and
``/metrics``, and stop gracefully on SIGINT or SIGTERM.

Each connection's task only reads frames and hands them to the pipeline
(``server.gateway.pipeline``), which verifies, sequences, commits and answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
import sys
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import Event

from server.gateway.config import Config
from server.gateway.connection import Connection
from server.gateway.http import WS_PATH, HttpRoutes, Metrics
from server.gateway.limits import ErrorWindow, TokenBucket
from server.gateway.pipeline import Pipeline, open_sequencer
from server.sequencer import Sequencer
from server.streams.views import Views

__all__ = ["CLOSE_UNSUPPORTED_DATA", "Gateway", "GatewayConnection", "run", "wall_clock_ms"]

log = logging.getLogger("myrtle.gateway")

CLOSE_UNSUPPORTED_DATA = 1003  # RFC 6455: the endpoint only takes text frames
CLOSE_TIMEOUT = 2.0  # seconds a closing handshake may take before the TCP connection is cut
SWITCH_INTERVAL_S = 0.0002
SHUTDOWN_GRACE = 3.0  # seconds connections get to close at shutdown before they are dropped


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class GatewayConnection(ServerConnection):
    """websockets' server connection, with a shortcut for the common frame.

    A complete text frame goes straight to ``on_text`` from ``process_event`` (the hook
    websockets provides for subclasses), skipping the message queue, its futures and the
    handler's ``recv`` round trip. Anything else (binary, fragmented, control frames) takes
    websockets' normal path; after a fragmented message the shortcut stays off for the
    connection, so that messages are never reordered.
    """

    on_text: Callable[[bytes | bytearray | memoryview], None] | None = None

    def process_event(self, event: Event) -> None:
        on_text = self.on_text
        if on_text is not None and type(event) is Frame:
            if event.opcode is Opcode.TEXT and event.fin:
                on_text(event.data)
                return
            if event.opcode is Opcode.TEXT or event.opcode is Opcode.CONT:
                self.on_text = None
        super().process_event(event)

    def send_data(self) -> None:
        """Write everything the protocol has queued in one transport write (websockets
        writes each frame on its own: one syscall per answer). An empty chunk means
        end-of-stream, handled as websockets does."""
        chunks = self.protocol.data_to_send()
        data = [c for c in chunks if c]
        if data:
            self.transport.write(data[0] if len(data) == 1 else b"".join(data))
        if len(data) < len(chunks) and self.transport.can_write_eof():
            with contextlib.suppress(Exception):  # write_eof documents no exceptions
                self.transport.write_eof()


class Gateway:
    """One server: the sequencer it fronts, its pipeline, metrics and connection handler."""

    def __init__(self, config: Config, sequencer: Sequencer, views: Views | None = None) -> None:
        self.config = config
        self.sequencer = sequencer
        self.metrics = Metrics()
        self.metrics.committed_seq.set_function(lambda: self.sequencer.committed_seq)
        self.connections: set[Connection] = set()
        self.metrics.outbound_depth.set_function(
            lambda: sum(c.queued for c in list(self.connections))
        )
        self.pipeline = Pipeline(config, sequencer, self.metrics, wall_clock_ms, views)
        self.routes = HttpRoutes(self.metrics, self._health)

    def _health(self) -> dict[str, Any]:
        return {
            "committed_seq": self.sequencer.committed_seq,
            "connections": len(self.connections),
            "tls": self.config.tls,
        }

    async def handle(self, ws: ServerConnection) -> None:
        # The path is /ws: HttpRoutes answered every other one before the handshake.
        now = time.monotonic()
        rate = self.config.rate_per_connection
        conn = Connection(
            ws,
            queue_limit=self.config.outbound_queue,
            rate=TokenBucket(rate, 2 * rate, now),
            errors=ErrorWindow(self.config.max_errors),
        )
        self.connections.add(conn)
        self.metrics.connections.inc()
        pipeline = self.pipeline
        receive = pipeline.receive
        messages = self.metrics.messages_received
        clock = time.monotonic
        # Future: the `attest` handshake goes here, before anything else is accepted, and
        # before the direct frame path below is switched on. The client sends a fresh nonce;
        # we answer with a TDX quote whose report_data binds our TLS certificate's SPKI and
        # that nonce (see DESIGN.md, "TEE"). Until it completes, no login or order may be
        # read from this connection.
        if isinstance(ws, GatewayConnection):
            transport = ws.transport

            def on_text(data: bytes | bytearray | memoryview) -> None:
                messages.value += 1
                if not conn.closing and not pipeline.accept(conn, data, clock()):
                    pipeline.pause(transport)

            ws.on_text = on_text
        try:
            # Binary and fragmented messages (and all of them without the direct path).
            async for message in ws:
                messages.value += 1
                if not isinstance(message, str):
                    await ws.close(CLOSE_UNSUPPORTED_DATA, "text frames only")
                    return
                if conn.closing:
                    break
                await receive(conn, message, clock())
        except ConnectionClosed:
            pass  # the client went away without a closing handshake: nothing to answer
        finally:
            self.pipeline.disconnected(conn)
            self.connections.discard(conn)
            self.metrics.connections.dec()
            await conn.stop()


async def _close(server: Server) -> None:
    """Close the listener and every connection (1001 going away), then drop whatever a
    client still holds open after the grace period: shutdown never waits on a client."""
    server.close()
    try:
        await asyncio.wait_for(asyncio.shield(server.wait_closed()), SHUTDOWN_GRACE)
    except TimeoutError:
        log.warning(
            "%d connection(s) still open after %.0f s: dropping them",
            len(server.handlers),
            SHUTDOWN_GRACE,
        )
        for connection in list(server.handlers):
            connection.transport.abort()
        await server.wait_closed()


def _ssl_context(config: Config) -> ssl.SSLContext | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.tls_cert, config.tls_key)
    return context


async def run(config: Config, stop: asyncio.Event | None = None) -> None:
    """Serve until ``stop`` is set, or until SIGINT/SIGTERM when ``stop`` is None.

    Raises RecoveryError when the journal cannot be recovered, OSError when the address
    cannot be bound, ssl.SSLError when the certificate and key do not load.
    """
    loop = asyncio.get_running_loop()
    # The event loop thread is busy under load, and every other thread that needs the GIL
    # back (the journal writer, websockets' helpers) waits up to this long for it:
    # 0.2 ms instead of 5 halved the p99 acknowledgement latency at half load (bench/load.py).
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    if stop is None:
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)

    context = _ssl_context(config)
    sequencer, views = await asyncio.to_thread(open_sequencer, config, wall_clock_ms)
    try:
        log.info("recovered: committed seq %d", sequencer.committed_seq)
        gateway = Gateway(config, sequencer, views)
        gateway.pipeline.start()
        await gateway.pipeline.warm_up()
        server = await serve(
            gateway.handle,
            config.host,
            config.port,
            ssl=context,
            process_request=gateway.routes,
            create_connection=GatewayConnection,
            max_size=config.max_frame_bytes,
            close_timeout=CLOSE_TIMEOUT,
            server_header=None,
            # Frames are small JSON: deflate costs more CPU than the bytes it saves.
            compression=None,
        )
        try:
            scheme = "wss" if context is not None else "ws"
            log.info("listening on %s://%s:%d%s", scheme, config.host, config.port, WS_PATH)
            await stop.wait()
            log.info("stopping")
        finally:
            await _close(server)
            await gateway.pipeline.stop()
    finally:
        sequencer.commit()
        sequencer.close()
        log.info("stopped at committed seq %d", sequencer.committed_seq)

"""The gateway process: open the sequencer (recovery), serve ``/ws``, ``/health`` and
``/metrics``, and stop gracefully on SIGINT or SIGTERM.

This first slice accepts WebSocket connections and answers every text frame with a
``NOT_IMPLEMENTED`` error; the wire protocol comes next.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import time
from typing import Any

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve

from server.gateway.config import Config
from server.gateway.errors import GATEWAY_CODES
from server.gateway.http import WS_PATH, HttpRoutes, Metrics
from server.sequencer import AesGcmSealer, Sequencer

__all__ = ["CLOSE_UNSUPPORTED_DATA", "Gateway", "run", "wall_clock_ms"]

log = logging.getLogger("myrtle.gateway")

CLOSE_UNSUPPORTED_DATA = 1003  # RFC 6455: the endpoint only takes text frames
CLOSE_TIMEOUT = 2.0  # seconds a closing handshake may take before the TCP connection is cut
SHUTDOWN_GRACE = 3.0  # seconds connections get to close at shutdown before they are dropped


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class _ErrorBody(msgspec.Struct, frozen=True):
    code: str
    message: str


class _ErrorReply(msgspec.Struct, frozen=True):
    id: None
    error: _ErrorBody


_NOT_IMPLEMENTED = msgspec.json.encode(
    _ErrorReply(
        id=None,
        error=_ErrorBody(
            code="NOT_IMPLEMENTED",
            message=GATEWAY_CODES["NOT_IMPLEMENTED"][1],
        ),
    )
).decode()


class Gateway:
    """One server: the sequencer it fronts, its metrics and its connection handler."""

    def __init__(self, config: Config, sequencer: Sequencer) -> None:
        self.config = config
        self.sequencer = sequencer
        self.metrics = Metrics()
        self.metrics.committed_seq.set_function(lambda: self.sequencer.committed_seq)
        self.routes = HttpRoutes(self.metrics, self._health)
        self._connections = 0

    def _health(self) -> dict[str, Any]:
        return {
            "committed_seq": self.sequencer.committed_seq,
            "connections": self._connections,
            "tls": self.config.tls,
        }

    async def handle(self, ws: ServerConnection) -> None:
        # The path is /ws: HttpRoutes answered every other one before the handshake.
        self._connections += 1
        self.metrics.connections.inc()
        try:
            # Future: the `attest` handshake goes here, before anything else is accepted.
            # The client sends a fresh nonce; we answer with a TDX quote whose report_data
            # binds our TLS certificate's SPKI and that nonce (see DESIGN.md, "TEE").
            # Until it completes, no login or order may be read from this connection.
            async for message in ws:
                self.metrics.messages_received.inc()
                if not isinstance(message, str):
                    await ws.close(CLOSE_UNSUPPORTED_DATA, "text frames only")
                    return
                with self.metrics.command_latency.time():
                    await ws.send(_NOT_IMPLEMENTED)
        finally:
            self._connections -= 1
            self.metrics.connections.dec()


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
    if stop is None:
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)

    context = _ssl_context(config)
    sequencer = await asyncio.to_thread(
        Sequencer.open,
        config.data_dir,
        AesGcmSealer(config.storage_key),
        wall_clock_ms,
        snapshot_every=config.snapshot_every,
    )
    try:
        log.info("recovered: committed seq %d", sequencer.committed_seq)
        gateway = Gateway(config, sequencer)
        server = await serve(
            gateway.handle,
            config.host,
            config.port,
            ssl=context,
            process_request=gateway.routes,
            max_size=config.max_frame_bytes,
            close_timeout=CLOSE_TIMEOUT,
            server_header=None,
        )
        try:
            scheme = "wss" if context is not None else "ws"
            log.info("listening on %s://%s:%d%s", scheme, config.host, config.port, WS_PATH)
            await stop.wait()
            log.info("stopping")
        finally:
            await _close(server)
    finally:
        sequencer.commit()
        sequencer.close()
        log.info("stopped at committed seq %d", sequencer.committed_seq)

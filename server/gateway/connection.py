"""One client connection: its login, subscriptions, limits and bounded outbound queue.

Everything the exchange sends to a client goes through ``send``, which never waits: it
appends to a bounded queue that the connection's writer task drains into the socket. A
client that reads too slowly fills its queue and is closed with 4001, so one slow consumer
can never hold up the sequencer or anyone else's stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from server.gateway.limits import ErrorWindow, TokenBucket

__all__ = ["CLOSE_ABUSE", "CLOSE_SLOW_CONSUMER", "Connection"]

log = logging.getLogger("myrtle.gateway")

CLOSE_SLOW_CONSUMER = 4001
CLOSE_ABUSE = 4002


class Connection:
    __slots__ = (
        "account",
        "closing",
        "errors",
        "limit",
        "out",
        "rate",
        "signer",
        "subscriptions",
        "wake",
        "writer",
        "ws",
    )

    def __init__(
        self, ws: ServerConnection, *, queue_limit: int, rate: TokenBucket, errors: ErrorWindow
    ) -> None:
        self.ws = ws
        self.limit = queue_limit
        self.out: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.closing = False
        self.account: str | None = None  # set by a login
        self.signer: str | None = None  # the login's signer (the account or an agent)
        self.subscriptions: set[str] = set()  # channel keys (server.streams.channels)
        self.rate = rate
        self.errors = errors
        self.writer = asyncio.get_running_loop().create_task(self._write())

    @property
    def queued(self) -> int:
        return len(self.out)

    def send(self, data: bytes) -> None:
        """Queue one text frame; close the connection (4001) instead of ever waiting."""
        if self.closing:
            return
        if len(self.out) >= self.limit:
            self.close(CLOSE_SLOW_CONSUMER, "slow consumer: outbound queue full")
            return
        self.out.append(data)
        if len(self.out) == 1:
            self.wake.set()

    def close(self, code: int, reason: str) -> None:
        """Drop what is queued and close with ``code`` (in the background)."""
        if self.closing:
            return
        self.closing = True
        self.out.clear()
        log.info("closing %s: %d %s", self.ws.remote_address, code, reason)
        asyncio.get_running_loop().create_task(self.ws.close(code, reason))

    async def _write(self) -> None:
        out = self.out
        ws = self.ws
        protocol = ws.protocol
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                while out:
                    # Everything queued goes out in one write (and one wait for the socket
                    # to drain) instead of one per message: what ws.send does per message,
                    # done once. send_context is websockets' own; the version is pinned.
                    batch = list(out)
                    out.clear()
                    async with ws.send_context():
                        for message in batch:
                            protocol.send_text(message)
        except ConnectionClosed:
            pass

    async def stop(self) -> None:
        self.closing = True
        self.writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.writer

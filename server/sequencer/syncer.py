"""fdatasync in a helper process, so that group commits never hand the GIL around.

The event loop appends a sealed record to the journal segment itself (``Journal.append_only``:
a write into the page cache, tens of µs) and then asks the syncer to make that segment
durable (``Syncer.sync(path)``). The syncer process holds its own descriptor of each segment
and answers every request, in order, once an ``fdatasync`` that began after the request
arrived has returned: fsync acts on the file, not on the descriptor, so the record written
before the request is on disk when its answer comes. Requests that arrive together share
one ``fdatasync`` (a group commit of group commits).

Before this, a journal thread did the write and the fdatasync; every batch then needed the
GIL back several times from the busy event loop (bench/README.md has the figures).

Wire: a request is ``u16 length || segment path (UTF-8)``; an answer is one byte per
request, 0 for durable, 1 when the fdatasync (or opening the segment) failed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections import deque
from typing import Final

from server.helpers import Helper

__all__ = ["Syncer", "SyncerLost", "serve_syncer"]

log = logging.getLogger("myrtle.syncer")

_LEN: Final = 2
_KEEP_OPEN: Final = 2  # the current segment and the one before (rotation is rare)


def _durable(path: bytes, files: dict[bytes, int]) -> bool:
    try:
        fd = files.get(path)
        if fd is None:
            fd = files[path] = os.open(path, os.O_RDONLY)
            while len(files) > _KEEP_OPEN:
                os.close(files.pop(next(iter(files))))
        os.fdatasync(fd)
    except OSError as e:
        log.error("fdatasync of %s failed: %s", path.decode(errors="replace"), e)
        return False
    return True


def serve_syncer(fd: int) -> None:
    """The syncer process's main: answer sync requests on the socket ``fd`` until it
    closes (the gateway stopped or died), then exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the gateway, which closes us
    sock = socket.socket(fileno=fd)
    files: dict[bytes, int] = {}
    buf = b""
    while True:
        data = sock.recv(1 << 16)
        if not data:
            return
        buf += data
        paths: list[bytes] = []
        while len(buf) >= _LEN:
            end = _LEN + int.from_bytes(buf[:_LEN], "little")
            if len(buf) < end:
                break
            paths.append(buf[_LEN:end])
            buf = buf[end:]
        done: dict[bytes, bool] = {}  # one fdatasync per segment for all that came together
        answer = bytearray()
        for path in paths:
            ok = done.get(path)
            if ok is None:
                ok = done[path] = _durable(path, files)
            answer.append(0 if ok else 1)
        if answer:
            sock.sendall(answer)


class SyncerLost(OSError):
    """The syncer process exited with requests unanswered."""


class Syncer:
    """The gateway's side: ``sync(path)`` is a future that is done once everything written
    to ``path`` before the call is durable, and fails (``OSError``) if it cannot be made so."""

    def __init__(self) -> None:
        self.helper: Helper | None = None
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def start(self) -> None:
        self.helper = await Helper.start("server.sequencer.syncer", "serve_syncer", self._read)

    def sync(self, path: str) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.helper is None or not self.helper.connected:
            fut.set_exception(SyncerLost("the journal syncer is not running"))
            return fut
        data = os.fsencode(path)
        self.helper.writer.write(len(data).to_bytes(_LEN, "little") + data)
        self._waiting.append(fut)
        return fut

    async def _read(self, reader: asyncio.StreamReader) -> None:
        waiting = self._waiting
        try:
            while True:
                data = await reader.read(1 << 16)
                if not data:
                    break
                for status in data:
                    fut = waiting.popleft()
                    if status == 0:
                        fut.set_result(None)
                    else:
                        fut.set_exception(OSError(f"fdatasync failed in the syncer ({status})"))
        except ConnectionError:
            pass
        while waiting:
            waiting.popleft().set_exception(SyncerLost("the journal syncer exited"))

    async def close(self) -> None:
        if self.helper is not None:
            await self.helper.close()

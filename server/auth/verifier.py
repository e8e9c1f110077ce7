"""Batched signature recovery, results in input order.

The gateway (``server.gateway.pipeline``) hands each batch of ``(digest, signature)`` pairs
to a ``VerifierPool``: worker *processes* that recover signers, driven straight from the
event loop over one socket pair each. The pool cuts a batch with ``chunked`` (at least one
chunk per worker), a worker answers its chunks in the order they came, and the pool
concatenates the answers in input order, so one account's actions are never reordered.
``verify_one`` recovers in place (no workers configured, or none alive).

Processes, not threads: coincurve releases the GIL inside the curve maths, but each
recovery takes the GIL back several times around it, and while the event loop thread is
busy every one of those waits up to the switch interval. Measured here: 2 threads recover
32.7k/s next to an idle thread, 0.24k/s next to a busy one; 2 processes keep ~15k/s next to
a busy one (they get the other core).

Socket pairs, not ``ProcessPoolExecutor``: the executor pickles every call and hands it to a
feeder thread and the results to a manager thread, both of which need the GIL of the busy
gateway process; here the event loop writes a chunk (msgpack, length-prefixed) and reads the
answer as any other socket, and a worker exits as soon as its socket closes, so the workers
never outlive the gateway, even one killed with SIGKILL.

The verifier only recovers: whether the signer may act for the claimed account (itself or a
live agent, ``agents.Agents.authorize``) and whether the nonce is fresh (``nonces.Nonces``)
depend on state that earlier actions change, so the single writer checks them in sequence.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import signal
import socket
from collections import deque
from collections.abc import Sequence
from typing import Final, NamedTuple, TypeVar

import msgspec

from server.auth.eip712 import AuthError, BadSignature, MalformedAction
from server.auth.recovery import recover
from server.helpers import Helper

__all__ = [
    "Verified",
    "VerifierPool",
    "WorkerLost",
    "chunked",
    "recover_batch",
    "serve_worker",
    "verify_one",
]

log = logging.getLogger("myrtle.verifier")

_HEAD: Final = 4  # a frame on a worker's socket: u32 little-endian length, then msgpack
_ERRORS: Final[dict[str, type[AuthError]]] = {
    BadSignature.code: BadSignature,
    MalformedAction.code: MalformedAction,
}

_T = TypeVar("_T")


class Verified(NamedTuple):
    signer: str | None  # the recovered lower-case 0x address; None when ``error`` is set
    error: AuthError | None

    @property
    def ok(self) -> bool:
        return self.error is None


def verify_one(digest: bytes, signature: bytes | str) -> Verified:
    """Recover one signer; never raises for a bad item (the error is returned)."""
    try:
        return Verified(recover(digest, signature), None)
    except AuthError as e:
        return Verified(None, e)


def recover_batch(pairs: Sequence[tuple[bytes, bytes | str]]) -> list[Verified]:
    """``verify_one`` for each ``(digest, signature)``, in order: a worker process's job
    (tuples in, tuples out, so that little is pickled)."""
    return [verify_one(digest, signature) for digest, signature in pairs]


def chunked(items: Sequence[_T], workers: int, limit: int) -> list[Sequence[_T]]:
    """``items`` cut into consecutive chunks: at least one per worker (else a batch below
    ``limit`` would use one core), none larger than ``limit``."""
    if workers < 1 or limit < 1:
        raise ValueError("workers and limit must be at least 1")
    n = len(items)
    if n == 0:
        return []
    count = max(min(workers, n), -(-n // limit))  # chunks, as even as can be
    cuts = [n * k // count for k in range(count + 1)]
    return [items[a:b] for a, b in itertools.pairwise(cuts)]


# ---------------------------------------------------------------------------- worker side


def _answer(pairs: Sequence[tuple[bytes, bytes | str]]) -> list[str | tuple[str, str]]:
    """A chunk's answer on the wire: the address, or ``(code, message)`` of the error."""
    out: list[str | tuple[str, str]] = []
    for digest, signature in pairs:
        try:
            out.append(recover(digest, signature))
        except AuthError as e:
            out.append((e.code, str(e)))
    return out


def serve_worker(fd: int) -> None:
    """A worker process's main: answer chunks on the socket ``fd`` until it closes (the
    gateway stopped or died), then exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the gateway, which closes us
    sock = socket.socket(fileno=fd)
    reader = sock.makefile("rb")
    decode = msgspec.msgpack.Decoder().decode  # recover() checks every item's types
    encode = msgspec.msgpack.Encoder().encode
    while True:
        head = reader.read(_HEAD)
        if len(head) < _HEAD:
            return
        body = reader.read(int.from_bytes(head, "little"))
        data = encode(_answer(decode(body)))
        sock.sendall(len(data).to_bytes(_HEAD, "little") + data)


# ---------------------------------------------------------------------------- gateway side


class WorkerLost(RuntimeError):
    """A verifier worker exited with chunks unanswered."""


class _Worker:
    def __init__(self, index: int) -> None:
        self.index = index
        self.helper: Helper | None = None
        self.waiting: deque[asyncio.Future[list[Verified]]] = deque()
        self.alive = True


class VerifierPool:
    """``workers`` recovering processes; ``submit`` a batch, await its results in order.

    Start it (``start``) before the first batch: spawning takes ~0.3 s. A worker that dies
    fails its unanswered chunks with ``WorkerLost`` (logged); later batches go to the
    others, and with none left ``submit`` recovers in place.
    """

    def __init__(self, workers: int, chunk: int = 256) -> None:
        if workers < 1 or chunk < 1:
            raise ValueError("workers and chunk must be at least 1")
        self.size = workers
        self.chunk = chunk
        self.workers: list[_Worker] = []
        self._next = 0  # the worker that takes the next batch's first chunk
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(list[str | tuple[str, str]]).decode

    @property
    def pids(self) -> list[int]:
        return [w.helper.pid for w in self.workers if w.helper is not None]

    async def start(self) -> None:
        for index in range(self.size):
            worker = _Worker(index)
            worker.helper = await Helper.start(
                "server.auth.verifier", "serve_worker", functools.partial(self._read, worker)
            )
            self.workers.append(worker)
        # One empty chunk each: every worker has imported and answers before we go on.
        try:
            await asyncio.gather(*(self._send(w, []) for w in self.workers))
        except BaseException:
            await self.close()
            raise

    def submit(self, pairs: Sequence[tuple[bytes, bytes | str]]) -> asyncio.Future[list[Verified]]:
        """The signers of ``pairs``, in order (a future; errors are per item)."""
        loop = asyncio.get_running_loop()
        live = [w for w in self.workers if w.alive]
        if not live or not pairs:
            done: asyncio.Future[list[Verified]] = loop.create_future()
            done.set_result(recover_batch(pairs))
            return done
        chunks = chunked(pairs, len(live), self.chunk)
        first = self._next
        self._next += 1
        parts = [self._send(live[(first + k) % len(live)], c) for k, c in enumerate(chunks)]
        if len(parts) == 1:
            return parts[0]
        return loop.create_task(_concat(parts))

    def _send(
        self, worker: _Worker, pairs: Sequence[tuple[bytes, bytes | str]]
    ) -> asyncio.Future[list[Verified]]:
        fut: asyncio.Future[list[Verified]] = asyncio.get_running_loop().create_future()
        assert worker.helper is not None
        data = self._encode(pairs)
        worker.helper.writer.write(len(data).to_bytes(_HEAD, "little") + data)
        worker.waiting.append(fut)
        return fut

    async def _read(self, worker: _Worker, reader: asyncio.StreamReader) -> None:
        decode = self._decode
        waiting = worker.waiting
        try:
            while True:
                head = await reader.readexactly(_HEAD)
                body = await reader.readexactly(int.from_bytes(head, "little"))
                fut = waiting.popleft()
                if not fut.done():
                    fut.set_result(
                        [
                            Verified(r, None)
                            if type(r) is str
                            else Verified(None, _ERRORS.get(r[0], AuthError)(r[1]))
                            for r in decode(body)
                        ]
                    )
        except (asyncio.IncompleteReadError, ConnectionError, msgspec.DecodeError) as e:
            lost = e
        worker.alive = False
        if waiting:
            log.error(
                "verifier worker %d (pid %d) is gone with %d chunk(s) unanswered: %s",
                worker.index,
                worker.helper.pid if worker.helper is not None else -1,
                len(waiting),
                lost,
            )
        while waiting:
            fut = waiting.popleft()
            if not fut.done():
                fut.set_exception(WorkerLost(f"verifier worker {worker.index} exited"))

    async def close(self) -> None:
        """Close the sockets (the workers exit on their own) and reap the processes."""
        helpers = [w.helper for w in self.workers if w.helper is not None]
        for h in helpers:
            h.close_socket()  # all of them first: they exit together
        for h in helpers:
            await h.close()
        self.workers = []


async def _concat(parts: list[asyncio.Future[list[Verified]]]) -> list[Verified]:
    out: list[Verified] = []
    for part in await asyncio.gather(*parts, return_exceptions=True):  # every one retrieved
        if isinstance(part, BaseException):
            raise part
        out.extend(part)
    return out

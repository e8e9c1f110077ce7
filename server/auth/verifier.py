"""Batched signature recovery, results in input order.

- ``recover_batch`` is what the gateway runs on its verifier *processes*
  (``server.gateway.pipeline``): chunks of ``(digest, signature)``, at least one per worker,
  results in input order, so one account's actions are never reordered. ``follow_parent``
  makes those processes exit with the gateway.
- ``Verifier`` does the same on a thread pool, for callers whose own thread is idle while
  it waits (coincurve releases the GIL for the curve maths; beside a *busy* thread, such as
  an event loop, threads lose most of their time waiting for the GIL: see recover_batch).

The verifier only recovers: whether the signer may act for the claimed account (itself or a
live agent, ``agents.Agents.authorize``) and whether the nonce is fresh (``nonces.Nonces``)
depend on state that earlier actions change, so the single writer checks them in sequence.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import NamedTuple

from server.auth.eip712 import AuthError
from server.auth.recovery import recover

__all__ = ["Item", "Verified", "Verifier", "follow_parent", "recover_batch", "verify_one"]


class Item(NamedTuple):
    digest: bytes  # the EIP-712 digest of the action
    signature: bytes | str  # 65 bytes r||s||v, or its 0x hex
    account: str  # the account the action claims to act for


class Verified(NamedTuple):
    signer: str | None  # the recovered lower-case 0x address; None when ``error`` is set
    error: AuthError | None
    owner: bool  # the signer is the claimed account itself (else: check its agents)

    @property
    def ok(self) -> bool:
        return self.error is None


def verify_one(digest: bytes, signature: bytes | str, account: str) -> Verified:
    """Recover one item's signer; never raises for a bad item (the error is returned)."""
    try:
        signer = recover(digest, signature)
    except AuthError as e:
        return Verified(None, e, False)
    return Verified(signer, None, isinstance(account, str) and signer == account.lower())


def follow_parent(parent_pid: int, every_s: float = 0.5) -> None:
    """Initializer of a verifier process: exit as soon as the gateway that started it is
    gone. A pool's workers otherwise outlive a killed (SIGKILL, crash) parent, idle forever."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(every_s)
        os._exit(0)

    threading.Thread(target=watch, name="follow-parent", daemon=True).start()


def recover_batch(pairs: Sequence[tuple[bytes, str]]) -> list[tuple[str | None, str]]:
    """``(signer, "")`` or ``(None, why)`` per ``(digest, signature)``: the job of a verifier
    *process*. Plain tuples in and out, so that little is pickled.

    Processes, not threads, for the gateway: coincurve releases the GIL inside the curve
    maths, but each recovery takes the GIL back several times around it, and while the
    event loop thread is busy every one of those waits up to the switch interval (5 ms).
    Measured here: 2 threads recover 32.7k/s next to an idle thread, 0.24k/s next to a busy
    one; 2 processes keep ~15k/s next to a busy one (they get the other core).
    """
    out: list[tuple[str | None, str]] = []
    for digest, signature in pairs:
        try:
            out.append((recover(digest, signature), ""))
        except AuthError as e:
            out.append((None, str(e)))
    return out


def _verify_chunk(items: Sequence[tuple[bytes, bytes | str, str]]) -> list[Verified]:
    return [verify_one(d, s, a) for d, s, a in items]


class Verifier:
    """Recovers the signers of batches of items on ``threads`` threads, in chunks of ``chunk``.

    With ``threads == 1``, or a batch no larger than one chunk, the work runs on the calling
    thread. Use as a context manager, or call ``close``.
    """

    def __init__(self, threads: int = 2, chunk: int = 256) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        if chunk < 1:
            raise ValueError("chunk must be at least 1")
        self.threads = threads
        self.chunk = chunk
        self._pool: ThreadPoolExecutor | None = None

    def verify(self, items: Sequence[tuple[bytes, bytes | str, str]]) -> list[Verified]:
        """One ``Verified`` per item, in the same order."""
        n = len(items)
        if self.threads == 1 or n <= self.chunk:
            return _verify_chunk(items)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="auth-verify")
        # At least one chunk per thread, each no larger than ``chunk``.
        size = min(self.chunk, -(-n // self.threads))
        chunks = [items[i : i + size] for i in range(0, n, size)]
        out: list[Verified] = []
        for part in self._pool.map(_verify_chunk, chunks):
            out.extend(part)
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> Verifier:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

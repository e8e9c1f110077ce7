"""Batched signature recovery, results in input order.

The gateway (``server.gateway.pipeline``) cuts each batch of ``(digest, signature)`` pairs
with ``chunked`` (at least one chunk per worker, results concatenated in input order, so one
account's actions are never reordered) and runs ``recover_batch`` on worker *processes*
that ``follow_parent`` ties to its life. A handful of pairs is recovered in place with
``verify_one``.

Processes, not threads: coincurve releases the GIL inside the curve maths, but each
recovery takes the GIL back several times around it, and while the event loop thread is
busy every one of those waits up to the switch interval. Measured here: 2 threads recover
32.7k/s next to an idle thread, 0.24k/s next to a busy one; 2 processes keep ~15k/s next to
a busy one (they get the other core).

The verifier only recovers: whether the signer may act for the claimed account (itself or a
live agent, ``agents.Agents.authorize``) and whether the nonce is fresh (``nonces.Nonces``)
depend on state that earlier actions change, so the single writer checks them in sequence.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import NamedTuple, TypeVar

from server.auth.eip712 import AuthError
from server.auth.recovery import recover

__all__ = ["Verified", "chunked", "follow_parent", "recover_batch", "verify_one"]

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
    size = max(1, min(limit, -(-len(items) // workers)))
    return [items[k : k + size] for k in range(0, len(items), size)]


def follow_parent(parent_pid: int, every_s: float = 0.5) -> None:
    """Initializer of a verifier process: exit as soon as the gateway that started it is
    gone. A pool's workers otherwise outlive a killed (SIGKILL, crash) parent, idle forever."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(every_s)
        os._exit(0)

    threading.Thread(target=watch, name="follow-parent", daemon=True).start()

"""The verifier: recovery in input order, with per-item errors, cut into chunks, on worker
processes that answer over socket pairs and never outlive their gateway."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from coincurve import PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from server.auth import BadSignature
from server.auth.eip712 import keccak
from server.auth.verifier import (
    Verified,
    VerifierPool,
    WorkerLost,
    chunked,
    recover_batch,
    verify_one,
)

KEYS = [PrivateKey(hashlib.sha256(b"key %d" % i).digest()) for i in range(5)]


def address(key: PrivateKey) -> str:
    return "0x" + keccak(key.public_key.format(compressed=False)[1:])[12:].hex()


def sign(key: PrivateKey, digest: bytes) -> bytes:
    sig = key.sign_recoverable(digest, hasher=None)
    return sig[:64] + bytes((sig[64] + 27,))


def make_items(n: int) -> tuple[list[tuple[bytes, bytes | str]], list[str | None]]:
    """n (digest, signature) pairs, some bad, in both signature encodings."""
    items: list[tuple[bytes, bytes | str]] = []
    expected: list[str | None] = []
    for i in range(n):
        key = KEYS[i % len(KEYS)]
        digest = hashlib.sha256(b"action %d" % i).digest()
        raw = sign(key, digest)
        sig: bytes | str = raw
        if i % 17 == 5:
            sig = b"\x00" * 65  # malformed
            expected.append(None)
        else:
            expected.append(address(key))
            if i % 4 == 0:
                sig = "0x" + raw.hex()
        items.append((digest, sig))
    return items, expected


@pytest.mark.parametrize(("workers", "limit", "n"), [(1, 256, 300), (2, 16, 300), (3, 7, 50)])
def test_results_come_back_in_input_order(workers: int, limit: int, n: int) -> None:
    items, expected = make_items(n)
    chunks = chunked(items, workers, limit)
    results = [v for chunk in chunks for v in recover_batch(chunk)]
    assert [r.signer for r in results] == expected
    assert [r.ok for r in results] == [e is not None for e in expected]
    assert all(isinstance(r.error, BadSignature) for r in results if not r.ok)


@given(st.integers(0, 2000), st.integers(1, 8), st.integers(1, 300))
def test_chunks_keep_order_cover_every_worker_and_respect_the_limit(
    n: int, workers: int, limit: int
) -> None:
    items = list(range(n))
    chunks = chunked(items, workers, limit)
    assert [x for c in chunks for x in c] == items
    assert all(0 < len(c) <= limit for c in chunks)
    assert len(chunks) >= min(workers, n)  # a batch below the limit still spreads out


def test_bad_items_never_raise() -> None:
    digest = hashlib.sha256(b"x").digest()
    bad = [(digest[:5], sign(KEYS[0], digest)), (digest, b"")]
    results = recover_batch(bad)
    assert [r.ok for r in results] == [False, False]
    assert all(r.signer is None for r in results)
    me = address(KEYS[1])
    assert verify_one(digest, sign(KEYS[1], digest)) == Verified(me, None)


def test_empty_batch_and_bad_settings() -> None:
    assert recover_batch([]) == []
    assert chunked([], 2, 256) == []
    with pytest.raises(ValueError):
        chunked([1], 0, 256)
    with pytest.raises(ValueError):
        chunked([1], 2, 0)


def view(results: list[Verified]) -> list[tuple[str | None, type | None, str]]:
    return [(r.signer, type(r.error) if r.error else None, str(r.error)) for r in results]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def gone(pids: list[int], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(alive(p) for p in pids)


async def test_the_pool_answers_like_recover_batch_in_input_order() -> None:
    pool = VerifierPool(2, chunk=7)
    await pool.start()
    try:
        items, expected = make_items(120)
        # Several batches in flight at once, of sizes from nothing to many chunks.
        sizes = [0, 1, 2, 3, 15, 99]
        futures = [pool.submit(items[:n]) for n in sizes]
        for n, fut in zip(sizes, futures, strict=True):
            assert view(await fut) == view(recover_batch(items[:n]))
        results = await pool.submit(items)
        assert [r.signer for r in results] == expected
        assert all(isinstance(r.error, BadSignature) for r in results if not r.ok)
        # A malformed item (not bytes, wrong types) is an error of that item only.
        digest = hashlib.sha256(b"z").digest()
        odd = await pool.submit([(b"short", "0x00"), (digest, sign(KEYS[2], digest))])
        assert [r.ok for r in odd] == [False, True]
        assert odd[1].signer == address(KEYS[2])
    finally:
        pids = pool.pids
        await pool.close()
    assert gone(pids)


async def test_a_lost_worker_fails_its_chunks_and_the_rest_carry_on() -> None:
    pool = VerifierPool(2, chunk=4)
    await pool.start()
    pids = pool.pids
    try:
        items, expected = make_items(40)
        # A worker that dies with a chunk unanswered fails that batch...
        os.kill(pids[0], signal.SIGSTOP)
        lost = pool.submit(items)
        os.kill(pids[0], signal.SIGKILL)
        with pytest.raises(WorkerLost):
            await lost
        assert not pool.workers[0].alive
        # ... and the next batches go to the other one,
        assert [r.signer for r in await pool.submit(items)] == expected
        os.kill(pids[1], signal.SIGKILL)
        for _ in range(100):
            if not pool.workers[1].alive:
                break
            await asyncio.sleep(0.02)
        # ... or, with none left, are recovered in place.
        assert [r.signer for r in await pool.submit(items)] == expected
    finally:
        await pool.close()
    assert gone(pids)


def test_workers_exit_when_their_gateway_dies(tmp_path: Path) -> None:
    """A gateway killed with SIGKILL cannot close anything: the workers see their sockets
    close and exit on their own."""
    script = tmp_path / "gateway.py"
    script.write_text(
        "import asyncio, sys\n"
        "from server.auth.verifier import VerifierPool\n"
        "async def main():\n"
        "    pool = VerifierPool(2)\n"
        "    await pool.start()\n"
        "    print(*pool.pids, flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=root
    )
    try:
        assert proc.stdout is not None
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(p) for p in pids)
    finally:
        proc.kill()
        proc.wait()
    assert gone(pids)


def test_pool_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        VerifierPool(0)
    with pytest.raises(ValueError):
        VerifierPool(1, chunk=0)

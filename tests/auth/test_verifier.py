"""The verifier: recovery in input order, with per-item errors, cut into chunks."""

from __future__ import annotations

import hashlib

import pytest
from coincurve import PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from server.auth import BadSignature
from server.auth.eip712 import keccak
from server.auth.verifier import Verified, chunked, recover_batch, verify_one

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

"""The verifier: recovery on a pool, in input order, with per-item errors."""

from __future__ import annotations

import hashlib

import pytest
from coincurve import PrivateKey

from server.auth import BadSignature, Verifier
from server.auth.eip712 import keccak
from server.auth.verifier import Verified, verify_one

KEYS = [PrivateKey(hashlib.sha256(b"key %d" % i).digest()) for i in range(5)]


def address(key: PrivateKey) -> str:
    return "0x" + keccak(key.public_key.format(compressed=False)[1:])[12:].hex()


def sign(key: PrivateKey, digest: bytes) -> bytes:
    sig = key.sign_recoverable(digest, hasher=None)
    return sig[:64] + bytes((sig[64] + 27,))


def make_items(n: int) -> tuple[list[tuple[bytes, bytes | str, str]], list[str | None]]:
    """n items, some bad, each claiming either its signer or another account."""
    items: list[tuple[bytes, bytes | str, str]] = []
    expected: list[str | None] = []
    for i in range(n):
        key = KEYS[i % len(KEYS)]
        digest = hashlib.sha256(b"action %d" % i).digest()
        raw = sign(key, digest)
        sig: bytes | str = raw
        claimed = address(key) if i % 3 else address(KEYS[0])
        if i % 17 == 5:
            sig = b"\x00" * 65  # malformed
            expected.append(None)
        else:
            expected.append(address(key))
            if i % 4 == 0:
                sig = "0x" + raw.hex()
        items.append((digest, sig, claimed))
    return items, expected


def check(items: list[tuple[bytes, bytes | str, str]], results: list[Verified]) -> None:
    for (_, _, claimed), r in zip(items, results, strict=True):
        if r.signer is not None:
            assert r.owner == (r.signer == claimed)


@pytest.mark.parametrize(("threads", "chunk", "n"), [(1, 256, 300), (2, 16, 300), (3, 7, 50)])
def test_results_come_back_in_input_order(threads: int, chunk: int, n: int) -> None:
    items, expected = make_items(n)
    with Verifier(threads=threads, chunk=chunk) as v:
        results = v.verify(items)
        if threads > 1:
            assert v._pool is not None  # the pool was used
    assert [r.signer for r in results] == expected
    assert [r.ok for r in results] == [e is not None for e in expected]
    assert all(isinstance(r.error, BadSignature) for r in results if not r.ok)
    check(items, results)


def test_pool_and_single_thread_agree() -> None:
    items, _ = make_items(200)
    with Verifier(threads=1) as one, Verifier(threads=2, chunk=32) as two:
        a, b = one.verify(items), two.verify(items)
    assert [(r.signer, r.owner, repr(r.error)) for r in a] == [
        (r.signer, r.owner, repr(r.error)) for r in b
    ]


def test_small_batches_run_inline() -> None:
    items, expected = make_items(10)
    v = Verifier(threads=2, chunk=256)
    assert [r.signer for r in v.verify(items)] == expected
    assert v._pool is None
    v.close()


def test_owner_flag_is_case_insensitive_and_false_for_others() -> None:
    digest = hashlib.sha256(b"x").digest()
    sig = sign(KEYS[1], digest)
    me = address(KEYS[1])
    assert verify_one(digest, sig, me.upper().replace("0X", "0x")) == Verified(me, None, True)
    r = verify_one(digest, sig, address(KEYS[2]))
    assert r.ok and r.signer == me and not r.owner


def test_bad_items_never_raise() -> None:
    digest = hashlib.sha256(b"x").digest()
    bad = [(digest[:5], sign(KEYS[0], digest), address(KEYS[0])), (digest, b"", "x")]
    results = Verifier(threads=1).verify(bad)
    assert [r.ok for r in results] == [False, False]
    assert all(r.signer is None and not r.owner for r in results)


def test_empty_batch_and_bad_settings() -> None:
    assert Verifier().verify([]) == []
    with pytest.raises(ValueError):
        Verifier(threads=0)
    with pytest.raises(ValueError):
        Verifier(chunk=0)


def test_close_is_idempotent_and_the_pool_restarts() -> None:
    items, expected = make_items(40)
    v = Verifier(threads=2, chunk=8)
    assert [r.signer for r in v.verify(items)] == expected
    v.close()
    v.close()
    assert [r.signer for r in v.verify(items)] == expected
    v.close()

"""Signer recovery: the address of the key, and every malformed signature refused."""

from __future__ import annotations

import hashlib

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from server.auth.eip712 import BadSignature
from server.auth.recovery import SECP256K1_HALF_N, SECP256K1_N, parse_signature, recover

KEY = "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
ADDRESS = Account.from_key(KEY).address.lower()
DIGEST = hashlib.sha256(b"myrtle").digest()
SIGNED = Account.unsafe_sign_hash(DIGEST, KEY)
SIG = bytes(SIGNED.signature)


def with_parts(r: int, s: int, v: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((v,))


def test_recovers_the_signer_lowercase() -> None:
    assert SIG[64] in (27, 28)
    assert recover(DIGEST, SIG) == ADDRESS


def test_v_zero_one_and_hex_signatures_are_accepted() -> None:
    raw = SIG[:64] + bytes((SIG[64] - 27,))
    assert recover(DIGEST, raw) == ADDRESS
    assert recover(DIGEST, "0x" + SIG.hex()) == ADDRESS
    assert parse_signature(SIG) == raw


def test_another_digest_recovers_another_address() -> None:
    other = hashlib.sha256(b"other").digest()
    assert recover(other, SIG) != ADDRESS


def test_the_other_recovery_id_gives_another_address() -> None:
    flipped = SIG[:64] + bytes((55 - SIG[64],))  # 27 <-> 28
    assert recover(DIGEST, flipped) != ADDRESS


@settings(max_examples=25, deadline=None)
@given(key=st.integers(1, SECP256K1_N - 1), digest=st.binary(min_size=32, max_size=32))
def test_random_keys_and_digests(key: int, digest: bytes) -> None:
    acct = Account.from_key(key.to_bytes(32, "big"))
    sig = bytes(Account.unsafe_sign_hash(digest, acct.key).signature)
    assert recover(digest, sig) == acct.address.lower()


def test_high_s_is_refused_eip2() -> None:
    r, s, v = SIGNED.r, SIGNED.s, SIGNED.v
    assert s <= SECP256K1_HALF_N
    malleated = with_parts(r, SECP256K1_N - s, 55 - v)  # the same point, the other encoding
    with pytest.raises(BadSignature, match="high-s"):
        recover(DIGEST, malleated)


@pytest.mark.parametrize(
    ("signature", "why"),
    [
        (SIG[:64], "65 bytes"),
        (SIG + b"\x00", "65 bytes"),
        (b"", "65 bytes"),
        (SIG[:64] + b"\x02", "v must be"),
        (SIG[:64] + b"\x1d", "v must be"),  # 29
        (SIG[:64] + b"\x25", "v must be"),  # 37: EIP-155 style
        (with_parts(0, 1, 27), "r out of range"),
        (with_parts(SECP256K1_N, 1, 27), "r out of range"),
        (with_parts(1, 0, 27), "s out of range"),
        (with_parts(1, SECP256K1_HALF_N + 1, 27), "s out of range"),
        ("0x" + SIG.hex()[:-2], "130 hex"),
        (SIG.hex(), "130 hex"),
        ("0x" + "zz" * 65, "130 hex"),
        (bytearray(SIG), "bytes or a 0x hex"),
        (None, "bytes or a 0x hex"),
    ],
)
def test_malformed_signatures_are_refused(signature: object, why: str) -> None:
    with pytest.raises(BadSignature, match=why):
        recover(DIGEST, signature)  # type: ignore[arg-type]


def test_unrecoverable_r_is_refused() -> None:
    # x = 5 is not the x coordinate of any point on secp256k1 (5**3 + 7 is not a square).
    with pytest.raises(BadSignature, match="no public key"):
        recover(DIGEST, with_parts(5, 7, 27))


@pytest.mark.parametrize("digest", [DIGEST[:31], DIGEST + b"\x00", DIGEST.hex(), None])
def test_digest_must_be_32_bytes(digest: object) -> None:
    with pytest.raises(BadSignature, match="32 bytes"):
        recover(digest, SIG)  # type: ignore[arg-type]

import os

import pytest

from server.sequencer import AesGcmSealer, SealError


def test_round_trip_and_fresh_nonces() -> None:
    s = AesGcmSealer(os.urandom(32))
    a = s.seal(b"state", b"aad")
    b = s.seal(b"state", b"aad")
    assert a != b  # a fresh nonce each time
    assert s.open(a, b"aad") == b"state" == s.open(b, b"aad")
    assert b"state" not in a


@pytest.mark.parametrize("key_len", [0, 16, 31, 33])
def test_rejects_keys_that_are_not_256_bit(key_len: int) -> None:
    with pytest.raises(ValueError, match="32-byte key"):
        AesGcmSealer(b"k" * key_len)


def test_wrong_key_tamper_and_wrong_aad_fail() -> None:
    s = AesGcmSealer(os.urandom(32))
    sealed = s.seal(b"balances", b"hdr")
    with pytest.raises(SealError):
        AesGcmSealer(os.urandom(32)).open(sealed, b"hdr")
    with pytest.raises(SealError):
        s.open(sealed, b"other header")
    flipped = bytearray(sealed)
    flipped[20] ^= 1
    with pytest.raises(SealError):
        s.open(bytes(flipped), b"hdr")
    with pytest.raises(SealError, match="too short"):
        s.open(sealed[:10], b"hdr")

"""Recover the signer's address from an EIP-712 digest and a 65-byte r||s||v signature.

libsecp256k1 (through coincurve, which releases the GIL) does the curve work; the address is
the last 20 bytes of keccak256 of the uncompressed public key without its 0x04 prefix, as a
lower-case 0x hex string.

Rules (docs/AUTH.md):

- exactly 65 bytes, ``r || s || v`` (big-endian r and s);
- ``v`` is 27 or 28 (what wallets and eth_account produce) or 0 or 1 (the raw recovery id);
- ``1 <= r < n`` and ``1 <= s <= n/2``: high-s signatures are refused (EIP-2), so every
  signature has exactly one accepted encoding and cannot be altered without the key;
- the digest is 32 bytes.

Anything else, or a signature that recovers no key, raises ``BadSignature``.
"""

from __future__ import annotations

from typing import Final

from coincurve import PublicKey

from server.auth.eip712 import BadSignature, keccak

__all__ = ["SECP256K1_HALF_N", "SECP256K1_N", "parse_signature", "recover"]

SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SECP256K1_HALF_N: Final = SECP256K1_N // 2

_RECOVERY_ID: Final = {27: 0, 28: 1, 0: 0, 1: 1}


def parse_signature(signature: bytes | str) -> bytes:
    """A signature as 65 bytes ``r || s || recid`` (recid 0/1), validated.

    ``signature`` is 65 raw bytes or the same as ``0x``-prefixed hex (130 digits).
    """
    if isinstance(signature, str):
        if len(signature) != 132 or not signature.startswith("0x"):
            raise BadSignature("expected 0x and 130 hex digits")
        try:
            raw = bytes.fromhex(signature[2:])
        except ValueError:
            raise BadSignature("expected 0x and 130 hex digits") from None
    elif type(signature) is bytes:
        raw = signature
    else:
        raise BadSignature(f"expected bytes or a 0x hex string, not {type(signature).__name__}")
    if len(raw) != 65:
        raise BadSignature(f"expected 65 bytes r||s||v, got {len(raw)}")
    recid = _RECOVERY_ID.get(raw[64])
    if recid is None:
        raise BadSignature(f"v must be 27, 28, 0 or 1, got {raw[64]}")
    r = int.from_bytes(raw[:32], "big")
    s = int.from_bytes(raw[32:64], "big")
    if not 0 < r < SECP256K1_N:
        raise BadSignature("r out of range")
    if not 0 < s <= SECP256K1_HALF_N:
        raise BadSignature("s out of range (high-s signatures are refused, EIP-2)")
    return raw[:64] + bytes((recid,))


def recover(digest: bytes, signature: bytes | str) -> str:
    """The lower-case 0x address whose key made ``signature`` over the 32-byte ``digest``."""
    if type(digest) is not bytes or len(digest) != 32:
        raise BadSignature("the digest must be 32 bytes")
    sig = parse_signature(signature)
    try:
        key = PublicKey.from_signature_and_message(sig, digest, hasher=None)
    except ValueError as e:  # e.g. r is not the x of any curve point
        raise BadSignature(f"no public key recovers from this signature: {e}") from None
    return "0x" + keccak(key.format(compressed=False)[1:])[12:].hex()

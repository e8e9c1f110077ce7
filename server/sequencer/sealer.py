"""Sealing: authenticated encryption of everything the exchange writes to disk.

The key comes from outside (the TEE derives it in a later layer); nothing here generates or
stores keys.
"""

from __future__ import annotations

import os
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["NONCE_SIZE", "TAG_SIZE", "AesGcmSealer", "SealError", "Sealer"]

NONCE_SIZE = 12
TAG_SIZE = 16


class SealError(Exception):
    """Sealed bytes failed authentication: wrong key, corruption or tampering."""


class Sealer(Protocol):
    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt and authenticate ``plaintext``; ``aad`` is authenticated, not stored."""
        ...

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        """Inverse of ``seal``; raises SealError when authentication fails."""
        ...


class AesGcmSealer:
    """AES-256-GCM with a fresh random 96-bit nonce per message: nonce || ciphertext || tag.

    Random nonces stay safe for far more than 2**32 messages under one key would need;
    replicas sharing the key cannot collide on a counter.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError(f"AES-256-GCM needs a 32-byte key, got {len(key)} bytes")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        if len(sealed) < NONCE_SIZE + TAG_SIZE:
            raise SealError("sealed message too short")
        try:
            return self._aead.decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], aad)
        except InvalidTag as e:
            raise SealError("authentication failed (wrong key or corrupted data)") from e

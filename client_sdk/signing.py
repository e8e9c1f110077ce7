"""Signing of Myrtle Wyckoff actions (EIP-712) for the SDK.

``Signer`` holds a private key and signs each action type under a deployment's ``Domain``.
The signatures are what an EIP-712 wallet (``eth_signTypedData_v4``) or eth_account's
``Account.sign_typed_data`` makes for the same typed data (``typed_data`` builds it): 65
bytes ``r || s || v`` with ``v`` 27/28 and low ``s``, returned as ``0x`` hex.

An agent key signs for the account that approved it: ``Signer(agent_key, domain,
account=owner)`` puts the owner in every ``account`` field. Only the owner's own key may
sign ``ApproveAgent`` and ``Withdraw``.

The domain may be left out (``Signer(key)``) and bound once later with ``bind_domain``: the
client does that with the domain the server's ``info`` announces. The key may be 32 bytes,
hex, or any object with a ``key`` attribute holding them (an eth_account ``LocalAccount``).

Nonces are millisecond timestamps; ``Signer.next_nonce`` hands out strictly increasing ones
from the local clock. The server accepts a nonce within 2 days back and 1 day forward of its
time, once per signer, and above the lowest of the signer's 100 highest (docs/AUTH.md).

The hashing is a minimal copy of the server's (the SDK never imports ``server``); tests check
both against eth_account.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from coincurve import PrivateKey
from sha3 import keccak_256

__all__ = [
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "MAX_BATCH",
    "TYPES",
    "Domain",
    "HasKey",
    "Signer",
    "SigningError",
    "hash_struct",
    "typed_data",
    "typed_digest",
]

DOMAIN_NAME: Final = "MyrtleWyckoff"
DOMAIN_VERSION: Final = "1"
MAX_BATCH: Final = 64

_DOMAIN_FIELDS: Final = (
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
)

TYPES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "Place": (
        ("account", "address"),
        ("market", "string"),
        ("side", "string"),
        ("price", "uint256"),
        ("qty", "uint256"),
        ("tif", "string"),
        ("orderType", "string"),
        ("clientOrderId", "string"),
        ("stp", "string"),
        ("expiresAtMs", "uint64"),
        ("nonce", "uint64"),
    ),
    "Cancel": (
        ("account", "address"),
        ("market", "string"),
        ("orderId", "uint64"),
        ("clientOrderId", "string"),
        ("nonce", "uint64"),
    ),
    "CancelAll": (("account", "address"), ("market", "string"), ("nonce", "uint64")),
    "Replace": (
        ("account", "address"),
        ("market", "string"),
        ("orderId", "uint64"),
        ("clientOrderId", "string"),
        ("side", "string"),
        ("price", "uint256"),
        ("qty", "uint256"),
        ("nonce", "uint64"),
    ),
    "Batch": (("account", "address"), ("actions", "bytes32[]"), ("nonce", "uint64")),
    "Login": (("account", "address"), ("nonce", "uint64")),
    "ApproveAgent": (
        ("account", "address"),
        ("agent", "address"),
        ("name", "string"),
        ("validUntilMs", "uint64"),
        ("nonce", "uint64"),
    ),
    "Withdraw": (
        ("account", "address"),
        ("token", "address"),
        ("amount", "uint256"),
        ("nonce", "uint64"),
    ),
}
"""Every action type: its fields in signing order, as (name, Solidity type)."""


def _type_string(name: str, fields: Sequence[tuple[str, str]]) -> str:
    return f"{name}({','.join(f'{t} {n}' for n, t in fields)})"


def keccak(data: bytes) -> bytes:
    """keccak-256 (Ethereum's, not NIST SHA3-256)."""
    digest: bytes = keccak_256(data).digest()
    return digest


_TYPE_HASHES: Final = {n: keccak(_type_string(n, f).encode()) for n, f in TYPES.items()}
_DOMAIN_TYPEHASH: Final = keccak(_type_string("EIP712Domain", _DOMAIN_FIELDS).encode())
_BATCH_INNER: Final = frozenset({"Place", "Cancel", "Replace"})


class SigningError(ValueError):
    """A value that cannot be signed as its EIP-712 type."""


def _address(value: object, name: str) -> bytes:
    if isinstance(value, str) and len(value) == 42 and value.startswith("0x"):
        try:
            raw = bytes.fromhex(value[2:])
        except ValueError:
            raw = b""
        if len(raw) == 20:
            return bytes(12) + raw
    raise SigningError(f"{name}: expected 0x and 40 hex digits, got {value!r:.60}")


def _uint(value: object, bits: int, name: str) -> bytes:
    if type(value) is int and 0 <= value < 1 << bits:
        return value.to_bytes(32, "big")
    raise SigningError(f"{name}: expected an int in uint{bits} range, got {value!r:.60}")


def _encode(sol_type: str, value: object, name: str) -> bytes:
    if sol_type == "address":
        return _address(value, name)
    if sol_type == "string":
        if not isinstance(value, str):
            raise SigningError(f"{name}: expected a string, got {value!r:.60}")
        return keccak(value.encode())
    if sol_type == "uint64":
        return _uint(value, 64, name)
    if sol_type == "uint256":
        return _uint(value, 256, name)
    # bytes32[]
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise SigningError(f"{name}: expected a list of 32-byte values")
    items = [bytes(v) for v in value if isinstance(v, (bytes, bytearray)) and len(v) == 32]
    if len(items) != len(value):
        raise SigningError(f"{name}: expected a list of 32-byte values")
    return keccak(b"".join(items))


def hash_struct(type_name: str, message: Mapping[str, Any]) -> bytes:
    """EIP-712 ``hashStruct`` of ``message`` (exactly the fields of ``type_name``)."""
    try:
        fields = TYPES[type_name]
    except KeyError:
        raise SigningError(f"unknown action type {type_name!r:.40}") from None
    if set(message) != {n for n, _ in fields}:
        raise SigningError(f"{type_name}: expected exactly the fields {[n for n, _ in fields]}")
    return keccak(_TYPE_HASHES[type_name] + b"".join(_encode(t, message[n], n) for n, t in fields))


@dataclass(frozen=True, slots=True)
class Domain:
    """The EIP-712 domain of one deployment (``verifying_contract``: its DepositRegistry)."""

    chain_id: int
    verifying_contract: str
    name: str = DOMAIN_NAME
    version: str = DOMAIN_VERSION
    separator: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sep = keccak(
            _DOMAIN_TYPEHASH
            + keccak(self.name.encode())
            + keccak(self.version.encode())
            + _uint(self.chain_id, 256, "chainId")
            + _address(self.verifying_contract, "verifyingContract")
        )
        object.__setattr__(self, "verifying_contract", self.verifying_contract.lower())
        object.__setattr__(self, "separator", sep)

    def eip712_domain(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }


def typed_digest(domain: Domain, type_name: str, message: Mapping[str, Any]) -> bytes:
    """The 32 bytes that get signed: ``keccak256(0x1901 || separator || hashStruct)``."""
    return keccak(b"\x19\x01" + domain.separator + hash_struct(type_name, message))


def typed_data(domain: Domain, type_name: str, message: Mapping[str, Any]) -> dict[str, Any]:
    """The full EIP-712 JSON (``eth_signTypedData_v4``, eth_account's ``full_message``).

    For ``Batch``, ``message["actions"]`` holds the inner hashStructs as ``0x`` hex.
    """
    msg = dict(message)
    if type_name == "Batch":
        msg["actions"] = ["0x" + bytes(a).hex() for a in message["actions"]]
    return {
        "types": {
            "EIP712Domain": [{"name": n, "type": t} for n, t in _DOMAIN_FIELDS],
            type_name: [{"name": n, "type": t} for n, t in TYPES[type_name]],
        },
        "primaryType": type_name,
        "domain": domain.eip712_domain(),
        "message": msg,
    }


class HasKey(Protocol):
    """An object holding a private key (an eth_account ``LocalAccount``)."""

    @property
    def key(self) -> bytes: ...


class Signer:
    """Signs actions for ``account`` (default: the key's own address) under ``domain``."""

    def __init__(
        self,
        private_key: bytes | str | HasKey,
        domain: Domain | None = None,
        account: str | None = None,
    ) -> None:
        if not isinstance(private_key, bytes | str):
            private_key = bytes(private_key.key)
        if isinstance(private_key, str):
            hex_key = private_key[2:] if private_key.startswith("0x") else private_key
            try:
                private_key = bytes.fromhex(hex_key)
            except ValueError:
                raise SigningError("the private key must be 32 bytes of hex") from None
        if len(private_key) != 32:
            raise SigningError("the private key must be 32 bytes")
        try:
            self._key = PrivateKey(private_key)
        except ValueError:
            raise SigningError("not a valid secp256k1 private key") from None
        public = self._key.public_key.format(compressed=False)[1:]
        self.address: Final[str] = "0x" + keccak(public)[12:].hex()
        """The signer's own lower-case address (an agent's, when acting for an account)."""
        self.account: Final[str] = (
            self.address if account is None else "0x" + _address(account, "account")[12:].hex()
        )
        """The account whose actions this signer signs (the ``account`` field)."""
        self._domain = domain
        self._last_nonce = 0
        self._lock = threading.Lock()

    @property
    def domain(self) -> Domain:
        """The domain this signer signs under (``SigningError`` while none is bound)."""
        if self._domain is None:
            raise SigningError("this signer has no domain yet: bind_domain() first")
        return self._domain

    @property
    def has_domain(self) -> bool:
        return self._domain is not None

    def bind_domain(self, domain: Domain) -> None:
        """Set the domain of a signer made without one; binding the same domain again is a
        no-op, a different one is refused (a signature is only valid under one deployment)."""
        with self._lock:
            if self._domain is None:
                self._domain = domain
            elif self._domain != domain:
                raise SigningError(f"this signer signs under {self._domain}, not {domain}")

    @property
    def is_agent(self) -> bool:
        return self.account != self.address

    def next_nonce(self) -> int:
        """A millisecond timestamp, strictly above every one this signer handed out before."""
        with self._lock:
            self._last_nonce = max(time.time_ns() // 1_000_000, self._last_nonce + 1)
            return self._last_nonce

    # --- signing ---

    def sign_digest(self, digest: bytes) -> str:
        """Sign a 32-byte EIP-712 digest: ``0x`` + r || s || v (v 27/28, low s)."""
        if len(digest) != 32:
            raise SigningError("the digest must be 32 bytes")
        sig = self._key.sign_recoverable(digest, hasher=None)  # r || s || recid, low s
        return "0x" + sig[:64].hex() + f"{sig[64] + 27:02x}"

    def sign(self, type_name: str, message: Mapping[str, Any]) -> str:
        """Sign any action given as its EIP-712 message."""
        claimed = message.get("account")
        if not isinstance(claimed, str) or claimed.lower() != self.account:
            raise SigningError(f"this signer signs for {self.account}, not {claimed!r:.60}")
        if self.is_agent and type_name in ("ApproveAgent", "Withdraw"):
            raise SigningError(f"only the account's own key signs {type_name}")
        return self.sign_digest(typed_digest(self.domain, type_name, message))

    def place_message(
        self,
        market: str,
        side: str,
        price: int,
        qty: int,
        *,
        nonce: int,
        tif: str = "GTC",
        order_type: str = "limit",
        client_order_id: str = "",
        stp: str = "expire_maker",
        expires_at_ms: int = 0,
    ) -> dict[str, Any]:
        return {
            "account": self.account,
            "market": market,
            "side": str(side),
            "price": price,
            "qty": qty,
            "tif": str(tif),
            "orderType": str(order_type),
            "clientOrderId": client_order_id,
            "stp": str(stp),
            "expiresAtMs": expires_at_ms,
            "nonce": nonce,
        }

    def cancel_message(
        self, market: str, *, nonce: int, order_id: int = 0, client_order_id: str = ""
    ) -> dict[str, Any]:
        return {
            "account": self.account,
            "market": market,
            "orderId": order_id,
            "clientOrderId": client_order_id,
            "nonce": nonce,
        }

    def replace_message(
        self,
        market: str,
        side: str,
        price: int,
        qty: int,
        *,
        nonce: int,
        order_id: int = 0,
        client_order_id: str = "",
    ) -> dict[str, Any]:
        return {
            "account": self.account,
            "market": market,
            "orderId": order_id,
            "clientOrderId": client_order_id,
            "side": str(side),
            "price": price,
            "qty": qty,
            "nonce": nonce,
        }

    def sign_place(
        self,
        market: str,
        side: str,
        price: int,
        qty: int,
        *,
        nonce: int,
        tif: str = "GTC",
        order_type: str = "limit",
        client_order_id: str = "",
        stp: str = "expire_maker",
        expires_at_ms: int = 0,
    ) -> str:
        m = self.place_message(
            market,
            side,
            price,
            qty,
            nonce=nonce,
            tif=tif,
            order_type=order_type,
            client_order_id=client_order_id,
            stp=stp,
            expires_at_ms=expires_at_ms,
        )
        return self.sign("Place", m)

    def sign_cancel(
        self, market: str, *, nonce: int, order_id: int = 0, client_order_id: str = ""
    ) -> str:
        m = self.cancel_message(
            market, nonce=nonce, order_id=order_id, client_order_id=client_order_id
        )
        return self.sign("Cancel", m)

    def sign_cancel_all(self, market: str = "", *, nonce: int) -> str:
        return self.sign("CancelAll", {"account": self.account, "market": market, "nonce": nonce})

    def sign_replace(
        self,
        market: str,
        side: str,
        price: int,
        qty: int,
        *,
        nonce: int,
        order_id: int = 0,
        client_order_id: str = "",
    ) -> str:
        m = self.replace_message(
            market,
            side,
            price,
            qty,
            nonce=nonce,
            order_id=order_id,
            client_order_id=client_order_id,
        )
        return self.sign("Replace", m)

    def batch_message(
        self, actions: Sequence[tuple[str, Mapping[str, Any]]], *, nonce: int
    ) -> dict[str, Any]:
        """A Batch of ``(type_name, message)`` actions (from the ``*_message`` helpers, with
        any nonce: inside a batch each is signed with nonce 0)."""
        if not 1 <= len(actions) <= MAX_BATCH:
            raise SigningError(f"a batch holds 1 to {MAX_BATCH} actions")
        hashes = []
        for type_name, message in actions:
            if type_name not in _BATCH_INNER:
                raise SigningError(f"a batch holds Place, Cancel or Replace, not {type_name!r}")
            if str(message.get("account", "")).lower() != self.account:
                raise SigningError("every action of a batch must be for this signer's account")
            hashes.append(hash_struct(type_name, {**message, "nonce": 0}))
        return {"account": self.account, "actions": hashes, "nonce": nonce}

    def sign_batch(self, actions: Sequence[tuple[str, Mapping[str, Any]]], *, nonce: int) -> str:
        return self.sign("Batch", self.batch_message(actions, nonce=nonce))

    def sign_login(self, *, nonce: int) -> str:
        return self.sign("Login", {"account": self.account, "nonce": nonce})

    def sign_approve_agent(self, agent: str, name: str, valid_until_ms: int, *, nonce: int) -> str:
        """Approve ``agent`` until ``valid_until_ms`` (0 revokes it). Owner key only."""
        m = {
            "account": self.account,
            "agent": agent,
            "name": name,
            "validUntilMs": valid_until_ms,
            "nonce": nonce,
        }
        return self.sign("ApproveAgent", m)

    def sign_withdraw(self, token: str, amount: int, *, nonce: int) -> str:
        """Withdraw ``amount`` base units of ``token``. Owner key only."""
        m = {"account": self.account, "token": token, "amount": amount, "nonce": nonce}
        return self.sign("Withdraw", m)

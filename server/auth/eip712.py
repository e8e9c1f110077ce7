"""EIP-712 hashing of every signed action: the hand-written fast path.

Every state-changing action (and the login) is EIP-712 typed data under the domain
``{name "MyrtleWyckoff", version "1", chainId, verifyingContract}``. This module computes
``keccak256(0x1901 || domainSeparator || hashStruct(message))`` without eth_account (which
costs ~100 µs a digest): type hashes are precomputed, fields are encoded with
``int.to_bytes``, the hashes of enumerated strings (side, tif, orderType, stp) are looked up,
and keccak-256 comes from safe-pysha3 (``sha3.keccak_256``, maintained by Safe; see
docs/AUTH.md). tests/auth/test_eip712_golden.py checks every type against eth_account.

Inputs are validated strictly; anything else raises ``MalformedAction``:

- ``address``: a ``str`` of ``0x`` and 40 hex digits (any case; the checksum is not checked,
  the signature binds the 20 bytes);
- ``uint64`` / ``uint256``: an ``int`` (not a ``bool``) in ``0 .. 2**bits - 1``;
- ``string``: a ``str`` of at most ``MAX_STRING_BYTES`` UTF-8 bytes; ``side``, ``tif``,
  ``orderType`` and ``stp`` must be one of the spellings of server/core/enums.py;
- ``Batch.actions``: 1 to ``MAX_BATCH`` hashStructs (32 bytes each) of Place, Cancel or
  Replace actions of the same account whose own nonce is 0.

The errors of the whole auth layer live here (the base module) and are re-exported by
``server.auth``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sha3 import keccak_256

from server.core.commands import MAX_BATCH
from server.core.commands import Batch as BatchCommand
from server.core.commands import Cancel as CancelCommand
from server.core.commands import CancelAll as CancelAllCommand
from server.core.commands import Place as PlaceCommand
from server.core.commands import Replace as ReplaceCommand
from server.core.commands import Withdraw as WithdrawCommand
from server.core.enums import OrderType, SelfTradePrevention, Side, TimeInForce

__all__ = [
    "BATCH_INNER_TYPES",
    "DOMAIN_NAME",
    "DOMAIN_TYPE",
    "DOMAIN_VERSION",
    "MAX_BATCH",
    "MAX_STRING_BYTES",
    "TYPES",
    "TYPE_HASHES",
    "TYPE_STRINGS",
    "AuthError",
    "BadSignature",
    "Domain",
    "MalformedAction",
    "approve_agent_hash",
    "batch_hash",
    "batch_inner_hashes",
    "cancel_all_hash",
    "cancel_hash",
    "command_hash",
    "digest",
    "hash_struct",
    "keccak",
    "login_hash",
    "normalize_address",
    "place_hash",
    "replace_hash",
    "typed_digest",
    "withdraw_hash",
]


# --- errors ---------------------------------------------------------------------------------


class AuthError(Exception):
    """Base of every authentication failure; ``code`` is the stable wire spelling."""

    code: str = "AUTH_ERROR"


class MalformedAction(AuthError):
    """A field is missing, of the wrong type, or out of range for its EIP-712 type."""

    code = "MALFORMED_ACTION"


class BadSignature(AuthError):
    """The signature is not 65 bytes r||s||v, v is not 27/28/0/1, s is high, or it does
    not recover to a public key."""

    code = "BAD_SIGNATURE"


# --- primitives -----------------------------------------------------------------------------


def keccak(data: bytes, _new: Callable[[bytes], Any] = keccak_256) -> bytes:
    """keccak-256 (the Ethereum one, not NIST SHA3-256)."""
    digest: bytes = _new(data).digest()
    return digest


if keccak(b"") != bytes.fromhex(
    "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
):  # pragma: no cover - a broken build of the binding must never sign or verify anything
    raise ImportError("sha3.keccak_256 (safe-pysha3) fails its known answer")

MAX_STRING_BYTES: Final = 256
"""Longest string field (UTF-8 bytes) the auth layer hashes; the core has tighter limits."""

_U64: Final = 1 << 64
_U256: Final = 1 << 256
_ZERO12: Final = bytes(12)
_EMPTY_STRING_HASH: Final = keccak(b"")

DOMAIN_NAME: Final = "MyrtleWyckoff"
DOMAIN_VERSION: Final = "1"
DOMAIN_TYPE: Final = (
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
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
    "CancelAll": (
        ("account", "address"),
        ("market", "string"),
        ("nonce", "uint64"),
    ),
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
    "Batch": (
        ("account", "address"),
        ("actions", "bytes32[]"),
        ("nonce", "uint64"),
    ),
    "Login": (
        ("account", "address"),
        ("nonce", "uint64"),
    ),
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

TYPE_STRINGS: Final[dict[str, str]] = {
    name: f"{name}({','.join(f'{t} {n}' for n, t in fields)})" for name, fields in TYPES.items()
}
TYPE_HASHES: Final[dict[str, bytes]] = {n: keccak(s.encode()) for n, s in TYPE_STRINGS.items()}
BATCH_INNER_TYPES: Final = frozenset({"Place", "Cancel", "Replace"})

_DOMAIN_TYPEHASH: Final = keccak(DOMAIN_TYPE.encode())
_PLACE: Final = TYPE_HASHES["Place"]
_CANCEL: Final = TYPE_HASHES["Cancel"]
_CANCEL_ALL: Final = TYPE_HASHES["CancelAll"]
_REPLACE: Final = TYPE_HASHES["Replace"]
_BATCH: Final = TYPE_HASHES["Batch"]
_LOGIN: Final = TYPE_HASHES["Login"]
_APPROVE_AGENT: Final = TYPE_HASHES["ApproveAgent"]
_WITHDRAW: Final = TYPE_HASHES["Withdraw"]


def _table(values: Sequence[str]) -> dict[str, bytes]:
    return {v: keccak(v.encode()) for v in values}


_SIDES: Final = _table([s.value for s in Side])
_TIFS: Final = _table([t.value for t in TimeInForce])
_ORDER_TYPES: Final = _table([o.value for o in OrderType])
_STPS: Final = _table([s.value for s in SelfTradePrevention])

# Small bounded caches (cleared when full) of encodings that repeat: accounts and markets.
# Only exact ``str`` keys go in, so a cached entry is always a validated value.
_ADDRESS_CACHE_MAX: Final = 16384
_address_cache: dict[str, bytes] = {}
_MARKET_CACHE_MAX: Final = 4096
_market_cache: dict[str, bytes] = {}


def _bad(field_name: str, value: object, why: str) -> MalformedAction:
    return MalformedAction(f"{field_name}: {why} (got {value!r:.80})")


def _address(value: object, field_name: str) -> bytes:
    """The 32-byte encoding of an address (12 zero bytes, then the 20)."""
    try:
        return _address_cache[value]  # type: ignore[index]
    except (KeyError, TypeError):
        pass
    if type(value) is str and len(value) == 42 and value[1] == "x" and value[0] == "0":
        try:
            raw = bytes.fromhex(value[2:])
        except ValueError:
            raw = b""
        if len(raw) == 20:  # bytes.fromhex skips whitespace: the length catches it
            if len(_address_cache) >= _ADDRESS_CACHE_MAX:
                _address_cache.clear()
            encoded = _address_cache[value] = _ZERO12 + raw
            return encoded
    raise _bad(field_name, value, "expected 0x and 40 hex digits")


def normalize_address(value: object, field_name: str = "address") -> str:
    """``value`` as a lower-case 0x address, or ``MalformedAction``."""
    return "0x" + _address(value, field_name)[12:].hex()


def _u64(value: object, field_name: str) -> bytes:
    if type(value) is int and 0 <= value < _U64:
        return value.to_bytes(32, "big")
    raise _bad(field_name, value, "expected an int in uint64 range")


def _u256(value: object, field_name: str) -> bytes:
    if type(value) is int and 0 <= value < _U256:
        return value.to_bytes(32, "big")
    raise _bad(field_name, value, "expected an int in uint256 range")


def _string(value: object, field_name: str) -> bytes:
    if not isinstance(value, str):
        raise _bad(field_name, value, "expected a string")
    if not value:
        return _EMPTY_STRING_HASH
    try:
        raw = value.encode()
    except UnicodeEncodeError:
        raise _bad(field_name, value, "not encodable as UTF-8") from None
    if len(raw) > MAX_STRING_BYTES:
        raise _bad(field_name, value, f"longer than {MAX_STRING_BYTES} UTF-8 bytes")
    return keccak(raw)


def _market(value: object) -> bytes:
    try:
        return _market_cache[value]  # type: ignore[index]
    except (KeyError, TypeError):
        pass
    h = _string(value, "market")
    if type(value) is str:
        if len(_market_cache) >= _MARKET_CACHE_MAX:
            _market_cache.clear()
        _market_cache[value] = h
    return h


def _enum(value: object, table: dict[str, bytes], field_name: str) -> bytes:
    h: bytes | None
    try:
        h = table.get(value)  # type: ignore[call-overload]
    except TypeError:  # unhashable
        h = None
    if h is None:
        raise _bad(field_name, value, f"expected one of {sorted(table)}")
    return h


# --- domain ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Domain:
    """The EIP-712 domain of one deployment; ``separator`` is computed once."""

    chain_id: int
    verifying_contract: str  # the DepositRegistry
    name: str = DOMAIN_NAME
    version: str = DOMAIN_VERSION
    separator: bytes = field(init=False, repr=False, compare=False)
    prefix: bytes = field(init=False, repr=False, compare=False)  # 0x1901 || separator

    def __post_init__(self) -> None:
        contract = _address(self.verifying_contract, "verifyingContract")
        sep = keccak(
            _DOMAIN_TYPEHASH
            + _string(self.name, "name")
            + _string(self.version, "version")
            + _u256(self.chain_id, "chainId")
            + contract
        )
        object.__setattr__(self, "verifying_contract", "0x" + contract[12:].hex())
        object.__setattr__(self, "separator", sep)
        object.__setattr__(self, "prefix", b"\x19\x01" + sep)

    def eip712_domain(self) -> dict[str, object]:
        """The domain as EIP-712 JSON (what wallets and eth_account take)."""
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }


def typed_digest(domain: Domain, struct_hash: bytes) -> bytes:
    """``keccak256(0x1901 || domainSeparator || struct_hash)``: what gets signed."""
    return keccak(domain.prefix + struct_hash)


# --- hashStruct of each type, from plain values ---------------------------------------------


def place_hash(
    account: str,
    market: str,
    side: str,
    price: int,
    qty: int,
    tif: str,
    order_type: str,
    client_order_id: str,
    stp: str,
    expires_at_ms: int,
    nonce: int,
) -> bytes:
    return keccak(
        b"".join(
            (
                _PLACE,
                _address(account, "account"),
                _market(market),
                _enum(side, _SIDES, "side"),
                _u256(price, "price"),
                _u256(qty, "qty"),
                _enum(tif, _TIFS, "tif"),
                _enum(order_type, _ORDER_TYPES, "orderType"),
                _string(client_order_id, "clientOrderId"),
                _enum(stp, _STPS, "stp"),
                _u64(expires_at_ms, "expiresAtMs"),
                _u64(nonce, "nonce"),
            )
        )
    )


def cancel_hash(
    account: str, market: str, order_id: int, client_order_id: str, nonce: int
) -> bytes:
    return keccak(
        b"".join(
            (
                _CANCEL,
                _address(account, "account"),
                _market(market),
                _u64(order_id, "orderId"),
                _string(client_order_id, "clientOrderId"),
                _u64(nonce, "nonce"),
            )
        )
    )


def cancel_all_hash(account: str, market: str, nonce: int) -> bytes:
    return keccak(
        b"".join((_CANCEL_ALL, _address(account, "account"), _market(market), _u64(nonce, "nonce")))
    )


def replace_hash(
    account: str,
    market: str,
    order_id: int,
    client_order_id: str,
    side: str,
    price: int,
    qty: int,
    nonce: int,
) -> bytes:
    return keccak(
        b"".join(
            (
                _REPLACE,
                _address(account, "account"),
                _market(market),
                _u64(order_id, "orderId"),
                _string(client_order_id, "clientOrderId"),
                _enum(side, _SIDES, "side"),
                _u256(price, "price"),
                _u256(qty, "qty"),
                _u64(nonce, "nonce"),
            )
        )
    )


def batch_hash(account: str, actions: Sequence[bytes], nonce: int) -> bytes:
    """``actions``: the hashStructs of the inner actions (see ``batch_inner_hashes``)."""
    if not isinstance(actions, Sequence) or isinstance(actions, (str, bytes)):
        raise _bad("actions", actions, "expected a sequence of 32-byte hashes")
    if not 1 <= len(actions) <= MAX_BATCH:
        raise _bad("actions", len(actions), f"expected 1 to {MAX_BATCH} actions")
    for a in actions:
        if type(a) is not bytes or len(a) != 32:
            raise _bad("actions", a, "expected 32-byte hashes")
    return keccak(
        b"".join(
            (_BATCH, _address(account, "account"), keccak(b"".join(actions)), _u64(nonce, "nonce"))
        )
    )


def login_hash(account: str, nonce: int) -> bytes:
    return keccak(_LOGIN + _address(account, "account") + _u64(nonce, "nonce"))


def approve_agent_hash(
    account: str, agent: str, name: str, valid_until_ms: int, nonce: int
) -> bytes:
    return keccak(
        b"".join(
            (
                _APPROVE_AGENT,
                _address(account, "account"),
                _address(agent, "agent"),
                _string(name, "name"),
                _u64(valid_until_ms, "validUntilMs"),
                _u64(nonce, "nonce"),
            )
        )
    )


def withdraw_hash(account: str, token: str, amount: int, nonce: int) -> bytes:
    return keccak(
        b"".join(
            (
                _WITHDRAW,
                _address(account, "account"),
                _address(token, "token"),
                _u256(amount, "amount"),
                _u64(nonce, "nonce"),
            )
        )
    )


# --- generic entry points: EIP-712 messages as dicts -----------------------------------------

_Msg = Mapping[str, Any]

_FIELD_NAMES: Final = {name: frozenset(n for n, _ in fields) for name, fields in TYPES.items()}


def _fields(type_name: str, message: object) -> _Msg:
    if not isinstance(message, Mapping):
        raise _bad(type_name, message, "expected a mapping")
    if message.keys() != _FIELD_NAMES[type_name]:
        names = [n for n, _ in TYPES[type_name]]
        raise _bad(type_name, sorted(message), f"expected exactly the fields {names}")
    return message


_FROM_MESSAGE: Final[dict[str, Callable[[_Msg], bytes]]] = {
    "Place": lambda m: place_hash(
        m["account"],
        m["market"],
        m["side"],
        m["price"],
        m["qty"],
        m["tif"],
        m["orderType"],
        m["clientOrderId"],
        m["stp"],
        m["expiresAtMs"],
        m["nonce"],
    ),
    "Cancel": lambda m: cancel_hash(
        m["account"], m["market"], m["orderId"], m["clientOrderId"], m["nonce"]
    ),
    "CancelAll": lambda m: cancel_all_hash(m["account"], m["market"], m["nonce"]),
    "Replace": lambda m: replace_hash(
        m["account"],
        m["market"],
        m["orderId"],
        m["clientOrderId"],
        m["side"],
        m["price"],
        m["qty"],
        m["nonce"],
    ),
    "Batch": lambda m: batch_hash(m["account"], m["actions"], m["nonce"]),
    "Login": lambda m: login_hash(m["account"], m["nonce"]),
    "ApproveAgent": lambda m: approve_agent_hash(
        m["account"], m["agent"], m["name"], m["validUntilMs"], m["nonce"]
    ),
    "Withdraw": lambda m: withdraw_hash(m["account"], m["token"], m["amount"], m["nonce"]),
}


def hash_struct(type_name: str, message: _Msg) -> bytes:
    """EIP-712 ``hashStruct`` of ``message`` (a dict with exactly the fields of ``type_name``).

    For ``Batch``, ``actions`` is the list of the inner hashStructs (``batch_inner_hashes``).
    """
    try:
        encode = _FROM_MESSAGE[type_name]
    except (KeyError, TypeError):
        raise MalformedAction(f"unknown action type {type_name!r:.40}") from None
    return encode(_fields(type_name, message))


def digest(domain: Domain, type_name: str, message: _Msg) -> bytes:
    """The 32 bytes an EIP-712 wallet signs for ``message`` of ``type_name`` under ``domain``."""
    return keccak(domain.prefix + hash_struct(type_name, message))


def batch_inner_hashes(account: str, actions: Sequence[tuple[str, _Msg]]) -> list[bytes]:
    """The hashStructs of a batch's inner actions, given as ``(type_name, message)`` pairs.

    Each must be a Place, Cancel or Replace of ``account`` with ``nonce`` 0 (the batch's own
    nonce is the one that counts). The server computes these itself from the actions it
    received, never taking hashes from the client.
    """
    if not 1 <= len(actions) <= MAX_BATCH:
        raise _bad("actions", len(actions), f"expected 1 to {MAX_BATCH} actions")
    owner = _address(account, "account")
    out = []
    for type_name, message in actions:
        if type_name not in BATCH_INNER_TYPES:
            raise MalformedAction(f"a batch holds Place, Cancel or Replace, not {type_name!r:.40}")
        m = _fields(type_name, message)
        if type(m["nonce"]) is not int or m["nonce"] != 0:
            raise _bad("nonce", m["nonce"], "an action inside a batch must have nonce 0")
        if _address(m["account"], "account") != owner:
            raise _bad("account", m["account"], "every action of a batch must be its account's")
        out.append(_FROM_MESSAGE[type_name](m))
    return out


# --- core commands --------------------------------------------------------------------------


def command_hash(
    command: PlaceCommand
    | CancelCommand
    | CancelAllCommand
    | ReplaceCommand
    | BatchCommand
    | WithdrawCommand,
    nonce: int,
) -> bytes:
    """The hashStruct that authorises a core command (``typed_digest`` makes the digest).

    A batch's inner actions are hashed with nonce 0 and must all belong to its account.
    """
    c = command
    if isinstance(c, PlaceCommand):
        return place_hash(
            c.account,
            c.market,
            c.side,
            c.price,
            c.qty,
            c.tif,
            c.order_type,
            c.client_order_id,
            c.stp,
            c.expires_at_ms,
            nonce,
        )
    if isinstance(c, CancelCommand):
        return cancel_hash(c.account, c.market, c.order_id, c.client_order_id, nonce)
    if isinstance(c, CancelAllCommand):
        return cancel_all_hash(c.account, c.market, nonce)
    if isinstance(c, ReplaceCommand):
        return replace_hash(
            c.account, c.market, c.order_id, c.client_order_id, c.side, c.price, c.qty, nonce
        )
    if isinstance(c, BatchCommand):
        owner = _address(c.account, "account")
        inner = []
        for a in c.actions:
            if _address(a.account, "account") != owner:
                raise _bad("account", a.account, "every action of a batch must be its account's")
            if isinstance(a, (PlaceCommand, CancelCommand, ReplaceCommand)):
                inner.append(command_hash(a, 0))
            else:
                raise MalformedAction(f"a batch holds place, cancel or replace, not {a!r:.60}")
        return batch_hash(c.account, inner, nonce)
    if isinstance(c, WithdrawCommand):
        return withdraw_hash(c.account, c.token, c.amount, nonce)
    raise MalformedAction(f"no signed form for {type(c).__name__}")

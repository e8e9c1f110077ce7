"""The hand-written EIP-712 digests equal eth_account's, for every type and many values.

eth_account is the reference (what wallets and other SDKs produce); it stays off the hot
path. Also: fixed golden r, s, v for a fixed key and Place, so any encoding change is caught.
"""

from __future__ import annotations

from typing import Any

import pytest
from Crypto.Hash import keccak as pycryptodome_keccak
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.auth import eip712
from server.auth.eip712 import (
    MAX_BATCH,
    MAX_STRING_BYTES,
    TYPE_STRINGS,
    TYPES,
    Domain,
    MalformedAction,
    batch_inner_hashes,
    command_hash,
    digest,
    hash_struct,
    keccak,
    normalize_address,
    typed_digest,
)
from server.auth.recovery import recover
from server.core.commands import Batch, Cancel, CancelAll, Place, Replace, Withdraw
from server.core.enums import OrderType, SelfTradePrevention, Side, TimeInForce

GOLDEN_KEY = "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
GOLDEN_ADDRESS = "0xFCAd0B19bB29D4674531d6f115237E16AfCE377c"
DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
ACCOUNT = "0x" + "11" * 20
TOKEN = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
U64 = 2**64 - 1
U256 = 2**256 - 1

SPEC_TYPE_STRINGS = {
    "Place": (
        "Place(address account,string market,string side,uint256 price,uint256 qty,string tif,"
        "string orderType,string clientOrderId,string stp,uint64 expiresAtMs,uint64 nonce)"
    ),
    "Cancel": (
        "Cancel(address account,string market,uint64 orderId,string clientOrderId,uint64 nonce)"
    ),
    "CancelAll": "CancelAll(address account,string market,uint64 nonce)",
    "Replace": (
        "Replace(address account,string market,uint64 orderId,string clientOrderId,string side,"
        "uint256 price,uint256 qty,uint64 nonce)"
    ),
    "Batch": "Batch(address account,bytes32[] actions,uint64 nonce)",
    "Login": "Login(address account,uint64 nonce)",
    "ApproveAgent": (
        "ApproveAgent(address account,address agent,string name,uint64 validUntilMs,uint64 nonce)"
    ),
    "Withdraw": "Withdraw(address account,address token,uint256 amount,uint64 nonce)",
}


def full_message(domain: Domain, type_name: str, message: dict[str, Any]) -> dict[str, Any]:
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            type_name: [{"name": n, "type": t} for n, t in TYPES[type_name]],
        },
        "primaryType": type_name,
        "domain": domain.eip712_domain(),
        "message": message,
    }


def reference_digest(domain: Domain, type_name: str, message: dict[str, Any]) -> bytes:
    """eth_account's digest, hashed with pycryptodome (not the keccak under test)."""
    sm = encode_typed_data(full_message=full_message(domain, type_name, message))
    assert sm.version == b"\x01"
    pre = b"\x19" + sm.version + sm.header + sm.body
    return pycryptodome_keccak.new(digest_bits=256, data=pre).digest()


def place(**kw: Any) -> dict[str, Any]:
    m: dict[str, Any] = {
        "account": ACCOUNT,
        "market": "WETH-USDC",
        "side": "buy",
        "price": 3_000_000_000,
        "qty": 10**18,
        "tif": "GTC",
        "orderType": "limit",
        "clientOrderId": "",
        "stp": "expire_maker",
        "expiresAtMs": 0,
        "nonce": 1_767_139_200_000,
    }
    m.update(kw)
    return m


def cancel(**kw: Any) -> dict[str, Any]:
    m: dict[str, Any] = {
        "account": ACCOUNT,
        "market": "WETH-USDC",
        "orderId": 7,
        "clientOrderId": "",
        "nonce": 1_767_139_200_001,
    }
    m.update(kw)
    return m


def replace(**kw: Any) -> dict[str, Any]:
    m: dict[str, Any] = {
        "account": ACCOUNT,
        "market": "WETH-USDC",
        "orderId": 7,
        "clientOrderId": "",
        "side": "sell",
        "price": 3_100_000_000,
        "qty": 5 * 10**17,
        "nonce": 1_767_139_200_002,
    }
    m.update(kw)
    return m


FIXED: list[tuple[str, dict[str, Any]]] = [
    ("Place", place()),
    ("Place", place(side="sell", tif="IOC", orderType="market", stp="expire_both")),
    ("Place", place(tif="FOK", stp="expire_taker", clientOrderId="my-order-1")),
    ("Place", place(tif="POST_ONLY", expiresAtMs=U64, nonce=U64, price=U256, qty=U256)),
    ("Place", place(price=0, qty=0, nonce=0, market="", clientOrderId="ü→€ 𝄞 ordre")),
    ("Place", place(account=to_checksum_address(ACCOUNT), market="x" * MAX_STRING_BYTES)),
    ("Place", place(account="0x" + "AB" * 20)),
    ("Cancel", cancel()),
    ("Cancel", cancel(orderId=0, clientOrderId="coid-42")),
    ("Cancel", cancel(orderId=U64, nonce=U64, market="")),
    ("CancelAll", {"account": ACCOUNT, "market": "", "nonce": 1}),
    ("CancelAll", {"account": ACCOUNT, "market": "WBTC-USDC", "nonce": U64}),
    ("Replace", replace()),
    ("Replace", replace(orderId=0, clientOrderId="c", side="buy", price=U256, qty=0)),
    ("Batch", {"account": ACCOUNT, "actions": [bytes(32)], "nonce": 3}),
    ("Batch", {"account": ACCOUNT, "actions": [bytes([i]) * 32 for i in range(64)], "nonce": 4}),
    ("Login", {"account": ACCOUNT, "nonce": 1_767_139_200_000}),
    ("Login", {"account": "0x" + "00" * 20, "nonce": 0}),
    (
        "ApproveAgent",
        {"account": ACCOUNT, "agent": TOKEN, "name": "bot-1", "validUntilMs": U64, "nonce": 9},
    ),
    (
        "ApproveAgent",
        {"account": ACCOUNT, "agent": TOKEN, "name": "", "validUntilMs": 0, "nonce": 1},
    ),
    ("Withdraw", {"account": ACCOUNT, "token": TOKEN, "amount": 12_345_678, "nonce": 5}),
    ("Withdraw", {"account": ACCOUNT, "token": TOKEN, "amount": U256, "nonce": U64}),
]

# --- the exact spelling of the types ---------------------------------------------------------


def test_type_strings_are_the_specified_ones() -> None:
    assert TYPE_STRINGS == SPEC_TYPE_STRINGS
    assert {n: keccak(s.encode()) for n, s in SPEC_TYPE_STRINGS.items()} == eip712.TYPE_HASHES


def test_every_type_has_fixed_vectors() -> None:
    assert {t for t, _ in FIXED} == set(TYPES)


def test_domain_separator_matches_eth_account() -> None:
    sm = encode_typed_data(full_message=full_message(DOMAIN, "Login", FIXED[16][1]))
    assert sm.header == DOMAIN.separator
    assert DOMAIN.verifying_contract == "0x5fbdb2315678afecb367f032d93f642f64180aa3"
    other = Domain(chain_id=1, verifying_contract=DOMAIN.verifying_contract)
    assert other.separator != DOMAIN.separator


@pytest.mark.parametrize(("type_name", "message"), FIXED)
def test_fixed_vectors_match_eth_account(type_name: str, message: dict[str, Any]) -> None:
    assert digest(DOMAIN, type_name, message) == reference_digest(DOMAIN, type_name, message)
    assert typed_digest(DOMAIN, hash_struct(type_name, message)) == digest(
        DOMAIN, type_name, message
    )


# --- hypothesis: many values per type --------------------------------------------------------

addresses = st.binary(min_size=20, max_size=20).flatmap(
    lambda b: st.sampled_from(["0x" + b.hex(), to_checksum_address(b), "0x" + b.hex().upper()])
)
texts = st.text(max_size=24)
u64s = st.integers(0, U64)
u256s = st.one_of(st.integers(0, U256), st.integers(0, 10**30))
sides = st.sampled_from([s.value for s in Side])
tifs = st.sampled_from([t.value for t in TimeInForce])
order_types = st.sampled_from([o.value for o in OrderType])
stps = st.sampled_from([s.value for s in SelfTradePrevention])

MESSAGES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "Place": st.fixed_dictionaries(
        {
            "account": addresses,
            "market": texts,
            "side": sides,
            "price": u256s,
            "qty": u256s,
            "tif": tifs,
            "orderType": order_types,
            "clientOrderId": texts,
            "stp": stps,
            "expiresAtMs": u64s,
            "nonce": u64s,
        }
    ),
    "Cancel": st.fixed_dictionaries(
        {
            "account": addresses,
            "market": texts,
            "orderId": u64s,
            "clientOrderId": texts,
            "nonce": u64s,
        }
    ),
    "CancelAll": st.fixed_dictionaries({"account": addresses, "market": texts, "nonce": u64s}),
    "Replace": st.fixed_dictionaries(
        {
            "account": addresses,
            "market": texts,
            "orderId": u64s,
            "clientOrderId": texts,
            "side": sides,
            "price": u256s,
            "qty": u256s,
            "nonce": u64s,
        }
    ),
    "Batch": st.fixed_dictionaries(
        {
            "account": addresses,
            "actions": st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=64),
            "nonce": u64s,
        }
    ),
    "Login": st.fixed_dictionaries({"account": addresses, "nonce": u64s}),
    "ApproveAgent": st.fixed_dictionaries(
        {
            "account": addresses,
            "agent": addresses,
            "name": texts,
            "validUntilMs": u64s,
            "nonce": u64s,
        }
    ),
    "Withdraw": st.fixed_dictionaries(
        {"account": addresses, "token": addresses, "amount": u256s, "nonce": u64s}
    ),
}
any_message = st.sampled_from(sorted(MESSAGES)).flatmap(
    lambda t: st.tuples(st.just(t), MESSAGES[t])
)
domains = st.builds(
    Domain, chain_id=st.integers(0, U256), verifying_contract=addresses.map(str.lower)
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(item=any_message, domain=domains)
def test_hypothesis_digests_match_eth_account(
    item: tuple[str, dict[str, Any]], domain: Domain
) -> None:
    type_name, message = item
    assert digest(domain, type_name, message) == reference_digest(domain, type_name, message)


@settings(max_examples=40, deadline=None)
@given(item=any_message, key=st.integers(1, 2**255))
def test_eth_account_signatures_recover_through_the_fast_path(
    item: tuple[str, dict[str, Any]], key: int
) -> None:
    type_name, message = item
    acct = Account.from_key(key.to_bytes(32, "big"))
    signed = Account.sign_typed_data(
        acct.key, full_message=full_message(DOMAIN, type_name, message)
    )
    assert recover(digest(DOMAIN, type_name, message), bytes(signed.signature)) == (
        acct.address.lower()
    )


# --- golden signature ------------------------------------------------------------------------

GOLDEN_PLACE: dict[str, Any] = {
    "account": GOLDEN_ADDRESS,
    "market": "WETH-USDC",
    "side": "sell",
    "price": 3_150_250_000,
    "qty": 1_500_000_000_000_000_000,
    "tif": "GTC",
    "orderType": "limit",
    "clientOrderId": "golden-1",
    "stp": "expire_maker",
    "expiresAtMs": 1_767_225_600_000,
    "nonce": 1_767_139_200_000,
}


def test_golden_place_digest_and_signature() -> None:
    assert Account.from_key(GOLDEN_KEY).address == GOLDEN_ADDRESS
    assert DOMAIN.separator.hex() == (
        "f2d5852dec94248d0b0912ac4fd8c051054ea4552b983d341dc9aa4fd951db4f"
    )
    assert hash_struct("Place", GOLDEN_PLACE).hex() == (
        "310bf499901208fbed379021fcc5b05bbd010875db8149513eae3a0cd87287a2"
    )
    d = digest(DOMAIN, "Place", GOLDEN_PLACE)
    assert d.hex() == "93cfadfe023c642c838bb19efedc9fb7d2391b486deb324e6a5340d81fb0c94f"
    signed = Account.sign_typed_data(
        GOLDEN_KEY, full_message=full_message(DOMAIN, "Place", GOLDEN_PLACE)
    )
    assert signed.r == 0x2259BF00E1C462439F05E16C2DFBD2F460A2ADFFEC75CBB40DF64EEF0D2BB7E6
    assert signed.s == 0x4E4E2CE0DDE492DFCDE0B3158A3ECEA710685E32258315BF50D2BA0B3BBBB2A0
    assert signed.v == 28
    assert recover(d, bytes(signed.signature)) == GOLDEN_ADDRESS.lower()


# --- the keccak binding ----------------------------------------------------------------------


def test_keccak_matches_pycryptodome_across_block_boundaries() -> None:
    data = bytes(range(256)) * 3
    for n in [*range(0, 300), 543, 544, 545, 768]:
        ref = pycryptodome_keccak.new(digest_bits=256, data=data[:n]).digest()
        assert keccak(data[:n]) == ref, n


# --- batches and core commands ---------------------------------------------------------------


def test_batch_inner_hashes_are_the_nonce_zero_hash_structs() -> None:
    inner = [("Place", place(nonce=0)), ("Cancel", cancel(nonce=0)), ("Replace", replace(nonce=0))]
    hashes = batch_inner_hashes(ACCOUNT, inner)
    assert hashes == [hash_struct(t, m) for t, m in inner]
    message = {"account": ACCOUNT, "actions": hashes, "nonce": 11}
    assert digest(DOMAIN, "Batch", message) == reference_digest(DOMAIN, "Batch", message)


@pytest.mark.parametrize(
    ("actions", "why"),
    [
        ([("Place", place(nonce=1))], "nonce 0"),
        ([("Place", place(nonce=False))], "nonce 0"),
        ([("Cancel", cancel(nonce=0, account=TOKEN))], "account"),
        ([("Login", {"account": ACCOUNT, "nonce": 0})], "Place, Cancel or Replace"),
        ([], "1 to 64"),
        ([("Cancel", cancel(nonce=0))] * (MAX_BATCH + 1), "1 to 64"),
        ([("Cancel", {"account": ACCOUNT, "nonce": 0})], "fields"),
    ],
)
def test_batch_inner_hashes_refuse(actions: list[tuple[str, dict[str, Any]]], why: str) -> None:
    with pytest.raises(MalformedAction, match=why):
        batch_inner_hashes(ACCOUNT, actions)


def test_batch_inner_hashes_accept_another_spelling_of_the_account() -> None:
    hashes = batch_inner_hashes(ACCOUNT.upper().replace("0X", "0x"), [("Cancel", cancel(nonce=0))])
    assert hashes == [hash_struct("Cancel", cancel(nonce=0))]


def test_command_hash_matches_the_message_form() -> None:
    p = Place(
        ACCOUNT,
        "WETH-USDC",
        Side.SELL,
        3_100_000_000,
        10**18,
        TimeInForce.IOC,
        OrderType.MARKET,
        "c1",
        SelfTradePrevention.EXPIRE_BOTH,
        0,
    )
    pm = place(
        side="sell",
        price=3_100_000_000,
        tif="IOC",
        orderType="market",
        clientOrderId="c1",
        stp="expire_both",
        nonce=5,
    )
    assert command_hash(p, 5) == hash_struct("Place", pm)
    c = Cancel(ACCOUNT, "WETH-USDC", 7)
    assert command_hash(c, 1_767_139_200_001) == hash_struct("Cancel", cancel())
    assert command_hash(CancelAll(ACCOUNT), 1) == hash_struct("CancelAll", FIXED[10][1])
    r = Replace(ACCOUNT, "WETH-USDC", Side.SELL, 3_100_000_000, 5 * 10**17, order_id=7)
    assert command_hash(r, 1_767_139_200_002) == hash_struct("Replace", replace())
    w = Withdraw(ACCOUNT, TOKEN, 12_345_678)
    assert command_hash(w, 5) == hash_struct("Withdraw", FIXED[20][1])
    b = Batch(ACCOUNT, (p, c, r))
    inner = [command_hash(p, 0), command_hash(c, 0), command_hash(r, 0)]
    assert command_hash(b, 8) == hash_struct(
        "Batch", {"account": ACCOUNT, "actions": inner, "nonce": 8}
    )
    with pytest.raises(MalformedAction, match="account"):
        command_hash(Batch(ACCOUNT, (Cancel(TOKEN, "WETH-USDC", 1),)), 8)


# --- strict validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("account", "0x" + "11" * 19),  # too short
        ("account", "0x" + "11" * 21),  # too long
        ("account", "11" * 21),  # no 0x
        ("account", "0X" + "11" * 20),
        ("account", "0x" + "g1" * 20),  # not hex
        ("account", "0x" + "11" * 19 + " 1"),  # fromhex would skip the space
        ("account", bytes(20)),
        ("account", None),
        ("market", 5),
        ("market", b"WETH-USDC"),
        ("market", "x" * (MAX_STRING_BYTES + 1)),
        ("market", "\ud800"),  # a lone surrogate is not UTF-8
        ("clientOrderId", None),
        ("clientOrderId", "€" * 86),  # 258 UTF-8 bytes
        ("side", "BUY"),
        ("side", "bid"),
        ("side", ["buy"]),
        ("tif", "gtc"),
        ("orderType", "stop"),
        ("stp", "none"),
        ("price", -1),
        ("price", 2**256),
        ("price", 1.5),
        ("price", "100"),
        ("qty", True),
        ("expiresAtMs", 2**64),
        ("nonce", -1),
        ("nonce", 2**64),
        ("nonce", None),
    ],
)
def test_place_refuses_malformed_fields(field: str, value: object) -> None:
    with pytest.raises(MalformedAction, match=field):
        digest(DOMAIN, "Place", place(**{field: value}))


@pytest.mark.parametrize(
    ("type_name", "message"),
    [
        ("Place", {k: v for k, v in place().items() if k != "stp"}),
        ("Place", {**place(), "extra": 1}),
        ("Login", {"account": ACCOUNT}),
        ("Login", [("account", ACCOUNT), ("nonce", 1)]),
        ("Order", {"account": ACCOUNT, "nonce": 1}),
        ("Batch", {"account": ACCOUNT, "actions": [], "nonce": 1}),
        ("Batch", {"account": ACCOUNT, "actions": [bytes(32)] * 65, "nonce": 1}),
        ("Batch", {"account": ACCOUNT, "actions": [bytes(31)], "nonce": 1}),
        ("Batch", {"account": ACCOUNT, "actions": [bytearray(32)], "nonce": 1}),
        ("Batch", {"account": ACCOUNT, "actions": bytes(32), "nonce": 1}),
        ("Withdraw", {"account": ACCOUNT, "token": "usdc", "amount": 1, "nonce": 1}),
        (
            "ApproveAgent",
            {"account": ACCOUNT, "agent": TOKEN, "name": 1, "validUntilMs": 1, "nonce": 1},
        ),
        (
            "ApproveAgent",
            {"account": ACCOUNT, "agent": TOKEN, "name": "", "validUntilMs": 2**64, "nonce": 1},
        ),
        ("Cancel", cancel(orderId=-1)),
        ("Replace", replace(side="SELL")),
    ],
)
def test_malformed_messages_are_refused(type_name: str, message: Any) -> None:
    with pytest.raises(MalformedAction):
        digest(DOMAIN, type_name, message)


def test_enum_members_hash_like_their_spelling() -> None:
    m = place(side=Side.SELL, tif=TimeInForce.FOK, orderType=OrderType.MARKET)
    assert digest(DOMAIN, "Place", m) == digest(
        DOMAIN, "Place", place(side="sell", tif="FOK", orderType="market")
    )


def test_caches_do_not_change_results() -> None:
    before = digest(DOMAIN, "Place", place(market="CACHE-TEST", account=TOKEN))
    eip712._market_cache.clear()
    eip712._address_cache.clear()
    assert digest(DOMAIN, "Place", place(market="CACHE-TEST", account=TOKEN)) == before
    with pytest.raises(MalformedAction):  # a refused value is never cached
        digest(DOMAIN, "Place", place(market="m" * (MAX_STRING_BYTES + 1)))
    with pytest.raises(MalformedAction):
        digest(DOMAIN, "Place", place(market="m" * (MAX_STRING_BYTES + 1)))


def test_normalize_address_and_domain_validation() -> None:
    assert normalize_address(to_checksum_address(TOKEN)) == TOKEN
    with pytest.raises(MalformedAction, match="verifyingContract"):
        Domain(chain_id=1, verifying_contract="0x1234")
    with pytest.raises(MalformedAction, match="chainId"):
        Domain(chain_id=-1, verifying_contract=TOKEN)

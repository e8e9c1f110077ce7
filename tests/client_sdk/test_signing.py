"""SDK signing: the same signatures as eth_account, verified by eth_account and server.auth."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from client_sdk.signing import Domain, Signer, SigningError, hash_struct, typed_data, typed_digest
from server.auth import Agents, digest, recover
from server.auth import Domain as ServerDomain
from server.auth.eip712 import batch_inner_hashes
from server.auth.eip712 import hash_struct as server_hash_struct
from server.core.enums import Side, TimeInForce

KEY = "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
AGENT_KEY = "0x" + "42" * 32
REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
DOMAIN = Domain(chain_id=31337, verifying_contract=REGISTRY)
SERVER_DOMAIN = ServerDomain(chain_id=31337, verifying_contract=REGISTRY)
TOKEN = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
NONCE = 1_767_139_200_000


def eth_recover(type_name: str, message: dict[str, Any], signature: str) -> str:
    signable = encode_typed_data(full_message=typed_data(DOMAIN, type_name, message))
    return str(Account.recover_message(signable, signature=signature)).lower()


def signed_examples(s: Signer) -> list[tuple[str, dict[str, Any], str]]:
    """(type, message, signature) for every action type, via the per-type helpers."""
    place = s.place_message("WETH-USDC", Side.BUY, 3_000_000_000, 10**18, nonce=0)
    cancel = s.cancel_message("WETH-USDC", nonce=0, order_id=7)
    replace = s.replace_message("WETH-USDC", "sell", 3_100_000_000, 10**17, nonce=0, order_id=7)
    batch = [("Place", place), ("Cancel", cancel), ("Replace", replace)]
    out = [
        (
            "Place",
            {**place, "nonce": NONCE, "tif": "IOC", "clientOrderId": "c-1"},
            s.sign_place(
                "WETH-USDC",
                "buy",
                3_000_000_000,
                10**18,
                nonce=NONCE,
                tif=TimeInForce.IOC,
                client_order_id="c-1",
            ),
        ),
        (
            "Cancel",
            {**cancel, "nonce": NONCE + 1},
            s.sign_cancel("WETH-USDC", nonce=NONCE + 1, order_id=7),
        ),
        (
            "CancelAll",
            {"account": s.account, "market": "", "nonce": NONCE + 2},
            s.sign_cancel_all(nonce=NONCE + 2),
        ),
        (
            "Replace",
            {**replace, "nonce": NONCE + 3},
            s.sign_replace("WETH-USDC", "sell", 3_100_000_000, 10**17, nonce=NONCE + 3, order_id=7),
        ),
        (
            "Batch",
            s.batch_message(batch, nonce=NONCE + 4),
            s.sign_batch(batch, nonce=NONCE + 4),
        ),
        ("Login", {"account": s.account, "nonce": NONCE + 5}, s.sign_login(nonce=NONCE + 5)),
    ]
    if not s.is_agent:
        out += [
            (
                "ApproveAgent",
                {
                    "account": s.account,
                    "agent": TOKEN,
                    "name": "bot",
                    "validUntilMs": NONCE + 10**6,
                    "nonce": NONCE + 6,
                },
                s.sign_approve_agent(TOKEN, "bot", NONCE + 10**6, nonce=NONCE + 6),
            ),
            (
                "Withdraw",
                {"account": s.account, "token": TOKEN, "amount": 5 * 10**6, "nonce": NONCE + 7},
                s.sign_withdraw(TOKEN, 5 * 10**6, nonce=NONCE + 7),
            ),
        ]
    return out


def test_domain_matches_the_server() -> None:
    assert DOMAIN.separator == SERVER_DOMAIN.separator
    assert DOMAIN.verifying_contract == REGISTRY.lower()


def test_every_type_is_signed_exactly_like_eth_account() -> None:
    s = Signer(KEY, DOMAIN)
    examples = signed_examples(s)
    assert len(examples) == 8
    for type_name, message, sig in examples:
        assert sig.startswith("0x") and len(sig) == 132
        assert int(sig[-2:], 16) in (27, 28)
        ref = Account.sign_typed_data(KEY, full_message=typed_data(DOMAIN, type_name, message))
        assert sig == "0x" + bytes(ref.signature).hex(), type_name


def test_signatures_verify_via_eth_account_and_server_auth() -> None:
    s = Signer(KEY, DOMAIN)
    assert s.address == Account.from_key(KEY).address.lower() == s.account
    for type_name, message, sig in signed_examples(s):
        assert eth_recover(type_name, message, sig) == s.address, type_name
        server_digest = digest(SERVER_DOMAIN, type_name, message)
        assert server_digest == typed_digest(DOMAIN, type_name, message)
        assert recover(server_digest, sig) == s.address, type_name


def test_batch_inner_hashes_match_what_the_server_computes() -> None:
    s = Signer(KEY, DOMAIN)
    place = s.place_message("WETH-USDC", "sell", 1, 2, nonce=123)  # nonce replaced by 0
    cancel = s.cancel_message("WETH-USDC", nonce=0, client_order_id="x")
    batch = s.batch_message([("Place", place), ("Cancel", cancel)], nonce=NONCE)
    server_side = batch_inner_hashes(
        s.account, [("Place", {**place, "nonce": 0}), ("Cancel", cancel)]
    )
    assert batch["actions"] == server_side


def test_agent_signs_for_the_owner() -> None:
    owner = Signer(KEY, DOMAIN)
    agent = Signer(AGENT_KEY, DOMAIN, account=owner.address.upper().replace("0X", "0x"))
    assert agent.is_agent and agent.account == owner.address
    assert agent.address == Account.from_key(AGENT_KEY).address.lower()
    agents = Agents()
    agents.approve(owner.address, agent.address, "bot", NONCE + 1000, NONCE)
    examples = signed_examples(agent)
    assert {t for t, _, _ in examples} == {
        "Place",
        "Cancel",
        "CancelAll",
        "Replace",
        "Batch",
        "Login",
    }
    for type_name, message, sig in examples:
        assert message["account"] == owner.address
        signer = recover(digest(SERVER_DOMAIN, type_name, message), sig)
        assert signer == agent.address == eth_recover(type_name, message, sig)
        agents.authorize(message["account"], signer, type_name, NONCE)


def test_agent_cannot_sign_owner_only_actions() -> None:
    agent = Signer(AGENT_KEY, DOMAIN, account=TOKEN)
    with pytest.raises(SigningError, match="own key"):
        agent.sign_withdraw(TOKEN, 1, nonce=NONCE)
    with pytest.raises(SigningError, match="own key"):
        agent.sign_approve_agent(TOKEN, "x", NONCE + 1, nonce=NONCE)


def test_a_message_for_another_account_is_refused() -> None:
    s = Signer(KEY, DOMAIN)
    with pytest.raises(SigningError, match="signs for"):
        s.sign("Login", {"account": TOKEN, "nonce": NONCE})
    other = Signer(AGENT_KEY, DOMAIN).cancel_message("M", nonce=0)
    with pytest.raises(SigningError, match="account"):
        s.batch_message([("Cancel", other)], nonce=NONCE)


@pytest.mark.parametrize(
    ("type_name", "message", "why"),
    [
        ("Login", {"nonce": NONCE}, "signs for"),
        ("Nope", {"account": None}, "signs for"),
        ("Login", {"account": "SELF", "nonce": -1}, "uint64"),
        ("Login", {"account": "SELF", "nonce": NONCE, "x": 1}, "fields"),
        ("Withdraw", {"account": "SELF", "token": "0x12", "amount": 1, "nonce": 1}, "token"),
        ("Withdraw", {"account": "SELF", "token": TOKEN, "amount": 2**256, "nonce": 1}, "uint256"),
        ("CancelAll", {"account": "SELF", "market": 5, "nonce": 1}, "string"),
        ("Batch", {"account": "SELF", "actions": [b"1"], "nonce": 1}, "32-byte"),
        ("Batch", {"account": "SELF", "actions": b"1" * 32, "nonce": 1}, "32-byte"),
    ],
)
def test_malformed_messages_are_refused(type_name: str, message: dict[str, Any], why: str) -> None:
    s = Signer(KEY, DOMAIN)
    if message.get("account") == "SELF":
        message = {**message, "account": s.account}
    with pytest.raises(SigningError, match=why):
        s.sign(type_name, message)


def test_unknown_type_and_bad_batches_are_refused() -> None:
    with pytest.raises(SigningError, match="unknown"):
        hash_struct("Order", {})
    s = Signer(KEY, DOMAIN)
    with pytest.raises(SigningError, match="1 to 64"):
        s.batch_message([], nonce=NONCE)
    with pytest.raises(SigningError, match="Place, Cancel or Replace"):
        s.batch_message([("Login", {"account": s.account, "nonce": 0})], nonce=NONCE)


@pytest.mark.parametrize("key", ["0x1234", "zz" * 32, b"\x01" * 31, "00" * 32, "0x" + "ff" * 32])
def test_bad_private_keys_are_refused(key: str | bytes) -> None:
    with pytest.raises(SigningError):
        Signer(key, DOMAIN)


def test_bytes_key_and_sign_digest() -> None:
    s = Signer(bytes.fromhex(KEY[2:]), DOMAIN)
    d = bytes(range(32))
    assert recover(d, s.sign_digest(d)) == s.address
    with pytest.raises(SigningError, match="32 bytes"):
        s.sign_digest(d[:31])


def test_next_nonce_strictly_increases() -> None:
    s = Signer(KEY, DOMAIN)
    nonces = [s.next_nonce() for _ in range(1000)]
    assert nonces == sorted(set(nonces))
    assert nonces[0] > 1_700_000_000_000  # a millisecond timestamp


@settings(max_examples=50, deadline=None)
@given(
    market=st.text(max_size=20),
    coid=st.text(max_size=20),
    price=st.integers(0, 2**256 - 1),
    qty=st.integers(0, 2**256 - 1),
    nonce=st.integers(0, 2**64 - 1),
)
def test_sdk_hash_struct_equals_the_server_fast_path(
    market: str, coid: str, price: int, qty: int, nonce: int
) -> None:
    s = Signer(KEY, DOMAIN)
    m = s.place_message(market, "sell", price, qty, nonce=nonce, client_order_id=coid)
    assert hash_struct("Place", m) == server_hash_struct("Place", m)
    r = s.replace_message(market, "buy", price, qty, nonce=nonce, client_order_id=coid)
    assert hash_struct("Replace", r) == server_hash_struct("Replace", r)


def test_client_sdk_never_imports_server() -> None:
    root = Path(__file__).parents[2] / "client_sdk"
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n == "server" or n.startswith("server.") for n in names), path


def test_the_sdk_and_the_server_share_one_set_of_action_types() -> None:
    """The SDK stands alone (it never imports the server), so it keeps its own copy of the
    EIP-712 types: they must stay the server's, field for field."""
    from client_sdk import signing
    from server.auth import eip712

    assert signing.TYPES == eip712.TYPES
    assert signing._type_string("EIP712Domain", signing._DOMAIN_FIELDS) == eip712.DOMAIN_TYPE

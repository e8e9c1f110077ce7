"""Wire JSON signed by the SDK -> core command and digest -> the signer recovers: end to end,
without sockets."""

from __future__ import annotations

import json

import pytest

from client_sdk.signing import Domain as SdkDomain
from client_sdk.signing import Signer
from server.auth.eip712 import Domain
from server.auth.recovery import recover
from server.core import Batch, Cancel, OrderType, Place, Side, TimeInForce, Withdraw
from server.gateway.actions import signing_digest, to_command
from server.gateway.wire import WireError, decode_request

REGISTRY = "0x" + "de" * 20
KEY = "0x" + "42" * 32
TOKEN = "0x" + "11" * 20
NONCE = 1_700_000_000_123


def _signer() -> Signer:
    return Signer(KEY, SdkDomain(31337, REGISTRY))


def _wire(method: str, params: dict[str, object]) -> tuple[object, object]:
    return decode_request(json.dumps({"id": 1, "method": method, "params": params}))


def test_a_signed_place_becomes_the_exact_core_command_and_recovers_its_signer() -> None:
    s = _signer()
    sig = s.sign_place(
        "WETH-USDC",
        "sell",
        3_000_010_000,
        10**18 + 1,
        nonce=NONCE,
        tif="IOC",
        order_type="market",
        client_order_id="c-1",
    )
    _req, p = _wire(
        "place",
        {
            "account": s.account.upper().replace("0X", "0x"),
            "market": "WETH-USDC",
            "side": "sell",
            "price": "3000010000",
            "qty": str(10**18 + 1),
            "tif": "IOC",
            "order_type": "market",
            "client_order_id": "c-1",
            "nonce": NONCE,
            "signature": sig,
        },
    )
    command = to_command(p)  # type: ignore[arg-type]
    assert command == Place(
        s.account,
        "WETH-USDC",
        Side.SELL,
        3_000_010_000,
        10**18 + 1,
        TimeInForce.IOC,
        OrderType.MARKET,
        "c-1",
    )
    digest = signing_digest(Domain(31337, REGISTRY), p, command)  # type: ignore[arg-type]
    assert recover(digest, sig) == s.address
    # the same signature under another deployment's domain names someone else
    assert recover(signing_digest(Domain(1, REGISTRY), p, command), sig) != s.address  # type: ignore[arg-type]


def test_a_signed_batch_and_withdraw() -> None:
    s = _signer()
    place = s.place_message("WETH-USDC", "buy", 2_000_000_000, 10**15, nonce=0)
    cancel = s.cancel_message("WETH-USDC", nonce=0, order_id=9)
    sig = s.sign_batch([("Place", place), ("Cancel", cancel)], nonce=NONCE)
    _req, p = _wire(
        "batch",
        {
            "account": s.account,
            "nonce": NONCE,
            "signature": sig,
            "actions": [
                {
                    "method": "place",
                    "params": {
                        "market": "WETH-USDC",
                        "side": "buy",
                        "price": "2000000000",
                        "qty": str(10**15),
                    },
                },
                {"method": "cancel", "params": {"market": "WETH-USDC", "order_id": 9}},
            ],
        },
    )
    command = to_command(p)  # type: ignore[arg-type]
    assert isinstance(command, Batch)
    assert command.actions[1] == Cancel(s.account, "WETH-USDC", 9)
    assert recover(signing_digest(Domain(31337, REGISTRY), p, command), sig) == s.address  # type: ignore[arg-type]

    wsig = s.sign_withdraw(TOKEN, 5 * 10**18, nonce=NONCE + 1)
    _req, w = _wire(
        "withdraw",
        {
            "account": s.account,
            "token": TOKEN.upper().replace("0X", "0x"),
            "amount": str(5 * 10**18),
            "nonce": NONCE + 1,
            "signature": wsig,
        },
    )
    wcmd = to_command(w)  # type: ignore[arg-type]
    assert wcmd == Withdraw(s.account, TOKEN, 5 * 10**18)
    assert recover(signing_digest(Domain(31337, REGISTRY), w, wcmd), wsig) == s.address  # type: ignore[arg-type]


def test_login_digest() -> None:
    s = _signer()
    sig = s.sign_login(nonce=NONCE)
    _req, p = _wire("login", {"account": s.account, "nonce": NONCE, "signature": sig})
    assert recover(signing_digest(Domain(31337, REGISTRY), p, None), sig) == s.address  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("item", "match"),
    [
        ({"method": "place", "params": {"market": "M", "nonce": 1}}, "nonce belongs to the batch"),
        ({"method": "place", "params": {"market": "M", "colour": 1}}, "actions\\[0\\]"),
        ({"method": "place", "params": {"market": "M", "qty": str(2**256)}}, "uint256"),
    ],
)
def test_bad_batch_items_are_bad_requests(item: dict[str, object], match: str) -> None:
    _req, p = _wire("batch", {"account": "0x" + "a1" * 20, "actions": [item]})
    with pytest.raises(WireError, match=match) as e:
        to_command(p)  # type: ignore[arg-type]
    assert e.value.code == "BAD_REQUEST"


def test_a_signed_action_without_a_nonce_has_no_digest() -> None:
    _req, p = _wire("login", {"account": "0x" + "a1" * 20})
    with pytest.raises(WireError, match="needs a nonce"):
        signing_digest(Domain(31337, REGISTRY), p, None)  # type: ignore[arg-type]

"""The wire decoder: strict, correlated errors, and nothing but WireError on any input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.gateway.errors import GATEWAY_CODES
from server.gateway.wire import (
    METHODS,
    PlaceParams,
    WireError,
    decode_request,
    parse_amount,
)

ALICE = "0x" + "a1" * 20
SIG = "0x" + "ab" * 65


def _place(**over: object) -> dict[str, object]:
    params: dict[str, object] = {
        "account": ALICE,
        "market": "WETH-USDC",
        "side": "buy",
        "price": "3000000000",
        "qty": "1000000000000000000",
        "nonce": 1_700_000_000_000,
        "signature": SIG,
    }
    params.update(over)
    return {"id": 7, "method": "place", "params": params}


def _code(data: bytes | str) -> tuple[str, object]:
    with pytest.raises(WireError) as e:
        decode_request(data)
    assert e.value.code in GATEWAY_CODES
    return e.value.code, e.value.request_id


def test_a_place_decodes_to_typed_params() -> None:
    req, params = decode_request(json.dumps(_place()))
    assert req.id == 7 and req.method == "place"
    assert isinstance(params, PlaceParams)
    assert parse_amount(params.qty, "qty") == 10**18
    assert params.tif == "GTC" and params.signer is None


@pytest.mark.parametrize(
    ("data", "code", "rid"),
    [
        (b"{not json", "BAD_JSON", None),
        (b"[1,2]", "BAD_REQUEST", None),
        (json.dumps({"id": 3, "method": "nope"}), "UNKNOWN_METHOD", 3),
        (json.dumps({"id": 4, "method": "place", "extra": 1}), "BAD_REQUEST", 4),
        (json.dumps(_place(colour="red")), "BAD_REQUEST", 7),  # unknown field
        (json.dumps(_place(qty=10**18)), "BAD_REQUEST", 7),  # a number, not a string
        (json.dumps(_place(qty="1" * 79)), "BAD_REQUEST", 7),  # too many digits
        (json.dumps(_place(qty="-5")), "BAD_REQUEST", 7),
        (json.dumps(_place(qty="1.5")), "BAD_REQUEST", 7),  # base units: integers only
        (json.dumps(_place(side="long")), "BAD_REQUEST", 7),
        (json.dumps(_place(account="0x1234")), "BAD_REQUEST", 7),
        (json.dumps(_place(signature="0xdead")), "BAD_REQUEST", 7),
        (json.dumps(_place(nonce=2**63)), "BAD_REQUEST", 7),
        (json.dumps({"id": "x" * 65, "method": "place"}), "BAD_REQUEST", None),
    ],
)
def test_bad_requests_get_their_code_and_keep_the_id(
    data: bytes | str, code: str, rid: object
) -> None:
    assert _code(data) == (code, rid)


def test_amount_beyond_uint256_is_refused() -> None:
    _req, params = decode_request(json.dumps(_place(qty=str(2**256))))
    assert isinstance(params, PlaceParams)
    with pytest.raises(WireError, match="uint256") as e:
        parse_amount(params.qty, "qty")
    assert e.value.code == "BAD_REQUEST"
    assert parse_amount(str(2**256 - 1), "qty") == 2**256 - 1


def test_every_method_decodes_its_minimal_form() -> None:
    minimal = {
        "login": {"account": ALICE},
        "subscribe": {"channel": "book", "market": "WETH-USDC"},
        "unsubscribe": {"channel": "user"},
        "balances": {},
    }
    for method, params in minimal.items():
        _req, p = decode_request(json.dumps({"id": 1, "method": method, "params": params}))
        assert isinstance(p, METHODS[method])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.floats(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_arbitrary_bytes_never_raise_anything_but_wire_error(data: bytes | str) -> None:
    try:
        decode_request(data)
    except WireError as e:
        assert e.code in GATEWAY_CODES


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(METHODS)) | st.text(max_size=12),
    st.dictionaries(
        st.sampled_from(
            [
                "account",
                "market",
                "side",
                "price",
                "qty",
                "nonce",
                "signature",
                "order_id",
                "channel",
                "actions",
                "amount",
            ]
        )
        | st.text(max_size=8),
        json_values,
        max_size=6,
    ),
    json_values,
)
def test_arbitrary_json_requests_never_raise_anything_but_wire_error(
    method: str, params: dict[str, object], rid: object
) -> None:
    try:
        data = json.dumps({"id": rid, "method": method, "params": params})
    except ValueError:  # NaN and friends: not JSON
        return
    try:
        decode_request(data)
    except WireError as e:
        assert e.code in GATEWAY_CODES

"""Every bad input gets its documented error over a real socket, and changes no state.

One server (subprocess, loopback, free port) with the development operator on and tight
limits, so that the rate and abuse limits can be reached quickly.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from client_sdk.signing import Signer
from tests.e2e.raw import DARK, DOMAIN, E6, E18, MKT, TICK, USDC, Raw, dev_setup, signed_params
from tests.servers import Server, start

ALICE = Signer("0x" + "a1" * 32, DOMAIN)
BOB = Signer("0x" + "b2" * 32, DOMAIN)
MALLORY = Signer("0x" + "c3" * 32, DOMAIN)

LIMITS = """dev_operator = true
rate_per_connection = 200
max_errors = 300
max_frame_bytes = 65536
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start(tmp_path_factory.mktemp("protection"), LIMITS)
    yield srv
    code, stderr = srv.stop()
    assert code == 0, stderr


@pytest.fixture
async def raw(server: Server) -> AsyncIterator[Raw]:
    r = await Raw.open(server.ws_url)
    if not (await r.ok("markets"))["markets"]:
        await dev_setup(r, {ALICE.account: (10 * E18, 100_000 * E6), BOB.account: (10 * E18, 0)})
    yield r
    await r.close()


async def state(r: Raw) -> tuple[str, str]:
    """The hashes of the whole sequenced state and of the core. (A refused action may still
    take a sequence number: the refusal is journaled, and it changes nothing.)"""
    s = await r.ok("dev_state_hash")
    return s["state_hash"], s["core_state_hash"]


def place(signer: Signer, **kw: Any) -> dict[str, Any]:
    fields = {"market": MKT, "side": "buy", "price": 3000 * E6, "qty": E18, **kw}
    return signed_params(signer, "place", **fields)


BAD_FRAMES = [
    ("not json", "BAD_JSON"),
    ('{"id": 1, "method": "place", "params": {"account": ', "BAD_JSON"),
    ('{"id": 1}', "BAD_REQUEST"),
    ('{"id": 1, "method": "markets", "extra": 1}', "BAD_REQUEST"),
    ('{"id": 1, "method": "markets", "params": {"x": 1}}', "BAD_REQUEST"),
    ('{"id": 1, "method": 5}', "BAD_REQUEST"),
    ('{"id": 1, "method": "book", "params": {"market": 7}}', "BAD_REQUEST"),
    ('{"id": 1, "method": "book", "params": {"market": "WETH-USDC", "depth": 1e9}}', "BAD_REQUEST"),
    ('{"id": 1, "method": "fills", "params": {"limit": 100000000000000000000000}}', "BAD_REQUEST"),
    ('{"id": 1, "method": "nope"}', "UNKNOWN_METHOD"),
    ('{"id": 1, "method": "balances"}', "NOT_LOGGED_IN"),
    ('{"id": 1, "method": "subscribe", "params": {"channel": "user"}}', "NOT_LOGGED_IN"),
    (
        '{"id": 1, "method": "subscribe", "params": {"channel": "trades", "market": "X"}}',
        "UNKNOWN_MARKET",
    ),
    ('{"id": 1, "method": "book", "params": {"market": "WETH-USDC-DARK"}}', "DARK_MARKET"),
    (
        '{"id": 1, "method": "unsubscribe", "params": {"channel": "trades", "market": "'
        + MKT
        + '"}}',
        "UNKNOWN_CHANNEL",
    ),
]


@pytest.mark.parametrize(("frame", "code"), BAD_FRAMES)
async def test_bad_frames_get_their_code_and_change_nothing(
    raw: Raw, frame: str, code: str
) -> None:
    before = await state(raw)
    await raw.send(frame)
    answer = await raw.recv()
    assert answer["error"]["code"] == code, answer
    assert answer["error"]["category"] and answer["error"]["message"]
    assert await state(raw) == before
    assert (await raw.ok("markets"))["markets"]  # the connection survived


def _tamper(params: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**params, **changes}


async def test_bad_actions_get_their_code_and_change_nothing(raw: Raw) -> None:
    good = place(ALICE, price=3000 * E6 + TICK)
    wrong_key = place(MALLORY)
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("place", _tamper(good, qty=str(2 * E18)), "BAD_SIGNATURE"),  # not what was signed
        ("place", _tamper(wrong_key, account=ALICE.account), "BAD_SIGNATURE"),
        ("place", _tamper(good, signature="0x" + "00" * 65), "BAD_SIGNATURE"),
        ("place", _tamper(good, signature="0x12"), "BAD_REQUEST"),
        ("place", _tamper(good, qty="1" * 79), "BAD_REQUEST"),
        ("place", _tamper(good, price="-1"), "BAD_REQUEST"),
        ("place", _tamper(good, side="up"), "BAD_REQUEST"),
        ("place", _tamper(good, nonce=2**64), "BAD_REQUEST"),
        ("place", _tamper(good, signer=BOB.account), "BAD_SIGNATURE"),
        (
            "place",
            {k: v for k, v in good.items() if k not in ("signature", "nonce")},
            "NOT_LOGGED_IN",
        ),
        ("place", place(ALICE, nonce=1_000), "NONCE_OUT_OF_WINDOW"),
        (
            "login",
            {k: v for k, v in signed_params(ALICE, "login").items() if k != "signature"},
            "SIGNATURE_REQUIRED",
        ),
    ]
    for method, params, code in cases:
        before = await state(raw)
        assert await raw.error(method, params) == code, (method, params)
        assert await state(raw) == before, (method, code)


async def test_core_rejects_change_no_balance_or_book(raw: Raw) -> None:
    cases = [
        (place(BOB, qty=E18), "INSUFFICIENT_BALANCE"),  # bob has no USDC
        (place(ALICE, price=3000 * E6 + 1), "PRICE_OFF_TICK"),
        (place(ALICE, qty=E18 + 1), "QUANTITY_OFF_LOT"),
        (place(ALICE, market="NOPE"), "UNKNOWN_MARKET"),
        (signed_params(ALICE, "withdraw", token=USDC, amount=10**30), "INSUFFICIENT_BALANCE"),
    ]
    for params, code in cases:
        before = await state(raw)
        method = "withdraw" if "token" in params else "place"
        assert await raw.error(method, params) == code
        after = await state(raw)
        # The core is untouched; only the signer's nonce was used (a replay stays refused).
        assert after[1] == before[1]
        assert after[0] != before[0]


async def test_a_replayed_action_is_refused(raw: Raw) -> None:
    params = place(ALICE, price=1000 * E6)
    first = await raw.ok("place", params)
    assert [e["type"] for e in first["events"]][:1] == ["accepted"]
    before = await state(raw)
    assert await raw.error("place", params) == "NONCE_REUSED"
    assert await state(raw) == before


async def test_rate_limit_per_connection(server: Server) -> None:
    r = await Raw.open(server.ws_url)
    try:
        frame = json.dumps({"id": 1, "method": "markets"})
        for _ in range(600):
            await r.send(frame)
        codes = []
        for _ in range(600):
            answer = await r.recv()
            codes.append(answer.get("error", {}).get("code", "ok"))
        assert codes.count("RATE_LIMITED") >= 100
        assert codes[:300].count("ok") >= 300  # the burst (2 x rate) passes
        assert set(codes) == {"ok", "RATE_LIMITED"}
    finally:
        await r.close()


async def test_abuse_closes_the_connection_with_4002(server: Server) -> None:
    r = await Raw.open(server.ws_url)
    with pytest.raises(ConnectionClosed) as info:
        for _ in range(400):
            await r.send("garbage")
        for _ in range(400):
            await r.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 4002


async def test_oversized_frames_close_with_1009(server: Server) -> None:
    r = await Raw.open(server.ws_url, max_size=None)
    with pytest.raises(ConnectionClosed) as info:
        await r.send('{"id": 1, "method": "markets", "params": {"x": "' + "a" * 70_000 + '"}}')
        await r.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009


async def test_binary_frames_close_with_1003(server: Server) -> None:
    r = await Raw.open(server.ws_url)
    with pytest.raises(ConnectionClosed) as info:
        await r.ws.send(b'{"id": 1, "method": "markets"}')
        await r.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1003


async def test_dark_markets_have_no_public_channels(raw: Raw) -> None:
    for channel in ("trades", "book"):
        code = await raw.error("subscribe", {"channel": channel, "market": DARK})
        assert code == "DARK_MARKET"


async def test_fragmented_messages_are_answered_in_order(raw: Raw) -> None:
    """A message sent in fragments takes websockets' own path; the ones after it wait their
    turn (the direct path is switched off for the connection)."""
    await raw.ws.send(['{"id": "frag", "method": ', '"markets"}'])
    await raw.send('{"id": "next", "method": "info"}')
    first, second = await raw.recv(), await raw.recv()
    assert (first["id"], second["id"]) == ("frag", "next")
    assert "markets" in first["result"] and "domain" in second["result"]

"""Fuzz the request handlers: whatever frames arrive, each gets exactly one answer, in order,
with a documented code, and the exchange keeps running.

The pipeline runs in-process (real sequencer and journal in a temporary directory, real
verifier threads); only the socket is replaced by a stand-in that records what is sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from client_sdk.signing import Signer
from server.gateway.config import Config
from server.gateway.errors import CATEGORY_OF, category_of
from server.gateway.http import Metrics
from server.gateway.limits import ErrorWindow, TokenBucket
from server.gateway.pipeline import Pipeline
from server.gateway.wire import METHODS
from server.sequencer import AesGcmSealer, Sequencer
from tests.e2e.raw import DOMAIN, E6, E18, LOT, MKT, TICK, USDC, WETH, signed_params

ALICE = Signer("0x" + "a1" * 32, DOMAIN)
NOW_MS = 1_800_000_000_000


class FakeConnection:
    """What the pipeline uses of a connection, recording the frames it would send."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closing = False
        self.closed_with: int | None = None
        self.account: str | None = None
        self.signer: str | None = None
        self.subscriptions: set[str] = set()
        self.rate = TokenBucket(1e9, 1e9, 0.0)
        self.errors = ErrorWindow(10**9)

    def send(self, data: bytes) -> None:
        self.sent.append(json.loads(data))

    def close(self, code: int, reason: str) -> None:
        self.closing = True
        self.closed_with = code


def _config(data_dir: str) -> Config:
    return Config(data_dir=data_dir, storage_key_hex="5a" * 32, dev_operator=True)  # type: ignore[arg-type]


async def run_frames(frames: list[str], setup: list[str]) -> tuple[list[dict[str, Any]], int]:
    """Answers to ``setup`` + ``frames`` (one connection) and the pushes of a watcher."""
    with tempfile.TemporaryDirectory() as d:
        config = _config(d)
        sequencer = Sequencer.open(d, AesGcmSealer(config.storage_key), lambda: NOW_MS)
        pipeline = Pipeline(config, sequencer, Metrics(), lambda: NOW_MS)
        pipeline.start()
        conn = FakeConnection()
        try:
            for frame in setup + frames:
                await pipeline.receive(conn, frame, 0.0)  # type: ignore[arg-type]
            for _ in range(2000):
                if len(conn.sent) >= len(setup) + len(frames):
                    break
                await asyncio.sleep(0.002)
            assert all(t.done() is False for t in pipeline.tasks), "a pipeline task died"
        finally:
            await pipeline.stop()
            sequencer.close()
        return conn.sent[len(setup) :], sequencer.committed_seq


def setup_frames() -> list[str]:
    frames = [
        {"method": "dev_list_token", "params": {"token": WETH, "symbol": "WETH", "decimals": 18}},
        {"method": "dev_list_token", "params": {"token": USDC, "symbol": "USDC", "decimals": 6}},
        {
            "method": "dev_list_market",
            "params": {
                "market": MKT,
                "base": WETH,
                "quote": USDC,
                "tick": str(TICK),
                "lot": str(LOT),
                "min_qty": str(LOT),
            },
        },
        {
            "method": "dev_deposit",
            "params": {"account": ALICE.account, "token": USDC, "amount": str(10**6 * E6)},
        },
        {
            "method": "dev_deposit",
            "params": {"account": ALICE.account, "token": WETH, "amount": str(100 * E18)},
        },
    ]
    return [json.dumps({"id": f"setup{i}", **f}) for i, f in enumerate(frames)]


# --- frames: from garbage to nearly right ---------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**300),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(
        ["0", "1", "1" * 79, "-1", "1.5", "1e18", MKT, ALICE.account, "0x" + "00" * 65]
    ),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = sorted({f for t in METHODS.values() for f in t.__struct_fields__} | {"x"})


@st.composite
def near_requests(draw: st.DrawFn) -> str:
    params = draw(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6))
    if draw(st.booleans()):
        params["account"] = ALICE.account
    request: dict[str, Any] = {
        "id": draw(st.one_of(st.integers(-5, 5), st.text(max_size=5))),
        "method": draw(st.sampled_from([*METHODS, "nope", ""])),
        "params": params,
    }
    return json.dumps(request)


@st.composite
def mutated_signed(draw: st.DrawFn) -> str:
    params = signed_params(
        ALICE,
        "place",
        market=MKT,
        side="buy",
        price=1000 * E6,
        qty=LOT,
        nonce=NOW_MS + draw(st.integers(0, 10**6)),
    )
    field = draw(st.sampled_from(sorted(params)))
    params[field] = draw(json_values)
    return json.dumps({"id": draw(st.integers(0, 100)), "method": "place", "params": params})


frames_strategy = st.lists(
    st.one_of(st.text(max_size=30), json_values.map(json.dumps), near_requests(), mutated_signed()),
    min_size=1,
    max_size=12,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=frames_strategy)
def test_every_frame_gets_one_documented_answer_in_order(frames: list[str]) -> None:
    answers, _ = asyncio.run(run_frames(frames, setup_frames()))
    assert len(answers) == len(frames)
    for frame, answer in zip(frames, answers, strict=True):
        assert set(answer) in ({"id", "result"}, {"id", "error"}), answer
        try:
            sent_id = json.loads(frame).get("id", "?")
        except (ValueError, AttributeError):
            sent_id = "?"
        if (
            isinstance(sent_id, int | str)
            and not isinstance(sent_id, bool)
            and answer["id"] is not None
        ):
            assert answer["id"] == sent_id
        if "error" in answer:
            code = answer["error"]["code"]
            assert code in CATEGORY_OF, code
            assert code != "INTERNAL_ERROR", (frame, answer)
            assert answer["error"]["category"] == category_of(code).value


def test_a_good_order_still_trades_after_garbage(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    garbage = ["{", '{"id":1,"method":"place","params":{"account":5}}', "[]", '"x"']
    good = json.dumps(
        {
            "id": 9,
            "method": "place",
            "params": signed_params(
                ALICE, "place", market=MKT, side="buy", price=1000 * E6, qty=LOT, nonce=NOW_MS
            ),
        }
    )
    answers, seq = asyncio.run(run_frames([*garbage, good], setup_frames()))
    assert [a.get("error", {}).get("code") for a in answers[:4]] == [
        "BAD_JSON",
        "BAD_REQUEST",
        "BAD_REQUEST",
        "BAD_REQUEST",
    ]
    assert answers[4]["result"]["events"][0]["type"] == "accepted"
    assert seq == 6  # five setup commands and the order
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


class FakeTransport:
    def __init__(self) -> None:
        self.reading = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return False


async def test_a_full_inbox_stops_reading_until_it_drains() -> None:
    from server.gateway.pipeline import MAX_INBOX

    with tempfile.TemporaryDirectory() as d:
        config = _config(d)
        sequencer = Sequencer.open(d, AesGcmSealer(config.storage_key), lambda: NOW_MS)
        pipeline = Pipeline(config, sequencer, Metrics(), lambda: NOW_MS)
        conn, transport = FakeConnection(), FakeTransport()
        frame = '{"id": 1, "method": "info"}'
        assert all(pipeline.accept(conn, frame, 0.0) for _ in range(MAX_INBOX - 1))  # type: ignore[arg-type]
        assert not pipeline.accept(conn, frame, 0.0)  # type: ignore[arg-type]
        pipeline.pause(transport)  # type: ignore[arg-type]
        assert not transport.reading and not pipeline.room.is_set()
        pipeline.start()
        for _ in range(2000):
            if len(conn.sent) == MAX_INBOX:
                break
            await asyncio.sleep(0.005)
        assert len(conn.sent) == MAX_INBOX and transport.reading and pipeline.room.is_set()
        await pipeline.stop()
        sequencer.close()


def test_a_large_batch_is_verified_on_worker_processes_in_order() -> None:
    """Enough signed orders to go to the verifier processes: every bad signature gets its
    error in its own slot, every good one is accepted, and the order of answers holds."""
    frames, expect = [], []
    for i in range(40):
        params = signed_params(
            ALICE, "place", market=MKT, side="buy", price=1000 * E6, qty=LOT, nonce=NOW_MS + i
        )
        if i % 3 == 1:
            params["signature"] = "0x" + "11" * 64 + "1b"  # well-formed, recovers someone else
            expect.append("BAD_SIGNATURE")
        elif i % 3 == 2:
            params["signature"] = "0x" + "00" * 65  # recovers nobody
            expect.append("BAD_SIGNATURE")
        else:
            expect.append("ok")
        frames.append(json.dumps({"id": i, "method": "place", "params": params}))
    answers, _ = asyncio.run(run_frames(frames, setup_frames()))
    assert [a["id"] for a in answers] == list(range(40))
    assert [a["error"]["code"] if "error" in a else "ok" for a in answers] == expect

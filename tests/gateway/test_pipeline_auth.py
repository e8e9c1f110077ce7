"""Login, session mode, agents and nonces through the real pipeline (in-process), and their
survival across a restart over the journal."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from client_sdk.signing import Signer, typed_digest
from server.core.commands import ListToken
from server.gateway.http import Metrics
from server.gateway.pipeline import Pipeline, open_sequencer
from server.gateway.server import wall_clock_ms
from tests.e2e.raw import DOMAIN, E6, E18, LOT, MKT, USDC, WETH, signed_params
from tests.gateway.test_pipeline_fuzz import ALICE, FakeConnection, _config, setup_frames

AGENT = Signer("0x" + "77" * 32, DOMAIN, account=ALICE.account)
MALLORY = Signer("0x" + "c3" * 32, DOMAIN)


class Harness:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.config = _config(str(directory))
        self.sequencer, views = open_sequencer(self.config, wall_clock_ms)
        self.pipeline = Pipeline(self.config, self.sequencer, Metrics(), wall_clock_ms, views)
        self.pipeline.start()

    async def ask(self, conn: FakeConnection, method: str, params: dict[str, Any]) -> Any:
        before = len(conn.sent)
        await self.pipeline.receive(
            conn, json.dumps({"id": 1, "method": method, "params": params}), 0.0
        )  # type: ignore[arg-type]
        for _ in range(1000):
            if len(conn.sent) > before:
                return conn.sent[before]
            await asyncio.sleep(0.002)
        raise AssertionError("no answer")

    async def code(self, conn: FakeConnection, method: str, params: dict[str, Any]) -> str:
        answer = await self.ask(conn, method, params)
        return answer["error"]["code"] if "error" in answer else "ok"

    async def close(self) -> None:
        await self.pipeline.stop()
        self.sequencer.close()


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    harness = Harness(tmp_path)
    conn = FakeConnection()
    for frame in setup_frames():
        await harness.pipeline.receive(conn, frame, 0.0)  # type: ignore[arg-type]
    yield harness
    await harness.close()


def order(signer: Signer, **kw: Any) -> dict[str, Any]:
    fields = {"market": MKT, "side": "buy", "price": 1000 * E6, "qty": LOT, **kw}
    return signed_params(signer, "place", **fields)


def unsigned(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in ("nonce", "signature", "signer")}


async def test_session_mode_needs_a_login_and_is_scoped_to_its_account(h: Harness) -> None:
    conn = FakeConnection()
    assert await h.code(conn, "place", unsigned(order(ALICE))) == "NOT_LOGGED_IN"
    assert await h.code(conn, "balances", {}) == "NOT_LOGGED_IN"
    login = await h.ask(conn, "login", signed_params(ALICE, "login"))
    assert login["result"] == {"account": ALICE.account, "signer": ALICE.address, "session": True}
    assert await h.code(conn, "place", unsigned(order(ALICE))) == "ok"
    other = unsigned(order(MALLORY))
    assert await h.code(conn, "place", other) == "UNAUTHORIZED_SIGNER"
    assert await h.code(conn, "login", signed_params(MALLORY, "login")) == "ALREADY_LOGGED_IN"
    assert (await h.ask(conn, "balances", {}))["result"]["balances"]


async def test_an_agent_acts_for_the_account_until_it_is_revoked(h: Harness) -> None:
    owner = FakeConnection()
    valid = wall_clock_ms() + 60_000
    approve = signed_params(
        ALICE, "approve_agent", agent=AGENT.address, name="bot", valid_until_ms=valid
    )
    answer = await h.ask(owner, "approve_agent", approve)
    assert (
        answer["result"]["agent"] == AGENT.address and answer["result"]["valid_until_ms"] == valid
    )

    bot = FakeConnection()
    assert await h.code(bot, "place", order(AGENT)) == "ok"  # signed by the agent
    # An agent cannot withdraw (the SDK signer refuses to sign it; forge the claim instead).
    own = signed_params(MALLORY, "withdraw", token=USDC, amount=1)
    forged = {**own, "account": ALICE.account, "signer": MALLORY.address}
    assert await h.code(bot, "withdraw", forged) == "BAD_SIGNATURE"  # signed for another account
    assert await h.code(bot, "login", signed_params(AGENT, "login")) == "ok"
    assert await h.code(bot, "place", unsigned(order(ALICE))) == "ok"  # session as the agent

    revoke = signed_params(
        ALICE, "approve_agent", agent=AGENT.address, name="bot", valid_until_ms=0
    )
    assert await h.code(owner, "approve_agent", revoke) == "ok"
    assert await h.code(bot, "place", unsigned(order(ALICE))) == "UNAUTHORIZED_SIGNER"
    assert await h.code(bot, "place", order(AGENT)) == "UNAUTHORIZED_SIGNER"
    # Only the account's own key approves agents: an agent's signature over an ApproveAgent
    # (made by hand, since the SDK refuses to) is refused in sequence.
    nonce = AGENT.next_nonce()
    message = {"account": ALICE.account, "agent": MALLORY.address, "name": "x",
               "validUntilMs": valid, "nonce": nonce}  # fmt: skip
    sneaky = {
        "account": ALICE.account, "agent": MALLORY.address, "name": "x", "valid_until_ms": valid,
        "nonce": nonce, "signer": AGENT.address,
        "signature": AGENT.sign_digest(typed_digest(DOMAIN, "ApproveAgent", message)),
    }  # fmt: skip
    assert await h.code(bot, "approve_agent", sneaky) == "UNAUTHORIZED_SIGNER"


async def test_signed_actions_are_still_answered_when_the_verifiers_die(h: Harness) -> None:
    conn = FakeConnection()
    assert await h.code(conn, "place", order(ALICE)) == "ok"
    verifier = h.pipeline.verifier
    assert verifier is not None and len(verifier.pids) == 2  # started by the first signature
    for pid in verifier.pids:
        os.kill(pid, signal.SIGSTOP)  # chunks sent now are never answered
    late = order(ALICE, client_order_id="after-loss")
    pending = asyncio.ensure_future(h.ask(conn, "place", late))
    await asyncio.sleep(0.05)
    for pid in verifier.pids:
        os.kill(pid, signal.SIGKILL)
    assert "result" in await pending  # recovered in place after the loss
    forged = {**order(MALLORY), "account": ALICE.account}
    assert await h.code(conn, "place", forged) == "BAD_SIGNATURE"  # still checked
    assert await h.code(conn, "place", order(ALICE)) == "ok"


async def test_the_syncer_never_takes_over_while_a_thread_write_is_in_flight(
    tmp_path: Path,
) -> None:
    """Records must reach the journal in seal order: a pipeline that began on the journal
    thread switches to the syncer only when nothing sealed is still being written."""
    h = Harness(tmp_path)
    try:
        h.sequencer.submit(ListToken(WETH, "WETH", 18))
        sealed = h.sequencer.seal()
        assert sealed is not None and h.sequencer.in_flight
        await h.pipeline.warm_up()
        assert h.pipeline.syncer is None
        h.sequencer.write(sealed)
        await h.pipeline.warm_up()
        assert h.pipeline.syncer is not None
    finally:
        await h.close()


async def test_nonces_and_agents_survive_a_restart(tmp_path: Path) -> None:
    first = Harness(tmp_path)
    conn = FakeConnection()
    for frame in setup_frames():
        await first.pipeline.receive(conn, frame, 0.0)  # type: ignore[arg-type]
    placed = order(ALICE)
    assert await first.code(conn, "place", placed) == "ok"
    valid = wall_clock_ms() + 60_000
    approve = signed_params(
        ALICE, "approve_agent", agent=AGENT.address, name="bot", valid_until_ms=valid
    )
    assert await first.code(conn, "approve_agent", approve) == "ok"
    before = first.sequencer.state.state_hash()
    await first.close()

    again = Harness(tmp_path)
    try:
        assert again.sequencer.state.state_hash() == before
        conn = FakeConnection()
        assert await again.code(conn, "place", placed) == "NONCE_REUSED"  # a replay, refused
        assert await again.code(conn, "place", order(AGENT)) == "ok"  # still an agent
    finally:
        await again.close()


async def test_the_per_account_rate_limit_spans_connections(tmp_path: Path) -> None:
    """Two connections acting for one account share its budget (1/s, bursts of 2); the
    refused ones answer RATE_LIMITED and change nothing. (At most one token comes back while
    the test runs, unless the machine stalls for a second.)"""
    harness = Harness(tmp_path)
    harness.config = harness.pipeline.config = dataclasses.replace(
        harness.config, rate_per_account=1
    )
    try:
        setup = FakeConnection()
        for frame in setup_frames():
            await harness.pipeline.receive(setup, frame, 0.0)  # type: ignore[arg-type]
        a, b = FakeConnection(), FakeConnection()
        codes = [await harness.code(a if i % 2 else b, "place", order(ALICE)) for i in range(6)]
        assert codes[:2] == ["ok", "ok"] and codes[2:].count("RATE_LIMITED") >= 3
        before = harness.sequencer.state.state_hash()
        if await harness.code(a, "place", order(ALICE)) == "RATE_LIMITED":
            assert harness.sequencer.state.state_hash() == before
        assert await harness.code(a, "place", order(MALLORY)) == "INSUFFICIENT_BALANCE"  # others
    finally:
        await harness.close()


async def test_fills_and_order_history_survive_a_restart(tmp_path: Path) -> None:
    """The read models are rebuilt from the journal: fills and closed orders answered before
    a restart are answered the same after it (snapshots are far apart by default)."""
    first = Harness(tmp_path)
    setup, alice, bob = FakeConnection(), FakeConnection(), FakeConnection()
    for frame in setup_frames():
        await first.pipeline.receive(setup, frame, 0.0)  # type: ignore[arg-type]
    await first.pipeline.receive(
        setup,
        json.dumps({"id": "d", "method": "dev_deposit", "params": {
            "account": MALLORY.account, "token": WETH, "amount": str(E18)}}),
        0.0,
    )  # type: ignore[arg-type]  # fmt: skip
    assert await first.code(alice, "login", signed_params(ALICE, "login")) == "ok"
    assert await first.code(bob, "login", signed_params(MALLORY, "login")) == "ok"
    assert await first.code(alice, "place", order(ALICE, client_order_id="bid")) == "ok"
    assert (
        await first.code(alice, "place", order(ALICE, price=900 * E6, client_order_id="x")) == "ok"
    )
    assert (
        await first.code(
            alice, "cancel", signed_params(ALICE, "cancel", market=MKT, client_order_id="x")
        )
        == "ok"
    )
    assert await first.code(bob, "place", order(MALLORY, side="sell", tif="IOC")) == "ok"
    queries = [("fills", {}), ("order", {"market": MKT, "client_order_id": "bid"}),
               ("order", {"market": MKT, "order_id": 2}), ("open_orders", {})]  # fmt: skip
    before = [(await first.ask(alice, m, q))["result"] for m, q in queries]
    assert before[0]["fills"] and before[1]["order"]["status"] == "filled"
    assert before[2]["order"]["status"] == "cancelled"
    await first.close()

    again = Harness(tmp_path)
    try:
        alice = FakeConnection()
        assert await again.code(alice, "login", signed_params(ALICE, "login")) == "ok"
        assert [(await again.ask(alice, m, q))["result"] for m, q in queries] == before
    finally:
        await again.close()


async def test_overlapping_group_commits_with_snapshots_recover_exactly(tmp_path: Path) -> None:
    """Bursts of orders (batches sealed while earlier ones are still being written) and a
    snapshot every 50 commands: a restart reproduces the state, and every answer came."""
    first = Harness(tmp_path)
    first.sequencer.snapshot_every = 50
    conn = FakeConnection()
    for frame in setup_frames():
        await first.pipeline.receive(conn, frame, 0.0)  # type: ignore[arg-type]
    frames = [
        json.dumps({"id": i, "method": "place", "params": order(ALICE, price=(900 + i % 50) * E6)})
        for i in range(300)
    ]
    for k in range(0, 300, 60):  # bursts: several batches in flight at once
        for frame in frames[k : k + 60]:
            await first.pipeline.receive(conn, frame, 0.0)  # type: ignore[arg-type]
        await asyncio.sleep(0.001)
    for _ in range(2000):
        if len(conn.sent) == len(setup_frames()) + 300:
            break
        await asyncio.sleep(0.005)
    answers = conn.sent[len(setup_frames()) :]
    assert [a["id"] for a in answers] == list(range(300))
    assert all("result" in a for a in answers)
    assert first.sequencer.last_snapshot_seq >= 50  # taken between overlapping commits
    before = first.sequencer.state.state_hash()
    await first.close()

    again = Harness(tmp_path)
    try:
        assert again.sequencer.state.state_hash() == before
    finally:
        await again.close()

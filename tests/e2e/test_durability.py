"""After a crash (SIGKILL) and a restart over the journal, no acknowledged order is lost."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

from websockets.exceptions import ConnectionClosed

from client_sdk.signing import Signer
from tests.e2e.raw import DOMAIN, E6, LOT, MKT, TICK, Raw, dev_setup, signed_params
from tests.servers import Server, start

ALICE = Signer("0x" + "a1" * 32, DOMAIN)


def children(pid: int) -> set[int]:
    """The live processes whose parent is ``pid`` (the server's verifier workers)."""
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                out.add(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


def crash(server: Server) -> set[int]:
    """SIGKILL the server; the processes it had started (they must not outlive it)."""
    orphans = children(server.proc.pid)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=10)
    return orphans


async def place_then_crash(server: Server, n: int, crash_after: int, workers: set[int]) -> set[int]:
    """Send ``n`` signed orders without waiting, SIGKILL the server once ``crash_after``
    answers came, and return the order ids acknowledged before the connection died."""
    r = await Raw.open(server.ws_url)
    for i in range(n):
        params = signed_params(
            ALICE,
            "place",
            market=MKT,
            side="buy",
            price=1000 * E6 + (i % 50) * TICK,
            qty=LOT,
            client_order_id=f"o{i}",
        )
        await r.send(json.dumps({"id": i, "method": "place", "params": params}))
    acked: set[int] = set()
    try:
        while True:
            answer = await r.recv()
            [accepted] = [e for e in answer["result"]["events"] if e["type"] == "accepted"]
            acked.add(accepted["order_id"])
            if len(acked) == crash_after:
                workers.update(crash(server))
    except (ConnectionClosed, TimeoutError):
        pass
    return acked


async def open_orders(url: str) -> set[int]:
    r = await Raw.open(url)
    await r.ok("login", signed_params(ALICE, "login"))
    orders = (await r.ok("open_orders", {"market": MKT}))["orders"]
    await r.close()
    return {o["order_id"] for o in orders}


def test_no_acknowledged_order_is_lost_across_a_crash(tmp_path: Path) -> None:
    srv = start(tmp_path, "dev_operator = true\n")
    try:

        async def setup() -> None:
            r = await Raw.open(srv.ws_url)
            await dev_setup(r, {ALICE.account: (0, 1_000_000 * E6)})
            await r.close()

        asyncio.run(setup())
        workers: set[int] = set()
        acked = asyncio.run(place_then_crash(srv, 3000, crash_after=500, workers=workers))
    finally:
        if srv.proc.poll() is None:
            crash(srv)
    assert len(acked) >= 500  # answers already in flight may arrive after the kill
    # The verifier processes (the flow was large enough to need them) follow their parent.
    assert workers
    deadline = time.monotonic() + 10
    while any(alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [w for w in workers if alive(w)]

    again = start(tmp_path, "dev_operator = true\n")
    try:
        after = asyncio.run(open_orders(again.ws_url))
        assert acked <= after  # every acknowledged order survived
        # What survived is a prefix of the flow: the journal never loses a middle batch.
        assert after == set(range(min(after), max(after) + 1))
    finally:
        code, stderr = again.stop()
    assert code == 0, stderr


def test_a_journal_that_cannot_be_synced_stops_the_server_before_any_answer(
    tmp_path: Path,
) -> None:
    """Losing the journal syncer means nothing more can be made durable: the server exits
    70 without answering. The unanswered order is in doubt (its record may have reached the
    file before the sync failed); resending the same signed action is safe either way."""
    order = signed_params(ALICE, "place", market=MKT, side="buy", price=1000 * E6, qty=LOT)
    srv = start(tmp_path, "dev_operator = true\n")
    try:

        async def before() -> str:
            r = await Raw.open(srv.ws_url)
            await dev_setup(r, {ALICE.account: (0, 1_000_000 * E6)})
            state: str = (await r.ok("dev_state_hash"))["state_hash"]
            await r.close()
            return state

        state = asyncio.run(before())
        [syncer] = [
            pid
            for pid in children(srv.proc.pid)
            if b"serve_syncer" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        os.kill(syncer, signal.SIGKILL)

        async def lost_order() -> list[dict[str, object]]:
            r = await Raw.open(srv.ws_url)
            await r.send(json.dumps({"id": 1, "method": "place", "params": order}))
            answers = []
            try:
                while True:
                    answers.append(await r.recv())
            except (ConnectionClosed, TimeoutError):
                return answers

        assert asyncio.run(lost_order()) == []  # never acknowledged
        assert srv.proc.wait(timeout=10) == 70
        assert "journal write failed" in srv.proc.communicate()[1]
    finally:
        if srv.proc.poll() is None:
            crash(srv)

    again = start(tmp_path, "dev_operator = true\n")
    try:

        async def after() -> tuple[str, set[int], dict[str, object]]:
            r = await Raw.open(again.ws_url)
            recovered: str = (await r.ok("dev_state_hash"))["state_hash"]
            orders = await open_orders(again.ws_url)
            resent = await r.call("place", order)
            await r.close()
            return recovered, orders, resent

        recovered, orders, resent = asyncio.run(after())
        if orders:  # the record was on disk: the order counts once, and the resend is a replay
            assert orders == {1}
            assert resent["error"]["code"] == "NONCE_REUSED"  # type: ignore[index]
        else:  # it was not: the state is the one before it, and the resend goes through
            assert recovered == state
            assert "result" in resent
    finally:
        code, stderr = again.stop()
    assert code == 0, stderr

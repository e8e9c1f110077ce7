"""The journal syncer process: answers in order, once the segment is on disk; failures are
per request; a lost syncer fails what waits and everything after it."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from server.sequencer.syncer import Syncer, SyncerLost
from tests.auth.test_verifier import gone


async def test_syncs_answer_in_order_and_fail_per_request(tmp_path: Path) -> None:
    syncer = Syncer()
    await syncer.start()
    assert syncer.helper is not None
    pid = syncer.helper.pid
    try:
        a, b = tmp_path / "wal-a.log", tmp_path / "wal-b.log"
        a.write_bytes(b"x" * 100)
        b.write_bytes(b"y")
        order: list[str] = []
        futures = []
        for name, path in [("a1", a), ("a2", a), ("b", b), ("a3", a)]:
            fut = syncer.sync(str(path))
            fut.add_done_callback(lambda _f, name=name: order.append(name))
            futures.append(fut)
        missing = syncer.sync(str(tmp_path / "nope.log"))
        after = syncer.sync(str(b))
        await asyncio.gather(*futures)
        assert order == ["a1", "a2", "b", "a3"]
        with pytest.raises(OSError, match="fdatasync failed"):
            await missing
        await after  # a failure is that request's alone
        # Many segments over time: the syncer keeps only the newest few open.
        for k in range(6):
            seg = tmp_path / f"wal-{k}.log"
            seg.write_bytes(b"z")
            await syncer.sync(str(seg))
        assert len(os.listdir(f"/proc/{pid}/fd")) <= 3 + 1 + 2  # stdio, socket, two segments
    finally:
        await syncer.close()
    assert gone([pid])


async def test_a_lost_syncer_fails_what_waits_and_what_comes_after(tmp_path: Path) -> None:
    syncer = Syncer()
    await syncer.start()
    assert syncer.helper is not None
    pid = syncer.helper.pid
    seg = tmp_path / "wal.log"
    seg.write_bytes(b"x")
    try:
        await syncer.sync(str(seg))
        os.kill(pid, signal.SIGSTOP)
        waiting = syncer.sync(str(seg))
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(SyncerLost):
            await waiting
        with pytest.raises(SyncerLost):
            await syncer.sync(str(seg))
    finally:
        await syncer.close()
    assert syncer.helper.proc.returncode == -signal.SIGKILL  # reaped by close

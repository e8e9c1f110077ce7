"""Sealed snapshots of the sequenced state (core, nonces, agents), written atomically.

A file ``snapshot-<seq>.snap``: header (magic b"MWS2", u64 seq, u64 ts_ms) then
``Sealer.seal(ExchangeState.snapshot(), aad=header)``. Written to a temporary name, fsynced,
renamed, and the directory fsynced, so a crash leaves either the old set or the new one.
"""

from __future__ import annotations

import logging
import os
import struct
from pathlib import Path

import msgspec

from server.core import SnapshotError
from server.sequencer.files import fsync_dir, numbered_files
from server.sequencer.sealer import Sealer, SealError
from server.sequencer.state import ExchangeState

__all__ = ["SnapshotStore"]

log = logging.getLogger("myrtle.snapshots")

MAGIC = b"MWS2"
_HEADER = struct.Struct("<4sQQ")


class SnapshotStore:
    def __init__(self, directory: str | os.PathLike[str], sealer: Sealer, keep: int = 2) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sealer = sealer
        self.keep = keep

    def list(self) -> list[tuple[int, Path]]:
        """(seq, path) of every snapshot, oldest first."""
        return numbered_files(self.dir, "snapshot-", ".snap")

    def write(self, state: ExchangeState, seq: int, ts_ms: int) -> Path:
        """Durably store the state after command ``seq``; keep the newest ``keep``."""
        header = _HEADER.pack(MAGIC, seq, ts_ms)
        data = header + self.sealer.seal(state.snapshot(), header)
        path = self.dir / f"snapshot-{seq:020d}.snap"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(self.dir)
        for _, old in self.list()[: -self.keep]:
            old.unlink()
        return path

    def oldest_kept_seq(self) -> int:
        snaps = self.list()
        return snaps[0][0] if snaps else 0

    def load_latest(self) -> tuple[ExchangeState, int, int] | None:
        """(state, seq, ts_ms) of the newest snapshot that opens; None if there is none.

        A damaged newer snapshot is logged and skipped: the journal still holds the
        commands after the older one, and replay checks that it does.
        """
        for seq, path in reversed(self.list()):
            data = path.read_bytes()
            try:
                magic, hseq, ts_ms = _HEADER.unpack_from(data)
                if magic != MAGIC or hseq != seq:
                    raise SnapshotError("bad header")
                state = ExchangeState.restore(
                    self.sealer.open(data[_HEADER.size :], data[: _HEADER.size])
                )
            except (struct.error, SealError, SnapshotError, msgspec.DecodeError) as e:
                log.error("snapshot %s unusable (%s); trying an older one", path.name, e)
                continue
            return state, seq, ts_ms
        return None

"""The sequencer: the single writer in front of the core.

It stamps each command with the next sequence number and a non-decreasing time, applies it
to the core, and holds its events until ``commit`` has made the batch durable (one journal
record, one fsync). Only committed results may be acknowledged: a crash loses at most
commands that nobody was told about, and recovery reproduces exactly the acknowledged state.

Applying before the fsync is safe because the core is deterministic: replaying the journal
gives the same events again.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import msgspec

from server.core import Core
from server.core.events import Event
from server.sequencer.journal import Journal, RecoveryError, encode_record
from server.sequencer.sealer import Sealer
from server.sequencer.snapshots import SnapshotStore
from server.sequencer.state import AuthEvent, Entry, ExchangeState

__all__ = ["DEFAULT_SNAPSHOT_EVERY", "Sealed", "Sequenced", "Sequencer"]

DEFAULT_SNAPSHOT_EVERY = 100_000


class Sequenced(msgspec.Struct, frozen=True, gc=False):
    """A command's place in history and what it caused."""

    seq: int
    ts_ms: int
    command: Entry
    events: list[Event | AuthEvent]


class Sealed(msgspec.Struct, frozen=True, gc=False):
    """Applied commands handed over to be made durable: one journal record."""

    first_seq: int
    last_seq: int
    record: bytes
    results: list[Sequenced]


class Sequencer:
    def __init__(
        self,
        state: ExchangeState,
        journal: Journal,
        snapshots: SnapshotStore,
        clock: Callable[[], int],
        *,
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
        last_seq: int = 0,
        last_ts_ms: int = 0,
        last_snapshot_seq: int = 0,
    ) -> None:
        if snapshot_every < 1:
            raise ValueError("snapshot_every must be at least 1")
        self.state = state
        self.journal = journal
        self.snapshots = snapshots
        self.clock = clock
        self.snapshot_every = snapshot_every
        self.last_seq = last_seq  # applied (maybe not yet durable)
        self.sealed_seq = last_seq  # handed over for writing (seal)
        self.committed_seq = last_seq  # durable: may be acknowledged
        self.last_ts_ms = last_ts_ms
        self.last_snapshot_seq = last_snapshot_seq
        self._pending: list[tuple[int, Entry]] = []
        self._results: list[Sequenced] = []

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        sealer: Sealer,
        clock: Callable[[], int],
        *,
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
        observe_replay: Callable[[ExchangeState], Callable[[Sequenced], None]] | None = None,
    ) -> Sequencer:
        """Recover from ``directory`` (latest snapshot + journal replay), or start empty.

        ``observe_replay``, if given, is called with the state as loaded from the snapshot,
        before the replay, and returns what to call with each replayed result (read models
        rebuild the history since the snapshot that way).

        Raises RecoveryError (CorruptJournalError for the journal) when the state cannot be
        reproduced: damage anywhere but the journal's tail, a gap, or the wrong key.
        """
        journal = Journal(os.path.join(directory, "journal"), sealer)
        snapshots = SnapshotStore(os.path.join(directory, "snapshots"), sealer)
        loaded = snapshots.load_latest()
        if loaded is None and snapshots.list():
            raise RecoveryError(
                f"{len(snapshots.list())} snapshot(s) in {snapshots.dir} but none opens: "
                "wrong storage key, or corruption"
            )
        state, seq, ts_ms = loaded if loaded is not None else (ExchangeState(), 0, 0)
        snap_seq = seq
        observer = observe_replay(state) if observe_replay is not None else None
        for entry_seq, entry_ts, command in journal.replay(
            after_seq=snap_seq, key_verified=loaded is not None
        ):
            events = state.apply(command, entry_ts)
            if observer is not None:
                observer(Sequenced(entry_seq, entry_ts, command, events))
            seq, ts_ms = entry_seq, entry_ts
        journal.start_segment(seq + 1)
        return cls(
            state,
            journal,
            snapshots,
            clock,
            snapshot_every=snapshot_every,
            last_seq=seq,
            last_ts_ms=ts_ms,
            last_snapshot_seq=snap_seq,
        )

    @property
    def core(self) -> Core:
        return self.state.core

    @property
    def pending(self) -> int:
        """Commands applied but not yet durable."""
        return len(self._pending)

    def submit(self, command: Entry) -> Sequenced:
        """Sequence, stamp and apply a command. Its result is not acknowledgeable until
        ``commit`` returns it."""
        now = self.clock()
        ts_ms = now if now > self.last_ts_ms else self.last_ts_ms
        self.last_ts_ms = ts_ms
        self.last_seq += 1
        events = self.state.apply(command, ts_ms)
        self._pending.append((ts_ms, command))
        result = Sequenced(self.last_seq, ts_ms, command, events)
        self._results.append(result)
        return result

    def commit(self) -> list[Sequenced]:
        """Make every pending command durable in one record; return them for release.

        Takes a snapshot afterwards when ``snapshot_every`` commands have passed.
        """
        sealed = self.seal()
        if sealed is None:
            return []
        self.write(sealed)
        if self.snapshot_due:
            self.snapshot()
        return sealed.results

    def seal(self) -> Sealed | None:
        """Hand every pending command over for writing, as one encoded record; None if
        there is none. ``write`` makes it durable; the results are acknowledgeable only then.
        Sealing goes on while earlier records are still being written (group-commit
        pipelining); records must be written in the order they were sealed."""
        if not self._pending:
            return None
        first = self.sealed_seq + 1
        record = encode_record(self.journal.sealer, first, self._pending)
        sealed = Sealed(first, self.last_seq, record, self._results)
        self.sealed_seq = self.last_seq
        self._pending = []
        self._results = []
        return sealed

    def write(self, sealed: Sealed) -> None:
        """Write a sealed record and fsync it (any one thread, in seal order)."""
        self.journal.write_record(sealed.first_seq, sealed.record)
        self.committed_seq = sealed.last_seq

    def append(self, sealed: Sealed) -> str:
        """Write a sealed record (in seal order) without waiting for the disk; the journal
        segment to make durable before calling ``durable(sealed)``."""
        return self.journal.append_only(sealed.first_seq, sealed.record)

    def durable(self, sealed: Sealed) -> None:
        """``sealed`` (appended, in seal order) is on disk: its results may be released."""
        self.committed_seq = sealed.last_seq

    @property
    def in_flight(self) -> bool:
        """Sealed records not yet durable."""
        return self.sealed_seq != self.committed_seq

    @property
    def snapshot_due(self) -> bool:
        return self.committed_seq - self.last_snapshot_seq >= self.snapshot_every

    def snapshot(self) -> None:
        """Snapshot the committed state, rotate the journal and drop what is covered."""
        if self._pending or self.in_flight:
            raise RuntimeError("snapshot with uncommitted commands")
        self.snapshots.write(self.state, self.committed_seq, self.last_ts_ms)
        self.last_snapshot_seq = self.committed_seq
        self.journal.start_segment(self.committed_seq + 1)
        # Keep the journal back to the oldest kept snapshot, so that a damaged newest
        # snapshot still leaves a complete way back.
        if len(self.snapshots.list()) >= 2:
            self.journal.drop_segments_before(self.snapshots.oldest_kept_seq() + 1)

    def close(self) -> None:
        self.journal.close()

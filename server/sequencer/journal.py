"""The write-ahead journal: sealed records, group commit, torn-tail repair.

Layout: a directory of segments ``wal-<first seq>.log``. A segment is a run of records:

    header (24 bytes, little-endian):
        magic  b"MWJ1"
        u32    body length
        u64    first sequence number in the record
        u32    number of commands in the record
        u32    CRC-32 of the 20 bytes above
    body: Sealer.seal(JSON [[ts_ms, command], ...], aad=magic|first seq|count)

One record holds one group commit (a batch of commands) and costs one write and one fsync.

Reading back:
- A record cut short at the end of the last segment (a crash mid-write, never acknowledged)
  is a *torn tail*: logged and truncated away.
- A damaged record with a valid record after it, a damaged record in an older segment, or a
  gap in sequence numbers is *corruption in the middle*: reading stops with
  CorruptJournalError. Commands that moved money are never skipped silently.
"""

from __future__ import annotations

import itertools
import logging
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import msgspec

from server.sequencer.files import fsync_dir, numbered_files
from server.sequencer.sealer import Sealer, SealError
from server.sequencer.state import Entry as Command

__all__ = [
    "HEADER",
    "MAGIC",
    "CorruptJournalError",
    "Entry",
    "Journal",
    "RecoveryError",
    "encode_record",
]

log = logging.getLogger("myrtle.journal")

MAGIC = b"MWJ1"
_PREFIX = struct.Struct("<4sIQI")
_AAD = struct.Struct("<4sQI")  # what the seal authenticates: magic, first seq, count
HEADER = struct.Struct("<4sIQII")
MAX_BODY = 1 << 30

Entry = tuple[int, int, Command]  # (seq, ts_ms, command)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(list[tuple[int, Command]])


class RecoveryError(Exception):
    """Recovery cannot reproduce the acknowledged state; the exchange must not start."""


class CorruptJournalError(RecoveryError):
    """The journal is damaged somewhere other than its tail; recovery must not go on."""


def encode_record(sealer: Sealer, first_seq: int, items: list[tuple[int, Command]]) -> bytes:
    """One record for ``items`` (ts_ms, command), the first having sequence ``first_seq``."""
    aad = _AAD.pack(MAGIC, first_seq, len(items))
    body = sealer.seal(_encoder.encode(items), aad)
    prefix = _PREFIX.pack(MAGIC, len(body), first_seq, len(items))
    return prefix + struct.pack("<I", zlib.crc32(prefix)) + body


class _Record:
    __slots__ = ("count", "end", "first_seq", "items")

    def __init__(self, first_seq: int, count: int, items: list[tuple[int, Command]], end: int):
        self.first_seq = first_seq
        self.count = count
        self.items = items
        self.end = end


_INCOMPLETE = "incomplete"  # cut short by the end of the file
_BAD_HEADER = "bad header"
_BAD_BODY = "does not authenticate"


def _parse(sealer: Sealer, data: bytes, pos: int) -> _Record | str:
    """The record at ``pos``, or why there is none."""
    if len(data) - pos < HEADER.size:
        return _INCOMPLETE
    magic, body_len, first_seq, count, crc = HEADER.unpack_from(data, pos)
    if magic != MAGIC or crc != zlib.crc32(data[pos : pos + 20]) or body_len > MAX_BODY:
        return _BAD_HEADER
    end = pos + HEADER.size + body_len
    if end > len(data):
        return _INCOMPLETE
    try:
        plain = sealer.open(data[pos + HEADER.size : end], _AAD.pack(magic, first_seq, count))
        items = _decoder.decode(plain)
    except (SealError, msgspec.DecodeError):
        return _BAD_BODY
    if len(items) != count:
        return _BAD_BODY
    return _Record(first_seq, count, items, end)


def _valid_record_after(sealer: Sealer, data: bytes, pos: int) -> int | None:
    """Offset of a valid record somewhere after ``pos``, if there is one."""
    start = pos + 1
    while True:
        i = data.find(MAGIC, start)
        if i < 0:
            return None
        if isinstance(_parse(sealer, data, i), _Record):
            return i
        start = i + 1


class Journal:
    """Append-only, sealed, group-committed command log."""

    def __init__(self, directory: str | os.PathLike[str], sealer: Sealer) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sealer = sealer
        self._fd: int | None = None
        self._segment: Path | None = None

    # ------------------------------------------------------------------ segments

    def segments(self) -> list[tuple[int, Path]]:
        """(first seq, path) of every segment, oldest first."""
        return numbered_files(self.dir, "wal-", ".log")

    def start_segment(self, first_seq: int) -> None:
        """Close the current segment and write the next ones into a new file."""
        self.close()
        path = self.dir / f"wal-{first_seq:020d}.log"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._segment = path
        fsync_dir(self.dir)

    def drop_segments_before(self, seq: int) -> None:
        """Delete segments whose commands all come before ``seq`` (a snapshot covers them)."""
        segs = self.segments()
        for (_first, path), (next_first, _) in itertools.pairwise(segs):
            if next_first <= seq and path != self._segment:
                path.unlink()

    # ------------------------------------------------------------------ writing

    def append(self, first_seq: int, items: list[tuple[int, Command]]) -> None:
        """Write one record and make it durable (one write, one fsync): a group commit."""
        if items:
            self.write_record(first_seq, encode_record(self.sealer, first_seq, items))

    def write_record(self, first_seq: int, record: bytes) -> None:
        """Write one encoded record (``encode_record``) and make it durable. Records must be
        written in sequence order, one at a time; this may run on a writer thread (the write
        and the fdatasync release the GIL)."""
        self.append_only(first_seq, record)
        assert self._fd is not None
        os.fdatasync(self._fd)

    def append_only(self, first_seq: int, record: bytes) -> str:
        """Write one encoded record without waiting for the disk; the path of the segment
        it went to, for a ``syncer.Syncer`` to make durable. Records in sequence order."""
        if self._fd is None:
            self.start_segment(first_seq)
        assert self._fd is not None and self._segment is not None
        written = os.write(self._fd, record)
        while written < len(record):  # rare: a short write on a regular file
            written += os.write(self._fd, record[written:])
        return str(self._segment)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._segment = None

    # ------------------------------------------------------------------ reading

    def replay(self, after_seq: int = 0, key_verified: bool = False) -> Iterator[Entry]:
        """Every journaled command with seq > ``after_seq``, in order, checking continuity.

        Repairs a torn tail of the last segment (truncates it). Raises CorruptJournalError
        on damage anywhere else, and on any gap in sequence numbers.

        A complete record that fails authentication is only taken for a torn tail once the
        key is known to be right (``key_verified``: a snapshot opened with it, or an earlier
        record did); otherwise a wrong key would look like a torn journal and be truncated.
        """
        segs = self.segments()
        expected: int | None = None
        for i, (first, path) in enumerate(segs):
            last_segment = i == len(segs) - 1
            data = path.read_bytes()
            pos = 0
            if expected is not None and first != expected:
                raise CorruptJournalError(
                    f"{path.name}: starts at seq {first}, expected {expected} (a gap)"
                )
            while pos < len(data):
                rec = _parse(self.sealer, data, pos)
                if not isinstance(rec, _Record):
                    if not last_segment:
                        raise CorruptJournalError(
                            f"{path.name}: record at byte {pos} of a closed segment: {rec}"
                        )
                    if rec == _BAD_BODY and not key_verified:
                        raise CorruptJournalError(
                            f"{path.name}: record at byte {pos} does not authenticate and no "
                            "earlier data did: wrong storage key, or corruption; not truncating"
                        )
                    after = _valid_record_after(self.sealer, data, pos)
                    if after is not None:
                        raise CorruptJournalError(
                            f"{path.name}: damaged record at byte {pos}, valid record at "
                            f"byte {after} after it: corruption in the middle of the journal"
                        )
                    log.warning(
                        "journal %s: torn tail at byte %d (%d bytes, %s) truncated",
                        path.name,
                        pos,
                        len(data) - pos,
                        rec,
                    )
                    with open(path, "r+b") as f:
                        f.truncate(pos)
                        os.fsync(f.fileno())
                    break
                if expected is None and rec.first_seq > after_seq + 1:
                    raise CorruptJournalError(
                        f"{path.name}: journal starts at seq {rec.first_seq}, but commands "
                        f"from seq {after_seq + 1} are needed (a gap)"
                    )
                if expected is not None and rec.first_seq != expected:
                    raise CorruptJournalError(
                        f"{path.name}: record at byte {pos} starts at seq {rec.first_seq}, "
                        f"expected {expected}"
                    )
                key_verified = True
                for k, (ts_ms, command) in enumerate(rec.items):
                    seq = rec.first_seq + k
                    if seq > after_seq:
                        yield seq, ts_ms, command
                expected = rec.first_seq + rec.count
                pos = rec.end

"""The write-ahead journal: round trips, torn tails repaired, damage in the middle refused."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from server.core import AdvanceTime, Command
from server.sequencer import AesGcmSealer, CorruptJournalError, Journal
from server.sequencer.journal import HEADER, encode_record
from tests.sequencer.flows import setup_commands, trading_commands

KEY = bytes(range(32))


def _items(n: int, seed: int = 1) -> list[tuple[int, Command]]:
    cmds = (setup_commands() + trading_commands(seed, n))[:n]
    return [(1000 + i, c) for i, c in enumerate(cmds)]


def _write_batches(j: Journal, batches: list[int]) -> list[tuple[int, int, Command]]:
    """Append batches of the given sizes; return every (seq, ts, command) written."""
    out: list[tuple[int, int, Command]] = []
    seq = 1
    allitems = _items(sum(batches))
    for size in batches:
        chunk = allitems[seq - 1 : seq - 1 + size]
        j.append(seq, chunk)
        out += [(seq + k, ts, c) for k, (ts, c) in enumerate(chunk)]
        seq += size
    return out


def _segment(j: Journal) -> Path:
    return j.segments()[-1][1]


def test_round_trip_in_order(tmp_path: Path) -> None:
    j = Journal(tmp_path, AesGcmSealer(KEY))
    written = _write_batches(j, [3, 1, 7])
    j.close()
    assert list(Journal(tmp_path, AesGcmSealer(KEY)).replay()) == written
    # after_seq skips what a snapshot already covers
    assert list(Journal(tmp_path, AesGcmSealer(KEY)).replay(after_seq=4)) == written[4:]


def test_journal_is_sealed_on_disk(tmp_path: Path) -> None:
    j = Journal(tmp_path, AesGcmSealer(KEY))
    _write_batches(j, [5])
    j.close()
    raw = _segment(j).read_bytes()
    assert b"alice" not in raw and b"WETH" not in raw


def test_one_record_per_group_commit(tmp_path: Path) -> None:
    j = Journal(tmp_path, AesGcmSealer(KEY))
    _write_batches(j, [50])
    j.close()
    raw = _segment(j).read_bytes()
    assert raw.count(b"MWJ1") == 1


@pytest.mark.parametrize("cut", [1, HEADER.size - 1, HEADER.size, HEADER.size + 5, -1])
def test_torn_tail_is_truncated(tmp_path: Path, cut: int, caplog: pytest.LogCaptureFixture) -> None:
    j = Journal(tmp_path, AesGcmSealer(KEY))
    written = _write_batches(j, [4, 3])
    good_size = _segment(j).stat().st_size
    # A crash in the middle of writing the next record: only its first bytes reach the disk.
    record = encode_record(AesGcmSealer(KEY), 8, [(2000, AdvanceTime())])
    with open(_segment(j), "ab") as f:
        f.write(record[:cut])
    j.close()
    with caplog.at_level(logging.WARNING, logger="myrtle.journal"):
        assert list(Journal(tmp_path, AesGcmSealer(KEY)).replay()) == written
    assert "torn tail" in caplog.text
    assert _segment(j).stat().st_size == good_size
    # and the journal appends cleanly after the repair
    j2 = Journal(tmp_path, AesGcmSealer(KEY))
    j2.start_segment(1)  # same file (O_APPEND)
    j2.append(8, [(2000, AdvanceTime())])
    j2.close()
    assert list(Journal(tmp_path, AesGcmSealer(KEY)).replay())[-1] == (8, 2000, AdvanceTime())


def test_garbage_tail_after_crash_is_truncated(tmp_path: Path) -> None:
    j = Journal(tmp_path, AesGcmSealer(KEY))
    written = _write_batches(j, [2, 2])
    with open(_segment(j), "ab") as f:
        f.write(b"\0" * 4096)  # a filesystem that grew the file but never wrote the data
    j.close()
    assert list(Journal(tmp_path, AesGcmSealer(KEY)).replay()) == written


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", ["header", "body"])
def test_damage_in_the_middle_stops_recovery(tmp_path: Path, where: str) -> None:
    j = Journal(tmp_path, AesGcmSealer(KEY))
    _write_batches(j, [3, 3, 3])
    j.close()
    path = _segment(j)
    before = path.read_bytes()
    first_len = HEADER.size + HEADER.unpack_from(before, 0)[1]
    _flip(path, first_len + (8 if where == "header" else HEADER.size + 30))
    damaged = path.read_bytes()
    with pytest.raises(CorruptJournalError, match="middle"):
        list(Journal(tmp_path, AesGcmSealer(KEY)).replay())
    assert path.read_bytes() == damaged  # nothing truncated


def test_damage_in_a_closed_segment_stops_recovery(tmp_path: Path) -> None:
    j = Journal(tmp_path, AesGcmSealer(KEY))
    j.start_segment(1)
    items = _items(6)
    j.append(1, items[:3])
    j.start_segment(4)
    j.append(4, items[3:])
    j.close()
    first = j.segments()[0][1]
    size = first.stat().st_size
    _flip(first, size - 3)  # the tail of a segment that was closed is not a torn tail
    with pytest.raises(CorruptJournalError, match="closed segment"):
        list(Journal(tmp_path, AesGcmSealer(KEY)).replay())


def test_gap_in_sequence_numbers_stops_recovery(tmp_path: Path) -> None:
    j = Journal(tmp_path, AesGcmSealer(KEY))
    items = _items(6)
    j.append(1, items[:3])
    j.append(5, items[3:])  # seq 4 is missing
    j.close()
    with pytest.raises(CorruptJournalError, match="expected 4"):
        list(Journal(tmp_path, AesGcmSealer(KEY)).replay())


def test_journal_that_starts_after_the_needed_seq_is_a_gap(tmp_path: Path) -> None:
    j = Journal(tmp_path, AesGcmSealer(KEY))
    j.start_segment(10)
    j.append(10, _items(2))
    j.close()
    with pytest.raises(CorruptJournalError, match="gap"):
        list(Journal(tmp_path, AesGcmSealer(KEY)).replay(after_seq=5))


def test_wrong_key_is_refused_without_truncating(tmp_path: Path) -> None:
    j = Journal(tmp_path, AesGcmSealer(KEY))
    _write_batches(j, [3])
    j.close()
    before = _segment(j).read_bytes()
    with pytest.raises(CorruptJournalError, match="wrong storage key"):
        list(Journal(tmp_path, AesGcmSealer(os.urandom(32))).replay())
    assert _segment(j).read_bytes() == before

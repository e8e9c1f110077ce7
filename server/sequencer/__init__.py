"""The single writer: sequence numbers, time, the sealed journal, snapshots and recovery.

``sealer`` encrypts every byte that reaches the disk; ``journal`` is the write-ahead log with
group commit; ``snapshots`` stores sealed core snapshots; ``sequencer`` ties them to the core
and recovers (latest snapshot + journal replay).
"""

from server.sequencer.journal import CorruptJournalError, Journal, RecoveryError
from server.sequencer.sealer import AesGcmSealer, Sealer, SealError
from server.sequencer.sequencer import Sequenced, Sequencer
from server.sequencer.snapshots import SnapshotStore

__all__ = [
    "AesGcmSealer",
    "CorruptJournalError",
    "Journal",
    "RecoveryError",
    "SealError",
    "Sealer",
    "Sequenced",
    "Sequencer",
    "SnapshotStore",
]

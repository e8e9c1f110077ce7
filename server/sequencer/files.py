"""File-system helpers shared by the journal and the snapshot store."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["fsync_dir", "numbered_files"]


def numbered_files(directory: Path, prefix: str, suffix: str) -> list[tuple[int, Path]]:
    """``(number, path)`` of every ``<prefix><number><suffix>`` in ``directory``, in order."""
    out = []
    for p in directory.glob(f"{prefix}*{suffix}"):
        try:
            out.append((int(p.name[len(prefix) : len(p.name) - len(suffix)]), p))
        except ValueError:
            continue
    return sorted(out)


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a created or renamed file) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""`make run` (the demo) works, is deterministic by seed, and its recovery check passes."""

from pathlib import Path

from rich.console import Console

from server.demo import run


def test_demo_is_seeded_and_recovers(tmp_path: Path) -> None:
    c1 = Console(record=True, width=200)
    h1 = run(7, 120, str(tmp_path / "a"), c1)
    h2 = run(7, 120, str(tmp_path / "b"), Console(record=True, width=200))
    h3 = run(8, 120, str(tmp_path / "c"), Console(record=True, width=200))
    out = c1.export_text()
    assert h1 == h2 != h3
    assert "identical" in out and "DIFFERENT" not in out
    assert "Fills" in out and "book" in out

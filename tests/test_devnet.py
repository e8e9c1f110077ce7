"""`make run`: the devnet starts the server, bots trade through the SDK, and a restart over
the same state works (listing again is harmless, funds are topped up, not piled up)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.servers import ROOT, free_port


def run_devnet(data_dir: Path, seconds: int) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "devnet", "--port", str(free_port()), "--data-dir", str(data_dir),
         "--duration", str(seconds)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_devnet_bots_trade_and_it_restarts(tmp_path: Path) -> None:
    out = run_devnet(tmp_path, 6)
    assert "myrtle" in out and "watch WETH-USDC" in out and "MYRTLE_KEY=0x" in out
    orders, fills = map(int, re.search(r"stopped: (\d+) orders, (\d+) fills", out).groups())  # type: ignore[union-attr]
    assert orders > 0 and fills > 0
    assert (tmp_path / "dev-storage.key").stat().st_mode & 0o077 == 0

    again = run_devnet(tmp_path, 3)
    assert re.search(r"stopped: \d+ orders, \d+ fills", again)
    log = (tmp_path / "server.log").read_text()
    assert "recovered: committed seq 0" in log  # the first start
    assert re.search(r"recovered: committed seq [1-9]", log)  # the restart found the state

"""bench/load.py end to end with tiny parameters: every field is there and every figure is
sane (counts add up, latencies positive, no errors). Speed is never asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BOTS = 2
ORDERS = 200
RUNS = ("signed", "session", "half_rate")
LATENCY_KEYS = ("count", "p50", "p99", "p999", "max", "mean")


def run_load(tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "load.json"
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "load.py"),
        "--bots",
        str(BOTS),
        "--orders",
        str(ORDERS),
        "--window",
        "16",
        "--half-seconds",
        "1",
        "--no-plot",
        "--json",
        str(out),
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not out.with_suffix(".png").exists()  # --no-plot
    results: dict[str, Any] = json.loads(out.read_text())
    return results


def check_latency(stats: dict[str, Any], what: str) -> None:
    assert set(LATENCY_KEYS) <= set(stats), what
    assert stats["count"] > 0, what
    assert 0 < stats["p50"] <= stats["p99"] <= stats["p999"] <= stats["max"], (what, stats)


def test_load_smoke(tmp_path: Path) -> None:
    r = run_load(tmp_path)

    assert r["benchmark"] == "load"
    assert r["machine"]["cpus"] >= 1 and "python" in r["machine"]
    cfg = r["config"]
    assert (cfg["bots"], cfg["orders_per_bot"], cfg["window"]) == (BOTS, ORDERS, 16)
    assert cfg["server"]["dev_operator"] is True
    assert r["server_exit_code"] == 0
    assert r["server_log_errors"] == []
    assert r["histogram"] is None

    assert r["recovery_rate"]["recoveries_per_s"] > 0
    echo = r["echo_rate"]
    assert echo["messages_per_s"] > 0 and echo["frame_bytes"] > 0
    check_latency(echo["rtt_ms"], "echo")

    fills_matched = 0
    for name in RUNS:
        run = r[name]
        expected = BOTS * ORDERS if name != "half_rate" else run["orders"]
        assert run["orders"] == expected, name
        assert run["answered"] == run["orders"], name  # every order got its answer
        assert sum(run["mix"].values()) == run["orders"], name
        assert set(run["mix"]) == {"rest", "cross", "cancel"}, name
        assert run["errors"] == {} and run["failures"] == [], (name, run["errors"])
        assert set(run["rejects"]) <= {"cancel:ORDER_NOT_FOUND"}, name
        assert run["stream_gaps"] == 0, name
        assert run["orders_per_s"] > 0 and run["window_s"] > 0, name
        assert 0 < run["measured_orders"] <= run["orders"], name
        check_latency(run["ack_ms"], f"{name} ack")
        fill = run["order_to_fill_ms"]
        assert fill["taker_fills"] > 0 and fill["maker_fills"] > 0, (name, fill)
        assert fill["count"] <= fill["maker_fills"], name
        if fill["count"]:
            check_latency(fill, f"{name} order-to-fill")
        fills_matched += fill["count"]
        cpu = run["cpu"]
        assert cpu["wall_s"] > 0 and cpu["cores"] >= 1, name
        for part in ("server", "bots", "other", "machine"):
            assert cpu[part]["cpu_s"] >= 0 and cpu[part]["share"] >= 0, (name, part)
        assert cpu["server"]["cpu_s"] > 0, name
        assert run["server_metrics"]["commit_ms"]["count"] > 0, name
        assert run["book_after"]["bid_levels"] + run["book_after"]["ask_levels"] > 0, name
        assert run["pushes_per_order"] > 0, name
    assert fills_matched > 0  # order-to-fill was measured somewhere
    assert r["signed"]["frame_bytes"] > r["session"]["frame_bytes"]  # signatures travel
    assert r["half_rate"]["target_rate"] > 0
    assert r["half_rate"]["schedule_lag_ms"]["count"] == r["half_rate"]["orders"]
    assert set(r["cpu_share"]) == set(RUNS)
    assert set(r["noisy_runs"]) <= {"echo", *RUNS}

    names = [x["name"] for x in r["ratios"]]
    assert len(names) == 4 and all(isinstance(x["pass"], bool) for x in r["ratios"])
    assert r["ratios"][-1]["value"] == 0 and r["ratios"][-1]["pass"]  # no errors
    assert r["pass"] == all(x["pass"] for x in r["ratios"])

"""The demo job behind `make demo`."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from brainbatch.demo import load_sample_prompts, run_demo


def test_the_bundled_sample_has_a_few_hundred_prompts() -> None:
    rows = load_sample_prompts()
    assert len(rows) == 300
    assert set(rows[0]) == {"id", "category", "text"}


def test_demo_writes_results_and_a_plot(tmp_path: Path, capsys: object) -> None:
    stats = run_demo(tmp_path, concurrency=64, latency_ms=1)
    assert stats["done"] == 300
    with (tmp_path / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 300
    assert {r["status"] for r in rows} <= {"success", "error"}
    assert (tmp_path / "latency_cost.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_command_prints_the_summary(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "brainbatch", "demo", "--out", str(tmp_path), "--latency-ms", "1"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    for label in ("requests", "input tokens", "cost (real time)", "latency p95", "wall time"):
        assert label in out.stdout
    assert (tmp_path / "results.csv").exists()

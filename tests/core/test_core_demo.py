"""The demo job behind `make demo`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from brainbatch.demo import load_sample_prompts, run_demo

PNG = b"\x89PNG\r\n\x1a\n"


def test_the_bundled_sample_has_a_few_hundred_prompts() -> None:
    df = load_sample_prompts()
    assert len(df) == 300
    assert list(df.columns) == ["category", "text"]
    assert df.index.is_unique


def test_demo_writes_results_and_plots(tmp_path: Path) -> None:
    stats = run_demo(tmp_path, concurrency=64, latency_ms=1, progress=False)
    assert stats["done"] == stats["total"] == 300
    results = pd.read_csv(tmp_path / "results.csv", index_col="id")
    assert len(results) == 300
    assert set(results["status"]) <= {"success", "error"}
    assert {"response", "latency_ms", "cost_usd", "input_tokens"} <= set(results.columns)
    for png in ("latency.png", "cost.png"):
        assert (tmp_path / png).read_bytes()[:8] == PNG


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

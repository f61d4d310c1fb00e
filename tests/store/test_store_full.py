"""A full disk mid-run: the run stops at once, says so, and stays resumable.

"The disk" is the store's page limit: ``$BRAINBATCH_STORE_MAX_PAGES`` sets SQLite's
``max_page_count`` on every connection, and SQLite raises its real ``SQLITE_FULL`` error
("database or disk is full") once the file would grow past it.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from brainbatch import BatchJob, BatchRequest
from brainbatch.sim import SimServer
from brainbatch.store import MAX_PAGES_ENV_VAR, JobStore, StoreFull

ROWS = 60
CONCURRENCY = 4


def _pages(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA page_count").fetchone()[0])
    finally:
        conn.close()


def test_a_write_past_the_page_limit_raises_store_full_naming_the_store(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with JobStore(store_path):
        pass
    monkeypatch.setenv(MAX_PAGES_ENV_VAR, str(_pages(store_path)))
    big = BatchJob([BatchRequest(prompt="x" * 2000, model="m") for _ in range(20)])
    with JobStore(store_path) as store, pytest.raises(StoreFull) as info:
        store.create_job(big, name="big")
    message = str(info.value)
    assert f"the disk holding the store {store_path} is full" in message
    assert "no transaction is active" not in message
    with JobStore(store_path) as store:
        assert store.list_jobs() == []  # nothing half-written


def test_disk_full_mid_run_stops_the_run_exits_3_and_resume_finishes_it(
    sim: SimServer, tmp_path: Path
) -> None:
    store_path = tmp_path / "store" / "jobs.sqlite"
    csv = tmp_path / "rows.csv"
    texts = [f"row {i}: the lamp arrived late but works well enough" for i in range(ROWS)]
    pd.DataFrame({"id": [f"r{i}" for i in range(ROWS)], "text": texts}).to_csv(csv, index=False)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["BRAINBATCH_STORE"] = str(store_path)

    def cli(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "brainbatch", *args],
            env={**env, **extra},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    # the job stored, nothing sent (a budget too small to start a single row)
    stored = cli(
        "run", str(csv), "--prompt", "{text}", "--id-column", "id", "--model", "gpt-4o-mini",
        "--provider", "openai", "--base-url", sim.openai_base_url, "--out", "out.csv",
        "--job-name", "full", "--concurrency", str(CONCURRENCY), "--max-cost", "0.0000000001",
        "--param", "max_tokens=50", "--progress-interval", "60",
    )  # fmt: skip
    assert stored.returncode == 1, stored.stderr
    assert sim.count() == 0

    sim.configure(latency_ms=20)
    limit = str(_pages(store_path) + 2)  # room for a few results, not for 60
    full = cli("resume", "full", "--max-cost", "100", **{MAX_PAGES_ENV_VAR: limit})
    assert full.returncode == 3, full.stderr
    assert f"the disk holding the store {store_path} is full" in full.stderr
    assert "brainbatch resume full" in full.stderr
    assert "rollback" not in full.stderr
    with JobStore(store_path) as store:
        (row,) = store.list_jobs()
    assert row["status"] == "failed"  # not left "processing"
    assert row["running"] is None
    assert 0 < row["done"] < ROWS
    sent = sim.count()
    assert sent <= row["done"] + CONCURRENCY  # only the requests in flight were lost

    resumed = cli("resume", "full", "--max-cost", "100")
    assert resumed.returncode == 0, resumed.stderr
    assert (pd.read_csv(tmp_path / "out.csv")["status"] == "success").all()
    per_row = Counter(r.user_text for r in sim.log)
    assert set(per_row) == set(texts)
    twice = [t for t, n in per_row.items() if n > 1]
    assert max(per_row.values()) <= 2 and len(twice) <= CONCURRENCY

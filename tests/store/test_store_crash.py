"""The crash test: a real job in a real process, killed with SIGKILL again and again.

The job runs in a subprocess (``store_worker.py crash``) against the simulated HTTP server
(with latency) through ``OpenAIProvider``, journaled in a store file. The test kills it at
random moments, starts it again (each start resumes the stored job), and at the end checks,
from the server's own request log and the store:

* every custom_id has exactly one final result;
* no request whose result had been committed before a kill was sent again afterwards;
* each kill made at most one request per executor slot be sent twice (the ones in flight),
  also when commits are slow (``slow-commits``: a journal that let a slot send its next
  request before its previous result is on disk would lose far more);
* the results equal those of an uninterrupted run.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from brainbatch import ParallelExecutor
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim import SimServer
from brainbatch.store import JobStore

WORKER = Path(__file__).with_name("store_worker.py")
sys.path.insert(0, str(WORKER.parent))
from store_worker import crash_job  # noqa: E402

ROWS = 400
CONCURRENCY = 12
KILLS = 6


def _committed_ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    conn = sqlite3.connect(path)
    try:
        return {
            r[0]
            for r in conn.execute(
                "SELECT q.custom_id FROM results r JOIN requests q"
                " ON q.job = r.id >> 32 AND q.seq = r.id & 4294967295"
            )
        }
    except sqlite3.OperationalError:  # killed before the schema was written
        return set()
    finally:
        conn.close()


def _row_of(user_text: str | None) -> str:
    return (user_text or "").split(":", 1)[0]


def _reference_results(base_url: str) -> dict[str, object]:
    async def run() -> dict[str, object]:
        job = crash_job(ROWS)
        provider = OpenAIProvider(base_url=base_url, api_key="sk-reference-FAKE-000000")
        try:
            await ParallelExecutor(32).execute(job, provider)
        finally:
            await provider.aclose()
        return {r.custom_id or "": r.result for r in job.results}

    return asyncio.run(run())


@pytest.mark.parametrize("commits", ["as-shipped", "slow-commits"])
def test_sigkill_at_random_moments_loses_nothing_and_pays_nothing_twice(
    sim: SimServer, tmp_path: Path, commits: str
) -> None:
    store_path = tmp_path / "crash.sqlite"
    reference = _reference_results(sim.openai_base_url)
    assert len(reference) == ROWS and all(reference.values())
    sim.reset()
    sim.configure(latency_ms=30, latency_sigma=0.3)
    rng = random.Random(int(os.environ.get("BRAINBATCH_CRASH_SEED", "5")))
    cmd = [
        sys.executable,
        str(WORKER),
        "crash",
        str(store_path),
        sim.openai_base_url,
        str(ROWS),
        str(CONCURRENCY),
        *([commits] if commits == "slow-commits" else []),
    ]

    kills = 0
    runs: list[tuple[set[str], list[str]]] = []  # (committed before the run, rows it sent)
    finished = False
    while not finished:
        committed_before = _committed_ids(store_path)
        log_start = len(sim.log)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if kills < KILLS:
            # a random moment of this run: after a random number of its requests arrived
            remaining = ROWS - len(committed_before)
            target = log_start + rng.randint(1, max(1, remaining // 3))
            deadline = time.monotonic() + 30
            while len(sim.log) < target and proc.poll() is None:
                assert time.monotonic() < deadline, "the worker stopped sending"
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.03))
        if kills < KILLS and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            assert proc.returncode == -signal.SIGKILL
            kills += 1
        else:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            finished = True
            assert "finished completed 400/400" in out
        time.sleep(0.05)  # requests the dead process had in flight reach the log
        sent = [_row_of(r.user_text) for r in sim.log[log_start:]]
        runs.append((committed_before, sent))

    assert kills == KILLS

    # 1. every custom_id has exactly one final result
    with JobStore(store_path) as store:
        job = store.load_job("crash")
        assert job.done == ROWS == job.n_success
        assert sorted(r.custom_id or "" for r in job.results) == sorted(reference)
        spec = store.job_spec("crash")
    assert "api_key" not in spec

    # what each kill cost: only the requests in flight, at most one per executor slot. The
    # rows a killed run sent but had not journaled when the next run started are the ones
    # sent twice because of that kill.
    for i in range(KILLS):
        later = set().union(*(set(sent) for _, sent in runs[i + 1 :]))
        sent_twice = (set(runs[i][1]) - runs[i + 1][0]) & later
        assert len(sent_twice) <= CONCURRENCY, (
            f"kill {i}: {len(sent_twice)} rows sent twice, more than the {CONCURRENCY} slots"
        )

    # 2. nothing committed before a run was sent again by that run (and the kills did
    # interrupt work that had been journaled: the check below is not empty)
    committed_counts = [len(c) for c, _ in runs]
    assert committed_counts == sorted(committed_counts) and committed_counts[-1] > 0
    for i, (committed_before, sent) in enumerate(runs):
        resent = committed_before.intersection(sent)
        assert not resent, f"run {i} sent {len(resent)} already journaled rows again"

    total_sent = sum(len(sent) for _, sent in runs)
    assert total_sent - ROWS <= KILLS * CONCURRENCY

    # 3. the same answers as an uninterrupted run
    assert {r.custom_id: r.result for r in job.results} == reference
    assert b"crash-test-FAKE" not in store_path.read_bytes()

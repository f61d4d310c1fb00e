"""Exactly once after a kill: a streamed run in a real process, SIGKILLed again and again.

The worker (``stream_worker.py``) streams a Parquet file to the simulated HTTP server through
``OpenAIProvider``, journaled in a store, into an output folder. The test kills it at random
moments (after a random number of its requests reached the server), starts it again each
time, and at the end checks from the output dataset and the server's log:

* the output has every row of the input exactly once, in order, with its own answer;
* no row whose chunk was committed (a complete part file) before a run was sent again;
* each kill made at most one request per slot be sent twice (those in flight).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from brainbatch.sim import SimServer
from brainbatch.store import JobStore
from brainbatch.stream import read_parts

WORKER = Path(__file__).with_name("stream_worker.py")
ROWS = 1_200
CHUNK = 150
CONCURRENCY = 8
KILLS = 5


def _committed_rows(out: Path) -> set[str]:
    rows: set[str] = set()
    if not out.is_dir():
        return rows
    for k, meta in read_parts(out).items():
        if meta["complete"]:
            rows.update(f"row-{i}" for i in range(k * CHUNK, k * CHUNK + meta["rows"]))
    return rows


def test_sigkill_mid_stream_gives_every_row_exactly_once_and_pays_in_flight_only(
    sim: SimServer, tmp_path: Path
) -> None:
    source = tmp_path / "big.parquet"
    pd.DataFrame({"text": [f"row-{i}" for i in range(ROWS)]}).to_parquet(source, row_group_size=200)
    out, store = tmp_path / "results", tmp_path / "jobs.sqlite"
    sim.configure(latency_ms=8, latency_sigma=0.3)
    rng = random.Random(int(os.environ.get("BRAINBATCH_CRASH_SEED", "7")))
    cmd = [sys.executable, str(WORKER), str(source), str(out), str(store)]
    cmd += [sim.openai_base_url, str(CHUNK), str(CONCURRENCY)]

    kills = 0
    runs: list[tuple[set[str], list[str]]] = []  # (rows committed before the run, rows sent)
    finished = False
    while not finished:
        committed = _committed_rows(out)
        log_start = len(sim.log)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if kills < KILLS:
            target = log_start + rng.randint(1, max(1, (ROWS - len(committed)) // 3))
            deadline = time.monotonic() + 60
            while len(sim.log) < target and proc.poll() is None:
                assert time.monotonic() < deadline, "the worker stopped sending"
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.05))
        if kills < KILLS and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            kills += 1
        else:
            stdout, stderr = proc.communicate(timeout=120)
            assert proc.returncode == 0, stderr
            assert f"finished completed {ROWS}/{ROWS}" in stdout
            finished = True
        time.sleep(0.05)  # requests the dead process had in flight reach the log
        runs.append((committed, [r.user_text or "" for r in sim.log[log_start:]]))
    assert kills == KILLS

    # every row exactly once, in input order, with the answer to its own prompt
    frame = pd.read_parquet(out).sort_values("row", ignore_index=True)
    assert frame["row"].tolist() == list(range(ROWS))
    assert frame["text"].tolist() == [f"row-{i}" for i in range(ROWS)]
    assert (frame["status"] == "success").all()
    sent_rows = [text for _, sent in runs for text in sent]
    assert set(sent_rows) == set(frame["text"])
    for k in range(ROWS // CHUNK):  # each part holds its chunk's rows, in order
        part = pq.read_table(out / f"part-{k:06d}.parquet").to_pandas()
        assert part["row"].tolist() == list(range(k * CHUNK, (k + 1) * CHUNK))

    # committed chunks are never sent again; a kill costs at most the requests in flight
    committed_counts = [len(c) for c, _ in runs]
    assert committed_counts == sorted(committed_counts) and committed_counts[-1] > 0
    for i, (committed, sent) in enumerate(runs):
        assert not committed.intersection(sent), f"run {i} sent committed rows again"
    assert len(sent_rows) - ROWS <= KILLS * CONCURRENCY
    # nothing left over: no temporary part file, no chunk job in the store
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith("_")) == [
        f"part-{k:06d}.parquet" for k in range(ROWS // CHUNK)
    ]
    with JobStore(store) as job_store:  # only the stream's own record, with its counts
        [record] = job_store.list_jobs()
        assert record["status"] == "completed" and record["running"] is None
        assert (record["done"], record["total"], record["succeeded"]) == (ROWS, ROWS, ROWS)
    assert b"stream-test-FAKE" not in store.read_bytes()

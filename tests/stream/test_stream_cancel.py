"""Cancel and resume a streamed job from another process, as for a DataFrame job.

A real process streams a Parquet file to the simulated HTTP server; this process (the "other
shell") cancels it with ``brainbatch cancel``, lists it with ``brainbatch jobs``, then
continues it with ``brainbatch resume`` (and ``bb.resume`` from Python): the output dataset
ends with every row once, and only the requests in flight at the cancel are sent twice.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import brainbatch as bb
from brainbatch import BatchStatus
from brainbatch.cli import main
from brainbatch.sim import SimServer

WORKER = Path(__file__).with_name("stream_worker.py")
ROWS = 300
CHUNK = 100
CONCURRENCY = 4


def _start(sim: SimServer, tmp_path: Path) -> tuple[subprocess.Popen[str], Path, Path]:
    source = tmp_path / "big.parquet"
    pd.DataFrame({"text": [f"row-{i}" for i in range(ROWS)]}).to_parquet(source)
    out, store = tmp_path / "results", tmp_path / "jobs.sqlite"
    sim.configure(latency_ms=10)
    cmd = [sys.executable, str(WORKER), str(source), str(out), str(store)]
    cmd += [sim.openai_base_url, str(CHUNK), str(CONCURRENCY), "big"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while sim.count("/v1/chat/completions") < CHUNK + 20:  # into the second chunk
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the worker stopped sending"
        time.sleep(0.01)
    return proc, out, store


def _cancel(proc: subprocess.Popen[str], store: Path) -> int:
    assert main(["cancel", "big", "--store", str(store), "--wait", "30"]) == 0
    stdout, stderr = proc.communicate(timeout=60)
    assert "finished cancelled" in stdout, stderr
    done = len(pd.read_parquet(store.parent / "results"))  # the rows so far are kept
    assert CHUNK <= done < ROWS
    return done


def _check_once(out: Path, sim: SimServer, sent_at_cancel: int) -> None:
    frame = pd.read_parquet(out).sort_values("row", ignore_index=True)
    assert frame["row"].tolist() == list(range(ROWS))
    assert frame["text"].tolist() == [f"row-{i}" for i in range(ROWS)]
    assert (frame["status"] == "success").all()
    assert sim.count("/v1/chat/completions") <= ROWS + CONCURRENCY  # in flight only, twice
    assert sent_at_cancel < ROWS


def test_brainbatch_cancel_stops_a_stream_in_another_process_and_resume_finishes_it(
    sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proc, out, store = _start(sim, tmp_path)
    _cancel(proc, store)
    sent = sim.count("/v1/chat/completions")
    capsys.readouterr()
    assert main(["jobs", "--store", str(store)]) == 0
    [line] = [x for x in capsys.readouterr().out.splitlines() if " big " in x]
    assert "cancelled" in line and f"/{ROWS:,}" in line
    assert main(["resume", "big", "--store", str(store)]) == 0
    _check_once(out, sim, sent)
    [row] = bb.jobs(store=store).query("name == 'big'").to_dict("records")
    assert (row["status"], row["done"], row["total"]) == ("completed", ROWS, ROWS)


def test_bb_resume_continues_a_stream_cancelled_from_another_process(
    sim: SimServer, tmp_path: Path
) -> None:
    proc, out, store = _start(sim, tmp_path)
    done = _cancel(proc, store)
    sent = sim.count("/v1/chat/completions")
    result = bb.resume("big", store=store, wait=True, progress="none")
    assert isinstance(result, bb.StreamResult)
    assert result.status == BatchStatus.COMPLETED and result.done == ROWS
    assert ROWS - done <= sim.count("/v1/chat/completions") - sent + CONCURRENCY
    _check_once(out, sim, sent)

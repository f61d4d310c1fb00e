"""The terminal progress display: a bar rewritten in place on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys

from cli_helpers import run_args

from brainbatch.cli._progress import TerminalProgress
from brainbatch.models import BatchJob, BatchRequest, BatchResult, BatchStatus
from brainbatch.progress import snapshot


def _job(done: int, total: int = 10, status: BatchStatus = BatchStatus.PROCESSING) -> BatchJob:
    job = BatchJob([BatchRequest(prompt=f"p{i}", model="sim", id=str(i)) for i in range(total)])
    for i in range(done):
        job.add_result(
            BatchResult(request_id=str(i), custom_id=None, status="success", cost_usd=0.01)
        )
    job.status = status
    return job


def test_live_display_rewrites_one_line_with_bar_counts_and_cost():
    stream = io.StringIO()
    view = TerminalProgress(stream, live=True)
    view.update(snapshot(_job(3), "j"))
    view.update(snapshot(_job(6), "j"))
    text = stream.getvalue()
    assert text.count("\r") == 2
    assert "\n" not in text
    assert "[##############..........] 6/10 (60.0%)" in text
    assert "$0.0600" in text


def test_plain_display_prints_at_most_one_line_per_interval():
    stream = io.StringIO()
    view = TerminalProgress(stream, live=False, interval=3600)
    for done in range(5):
        view.update(snapshot(_job(done), "j"))
    assert stream.getvalue().count("\n") == 1
    assert "\r" not in stream.getvalue()


def test_final_summary_is_printed_once_and_clears_the_live_line():
    stream = io.StringIO()
    view = TerminalProgress(stream, live=True)
    view.update(snapshot(_job(4), "j"))
    final = snapshot(_job(10, status=BatchStatus.COMPLETED), "j")
    view.update(final)
    view.update(final)
    text = stream.getvalue()
    assert text.count("job 'j' completed: 10/10 rows") == 1
    assert text.endswith("\n")


def test_a_terminal_gets_the_live_bar_from_the_command_line(tmp_path, prompts_csv):
    parent, child = pty.openpty()
    env = {**os.environ, "BRAINBATCH_STORE": str(tmp_path / "jobs.sqlite")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "brainbatch",
            *run_args(
                prompts_csv,
                *("-o", "latency_ms=30", "--concurrency", "2"),
                out=str(tmp_path / "results.csv"),
            ),
        ],
        stderr=child,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(parent, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(parent)
    assert proc.wait(timeout=60) == 0
    text = b"".join(chunks).decode()
    assert "\r[" in text
    assert "completed: 40/40 rows" in text

"""The live panel: throttled updates, colours, Cancel button, text fallback, batch display."""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.models import BatchJob, BatchRequest, BatchStatus
from brainbatch.notebook.widget import JobPanel
from brainbatch.progress import MAX_UPDATES_PER_S, TextProgress, format_duration, snapshot
from brainbatch.providers import SimulatedProvider

Prompts = Callable[[int], pd.DataFrame]


def tiny_job(n: int = 4) -> BatchJob:
    return BatchJob([BatchRequest(prompt=f"p{i}", model="sim", custom_id=str(i)) for i in range(n)])


def test_panel_updates_are_throttled_for_a_20000_row_job(prompts: Prompts) -> None:
    fast = SimulatedProvider(latency_ms=0)
    start = time.monotonic()  # before submit: the job starts running at once
    job = bb.submit(
        prompts(20_000),
        prompt="text",
        provider=fast,
        max_concurrent=64,
        store=False,
        progress="widget",
    )
    panel = job.panel()
    bar_values: list[float] = []
    panel.bar.observe(lambda change: bar_values.append(change["new"]), names="value")
    job.result(timeout=120)
    elapsed = time.monotonic() - start
    # at most MAX_UPDATES_PER_S while running, plus the first and the final update
    assert panel.updates <= elapsed * MAX_UPDATES_PER_S + 3
    assert panel.updates < 20_000 / 100
    assert panel.bar.value == 1.0 and all(v <= 1.0 for v in bar_values)
    assert "20,000/20,000" in panel.counts.value


def test_last_update_shows_the_final_summary(prompts: Prompts) -> None:
    job = bb.submit(prompts(30), prompt="text", model="sim", latency_ms=1, progress="widget")
    panel = job.panel()
    job.result(timeout=30)
    assert panel.stats.value.startswith("brainbatch: job")
    assert "completed: 30/30 rows, 30 ok" in panel.stats.value
    assert panel.bar.bar_style == "success"
    assert panel.button.layout.display == "none"


@pytest.mark.parametrize(
    ("status", "style"),
    [
        (BatchStatus.PROCESSING, "info"),
        (BatchStatus.COMPLETED, "success"),
        (BatchStatus.FAILED, "danger"),
        (BatchStatus.CANCELLED, "warning"),
    ],
)
def test_bar_colour_follows_the_job_status(status: BatchStatus, style: str) -> None:
    job = tiny_job()
    job.status = status
    panel = JobPanel(None)
    panel.update(snapshot(job, "t"))
    assert panel.bar.bar_style == style
    assert status.value in panel.title.value


def test_cancel_button_click_cancels_the_job(prompts: Prompts) -> None:
    job = bb.submit(
        prompts(500),
        prompt="text",
        model="sim",
        latency_ms=20,
        latency_sigma=0,
        max_concurrent=2,
        progress="widget",
    )
    panel = job.panel()
    panel.button.click()
    out = job.result(timeout=30)
    assert job.status == BatchStatus.CANCELLED
    assert (out.status == "cancelled").sum() > 0
    assert panel.button.disabled


def test_run_panel_has_no_cancel_button_but_says_how_to_stop() -> None:
    panel = JobPanel(None, cancellable=False)
    assert panel.button.layout.display == "none"
    assert "interrupt the kernel" in panel.hint.value


def test_handle_display_bundle_has_the_widget_and_a_stable_text(prompts: Prompts) -> None:
    job = bb.submit(
        prompts(3), prompt="text", model="sim", latency_ms=1, progress="widget", job_name="shown"
    )
    bundle = job._repr_mimebundle_()
    job.result(timeout=30)
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"] == "<brainbatch job 'shown': 3 rows>"


def test_text_progress_off_a_terminal_prints_only_the_summary() -> None:
    stream = io.StringIO()
    view = TextProgress(stream, live=False)
    job = tiny_job()
    job.status = BatchStatus.PROCESSING
    view.update(snapshot(job, "t"))
    job.status = BatchStatus.COMPLETED
    view.update(snapshot(job, "t"))
    view.update(snapshot(job, "t"))
    assert stream.getvalue() == (
        "brainbatch: job 't' completed: 0/4 rows, 0 ok, 0 failed, 0 cached, $0.0000, 0.0 s, "
        "? rows/s\n"
    )


def test_text_progress_on_a_terminal_rewrites_one_line() -> None:
    stream = io.StringIO()
    view = TextProgress(stream, live=True)
    job = tiny_job()
    job.status = BatchStatus.PROCESSING
    view.update(snapshot(job, "t"))
    view.update(snapshot(job, "t"))
    assert stream.getvalue().count("\r") == 2
    assert "0/4 (0.0%)" in stream.getvalue()
    assert "\n" not in stream.getvalue()


def test_batch_job_shows_provider_state_and_window_not_a_percentage() -> None:
    job = tiny_job()
    job.status = BatchStatus.PROCESSING
    job.metadata["batch_progress"] = {
        "statuses": {"in_progress": 1},
        "submitted": 4,
        "completed": 0,
        "failed": 0,
        "counts_live": False,
        "elapsed_s": 600.0,
        "window_s": 86_400.0,
        "expires_at": "2026-11-26T09:00:00+00:00",
    }
    panel = JobPanel(None)
    panel.update(snapshot(job, "b"))
    assert panel.bar.layout.visibility == "hidden"
    assert "provider: in_progress" in panel.stats.value
    assert "10:00 of the 24:00:00 window (expires 2026-11-26 09:00 UTC)" in panel.stats.value


def test_batch_job_with_live_counts_shows_them_on_the_bar() -> None:
    job = tiny_job()
    job.status = BatchStatus.PROCESSING
    job.metadata["batch_progress"] = {"submitted": 4, "completed": 1, "counts_live": True}
    panel = JobPanel(None)
    panel.update(snapshot(job, "b"))
    assert panel.bar.value == 0.25
    assert "1/4 done at the provider" in panel.stats.value


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.42, "0.4 s"), (12.4, "12 s"), (185, "3:05"), (3723, "1:02:03"), (float("nan"), "?")],
)
def test_durations_read_naturally(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_panel_says_cancelling_while_requests_in_flight_finish() -> None:
    job = tiny_job()
    job.status = BatchStatus.PROCESSING
    job.request_cancel()
    panel = JobPanel(None)
    panel.update(snapshot(job, "t"))
    assert "cancelling…" in panel.title.value


def test_text_of_an_unnamed_job_is_the_same_from_run_to_run(prompts: Prompts) -> None:
    job = bb.submit(prompts(3), prompt="text", model="sim", latency_ms=1)
    job.result(timeout=30)
    assert repr(job) == "<brainbatch job: 3 rows>"


def test_panel_title_says_model_mode_and_limits(prompts: Prompts) -> None:
    job = bb.submit(
        prompts(3),
        prompt="text",
        model="sim/gpt-4o-mini",
        latency_ms=1,
        max_concurrent=8,
        progress="widget",
    )
    panel = job.panel()
    job.result(timeout=30)
    assert "sim/gpt-4o-mini · realtime, 8 in flight" in panel.title.value


def test_importing_brainbatch_does_not_import_ipywidgets() -> None:
    import subprocess
    import sys

    code = "import sys, brainbatch; print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

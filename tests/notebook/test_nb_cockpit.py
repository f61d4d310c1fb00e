"""The job as a cockpit: latest answers, grouped errors, timeline, per model, Pause/Resume, on
the handle (DataFrames), in the panel (chart, error headline, details) and in the text fallback."""

from __future__ import annotations

import io
import re
import time

import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.errors import InputError
from brainbatch.estimate import forget_estimates
from brainbatch.models import BatchStatus
from brainbatch.monitor import JobMonitor, details_text
from brainbatch.progress import TextProgress, format_money, snapshot
from brainbatch.sim import SimServer

MODELS = ("gpt-4o-mini", "claude-haiku-4-5")


def two_model_frame(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "review": [f"Review {i}: the kettle works, shipping was slow" for i in range(n)],
            "model": [MODELS[i % 2] for i in range(n)],
        },
        index=pd.Index([f"rev{i}" for i in range(n)], name="review_id"),
    )


def submit_mixed(n: int, **kwargs: object) -> bb.JobHandle:
    kwargs.setdefault("latency_ms", 1)
    return bb.submit(
        two_model_frame(n),
        prompt="Classify the sentiment of: {review}",
        model="col:model",
        provider="sim",
        store=False,
        error_rate=0.1,
        seed=3,
        **kwargs,  # type: ignore[arg-type]
    )


def test_handle_gives_latest_errors_timeline_and_models_as_dataframes() -> None:
    job = submit_mixed(400)
    results = job.result(timeout=60)
    latest = job.latest(5)
    assert list(latest.columns) == [
        "row", "input", "answer", "status", "latency_ms", "cost_usd", "model", "cached"
    ]  # fmt: skip
    assert len(latest) == 5 and set(latest["row"]) <= set(results.index)
    assert latest["input"].str.startswith("Classify the sentiment of: Review").all()

    errors = job.errors()
    failed = results[results["status"] == "error"]
    assert errors["count"].sum() == len(failed) > 0
    for _, g in errors.iterrows():  # each example is a real failed row with its own message
        assert results.loc[g["row"], "error"] == g["message"]

    models = job.models().set_index("model")
    assert set(models.index) == set(MODELS)
    for model in MODELS:
        rows = results[results["model"] == model]
        assert models.loc[model, "rows"] == len(rows)
        assert models.loc[model, "failed"] == (rows["status"] == "error").sum()
        assert models.loc[model, "cost_usd"] == pytest.approx(rows["cost_usd"].fillna(0).sum())

    timeline = job.timeline()
    assert timeline["done"].iloc[-1] == 400 and timeline["done"].is_monotonic_increasing
    assert timeline["errors"].iloc[-1] == len(failed)


def test_pause_stops_the_job_and_resume_continues_it_without_a_new_job() -> None:
    job = submit_mixed(600, latency_ms=5, max_concurrent=4, progress="none")
    deadline = time.monotonic() + 30
    while job.job.done < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert job.pause()
    time.sleep(0.2)  # the requests in flight finish
    held = job.job.done
    time.sleep(0.3)
    assert job.job.done == held < 600 and job.paused and not job.done()
    assert job.resume()
    results = job.result(timeout=60)
    assert job.status in (BatchStatus.COMPLETED, BatchStatus.FAILED)  # 10% errors
    assert len(results) == 600 and (results["status"] != "pending").all()


def test_batch_jobs_cannot_be_paused_and_open_their_provider_batches(sim: SimServer) -> None:
    job = bb.submit(
        two_model_frame(4).iloc[[0, 2]],
        prompt="{review}",
        model="gpt-4o-mini",
        provider="openai",
        base_url=sim.openai_base_url,
        mode="batch",
        poll_interval=0.05,
        store=False,
        progress="widget",
    )
    with pytest.raises(InputError, match="real-time jobs"):
        job.pause()
    panel = job.panel()
    assert panel.pause_button.layout.display == "none"
    assert panel.details.titles[0].startswith("Provider batches")
    assert panel.details.selected_index == 0  # the batches are what a batch job shows
    job.result(timeout=60)
    job._render()
    assert panel.details.titles[0] == "Provider batches (1)"
    assert "bb-batches" in panel.batches.value and "2/2 done, 0 failed" in panel.batches.value


def test_panel_shows_chart_error_headline_and_the_open_details_section() -> None:
    job = submit_mixed(300, progress="widget", max_cost_usd=5.0, params={"max_tokens": 50})
    panel = job.panel()
    job.result(timeout=60)
    job._render()
    assert "<svg class='bb-chart-rate'" in panel.chart.value
    assert "<polyline" in panel.chart.value and "budget" in panel.chart.value
    assert panel.chart.layout.display is None
    top = job.errors().iloc[0]
    assert "errors</span>" in panel.error_line.value and top["error_type"] in panel.error_line.value
    assert panel.details.selected_index is None  # collapsed by default
    assert panel.latest.value == "" and panel.models.value == ""  # closed: not built
    assert re.match(r"Errors \(\d+ in \d kinds?\)", panel.details.titles[1])
    panel.details.selected_index = 0
    assert panel.latest.value.count("<tr>") == 1 + 8  # header + latest_rows
    panel.details.selected_index = 1
    assert f"{top['count']:,} ×" in panel.errors.value and "e.g. row" in panel.errors.value
    panel.details.selected_index = 2
    assert all(m in panel.models.value for m in MODELS)


def test_pause_button_pauses_and_resumes_the_job() -> None:
    job = submit_mixed(2000, latency_ms=5, max_concurrent=4, progress="widget")
    panel = job.panel()
    assert panel.pause_button.layout.display is None
    panel.pause_button.click()
    assert job.paused and panel.pause_button.description == "Resume"
    job._render()
    assert "paused" in panel.title.value and "paused" in panel.stats.value
    panel.pause_button.click()
    assert not job.paused and panel.pause_button.description == "Pause"
    job.cancel()
    job.result(timeout=30)
    assert panel.pause_button.layout.display == "none"


def test_text_fallback_prints_grouped_errors_and_models_under_the_summary() -> None:
    job = submit_mixed(200, progress="none")
    job.result(timeout=60)
    stream = io.StringIO()
    view = TextProgress(stream, live=False, details=lambda: details_text(job.monitor))
    view.update(snapshot(job.job, "mixed"))
    text = stream.getvalue()
    lines = text.splitlines()
    assert lines[0].startswith("brainbatch: job 'mixed' failed: 200/200 rows")
    assert re.search(r"^errors: \d+ in \d kinds?$", lines[1])
    assert "e.g. row 'rev" in text and "simulated" in text
    assert "per model:" in text and all(m in text for m in MODELS)


def test_a_clean_single_model_job_prints_only_the_summary_line() -> None:
    job = bb.submit(
        two_model_frame(10), prompt="{review}", model="sim", store=False, progress="none"
    )
    job.result(timeout=30)
    assert details_text(job.monitor) == ""
    assert isinstance(job.monitor, JobMonitor)


def test_the_estimate_made_before_the_run_is_drawn_on_the_cost_chart() -> None:
    df = two_model_frame(100)
    spec: dict[str, object] = {
        "prompt": "Classify the sentiment of: {review}",
        "model": "col:model",
    }
    before = bb.estimate(df, **spec)  # type: ignore[arg-type]
    job = submit_mixed(100, progress="widget")
    panel = job.panel()
    usd = job.set_estimate(before)
    job.result(timeout=60)
    job._render()
    expected = before[(before["mode"] == "realtime") & (before["model"] == "(all)")]
    assert usd == pytest.approx(float(expected["cost_expected_usd"].iloc[0]))
    assert "est. $" in panel.chart.value
    assert panel.chart.value.count("stroke-dasharray='1 3'") == 1  # the estimate line
    with pytest.raises(InputError, match="set_estimate"):
        job.set_estimate("a lot")  # type: ignore[arg-type]


@pytest.fixture
def no_estimates() -> None:
    """No estimate remembered from another test."""
    forget_estimates()


@pytest.mark.usefixtures("no_estimates")
def test_an_estimate_of_the_same_rows_is_drawn_without_being_passed() -> None:
    df = two_model_frame(100)
    before = bb.estimate(df, prompt="Classify the sentiment of: {review}", model="col:model")
    job = submit_mixed(100, progress="widget")  # the same rows, prompt and models
    panel = job.panel()
    job.result(timeout=60)
    job._render()
    expected = before[(before["mode"] == "realtime") & (before["model"] == "(all)")]
    assert "est. " + format_money(float(expected["cost_expected_usd"].iloc[0])) in (
        panel.chart.value
    )
    assert panel.chart.value.count("stroke-dasharray='1 3'") == 1


@pytest.mark.usefixtures("no_estimates")
def test_an_estimate_of_other_rows_is_not_drawn() -> None:
    bb.estimate(
        two_model_frame(50), prompt="Classify the sentiment of: {review}", model="col:model"
    )
    job = submit_mixed(100, progress="widget")  # 100 rows: not what was estimated
    panel = job.panel()
    job.result(timeout=60)
    job._render()
    assert "est. $" not in panel.chart.value

"""The rate limits in force, and where they came from, in the panel and the text fallback."""

from __future__ import annotations

import io
from collections.abc import Callable

import pandas as pd

import brainbatch as bb
from brainbatch.models import BatchJob, BatchRequest
from brainbatch.notebook.widget import JobPanel
from brainbatch.progress import TextProgress, snapshot
from brainbatch.sim import SimServer

Prompts = Callable[[int], pd.DataFrame]

LEARNED = "rpm 4,500 (90% of 5,000 learned from x-ratelimit-limit-requests)"


def _running_job() -> BatchJob:
    return BatchJob([BatchRequest(prompt=f"p{i}", model="sim") for i in range(4)])


def test_the_panel_shows_the_limits_in_force_and_hides_the_line_without_any() -> None:
    panel = JobPanel(lambda: None)
    panel.update(snapshot(_running_job(), "j", limits=LEARNED))
    assert LEARNED in panel.limits.value
    assert panel.limits.layout.display is None
    panel.update(snapshot(_running_job(), "j"))
    assert panel.limits.layout.display == "none"


def test_the_live_text_line_shows_the_limits_in_force() -> None:
    out = io.StringIO()
    TextProgress(out, live=True).update(snapshot(_running_job(), "j", limits=LEARNED))
    assert f"limits: {LEARNED}" in out.getvalue()


def test_a_job_handle_shows_the_limits_learned_from_the_server(
    prompts: Prompts, sim: SimServer
) -> None:
    sim.configure(rpm=5_000, tpm=2_000_000, latency_ms=0)
    job = bb.submit(
        prompts(5),
        prompt="text",
        model="gpt-4o-mini",
        base_url=sim.openai_base_url,
        api_key="sk-test",
        rpm="auto",
        tpm=1_000_000,
        store=False,
        progress="widget",
    )
    job.result(timeout=60)
    text = job.panel().limits.value
    assert LEARNED in text
    assert "tpm 1,000,000 set by you" in text


def test_a_run_with_learned_limits_is_described_without_error() -> None:
    from brainbatch.progress import describe
    from brainbatch.runner import RunSettings

    text = describe(RunSettings(model="gpt-4o-mini", rpm="auto", tpm=30_000))
    assert "auto rpm" in text and "30,000 tpm" in text

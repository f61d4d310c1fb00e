"""Each provider batch's state and counts in ``batch_progress["per_batch"]`` and its views."""

from __future__ import annotations

from collections.abc import Callable

from brainbatch import BatchJob, BatchRequest
from brainbatch.batchapi import BatchAPIExecutor
from brainbatch.notebook.widget import batches_html
from brainbatch.progress import batch_rows, batches_text, snapshot
from brainbatch.providers.anthropic import AnthropicProvider
from brainbatch.providers.openai import OpenAIProvider

FAST = {"poll_interval": 0.02, "max_poll_interval": 0.1}


async def test_a_two_model_openai_job_shows_one_row_per_batch_with_its_counts(
    openai_provider: OpenAIProvider,
) -> None:
    job = BatchJob(
        [
            BatchRequest(
                prompt=f"q{i}", model=("gpt-4o-mini", "gpt-4.1-mini")[i % 2], custom_id=f"r{i}"
            )
            for i in range(10)
        ]
    )
    await BatchAPIExecutor(openai_provider, **FAST).execute(job)
    rows = batch_rows(snapshot(job, "b"))
    assert sorted(r.model for r in rows) == ["gpt-4.1-mini", "gpt-4o-mini"]
    assert all(r.requests == 5 and r.completed == 5 and r.failed == 0 for r in rows)
    assert all(r.status == "completed" and r.collected and r.batch_id for r in rows)
    text = batches_text(rows)
    assert text.count("\n") == 1 and "5/5 done, 0 failed" in text
    html = batches_html(rows)
    assert html.count("<tr>") == 3 and all(r.batch_id in html for r in rows)


async def test_anthropic_batches_show_elapsed_against_expiry_while_running(
    anthropic_provider: AnthropicProvider, make_job: Callable[..., BatchJob]
) -> None:
    seen: list[str] = []
    job = make_job(6, "claude-haiku-4-5")

    def watch(j: BatchJob) -> None:
        rows = batch_rows(snapshot(j, "b"))
        if rows and not rows[0].collected:
            seen.append(batches_text(rows))

    job.progress_callback = watch
    await BatchAPIExecutor(anthropic_provider, max_requests_per_batch=3, **FAST).execute(job)
    assert seen
    running = seen[-1]
    assert running.count("\n") == 1  # two batches of three
    assert "of the 24:00:00 window" in running and "3 requests" in running

"""Cancelling waits for the provider batches to stop at most ``cancel_timeout``: the poll sleep
is cut at the limit, whatever the poll interval has grown to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from brainbatch import BatchJob, BatchStatus
from brainbatch.batchapi import BatchAPIExecutor
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim.batches import BatchSimState


class SleepLog(BatchAPIExecutor):
    """Notes every wait the executor asks for once the job was cancelled."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waits_after_cancel: list[float] = []

    async def _sleep(self, job: BatchJob, seconds: float, *, wake_on_cancel: bool) -> None:
        if job.cancel_requested:
            self.waits_after_cancel.append(seconds)
        await super()._sleep(job, seconds, wake_on_cancel=wake_on_cancel)


async def test_cancel_of_a_slow_cancelling_batch_waits_no_longer_than_the_limit(
    openai_provider: OpenAIProvider,
    make_job: Callable[..., BatchJob],
    batch_sim: BatchSimState,
) -> None:
    batch_sim.configure(in_progress_s=30.0, cancelling_s=30.0)
    ex = SleepLog(
        openai_provider,
        poll_interval=0.2,
        poll_backoff=10.0,
        max_poll_interval=20.0,
        cancel_timeout=0.5,
    )
    job = make_job(10)

    def cancel_once_running(j: BatchJob) -> None:
        if (j.metadata.get("batch_progress") or {}).get("statuses", {}).get("in_progress"):
            j.request_cancel()

    job.progress_callback = cancel_once_running
    await ex.execute(job)
    assert job.status == BatchStatus.CANCELLED
    assert "batches still stopping" in (job.error or "")
    assert len(ex.waits_after_cancel) >= 2  # it polled the stopping batch more than once
    assert sum(ex.waits_after_cancel) <= 0.5  # and never asked to wait past the limit

"""A batch job survives a crash: its provider batch ids reach the SQLite journal as soon as
the provider accepts them, and the job reloaded from disk re-attaches instead of paying twice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from batch_helpers import accepted

from brainbatch import BatchJob, BatchStatus
from brainbatch.batchapi import BatchAPIExecutor
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim import SimServer
from brainbatch.sim.batches import BatchSimState
from brainbatch.store import JobStore

FAST = {"poll_interval": 0.02, "max_poll_interval": 0.1}
"""Executor polling that suits the simulated clock."""


async def test_job_reloaded_after_a_crash_collects_its_running_batch(
    tmp_path: Path,
    openai_provider: OpenAIProvider,
    make_job: Callable[..., BatchJob],
    batch_sim: BatchSimState,
    sim: SimServer,
) -> None:
    batch_sim.configure(in_progress_s=0.5)
    store = JobStore(tmp_path / "jobs.sqlite")
    job = make_job(30)
    store.create_job(job)
    ex = BatchAPIExecutor(openai_provider, on_submit=store.record_provider_batch, **FAST)
    task = asyncio.create_task(ex.execute(job))
    while not accepted(job):
        await asyncio.sleep(0.005)
    task.cancel()  # the kernel dies right after the provider accepted the batch
    await asyncio.gather(task, return_exceptions=True)
    store.close()

    reopened = JobStore(tmp_path / "jobs.sqlite")
    try:
        reloaded = reopened.load_job(job.job_id)
        await BatchAPIExecutor(openai_provider, **FAST).execute(reloaded)
    finally:
        reopened.close()
    assert reloaded.status == BatchStatus.COMPLETED and reloaded.n_success == 30
    assert len(batch_sim.batches) == 1  # one batch created, and paid, once


OLD_KEYS = {  # the keys the previous version stored for an OpenAI batch
    "provider",
    "batch_id",
    "input_file_id",
    "output_file_id",
    "error_file_id",
    "status",
    "state",
    "ended",
    "collected",
    "n_requests",
    "rows",
    "counts",
    "created_at",
    "expires_at",
    "ended_at",
    "errors",
    "cancel_sent",
}


async def test_job_journaled_by_the_previous_version_resumes_and_reattaches(
    tmp_path: Path,
    openai_provider: OpenAIProvider,
    make_job: Callable[..., BatchJob],
    batch_sim: BatchSimState,
) -> None:
    batch_sim.configure(in_progress_s=0.5)
    store = JobStore(tmp_path / "jobs.sqlite")
    job = make_job(12)
    store.create_job(job)
    task = asyncio.create_task(BatchAPIExecutor(openai_provider, **FAST).execute(job))
    while not accepted(job):
        await asyncio.sleep(0.005)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    (record,) = job.metadata["provider_batches"]
    old = {k: v for k, v in record.to_dict().items() if k in OLD_KEYS}
    old["counts"] = {k: old["counts"][k] for k in ("total", "completed", "failed", "live")}
    store.record_provider_batch(job, old)  # the dict the previous version wrote
    store.close()

    reopened = JobStore(tmp_path / "jobs.sqlite")
    try:
        assert reopened.provider_batches(job.job_id) == [old]
        reloaded = reopened.load_job(job.job_id)
        await BatchAPIExecutor(openai_provider, **FAST).execute(reloaded)
    finally:
        reopened.close()
    assert reloaded.status == BatchStatus.COMPLETED and reloaded.n_success == 12
    assert len(batch_sim.batches) == 1

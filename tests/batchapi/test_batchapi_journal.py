"""A batch job survives a crash: its provider batch ids reach the SQLite journal as soon as
the provider accepts them, and the job reloaded from disk re-attaches instead of paying twice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from batch_helpers import accepted

from brainbatch import BatchJob, BatchStatus
from brainbatch.batchapi import BatchAPIExecutor, ProviderBatch
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


def test_a_journal_pass_that_read_the_metadata_earlier_keeps_a_record_committed_since(
    tmp_path: Path, make_job: Callable[..., BatchJob]
) -> None:
    """The journal's writer thread reads ``job.metadata`` and writes it a moment later; an
    intent the executor committed in between (JobStore.record_provider_batch) must survive
    that write, or a crash right then would submit, and pay for, the batch again."""
    store = JobStore(tmp_path / "jobs.sqlite", flush_interval=3600)
    job = make_job(2)
    store.create_job(job)
    journal = store.journal(job)
    try:
        job.metadata["note"] = "changed"
        change = journal._snapshot()  # the writer thread reads the metadata...
        assert change is not None
        intent = ProviderBatch(provider="openai", part="1/1", rows=[[0, 2]], n_requests=2)
        job.metadata.setdefault("provider_batches", []).append(intent)
        store.record_provider_batch(job, intent)  # ...the loop commits an intent...
        store._write(journal._write, change)  # ...and the writer writes what it read
        assert [b["part"] for b in store.provider_batches(job.job_id)] == ["1/1"]
    finally:
        journal.close()
        store.close()

"""Pause/Resume: a paused job starts no request, the ones in flight finish, Resume continues it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from brainbatch import BatchJob, BatchRequest, BatchStatus, ParallelExecutor, SequentialExecutor


def make_job(n: int) -> BatchJob:
    return BatchJob(
        [BatchRequest(prompt=f"p{i}", model="sim", custom_id=f"r{i}") for i in range(n)]
    )


class Counting:
    """A process_fn that counts the requests it started and waits for a gate."""

    def __init__(self) -> None:
        self.started = 0
        self.finished = 0

    async def __call__(self, request: BatchRequest) -> str:
        self.started += 1
        await asyncio.sleep(0.005)
        self.finished += 1
        return "ok"


async def _until(cond: Callable[[], bool]) -> None:
    async with asyncio.timeout(10.0):
        while not cond():
            await asyncio.sleep(0.002)


async def test_a_paused_parallel_job_starts_nothing_until_resumed() -> None:
    job, fn = make_job(300), Counting()
    run = asyncio.ensure_future(ParallelExecutor(max_concurrent=8).execute(job, fn))
    await _until(lambda: fn.finished >= 20)
    job.request_pause()
    await _until(lambda: fn.finished == fn.started)  # the ones in flight finish
    started = fn.started
    for _ in range(20):  # many executor turns while paused
        await asyncio.sleep(0.01)
    assert fn.started == started and job.done == started < 300
    assert job.status is BatchStatus.PROCESSING and job.paused
    job.request_resume()
    await run
    assert job.status is BatchStatus.COMPLETED and fn.started == 300


async def test_cancel_while_paused_ends_the_job_cancelled_with_its_results() -> None:
    job, fn = make_job(300), Counting()
    run = asyncio.ensure_future(ParallelExecutor(max_concurrent=8).execute(job, fn))
    await _until(lambda: fn.finished >= 10)
    job.request_pause()
    await _until(lambda: fn.finished == fn.started)
    job.request_cancel()
    await asyncio.wait_for(run, 5)
    assert job.status is BatchStatus.CANCELLED
    assert job.done == fn.started < 300


async def test_a_paused_sequential_job_starts_nothing_until_resumed() -> None:
    job, fn = make_job(60), Counting()
    run = asyncio.ensure_future(SequentialExecutor().execute(job, fn))
    await _until(lambda: fn.finished >= 5)
    job.request_pause()
    await _until(lambda: fn.finished == fn.started)
    started = fn.started
    await asyncio.sleep(0.1)
    assert fn.started == started < 60
    job.request_resume()
    await run
    assert job.status is BatchStatus.COMPLETED and fn.started == 60

"""Pause really stops sends: the simulated server's request log does not move while paused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from brainbatch import BatchJob, BatchRequest, BatchStatus, ParallelExecutor
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim import SimServer

PATH = "/v1/chat/completions"


async def _until(cond: Callable[[], bool]) -> None:
    async with asyncio.timeout(20.0):
        while not cond():
            await asyncio.sleep(0.005)


async def test_nothing_reaches_the_server_while_paused_and_resume_sends_each_row_once(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider]
) -> None:
    sim.configure(latency_ms=20)
    job = BatchJob(
        [
            BatchRequest(prompt=f"Review {i}: fine", model="gpt-4o-mini", custom_id=f"r{i}")
            for i in range(200)
        ]
    )
    run = asyncio.ensure_future(ParallelExecutor(max_concurrent=8).execute(job, openai_at()))
    await _until(lambda: job.done >= 16)
    job.request_pause()
    # the requests in flight finish: every request the server got has its answer
    await _until(lambda: job.done == sim.count(PATH))
    sent = sim.count(PATH)
    for _ in range(30):  # 0.3 s, several executor and server turns
        await asyncio.sleep(0.01)
        assert sim.count(PATH) == sent
    assert sent < 200 and job.done == sent and job.status is BatchStatus.PROCESSING
    job.request_resume()
    await run
    assert job.status is BatchStatus.COMPLETED
    assert sim.count(PATH) == 200
    assert max(sim.received_bodies_count_by_hash().values()) == 1

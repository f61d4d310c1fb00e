"""A job above the provider limit, end to end: 120,000 requests over three OpenAI batches."""

from __future__ import annotations

from brainbatch import BatchJob, BatchRequest, BatchStatus
from brainbatch.batchapi import BatchAPIExecutor
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim import SimServer
from brainbatch.sim.batches import BatchSimState


async def test_120k_requests_split_over_three_batches_all_come_back_by_custom_id(
    sim: SimServer, batch_sim: BatchSimState
) -> None:
    sim.configure(mean_output_tokens=2)  # small answers keep the test quick
    batch_sim.configure(in_progress_s=0.5)
    n = 120_000
    job = BatchJob(
        [BatchRequest(prompt=f"p{i}", model="gpt-4o-mini", custom_id=f"c{i}") for i in range(n)]
    )
    provider = OpenAIProvider(base_url=sim.openai_base_url)
    try:
        results = await BatchAPIExecutor(
            provider, poll_interval=0.05, max_poll_interval=0.2
        ).execute(job)
    finally:
        await provider.aclose()
    assert [b.n_requests for b in job.metadata["provider_batches"]] == [50_000, 50_000, 20_000]
    assert job.status == BatchStatus.COMPLETED and job.n_success == n
    assert [r.custom_id for r in results] == [f"c{i}" for i in range(n)]

"""The enqueued-token limit: batches submitted only while they fit under
``max_enqueued_tokens``; a batch OpenAI refuses with ``token_limit_exceeded`` (it ran nothing)
is sent again once another running batch ends, or in halves when it was alone; one request
refused alone fails the job with the provider's words.

The simulated server has no enqueued-token accounting of its own (yet): the refusals come from
its ``validation_failure`` scenario, switched on and off as batches are accepted, and the
limit is checked against the server's own record of when each batch was created and ended.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import httpx
import pytest

from brainbatch import BatchJob, BatchStatus, InputError
from brainbatch.batchapi import BatchAPIExecutor, ProviderBatch, enqueued_tokens
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim import SimServer
from brainbatch.sim.batch_state import SimBatch
from brainbatch.sim.batches import BatchSimState

MakeJob = Callable[..., BatchJob]

FAST = {"poll_interval": 0.02, "max_poll_interval": 0.1}
"""Executor polling that suits the simulated clock."""


def _ended_at(batch_sim: BatchSimState, b: SimBatch) -> float:
    """When the server ended ``b`` (wall clock, as it reports it, unrounded)."""
    times = batch_sim.phase_times(b, "failed" if b.errors else "completed")
    end = times["failed_at"] or times["completed_at"]
    assert end is not None
    return end


def _switch_scenarios(batch_sim: BatchSimState, *scenarios: str) -> Callable[..., None]:
    """An on_submit that sets the scenario of the next batches each time one is accepted."""
    seen: list[str] = []

    def on_submit(job: BatchJob, record: ProviderBatch) -> None:
        if record.batch_id and record.batch_id not in seen:
            seen.append(record.batch_id)
            if len(seen) <= len(scenarios):
                batch_sim.configure(scenario=scenarios[len(seen) - 1])

    return on_submit


async def test_batches_go_one_at_a_time_when_the_limit_holds_only_one(
    openai_provider: OpenAIProvider, make_job: MakeJob, batch_sim: BatchSimState
) -> None:
    job = make_job(12, params={"max_tokens": 20})
    limit = 4 * max(enqueued_tokens(r) for r in job.requests)
    ex = BatchAPIExecutor(openai_provider, max_enqueued_tokens=limit, **FAST)
    await ex.execute(job)
    assert job.status == BatchStatus.COMPLETED and job.n_success == 12
    served = sorted(batch_sim.batches.values(), key=lambda b: b.created_wall)
    assert len(served) == 3
    for earlier, later in itertools.pairwise(served):
        assert later.created_wall >= _ended_at(batch_sim, earlier)  # never two enqueued
    assert all(sum(r.n_tokens.values()) <= limit for r in job.metadata["provider_batches"])


async def test_batches_that_fit_together_run_together(
    openai_provider: OpenAIProvider, make_job: MakeJob, batch_sim: BatchSimState
) -> None:
    batch_sim.configure(in_progress_s=0.5)
    job = make_job(8, params={"max_tokens": 20})
    limit = 8 * max(enqueued_tokens(r) for r in job.requests)
    ex = BatchAPIExecutor(
        openai_provider, max_enqueued_tokens=limit, max_requests_per_batch=4, **FAST
    )
    await ex.execute(job)
    first, second = sorted(batch_sim.batches.values(), key=lambda b: b.created_wall)
    assert second.created_wall < _ended_at(batch_sim, first)
    assert job.status == BatchStatus.COMPLETED


async def test_a_refused_batch_goes_again_once_a_running_batch_ends(
    openai_provider: OpenAIProvider, make_job: MakeJob, batch_sim: BatchSimState
) -> None:
    batch_sim.configure(in_progress_s=0.6)
    job = make_job(8)
    ex = BatchAPIExecutor(
        openai_provider,
        max_requests_per_batch=4,
        on_submit=_switch_scenarios(batch_sim, "validation_failure", "ok"),
        **FAST,
    )
    await ex.execute(job)
    assert job.status == BatchStatus.COMPLETED and job.n_success == 8
    running, refused, again = sorted(batch_sim.batches.values(), key=lambda b: b.created_wall)
    assert refused.errors and refused.errors[0]["code"] == "token_limit_exceeded"
    assert [cid for cid, _ in again.requests] == [cid for cid, _ in refused.requests]
    assert again.created_wall >= _ended_at(batch_sim, running)
    ran = [cid for b in batch_sim.batches.values() if not b.errors for cid, _ in b.requests]
    assert sorted(ran) == sorted(f"r{i}" for i in range(8))  # each row ran (and was paid) once


async def test_a_batch_refused_alone_is_sent_again_in_halves(
    openai_provider: OpenAIProvider, make_job: MakeJob, batch_sim: BatchSimState
) -> None:
    batch_sim.configure(scenario="validation_failure")
    job = make_job(6)
    ex = BatchAPIExecutor(openai_provider, on_submit=_switch_scenarios(batch_sim, "ok"), **FAST)
    await ex.execute(job)
    served = sorted(batch_sim.batches.values(), key=lambda b: b.created_wall)
    assert [len(b.requests) for b in served] == [6, 3, 3]
    assert job.status == BatchStatus.COMPLETED and job.n_success == 6
    refused = job.metadata["provider_batches"][0]
    assert refused.resubmitted and refused.token_limited


async def test_a_request_refused_alone_fails_the_job_with_the_providers_words(
    openai_provider: OpenAIProvider, make_job: MakeJob, batch_sim: BatchSimState
) -> None:
    batch_sim.configure(scenario="validation_failure")
    job = make_job(1)
    results = await BatchAPIExecutor(openai_provider, **FAST).execute(job)
    assert job.status == BatchStatus.FAILED
    assert "request #0 was refused for the enqueued-token limit" in (job.error or "")
    assert "Enqueued token limit reached for gpt-4o-mini" in (job.error or "")
    assert results == [] and job.pending_requests == 1
    assert len(batch_sim.batches) == 1


class _RenameErrorCode(httpx.AsyncBaseTransport):
    """Passes everything to the server, but status answers say ``invalid_request`` where the
    server said ``token_limit_exceeded``: a validation failure of another kind."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        resp = await self.inner.handle_async_request(request)
        if request.method != "GET" or not request.url.path.startswith("/v1/batches/"):
            return resp
        body = (await resp.aread()).replace(b'"token_limit_exceeded"', b'"invalid_request"')
        headers = {k: v for k, v in resp.headers.items() if k.lower() != "content-length"}
        return httpx.Response(resp.status_code, headers=headers, content=body)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_another_validation_failure_fails_the_job_at_once_with_its_errors(
    sim: SimServer, batch_sim: BatchSimState, make_job: MakeJob
) -> None:
    batch_sim.configure(scenario="validation_failure")
    client = httpx.AsyncClient(transport=_RenameErrorCode())
    provider = OpenAIProvider(base_url=sim.openai_base_url, client=client)
    try:
        job = make_job(5)
        await BatchAPIExecutor(provider, **FAST).execute(job)
    finally:
        await client.aclose()
    assert job.status == BatchStatus.FAILED
    assert "failed validation: invalid_request: Enqueued token limit reached" in (job.error or "")
    assert len(batch_sim.batches) == 1 and job.pending_requests == 5


async def test_a_request_alone_over_the_limit_is_refused_before_anything_is_sent(
    openai_provider: OpenAIProvider, make_job: MakeJob, sim: SimServer
) -> None:
    job = make_job(3, params={"max_tokens": 100})
    ex = BatchAPIExecutor(openai_provider, max_enqueued_tokens=50, **FAST)
    with pytest.raises(InputError, match=r"request #0 .* over the enqueued-token limit of 50"):
        await ex.execute(job)
    assert sim.count() == 0


async def test_a_limit_for_one_model_leaves_the_others_uncapped(
    openai_provider: OpenAIProvider, make_job: MakeJob
) -> None:
    job = make_job(4, params={"max_tokens": 100})
    ex = BatchAPIExecutor(openai_provider, max_enqueued_tokens={"gpt-4.1-mini": 50}, **FAST)
    await ex.execute(job)
    assert job.status == BatchStatus.COMPLETED
    assert [r.n_requests for r in job.metadata["provider_batches"]] == [4]


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "100", {"gpt-4o-mini": 0}])
def test_bad_max_enqueued_tokens_is_refused(openai_provider: OpenAIProvider, bad: object) -> None:
    with pytest.raises(InputError, match="max_enqueued_tokens"):
        BatchAPIExecutor(openai_provider, max_enqueued_tokens=bad)  # type: ignore[arg-type]

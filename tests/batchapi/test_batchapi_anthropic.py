"""BatchAPIExecutor against the simulated Anthropic Message Batches API, over loopback."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from brainbatch import BatchJob, BatchRequest, BatchStatus, InputError, ParallelExecutor
from brainbatch.batchapi import BatchAPIExecutor
from brainbatch.providers.anthropic import AnthropicProvider
from brainbatch.sim import SimServer
from brainbatch.sim.batches import BatchSimState

MakeJob = Callable[..., BatchJob]
MODEL = "claude-haiku-4-5"

FAST = {"poll_interval": 0.02, "max_poll_interval": 0.1}
"""Executor polling that suits the simulated clock."""


async def test_results_match_the_real_time_path_request_for_request(
    anthropic_provider: AnthropicProvider, make_job: MakeJob
) -> None:
    batch_job, rt_job = make_job(30, MODEL), make_job(30, MODEL)
    await BatchAPIExecutor(anthropic_provider, **FAST).execute(batch_job)
    await ParallelExecutor(max_concurrent=8).execute(rt_job, anthropic_provider)
    batch = {r.custom_id: (r.status, r.result, r.output_tokens) for r in batch_job.results}
    rt = {r.custom_id: (r.status, r.result, r.output_tokens) for r in rt_job.results}
    assert batch == rt
    assert batch_job.status == BatchStatus.COMPLETED


async def test_results_are_priced_at_half_the_real_time_price(
    anthropic_provider: AnthropicProvider, make_job: MakeJob
) -> None:
    batch_job, rt_job = make_job(10, MODEL), make_job(10, MODEL)
    await BatchAPIExecutor(anthropic_provider, **FAST).execute(batch_job)
    await ParallelExecutor(max_concurrent=4).execute(rt_job, anthropic_provider)
    assert math.isclose(batch_job.cost_usd, rt_job.cost_usd / 2, rel_tol=1e-9)
    assert all("batch" in (r.price_source or "") for r in batch_job.results)


async def test_progress_shows_elapsed_time_against_expiry_not_a_fake_percentage(
    anthropic_provider: AnthropicProvider, make_job: MakeJob
) -> None:
    snapshots: list[dict[str, object]] = []
    job = make_job(5, MODEL)
    job.progress_callback = lambda j: snapshots.append(dict(j.metadata.get("batch_progress", {})))
    await BatchAPIExecutor(anthropic_provider, **FAST).execute(job)
    running = [s for s in snapshots if s.get("active")]
    assert running and all(s["counts_live"] is False and s["completed"] == 0 for s in running)
    assert all(s["window_s"] == 24 * 3600 and s["expires_at"] for s in running)


async def test_custom_id_anthropic_refuses_is_caught_before_sending(
    anthropic_provider: AnthropicProvider, sim: SimServer
) -> None:
    job = BatchJob([BatchRequest(prompt="hi", model=MODEL, custom_id="row 1")])
    with pytest.raises(InputError, match=r"request #0: custom_id 'row 1'"):
        await BatchAPIExecutor(anthropic_provider, **FAST).execute(job)
    assert sim.count() == 0


async def test_job_above_the_limit_is_split_into_batches(
    anthropic_provider: AnthropicProvider, make_job: MakeJob
) -> None:
    job = make_job(9, MODEL)
    await BatchAPIExecutor(anthropic_provider, max_requests_per_batch=4, **FAST).execute(job)
    assert [b.n_requests for b in job.metadata["provider_batches"]] == [4, 4, 1]
    assert job.n_success == 9


async def test_refused_batch_reports_the_providers_error_verbatim(
    anthropic_provider: AnthropicProvider, make_job: MakeJob, batch_sim: BatchSimState
) -> None:
    batch_sim.configure(scenario="validation_failure")
    job = make_job(3, MODEL)
    await BatchAPIExecutor(anthropic_provider, **FAST).execute(job)
    assert job.status == BatchStatus.FAILED
    assert "sim-refused is not available for batch processing" in (job.error or "")
    assert job.pending_requests == 3


async def test_expired_requests_become_expired_errors_and_the_rest_are_kept(
    anthropic_provider: AnthropicProvider, make_job: MakeJob, batch_sim: BatchSimState
) -> None:
    batch_sim.configure(scenario="expire", expire_fraction=0.25)
    job = make_job(8, MODEL)
    await BatchAPIExecutor(anthropic_provider, **FAST).execute(job)
    assert job.status == BatchStatus.EXPIRED
    assert job.n_success == 2
    assert {r.error_type for r in job.get_failed_results()} == {"expired"}


async def test_all_errored_results_fail_the_job_with_each_rows_message(
    anthropic_provider: AnthropicProvider, make_job: MakeJob, batch_sim: BatchSimState
) -> None:
    batch_sim.configure(scenario="all_errors")
    job = make_job(4, MODEL)
    await BatchAPIExecutor(anthropic_provider, **FAST).execute(job)
    assert job.status == BatchStatus.FAILED and job.n_error == 4
    assert all(r.error == f"model: {MODEL}" for r in job.results)


async def test_cancel_mid_way_leaves_canceled_requests_pending(
    anthropic_provider: AnthropicProvider,
    make_job: MakeJob,
    batch_sim: BatchSimState,
    sim: SimServer,
) -> None:
    batch_sim.configure(in_progress_s=3.0)
    polls = 0

    def cancel_after_two_polls(job: BatchJob) -> None:
        nonlocal polls
        polls += 1
        if polls == 3:
            job.request_cancel()

    job = make_job(50, MODEL)
    job.progress_callback = cancel_after_two_polls
    await BatchAPIExecutor(anthropic_provider, **FAST).execute(job)
    assert job.status == BatchStatus.CANCELLED
    (b,) = batch_sim.batches.values()
    assert sim.count(f"/v1/messages/batches/{b.id}/cancel") == 1
    assert job.n_error == 0
    assert job.n_success + job.pending_requests == 50
    assert job.pending_requests > 0

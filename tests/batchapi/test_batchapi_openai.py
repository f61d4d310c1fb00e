"""BatchAPIExecutor against the simulated OpenAI Batch API, over loopback."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable

import orjson
import pytest
from batch_helpers import accepted, at_rest

from brainbatch import (
    BatchJob,
    BatchManager,
    BatchRequest,
    BatchStatus,
    InputError,
    ParallelExecutor,
)
from brainbatch.batchapi import BatchAPIExecutor, ProviderBatch
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim import SimServer
from brainbatch.sim.batches import BatchSimState

MakeJob = Callable[..., BatchJob]

FAST = {"poll_interval": 0.02, "max_poll_interval": 0.1}
"""Executor polling that suits the simulated clock."""


async def test_results_match_the_real_time_path_request_for_request(
    openai_provider: OpenAIProvider, make_job: MakeJob
) -> None:
    batch_job, rt_job = make_job(40), make_job(40)
    await BatchAPIExecutor(openai_provider, **FAST).execute(batch_job)
    await ParallelExecutor(max_concurrent=8).execute(rt_job, openai_provider)
    batch = {r.custom_id: (r.status, r.result, r.output_tokens) for r in batch_job.results}
    rt = {r.custom_id: (r.status, r.result, r.output_tokens) for r in rt_job.results}
    assert batch == rt
    assert batch_job.status == BatchStatus.COMPLETED


async def test_results_are_priced_at_half_the_real_time_price(
    openai_provider: OpenAIProvider, make_job: MakeJob
) -> None:
    batch_job, rt_job = make_job(10), make_job(10)
    await BatchAPIExecutor(openai_provider, **FAST).execute(batch_job)
    await ParallelExecutor(max_concurrent=4).execute(rt_job, openai_provider)
    assert math.isclose(batch_job.cost_usd, rt_job.cost_usd / 2, rel_tol=1e-9)
    assert all("batch" in (r.price_source or "") for r in batch_job.results)


async def test_results_returned_in_request_order_although_the_file_is_shuffled(
    openai_provider: OpenAIProvider, make_job: MakeJob, batch_sim: BatchSimState
) -> None:
    job = make_job(30)
    results = await BatchAPIExecutor(openai_provider, **FAST).execute(job)
    assert [r.custom_id for r in results] == [f"r{i}" for i in range(30)]
    (b,) = batch_sim.batches.values()
    assert b.order != sorted(b.order)  # the server really answered out of order


async def test_input_file_holds_one_chat_line_per_request_and_metadata_names_the_job(
    openai_provider: OpenAIProvider, make_job: MakeJob, batch_sim: BatchSimState
) -> None:
    job = make_job(3)
    await BatchAPIExecutor(openai_provider, **FAST).execute(job)
    (b,) = batch_sim.batches.values()
    lines = [orjson.loads(x) for x in batch_sim.files[b.input_file_id].content.splitlines()]
    assert [x["custom_id"] for x in lines] == ["r0", "r1", "r2"]
    assert {(x["method"], x["url"]) for x in lines} == {("POST", "/v1/chat/completions")}
    assert batch_sim.files[b.input_file_id].purpose == "batch"
    assert b.metadata is not None and b.metadata["brainbatch_job_id"] == job.job_id


async def test_request_without_custom_id_comes_back_under_its_id(
    openai_provider: OpenAIProvider,
) -> None:
    job = BatchJob([BatchRequest(prompt="hi", model="gpt-4o-mini", id="row-1")])
    await BatchAPIExecutor(openai_provider, **FAST).execute(job)
    assert job.get_result("row-1") is not None and job.get_result("row-1").ok  # type: ignore[union-attr]


async def test_bad_custom_id_is_refused_before_anything_is_sent(
    openai_provider: OpenAIProvider, sim: SimServer
) -> None:
    job = BatchJob([BatchRequest(prompt="hi", model="gpt-4o-mini", custom_id="x" * 70)])
    with pytest.raises(InputError, match="request #0"):
        await BatchAPIExecutor(openai_provider, **FAST).execute(job)
    assert sim.count() == 0
    assert job.status == BatchStatus.PENDING


async def test_job_larger_than_the_limit_is_split_into_batches_tracked_as_one_job(
    openai_provider: OpenAIProvider, make_job: MakeJob
) -> None:
    job = make_job(25)
    ex = BatchAPIExecutor(openai_provider, max_requests_per_batch=10, **FAST)
    await ex.execute(job)
    batches = job.metadata["provider_batches"]
    assert [b.n_requests for b in batches] == [10, 10, 5]
    assert job.status == BatchStatus.COMPLETED and job.n_success == 25


async def test_provider_batch_records_survive_a_json_round_trip(
    openai_provider: OpenAIProvider, make_job: MakeJob
) -> None:
    job = make_job(5)
    await BatchAPIExecutor(openai_provider, **FAST).execute(job)
    (record,) = job.metadata["provider_batches"]
    saved = json.loads(json.dumps(record.to_dict()))
    assert saved["batch_id"].startswith("batch_")
    assert saved["input_file_id"] and saved["output_file_id"]
    assert ProviderBatch.from_dict(saved) == record


async def test_progress_shows_live_request_counts_before_results_arrive(
    openai_provider: OpenAIProvider, make_job: MakeJob, batch_sim: BatchSimState
) -> None:
    batch_sim.configure(in_progress_s=0.6)
    seen: list[tuple[int, int]] = []

    def on_progress(job: BatchJob) -> None:
        p = job.metadata.get("batch_progress")
        if p:
            seen.append((p["completed"], job.done))

    job = make_job(50)
    job.progress_callback = on_progress
    await BatchAPIExecutor(openai_provider, **FAST).execute(job)
    assert any(0 < completed < 50 and done == 0 for completed, done in seen)
    assert job.metadata["batch_progress"]["counts_live"] is True


async def test_validating_batch_keeps_the_job_pending(
    openai_provider: OpenAIProvider, make_job: MakeJob, batch_sim: BatchSimState
) -> None:
    batch_sim.configure(validating_s=0.3)
    statuses: list[BatchStatus] = []
    job = make_job(3)
    job.progress_callback = lambda j: statuses.append(j.status)
    await BatchAPIExecutor(openai_provider, **FAST).execute(job)
    assert statuses[0] == BatchStatus.PENDING
    assert BatchStatus.PROCESSING in statuses


async def test_expired_batch_keeps_partial_results_and_marks_the_rest_expired(
    openai_provider: OpenAIProvider, make_job: MakeJob, batch_sim: BatchSimState
) -> None:
    batch_sim.configure(scenario="expire", expire_fraction=0.5)
    job = make_job(20)
    await BatchAPIExecutor(openai_provider, **FAST).execute(job)
    assert job.status == BatchStatus.EXPIRED
    assert job.n_success == 10
    expired = job.get_failed_results()
    assert len(expired) == 10 and {r.error_type for r in expired} == {"expired"}
    assert "could not be executed before the completion window expired" in (expired[0].error or "")


async def test_retry_failed_resubmits_only_the_expired_requests(
    openai_provider: OpenAIProvider, make_job: MakeJob, batch_sim: BatchSimState
) -> None:
    batch_sim.configure(scenario="expire", expire_fraction=0.5)
    job = make_job(20)
    ex = BatchAPIExecutor(openai_provider, **FAST)
    await ex.execute(job)
    batch_sim.configure(scenario="ok")
    retry = await ex.retry_failed(job)
    expired_ids = {r.custom_id for r in job.get_failed_results()}
    assert {r.custom_id for r in retry.requests} == expired_ids
    assert retry.status == BatchStatus.COMPLETED and retry.n_success == 10
    assert retry.metadata["retry_of"] == job.job_id


async def test_all_errors_in_the_error_file_with_no_output_file(
    openai_provider: OpenAIProvider, make_job: MakeJob, batch_sim: BatchSimState
) -> None:
    batch_sim.configure(scenario="all_errors")
    job = make_job(6)
    await BatchAPIExecutor(openai_provider, **FAST).execute(job)
    (record,) = job.metadata["provider_batches"]
    assert record.output_file_id is None and record.error_file_id
    assert job.status == BatchStatus.FAILED and job.n_error == 6
    assert all("does not exist" in (r.error or "") for r in job.results)


async def test_a_refused_request_is_that_rows_error_and_the_others_succeed(
    openai_provider: OpenAIProvider,
) -> None:
    job = BatchJob(
        [
            BatchRequest(prompt="fine", model="gpt-4o-mini", custom_id="ok"),
            BatchRequest(
                prompt="hot", model="gpt-4o-mini", custom_id="bad", params={"temperature": 5}
            ),
        ]
    )
    await BatchAPIExecutor(openai_provider, **FAST).execute(job)
    bad = job.get_result("bad")
    assert bad is not None and bad.status == "error" and "temperature" in (bad.error or "")
    assert job.get_result("ok") is not None and job.get_result("ok").ok  # type: ignore[union-attr]
    assert job.status == BatchStatus.FAILED


async def test_cancel_mid_way_cancels_the_provider_batch_and_keeps_what_it_finished(
    openai_provider: OpenAIProvider,
    make_job: MakeJob,
    batch_sim: BatchSimState,
    sim: SimServer,
) -> None:
    batch_sim.configure(in_progress_s=3.0)

    def cancel_once_counts_move(job: BatchJob) -> None:
        p = job.metadata.get("batch_progress") or {}
        if p.get("completed", 0) >= 5:
            job.request_cancel()

    job = make_job(200)
    job.progress_callback = cancel_once_counts_move
    await BatchAPIExecutor(openai_provider, **FAST).execute(job)
    assert job.status == BatchStatus.CANCELLED
    (b,) = batch_sim.batches.values()
    assert b.cancel_mono is not None
    assert sim.count(f"/v1/batches/{b.id}/cancel") == 1
    assert 5 <= job.n_success < 200
    assert job.n_error == 0 and job.pending_requests == 200 - job.n_success


async def test_cancelled_job_resumes_with_only_the_requests_not_run(
    openai_provider: OpenAIProvider, make_job: MakeJob, batch_sim: BatchSimState
) -> None:
    batch_sim.configure(in_progress_s=3.0)
    job = make_job(100)
    job.progress_callback = lambda j: (
        j.request_cancel() if (j.metadata.get("batch_progress") or {}).get("completed") else None
    )
    ex = BatchAPIExecutor(openai_provider, **FAST)
    await ex.execute(job)
    done_first = job.n_success
    batch_sim.configure(in_progress_s=0.1)
    # what a resume does: the job reloaded from its journal, with the results it had
    reloaded = BatchJob(job.requests, results=list(job.results), metadata=at_rest(job.metadata))
    await ex.execute(reloaded)
    second = reloaded.metadata["provider_batches"][1]
    assert second.n_requests == 100 - done_first
    assert reloaded.status == BatchStatus.COMPLETED and reloaded.n_success == 100


async def test_reattaching_polls_the_running_batch_instead_of_resubmitting(
    openai_provider: OpenAIProvider,
    make_job: MakeJob,
    batch_sim: BatchSimState,
    sim: SimServer,
) -> None:
    batch_sim.configure(in_progress_s=0.5)
    job = make_job(20)
    ex = BatchAPIExecutor(openai_provider, **FAST)
    task = asyncio.create_task(ex.execute(job))
    while not accepted(job):
        await asyncio.sleep(0.01)
    task.cancel()  # the kernel died: the provider batch keeps running
    with pytest.raises(asyncio.CancelledError):
        await task
    saved = at_rest(job.metadata)["provider_batches"]

    restored = make_job(20)  # the same requests, reloaded from a journal
    ex.attach(restored, saved)
    await ex.execute(restored)
    assert restored.status == BatchStatus.COMPLETED and restored.n_success == 20
    assert len(batch_sim.batches) == 1  # created once, never resubmitted


async def test_refused_api_key_fails_the_job_without_showing_the_key(
    sim: SimServer, batch_sim: BatchSimState, make_job: MakeJob
) -> None:
    sim.configure(api_key="sk-right-key")
    provider = OpenAIProvider(base_url=sim.openai_base_url, api_key="sk-wrong-secret-123")
    try:
        job = make_job(2)
        await BatchAPIExecutor(provider, **FAST).execute(job)
    finally:
        await provider.aclose()
    assert job.status == BatchStatus.FAILED
    assert "401" in (job.error or "")
    assert "sk-wrong-secret-123" not in (job.error or "") + repr(job.metadata)


async def test_process_fn_is_refused_because_requests_go_through_the_batch_api(
    openai_provider: OpenAIProvider, make_job: MakeJob
) -> None:
    async def fn(r: BatchRequest) -> str:
        return "x"

    with pytest.raises(InputError, match="process_fn must be None"):
        await BatchAPIExecutor(openai_provider).execute(make_job(1), fn)


def test_bad_settings_are_refused_naming_the_parameter(openai_provider: OpenAIProvider) -> None:
    with pytest.raises(InputError, match="max_requests_per_batch"):
        BatchAPIExecutor(openai_provider, max_requests_per_batch=60_000)
    with pytest.raises(InputError, match="poll_interval"):
        BatchAPIExecutor(openai_provider, poll_interval=-1)


async def test_batch_manager_cancel_cancels_the_provider_batch(
    openai_provider: OpenAIProvider, batch_sim: BatchSimState, sim: SimServer
) -> None:
    batch_sim.configure(validating_s=0.2, in_progress_s=3.0)
    manager = BatchManager()
    job = manager.create_batch(
        [BatchRequest(prompt=f"q{i}", model="gpt-4o-mini", custom_id=f"m{i}") for i in range(10)]
    )
    task = asyncio.create_task(BatchAPIExecutor(openai_provider, **FAST).execute(job))
    while not accepted(job):
        await asyncio.sleep(0.01)
    assert manager.cancel(job.job_id)
    await task
    assert job.status == BatchStatus.CANCELLED
    (b,) = batch_sim.batches.values()
    assert sim.count(f"/v1/batches/{b.id}/cancel") == 1

"""BatchAPIExecutor against the simulated Gemini Batch Mode, over loopback: inline requests
and the Files API path, results joined by key, batch price, states, cancel, expiry."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from brainbatch import BatchJob, BatchRequest, BatchStatus, ParallelExecutor
from brainbatch.batchapi import BatchAPIExecutor, ProviderBatch
from brainbatch.batchapi.gemini import EXPIRY_S, GeminiBatchBackend
from brainbatch.providers.gemini import GeminiProvider
from brainbatch.sim import SimServer
from brainbatch.sim.batches import BatchSimState

MakeJob = Callable[..., BatchJob]
MODEL = "gemini-2.5-flash"
CREATE = f"/v1beta/models/{MODEL}:batchGenerateContent"
UPLOAD = "/upload/v1beta/files"
FAST = {"poll_interval": 0.02, "max_poll_interval": 0.1}


def _records(job: BatchJob) -> list[ProviderBatch]:
    return list(job.metadata["provider_batches"])


async def test_inline_results_match_the_real_time_path_request_for_request(
    gemini_provider: GeminiProvider, make_job: MakeJob, sim: SimServer
) -> None:
    batch_job, rt_job = make_job(20, MODEL), make_job(20, MODEL)
    await BatchAPIExecutor(gemini_provider, **FAST).execute(batch_job)
    await ParallelExecutor(max_concurrent=8).execute(rt_job, gemini_provider)
    batch = {r.custom_id: (r.status, r.result, r.output_tokens) for r in batch_job.results}
    rt = {r.custom_id: (r.status, r.result, r.output_tokens) for r in rt_job.results}
    assert batch == rt
    assert batch_job.status == BatchStatus.COMPLETED
    (record,) = _records(batch_job)
    assert record.status == "succeeded" and record.extra.get("inline") is True
    assert record.batch_id is not None and record.batch_id.startswith("batches/")
    assert sim.count(CREATE) == 1 and sim.count(UPLOAD) == 0


async def test_results_are_priced_at_the_batch_price(
    gemini_provider: GeminiProvider, make_job: MakeJob
) -> None:
    batch_job, rt_job = make_job(10, MODEL), make_job(10, MODEL)
    await BatchAPIExecutor(gemini_provider, **FAST).execute(batch_job)
    await ParallelExecutor(max_concurrent=4).execute(rt_job, gemini_provider)
    assert math.isclose(batch_job.cost_usd, rt_job.cost_usd / 2, rel_tol=1e-9)
    assert {r.price_source for r in batch_job.results} == {"genai-prices batch price"}


async def test_a_batch_over_the_inline_limit_goes_through_an_uploaded_file(
    gemini_provider: GeminiProvider, make_job: MakeJob, sim: SimServer
) -> None:
    ex = BatchAPIExecutor(gemini_provider, **FAST)
    assert isinstance(ex.backend, GeminiBatchBackend)
    ex.backend.inline_max_bytes = 500
    job = make_job(12, MODEL)
    await ex.execute(job)
    assert job.status == BatchStatus.COMPLETED and job.n_success == 12
    (record,) = _records(job)
    assert record.input_file_id is not None and record.input_file_id.startswith("files/")
    assert record.output_file_id is not None and "inline" not in record.extra
    assert sim.count(UPLOAD) == 2  # the resumable protocol: start, then upload + finalize
    for r in job.results:  # joined on the key although the file's lines come out of order
        assert job.get_request(r.request_id).custom_id == r.custom_id


async def test_a_request_gemini_refuses_is_that_rows_error(
    gemini_provider: GeminiProvider, sim: SimServer
) -> None:
    job = BatchJob(
        [
            BatchRequest(prompt="fine", model=MODEL, custom_id="ok"),
            BatchRequest(prompt="hot", model=MODEL, custom_id="bad", params={"temperature": 9}),
        ]
    )
    await BatchAPIExecutor(gemini_provider, **FAST).execute(job)
    bad, ok = job.get_result("bad"), job.get_result("ok")
    assert ok is not None and ok.status == "success"
    assert bad is not None and bad.error_type == "INVALID_ARGUMENT"
    assert "temperature must be in the range" in str(bad.error)
    assert job.status == BatchStatus.FAILED and job.error == "1 of 2 requests failed"


async def test_a_job_with_two_models_becomes_one_batch_per_model(
    gemini_provider: GeminiProvider, sim: SimServer
) -> None:
    models = ["gemini-2.5-flash", "gemini-2.5-flash-lite"] * 3
    job = BatchJob(
        [BatchRequest(prompt=f"q{i}", model=m, custom_id=f"r{i}") for i, m in enumerate(models)]
    )
    await BatchAPIExecutor(gemini_provider, **FAST).execute(job)
    assert sorted(r.model or "" for r in _records(job)) == sorted(set(models))
    assert job.n_success == 6
    for model in set(models):
        assert sim.count(f"/v1beta/models/{model}:batchGenerateContent") == 1


async def test_cancel_mid_way_keeps_what_ran_and_leaves_the_rest_pending(
    gemini_provider: GeminiProvider,
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
    await BatchAPIExecutor(gemini_provider, **FAST).execute(job)
    assert job.status == BatchStatus.CANCELLED
    (record,) = _records(job)
    assert record.status == "cancelled"
    assert sim.count(f"/v1beta/{record.batch_id}:cancel") == 1
    assert job.n_error == 0 and job.pending_requests > 0
    assert job.n_success + job.pending_requests == 50


async def test_an_expired_batch_keeps_its_results_and_the_rest_expire(
    gemini_provider: GeminiProvider, make_job: MakeJob, batch_sim: BatchSimState
) -> None:
    batch_sim.configure(scenario="expire", expire_fraction=0.25)
    job = make_job(8, MODEL)
    await BatchAPIExecutor(gemini_provider, **FAST).execute(job)
    assert job.status == BatchStatus.EXPIRED
    assert job.n_success == 2
    assert {r.error_type for r in job.get_failed_results()} == {"expired"}
    (record,) = _records(job)
    assert record.status == "expired"
    assert record.created_at is not None and record.expires_at == record.created_at + EXPIRY_S


async def test_a_failed_batch_fails_the_job_with_the_providers_reason(
    gemini_provider: GeminiProvider, make_job: MakeJob, batch_sim: BatchSimState
) -> None:
    batch_sim.configure(scenario="validation_failure")
    job = make_job(3, MODEL)
    await BatchAPIExecutor(gemini_provider, **FAST).execute(job)
    assert job.status == BatchStatus.FAILED
    assert "simulated validation failure" in (job.error or "")
    assert job.pending_requests == 3


async def test_every_request_failing_gives_each_row_its_error(
    gemini_provider: GeminiProvider, make_job: MakeJob, batch_sim: BatchSimState
) -> None:
    batch_sim.configure(scenario="all_errors")
    job = make_job(4, MODEL)
    await BatchAPIExecutor(gemini_provider, **FAST).execute(job)
    assert job.status == BatchStatus.FAILED and job.n_error == 4
    assert {r.error_type for r in job.results} == {"NOT_FOUND"}
    assert all("is not found" in str(r.error) for r in job.results)


async def test_progress_counts_move_while_the_batch_runs(
    gemini_provider: GeminiProvider, make_job: MakeJob, batch_sim: BatchSimState
) -> None:
    batch_sim.configure(in_progress_s=0.5)
    snapshots: list[dict[str, object]] = []
    job = make_job(20, MODEL)
    job.progress_callback = lambda j: snapshots.append(dict(j.metadata.get("batch_progress", {})))
    await BatchAPIExecutor(gemini_provider, **FAST).execute(job)
    running = [s for s in snapshots if s.get("active")]
    assert running and all(s["counts_live"] is True for s in running)
    done = [s["completed"] for s in running]
    assert any(0 < int(str(d)) < 20 for d in done)


async def test_an_intent_whose_answer_was_lost_is_found_by_its_display_name(
    gemini_provider: GeminiProvider, make_job: MakeJob, sim: SimServer
) -> None:
    job = make_job(3, MODEL)
    first = BatchAPIExecutor(gemini_provider, **FAST)
    (chunk,) = first.prepare(job)
    lost = ProviderBatch(provider="gemini", part="1/1", rows=[[0, 3]], n_requests=3, model=MODEL)
    await first.backend.submit(lost, chunk, job_id=job.job_id, completion_window="24h")
    intent = ProviderBatch(provider="gemini", part="1/1", rows=[[0, 3]], n_requests=3, model=MODEL)
    first.attach(job, [intent])  # the process died before the batch id reached the journal
    await BatchAPIExecutor(gemini_provider, **FAST).execute(job)
    assert job.status == BatchStatus.COMPLETED and job.n_success == 3
    assert _records(job)[0].batch_id == lost.batch_id
    assert sim.count(CREATE) == 1  # never paid twice


def test_bb_run_in_batch_mode_with_a_gemini_model(
    sim: SimServer, batch_sim: BatchSimState, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    import brainbatch as bb

    monkeypatch.setenv("BRAINBATCH_PROGRESS", "none")
    df = pd.DataFrame({"review": ["Great value.", "Broke after a week.", "Fine."]})
    results = bb.run(
        df,
        prompt="Classify: {review}",
        model=MODEL,
        mode="batch",
        base_url=sim.gemini_base_url,
        api_key="test-key",
        poll_interval=0.05,
        params={"max_tokens": 40},
        max_cost_usd=1.0,
    )
    assert (results["status"] == "success").all()
    assert (results["price_source"] == "genai-prices batch price").all()
    assert sim.count(CREATE) == 1


async def test_json_output_asked_in_geminis_own_words_comes_back_as_a_dict(
    gemini_provider: GeminiProvider,
) -> None:
    params = {"responseMimeType": "application/json"}
    job = BatchJob([BatchRequest(prompt="Label it", model=MODEL, custom_id="a", params=params)])
    await BatchAPIExecutor(gemini_provider, **FAST).execute(job)
    (result,) = job.results
    assert isinstance(result.result, dict) and set(result.result) == {"label", "answer"}

"""Executors: the execute() contract, concurrency bounds, errors, cancellation and progress."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from brainbatch import (
    AuthenticationError,
    BatchJob,
    BatchManager,
    BatchRequest,
    BatchStatus,
    BudgetExceeded,
    InputError,
    MockExecutor,
    ParallelExecutor,
    ProviderResponse,
    SequentialExecutor,
)


def make_job(n: int, manager: BatchManager | None = None) -> BatchJob:
    reqs = [
        BatchRequest(prompt=f"prompt {i}", model="gpt-4o-mini", custom_id=f"c{i}") for i in range(n)
    ]
    return (manager or BatchManager()).create_batch(reqs)


async def echo(req: BatchRequest) -> str:
    await asyncio.sleep(0)
    return req.prompt.upper()


async def test_parallel_executor_answers_every_request_in_request_order() -> None:
    job = make_job(50)
    results = await ParallelExecutor(max_concurrent=7).execute(job, echo)
    assert [r.custom_id for r in results] == [f"c{i}" for i in range(50)]
    assert results[3].result == "PROMPT 3"
    assert job.status is BatchStatus.COMPLETED


async def test_timestamps_are_set_around_the_run() -> None:
    job = make_job(3)
    await ParallelExecutor().execute(job, echo)
    assert job.started_at is not None and job.completed_at is not None
    assert job.created_at <= job.started_at <= job.completed_at


async def test_peak_in_flight_equals_the_concurrency_limit() -> None:
    in_flight = peak = 0

    async def slow(req: BatchRequest) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.002)
        in_flight -= 1
        return "ok"

    await ParallelExecutor(max_concurrent=8).execute(make_job(100), slow)
    assert peak == 8


async def test_parallel_executor_does_not_create_a_task_per_request() -> None:
    seen_tasks: set[int] = set()

    async def record(req: BatchRequest) -> str:
        seen_tasks.add(id(asyncio.current_task()))
        await asyncio.sleep(0)
        return "ok"

    await ParallelExecutor(max_concurrent=4).execute(make_job(200), record)
    assert len(seen_tasks) <= 4


async def test_sequential_executor_runs_one_at_a_time_with_the_delay() -> None:
    starts: list[float] = []
    in_flight = peak = 0

    async def fn(req: BatchRequest) -> str:
        nonlocal in_flight, peak
        starts.append(time.monotonic())
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0)
        in_flight -= 1
        return "ok"

    job = make_job(4)
    await SequentialExecutor(delay=0.03).execute(job, fn)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert peak == 1
    assert min(gaps) >= 0.03
    assert job.status is BatchStatus.COMPLETED


async def test_a_failing_request_becomes_an_error_result_and_the_batch_goes_on() -> None:
    async def fn(req: BatchRequest) -> str:
        if req.custom_id == "c2":
            raise RuntimeError("model exploded")
        return "ok"

    job = make_job(5)
    results = await ParallelExecutor(max_concurrent=2).execute(job, fn)
    failed = job.get_failed_results()
    assert len(results) == 5 and len(failed) == 1
    assert failed[0].custom_id == "c2"
    assert failed[0].error == "model exploded"
    assert failed[0].error_type == "RuntimeError"
    assert job.status is BatchStatus.FAILED
    assert "1 of 5" in (job.error or "")


async def test_authentication_error_stops_the_whole_job() -> None:
    calls = 0

    async def fn(req: BatchRequest) -> str:
        nonlocal calls
        calls += 1
        raise AuthenticationError("401: invalid api key", status_code=401)

    job = make_job(1000)
    await ParallelExecutor(max_concurrent=4).execute(job, fn)
    assert job.status is BatchStatus.FAILED
    assert "invalid api key" in (job.error or "")
    assert calls <= 4
    assert job.n_error == calls  # the refused requests are recorded, the rest stay pending
    assert job.pending_requests == 1000 - calls


async def test_budget_stop_cancels_without_recording_the_unsent_request() -> None:
    async def fn(req: BatchRequest) -> str:
        if req.custom_id == "c3":
            raise BudgetExceeded("max_cost_usd=0.01 reached")
        return "ok"

    job = make_job(10)
    await SequentialExecutor().execute(job, fn)
    assert job.status is BatchStatus.CANCELLED
    assert job.done == 3
    assert job.get_result("c3") is None
    assert "max_cost_usd" in (job.error or "")


async def test_provider_response_fields_reach_the_result() -> None:
    async def fn(req: BatchRequest) -> ProviderResponse:
        return ProviderResponse(
            result={"label": "pos"},
            input_tokens=10,
            output_tokens=2,
            cost_usd=0.5,
            finish_reason="stop",
            attempts=3,
            latency_ms=12.5,
            provider_request_id="req_1",
        )

    job = make_job(1)
    [res] = await ParallelExecutor().execute(job, fn)
    assert res.result == {"label": "pos"}
    assert (res.input_tokens, res.output_tokens, res.cost_usd) == (10, 2, 0.5)
    assert (res.attempts, res.processing_time_ms, res.provider_request_id) == (3, 12.5, "req_1")


async def test_an_unsupported_return_type_is_an_error_result() -> None:
    async def fn(req: BatchRequest) -> int:
        return 42

    job = make_job(1)
    await ParallelExecutor().execute(job, fn)  # type: ignore[arg-type]
    assert "expected str, dict or ProviderResponse" in (job.results[0].error or "")


async def test_progress_callback_is_called_per_result_in_order_and_once_at_the_end() -> None:
    seen: list[tuple[int, str]] = []
    manager = BatchManager()
    job = manager.create_batch(
        [BatchRequest(prompt=str(i), model="m") for i in range(5)],
        progress_callback=lambda j: seen.append((j.done, j.status.value)),
    )
    await SequentialExecutor().execute(job, echo)
    assert [d for d, _ in seen] == [1, 2, 3, 4, 5, 5]
    assert seen[-1][1] == "completed"
    assert all(s == "processing" for _, s in seen[:-1])


async def test_async_progress_callbacks_are_awaited() -> None:
    calls = 0

    async def cb(job: BatchJob) -> None:
        nonlocal calls
        await asyncio.sleep(0)
        calls += 1

    job = make_job(3)
    job.progress_callback = cb
    await ParallelExecutor().execute(job, echo)
    assert calls == 4


async def test_a_broken_progress_callback_does_not_break_the_job() -> None:
    job = make_job(3)
    job.progress_callback = lambda j: 1 / 0
    await ParallelExecutor().execute(job, echo)
    assert job.status is BatchStatus.COMPLETED


async def test_manager_cancel_stops_new_requests_and_keeps_results() -> None:
    manager = BatchManager()
    job = make_job(500, manager)
    started = 0

    async def fn(req: BatchRequest) -> str:
        nonlocal started
        started += 1
        if started == 20:
            assert manager.cancel(job.job_id)
            assert job.status is BatchStatus.CANCELLED  # at once, before in-flight ends
        await asyncio.sleep(0.001)
        return "ok"

    await ParallelExecutor(max_concurrent=5).execute(job, fn)
    assert job.status is BatchStatus.CANCELLED
    assert started < 30
    assert job.done == started  # requests in flight were allowed to finish
    assert job.pending_requests == 500 - started


async def test_in_flight_requests_are_abandoned_after_the_grace_period() -> None:
    job = make_job(10)

    async def hang(req: BatchRequest) -> str:
        job.request_cancel()
        await asyncio.sleep(60)
        return "never"

    ex = ParallelExecutor(max_concurrent=3)
    ex.cancel_grace = 0.1
    t0 = time.monotonic()
    await ex.execute(job, hang)
    assert time.monotonic() - t0 < 5
    assert job.status is BatchStatus.CANCELLED and job.done == 0


async def test_cancelling_the_executing_task_marks_the_job_cancelled() -> None:
    job = make_job(100)

    async def slow(req: BatchRequest) -> str:
        await asyncio.sleep(10)
        return "x"

    task = asyncio.ensure_future(ParallelExecutor(max_concurrent=2).execute(job, slow))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert job.status is BatchStatus.CANCELLED


async def test_running_execute_again_resumes_only_pending_requests() -> None:
    job = make_job(20)
    sent: list[str] = []

    async def fn(req: BatchRequest) -> str:
        sent.append(req.custom_id or "")
        if len(sent) == 8:
            job.request_cancel()
        return "ok"

    await SequentialExecutor().execute(job, fn)
    assert job.status is BatchStatus.CANCELLED
    job._cancel.clear()
    await SequentialExecutor().execute(job, fn)
    assert job.status is BatchStatus.COMPLETED
    assert sorted(sent) == sorted(f"c{i}" for i in range(20))  # nothing sent twice


async def test_mock_executor_answers_without_a_process_fn() -> None:
    job = make_job(30)
    results = await MockExecutor(delay=0.001).execute(job)
    assert all(r.ok and str(r.result).startswith("[simulated]") for r in results)
    assert job.cost_usd > 0


async def test_mock_executor_failure_rate_produces_error_results() -> None:
    job = make_job(200)
    await MockExecutor(delay=0, failure_rate=0.5, seed=3).execute(job)
    assert 50 < job.n_error < 150
    assert job.status is BatchStatus.FAILED


async def test_other_executors_require_a_process_fn() -> None:
    with pytest.raises(InputError, match="process_fn"):
        await ParallelExecutor().execute(make_job(1))


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_parallel_executor_rejects_a_bad_concurrency(bad: object) -> None:
    with pytest.raises(InputError, match="max_concurrent"):
        ParallelExecutor(max_concurrent=bad)  # type: ignore[arg-type]


def test_sequential_executor_rejects_a_negative_delay() -> None:
    with pytest.raises(InputError, match="delay"):
        SequentialExecutor(delay=-1)


async def test_hundred_thousand_requests_through_the_mock_executor() -> None:
    job = make_job(100_000)
    await MockExecutor(delay=0, max_concurrent=256).execute(job)
    assert job.done == 100_000 and job.status is BatchStatus.COMPLETED

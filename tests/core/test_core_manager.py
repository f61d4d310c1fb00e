"""BatchManager: creating, finding, cancelling and reporting on jobs."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from brainbatch import (
    BatchManager,
    BatchRequest,
    BatchResult,
    BatchStatus,
    InputError,
    MockExecutor,
)


def reqs(n: int) -> list[BatchRequest]:
    return [BatchRequest(prompt=f"p{i}", model="gpt-4o-mini", custom_id=f"c{i}") for i in range(n)]


def test_create_batch_registers_a_pending_job_with_metadata() -> None:
    m = BatchManager()
    job = m.create_batch(reqs(3), metadata={"owner": "ana"})
    assert m.get_job(job.job_id) is job
    assert m.get_status(job.job_id) is BatchStatus.PENDING
    assert job.metadata == {"owner": "ana"}


def test_create_batch_rejects_duplicate_custom_ids() -> None:
    dup = [
        BatchRequest(prompt="a", model="m", custom_id="same"),
        BatchRequest(prompt="b", model="m", custom_id="same"),
    ]
    with pytest.raises(InputError, match="duplicate custom_id 'same'"):
        BatchManager().create_batch(dup)


def test_create_batch_rejects_things_that_are_not_requests() -> None:
    with pytest.raises(InputError, match=r"requests\[1\]"):
        BatchManager().create_batch([reqs(1)[0], "a prompt"])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "method", ["get_job", "get_status", "get_results", "get_job_stats", "estimate_completion_time"]
)
def test_unknown_job_ids_give_none(method: str) -> None:
    assert getattr(BatchManager(), method)("no-such-job") is None


def test_cancel_unknown_or_finished_job_returns_false() -> None:
    m = BatchManager()
    assert m.cancel("nope") is False
    job = m.create_batch(reqs(1))
    m.update_job_status(job.job_id, BatchStatus.COMPLETED)
    assert m.cancel(job.job_id) is False


def test_cancel_pending_job_marks_it_cancelled() -> None:
    m = BatchManager()
    job = m.create_batch(reqs(2))
    assert m.cancel(job.job_id) is True
    assert job.status is BatchStatus.CANCELLED and job.cancel_requested


async def test_cancelled_pending_job_sends_nothing_when_executed() -> None:
    m = BatchManager()
    job = m.create_batch(reqs(5))
    m.cancel(job.job_id)
    await MockExecutor(delay=0).execute(job)
    assert job.done == 0 and job.status is BatchStatus.CANCELLED


def test_list_jobs_in_creation_order_and_by_status() -> None:
    m = BatchManager()
    a, b, c = (m.create_batch(reqs(1)) for _ in range(3))
    m.update_job_status(b.job_id, "completed")
    assert m.list_jobs() == [a, b, c]
    assert m.list_jobs(status_filter=BatchStatus.COMPLETED) == [b]
    assert m.list_jobs(status_filter="pending") == [a, c]


def test_update_job_status_sets_timestamps_and_error() -> None:
    m = BatchManager()
    job = m.create_batch(reqs(1))
    assert m.update_job_status(job.job_id, BatchStatus.PROCESSING)
    assert job.started_at is not None and job.completed_at is None
    assert m.update_job_status(job.job_id, BatchStatus.FAILED, error_msg="provider down")
    assert job.completed_at is not None and job.error == "provider down"
    assert m.update_job_status("nope", BatchStatus.FAILED) is False


def test_add_result_through_the_manager() -> None:
    m = BatchManager()
    job = m.create_batch(reqs(2))
    res = BatchResult(request_id=job.requests[0].id, custom_id="c0", status="success", result="x")
    assert m.add_result(job.job_id, res) is True
    assert m.add_result(job.job_id, res) is False
    assert m.add_result("nope", res) is False
    assert m.get_results(job.job_id) == [res]


async def test_job_stats_report_counts_tokens_cost_latency_and_throughput() -> None:
    m = BatchManager()
    job = m.create_batch(reqs(40))
    await MockExecutor(delay=0.001, failure_rate=0.25, seed=1).execute(job)
    stats = m.get_job_stats(job.job_id)
    assert stats is not None
    assert stats["total"] == 40 and stats["succeeded"] + stats["failed"] == 40
    assert stats["success_rate"] == pytest.approx(stats["succeeded"] / 40)
    assert stats["input_tokens"] > 0 and stats["cost_usd"] > 0
    assert stats["latency_p50_ms"] <= stats["latency_p95_ms"] <= stats["latency_p99_ms"]
    assert stats["throughput_rps"] > 0


def test_stats_of_a_job_with_no_results_are_nan_not_errors() -> None:
    m = BatchManager()
    job = m.create_batch(reqs(2))
    stats = m.get_job_stats(job.job_id)
    assert stats is not None and math.isnan(stats["latency_p50_ms"])
    assert math.isnan(stats["success_rate"])


def test_estimate_completion_time_from_a_given_average() -> None:
    m = BatchManager()
    job = m.create_batch(reqs(10), metadata={"max_concurrent": 2})
    eta = m.estimate_completion_time(job.job_id, avg_ms=1000)
    assert eta is not None
    expected = datetime.now(UTC) + timedelta(seconds=5)
    assert abs((eta - expected).total_seconds()) < 1


def test_estimate_completion_time_needs_something_to_go_on() -> None:
    m = BatchManager()
    job = m.create_batch(reqs(10))
    assert m.estimate_completion_time(job.job_id) is None


def test_estimate_completion_time_extrapolates_observed_throughput() -> None:
    m = BatchManager()
    job = m.create_batch(reqs(10))
    job.started_at = datetime.now(UTC) - timedelta(seconds=4)
    job.status = BatchStatus.PROCESSING
    for r in job.requests[:5]:
        job.add_result(BatchResult(request_id=r.id, custom_id=r.custom_id, status="success"))
    eta = m.estimate_completion_time(job.job_id)
    assert eta is not None
    assert abs((eta - (datetime.now(UTC) + timedelta(seconds=4))).total_seconds()) < 1


async def test_estimate_of_a_finished_job_is_its_end_time() -> None:
    m = BatchManager()
    job = m.create_batch(reqs(3))
    await MockExecutor(delay=0).execute(job)
    assert m.estimate_completion_time(job.job_id) == job.completed_at

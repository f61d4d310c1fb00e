"""Jobs in the store: create, load, find, list, status, native batch ids, names."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest

from brainbatch import BatchManager, BatchStatus, MockExecutor, SimulatedProvider
from brainbatch.errors import StoreError
from brainbatch.store import JobNotFound, JobStore


def _run(job, provider=None) -> None:
    asyncio.run(MockExecutor(delay=0, max_concurrent=4).execute(job, provider))


def test_loaded_job_has_the_same_requests_in_the_same_order(store: JobStore, make_job) -> None:
    job = make_job(20, temperature=0)
    store.create_job(job)
    loaded = store.load_job(job.job_id)
    assert [r.id for r in loaded.requests] == [r.id for r in job.requests]
    assert loaded.requests == job.requests


def test_loaded_job_has_the_same_results(store: JobStore, make_job) -> None:
    job = make_job(30)
    _run(job, SimulatedProvider(latency_ms=0, error_rate=0.3, seed=3))
    store.create_job(job)
    loaded = store.load_job(job.job_id)
    assert sorted(loaded.results, key=lambda r: r.request_id) == sorted(
        job.results, key=lambda r: r.request_id
    )
    assert (loaded.n_success, loaded.n_error) == (job.n_success, job.n_error)
    assert math.isclose(loaded.cost_usd, job.cost_usd)


def test_load_by_name(store: JobStore, make_job) -> None:
    job = make_job(2)
    store.create_job(job, name="reviews")
    assert store.load_job("reviews").job_id == job.job_id
    assert store.find_job("reviews") == job.job_id
    assert store.find_job("nope") is None


def test_unknown_job_raises_job_not_found_naming_it(store: JobStore) -> None:
    with pytest.raises(JobNotFound, match="ghost"):
        store.load_job("ghost")


def test_names_are_unique(store: JobStore, make_job) -> None:
    store.create_job(make_job(1), name="dup")
    with pytest.raises(StoreError, match="already exists"):
        store.create_job(make_job(1), name="dup")


def test_get_or_create_returns_the_stored_job_with_its_results(store: JobStore, make_job) -> None:
    first = store.get_or_create_job(make_job(5), name="cell")
    with store.journal(first):
        _run(first)
    again = store.get_or_create_job(make_job(5), name="cell")
    assert again.job_id == first.job_id
    assert again.done == 5


def test_get_or_create_refuses_a_different_job_under_the_same_name(
    store: JobStore, make_job
) -> None:
    store.get_or_create_job(make_job(5), name="cell")
    changed = make_job(5)
    changed.requests[3].prompt = "something else entirely"
    with pytest.raises(StoreError, match="row 3"):
        store.get_or_create_job(changed, name="cell")


def test_list_jobs_reports_counts_and_cost(store: JobStore, make_job) -> None:
    job = make_job(10)
    _run(job, SimulatedProvider(latency_ms=0, error_rate=0.3, seed=1))
    store.create_job(job, name="counted")
    store.create_job(make_job(4, prefix="b"), name="empty")
    rows = {r["name"]: r for r in store.list_jobs()}
    counted = rows["counted"]
    assert counted["total"] == 10
    assert counted["done"] == 10
    assert (counted["succeeded"], counted["failed"]) == (job.n_success, job.n_error)
    assert math.isclose(counted["cost_usd"], job.cost_usd)
    assert rows["empty"]["pending"] == 4
    assert rows["empty"]["status"] == "pending"


def test_update_status_is_stored(store: JobStore, make_job) -> None:
    job = make_job(2)
    store.create_job(job)
    job.status = BatchStatus.CANCELLED
    job.error = "stopped by the user"
    store.update_status(job)
    loaded = store.load_job(job.job_id)
    assert loaded.status == BatchStatus.CANCELLED
    assert loaded.error == "stopped by the user"


def test_recorded_provider_batches_come_back_in_metadata(store: JobStore, make_job) -> None:
    job = make_job(3)
    store.create_job(job)
    store.record_provider_batch(job, {"batch_id": "batch_1", "status": "in_progress"})
    store.record_provider_batch(job, {"batch_id": "batch_2", "input_file_id": "file_9"})
    store.record_provider_batch(job, {"batch_id": "batch_1", "status": "completed"})
    loaded = store.load_job(job.job_id)
    assert loaded.metadata["provider_batches"] == [
        {"batch_id": "batch_1", "status": "completed"},
        {"batch_id": "batch_2", "input_file_id": "file_9"},
    ]


def test_journal_commits_provider_batches_added_to_metadata(
    store: JobStore, store_path: Path, make_job
) -> None:
    job = make_job(3)
    journal = store.journal(job)
    job.metadata["provider_batches"] = [{"batch_id": "batch_abc", "status": "validating"}]
    deadline = time.monotonic() + 5
    with JobStore(store_path) as other:
        while not other.provider_batches(job.job_id) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert other.provider_batches(job.job_id) == [
            {"batch_id": "batch_abc", "status": "validating"}
        ]
    journal.close()


def test_delete_job_removes_it(store: JobStore, make_job) -> None:
    job = make_job(3)
    store.create_job(job, name="gone")
    store.delete_job("gone")
    assert not store.has_job(job.job_id)
    assert store.list_jobs() == []


def test_manager_with_a_store_reloads_jobs_in_another_process_session(
    store_path: Path, make_job
) -> None:
    with JobStore(store_path) as first:
        manager = BatchManager(store=first)
        job = manager.create_batch(make_job(6).requests, metadata={"owner": "ana"})
        _run(job)
    with JobStore(store_path) as second:
        later = BatchManager(store=second)
        listed = later.list_jobs()
        assert [j.job_id for j in listed] == [job.job_id]
        again = later.get_job(job.job_id)
        assert again is not None
        assert again.done == 6
        assert again.status == BatchStatus.COMPLETED
        assert again.metadata["owner"] == "ana"


def test_manager_without_a_store_stays_in_memory(tmp_path: Path, make_job) -> None:
    manager = BatchManager()
    assert manager.store is None
    manager.create_batch(make_job(2).requests)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.filterwarnings("ignore:no price known")
def test_cost_of_a_model_without_a_price_comes_back_as_nan(store: JobStore) -> None:
    from brainbatch import BatchJob, BatchRequest

    job = BatchJob([BatchRequest(prompt="hi", model="no-such-model-xyz", custom_id="a")])
    _run(job, SimulatedProvider(latency_ms=0))
    assert math.isnan(job.results[0].cost_usd)  # type: ignore[arg-type]
    store.create_job(job)
    assert math.isnan(store.load_job(job.job_id).results[0].cost_usd)  # type: ignore[arg-type]

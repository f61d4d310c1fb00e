"""The journal: results reach the file as they arrive; a resume sends only what is missing."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from brainbatch import BatchRequest, BatchStatus, ParallelExecutor, SimulatedProvider
from brainbatch.models import ProviderResponse
from brainbatch.runner import JobRunner, RunSettings
from brainbatch.store import JobStore


def _committed(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM results").fetchone()[0])
    finally:
        conn.close()


def test_results_are_committed_while_the_job_runs(
    store: JobStore, store_path: Path, make_job
) -> None:
    job = make_job(40)
    seen_mid_run: list[int] = []
    provider = SimulatedProvider(latency_ms=2, latency_sigma=0)

    async def answer(request: BatchRequest) -> ProviderResponse:
        if request.custom_id == "row-30":
            await asyncio.sleep(0.2)  # longer than flush_interval: earlier rows get committed
            seen_mid_run.append(_committed(store_path))
        return await provider(request)

    journal = store.journal(job)
    asyncio.run(ParallelExecutor(max_concurrent=2).execute(job, answer))
    journal.close()
    assert seen_mid_run and seen_mid_run[0] >= 25
    assert _committed(store_path) == 40


def test_strict_journal_commits_a_slots_result_before_the_slot_sends_again(
    store: JobStore, store_path: Path, make_job
) -> None:
    job = make_job(60)
    provider = SimulatedProvider(latency_ms=1, latency_sigma=0.5)
    done_when_asked: dict[str, int] = {}
    behind: list[tuple[str, int, int]] = []

    async def answer(request: BatchRequest) -> ProviderResponse:
        committed = _committed(store_path)
        if committed < done_when_asked[request.id]:
            behind.append((str(request.custom_id), done_when_asked[request.id], committed))
        return await provider(request)

    with store.journal(job) as journal:
        guarded = journal.wrap(answer)

        async def slot_asks(request: BatchRequest) -> ProviderResponse:
            # the slot's previous result is recorded by now; it must be on disk before sending
            done_when_asked[request.id] = job.done
            return await guarded(request)  # type: ignore[return-value]

        asyncio.run(ParallelExecutor(max_concurrent=8).execute(job, slot_asks))
    assert behind == []
    assert job.done == 60


def test_close_commits_the_final_status(store: JobStore, store_path: Path, make_job) -> None:
    job = make_job(5)
    with store.journal(job) as journal:
        asyncio.run(ParallelExecutor(4).execute(job, journal.wrap(SimulatedProvider(latency_ms=0))))
    with JobStore(store_path) as other:
        row = other.list_jobs()[0]
    assert row["status"] == "completed"
    assert row["done"] == 5


def test_resume_sends_only_the_requests_without_a_result(store_path: Path, make_job) -> None:
    job = make_job(30)
    calls: list[str | None] = []
    provider = SimulatedProvider(latency_ms=0)

    async def counting(request: BatchRequest) -> ProviderResponse:
        calls.append(request.custom_id)
        if len(calls) == 12:
            job.request_cancel()
        return await provider(request)

    with JobStore(store_path) as first:
        first.create_job(job, name="half")
        asyncio.run(JobRunner(job, RunSettings(provider=counting, max_concurrent=1), first).run())
    assert job.status == BatchStatus.CANCELLED
    sent_before = set(calls)
    calls.clear()
    with JobStore(store_path) as second:
        again = second.load_job("half")
        assert again.done == len(sent_before)
        asyncio.run(
            JobRunner(again, RunSettings(provider=counting, max_concurrent=4), second).run()
        )
        assert again.status == BatchStatus.COMPLETED
    assert set(calls).isdisjoint(sent_before)
    assert len(calls) + len(sent_before) == 30


def test_a_failing_journal_stops_the_job_and_keeps_unsent_rows_pending(
    store: JobStore, store_path: Path, make_job
) -> None:
    job = make_job(20)
    store.create_job(job)
    conn = sqlite3.connect(store_path)
    conn.execute(
        "CREATE TRIGGER full BEFORE INSERT ON results "
        "BEGIN SELECT RAISE(ABORT, 'database or disk is full (simulated)'); END"
    )
    conn.commit()
    calls: list[str | None] = []
    provider = SimulatedProvider(latency_ms=0)

    async def counting(request: BatchRequest) -> ProviderResponse:
        calls.append(request.custom_id)
        return await provider(request)

    journal = store.journal(job)
    asyncio.run(ParallelExecutor(2).execute(job, journal.wrap(counting)))
    assert job.status == BatchStatus.FAILED
    assert "disk is full" in (job.error or "")
    assert len(calls) <= 2  # the first two slots; nothing started once writing failed
    conn.execute("DROP TRIGGER full")
    conn.commit()
    conn.close()
    journal.close()  # the kept results are written once the disk accepts them again
    assert _committed(store_path) == len(calls)


def test_journal_of_a_job_not_in_the_store_stores_it_first(store: JobStore, make_job) -> None:
    job = make_job(3)
    with store.journal(job):
        pass
    assert store.has_job(job.job_id)


def test_listener_only_journal_commits_within_the_flush_interval(
    store: JobStore, store_path: Path, make_job
) -> None:
    job = make_job(3)
    journal = store.journal(job)
    asyncio.run(ParallelExecutor(3).execute(job, SimulatedProvider(latency_ms=0)))
    deadline = time.monotonic() + 5
    while _committed(store_path) < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert _committed(store_path) == 3
    journal.close()


def test_every_result_is_on_disk_when_close_returns(store: JobStore, make_job) -> None:
    provider = SimulatedProvider(latency_ms=0)
    for round_ in range(20):
        job = make_job(300, prefix=f"r{round_}")
        journal = store.journal(job)
        fn = journal.wrap(provider) if round_ % 2 else provider
        asyncio.run(ParallelExecutor(64).execute(job, fn))
        journal.close()
        assert store.load_job(job.job_id).done == 300, f"round {round_}"

"""Lookups in the store go through an index: checked on SQLite's query plan, not on time.

Every statement a lookup runs is captured as executed (values bound) and explained with
``EXPLAIN QUERY PLAN``: a ``SCAN`` of a table means a read of every row, whatever the
store's size; an indexed lookup is a ``SEARCH``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from brainbatch import BatchJob, BatchRequest, BatchResult
from brainbatch.models import ProviderResponse
from brainbatch.store import JobStore, ResponseCache


def _statements(store: JobStore, action: Callable[[], object]) -> list[str]:
    """The SQL (values bound) the store's connection runs during ``action``."""
    seen: list[str] = []
    conn: sqlite3.Connection = store._conn
    conn.set_trace_callback(seen.append)
    try:
        action()
    finally:
        conn.set_trace_callback(None)
    return [s for s in seen if s.lstrip().upper().startswith("SELECT")]


def _scans(store: JobStore, statements: list[str]) -> list[tuple[str, str]]:
    out = []
    for sql in statements:
        for row in store._conn.execute("EXPLAIN QUERY PLAN " + sql):
            detail = str(row[-1])
            if detail.startswith("SCAN") and "sqlite_master" not in sql:
                out.append((sql, detail))
    return out


def _filled(store: JobStore) -> BatchJob:
    for k in range(3):
        job = BatchJob(
            [BatchRequest(prompt=f"{k}-{i}", model="m", custom_id=f"{k}-{i}") for i in range(50)]
        )
        for r in job.requests[:20]:
            job.add_result(BatchResult(request_id=r.id, custom_id=r.custom_id, status="success"))
        store.create_job(job, name=f"job-{k}")
    return job


def test_the_checker_sees_a_scan(store: JobStore) -> None:
    _filled(store)
    statements = _statements(store, lambda: store._read("SELECT * FROM jobs WHERE total=?", (3,)))
    assert _scans(store, statements)


def test_job_lookups_by_name_and_id_are_index_searches(store: JobStore) -> None:
    job = _filled(store)
    statements = _statements(
        store,
        lambda: (
            store.find_job("job-1"),
            store.has_job(job.job_id),
            store.load_job("job-2"),
            store.job_spec(job.job_id),
            store.provider_batches("job-0"),
            store.cancel_requested("job-0"),
        ),
    )
    assert len(statements) >= 8
    assert _scans(store, statements) == []


def test_cache_lookups_are_index_searches(store: JobStore) -> None:
    cache = ResponseCache(store, enabled=True)
    requests = [BatchRequest(prompt=f"q{i}", model="m") for i in range(30)]
    for r in requests:
        cache.put(r, "ns", ProviderResponse(result="a"))
    store.flush()
    fresh = ResponseCache(store, enabled=True)
    statements = _statements(
        store, lambda: (fresh.lookup(requests[7], "ns"), fresh.prefetch(requests, "ns"))
    )
    assert len(statements) == 2
    assert _scans(store, statements) == []

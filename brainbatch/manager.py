"""BatchManager: creates jobs, looks them up, cancels them and reports on them."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .errors import InputError
from .models import BatchJob, BatchRequest, BatchResult, BatchStatus, ProgressCallback

if TYPE_CHECKING:
    from .store import JobStore

__all__ = ["BatchManager", "job_stats"]


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        return math.nan
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def job_stats(job: BatchJob) -> dict[str, Any]:
    """Counts, success rate, tokens, cost, latency (mean/p50/p95/p99) and throughput of a job."""
    latencies = sorted(
        r.processing_time_ms
        for r in job.results
        if r.processing_time_ms is not None and not r.cached
    )
    elapsed = job.elapsed_s
    return {
        "job_id": job.job_id,
        "status": job.status.value,
        "total": job.total,
        "done": job.done,
        "succeeded": job.n_success,
        "failed": job.n_error,
        "cached": job.n_cached,
        "pending": job.total - job.done,
        "success_rate": job.n_success / job.done if job.done else math.nan,
        "input_tokens": job.input_tokens,
        "output_tokens": job.output_tokens,
        "cost_usd": job.cost_usd,
        "paid_usd": job.paid_usd,
        "latency_mean_ms": statistics.fmean(latencies) if latencies else math.nan,
        "latency_p50_ms": _percentile(latencies, 50),
        "latency_p95_ms": _percentile(latencies, 95),
        "latency_p99_ms": _percentile(latencies, 99),
        "elapsed_s": elapsed,
        "throughput_rps": job.done / elapsed if elapsed > 0 else math.nan,
        "error": job.error,
    }


class BatchManager:
    """The seed's small in-memory registry: keeps jobs by id, cancels them, reports on them.

    It assembles no run: it takes no lease and applies no rate limit, budget or cache. The
    one place a run is put together is :class:`brainbatch.runner.JobRunner` (what
    ``bb.run``, ``bb.submit`` and the CLI use); a job made here can be run by it, or by any
    executor directly.

    ``cancel()`` is safe to call from any thread, e.g. from a widget's click handler while the
    job runs on another thread's event loop.

    With a ``store`` (a :class:`brainbatch.store.JobStore`), :meth:`create_batch` also stores
    each job and journals it (results and status changes reach the file within the store's
    ``flush_interval``, whatever runs the job), and :meth:`get_job` / :meth:`list_jobs` reload
    jobs created by earlier processes. Without one (the default) everything stays in memory.
    """

    def __init__(self, store: JobStore | None = None) -> None:
        self._jobs: dict[str, BatchJob] = {}
        self.store = store

    def __repr__(self) -> str:
        where = "" if self.store is None else f", store={str(self.store.path)!r}"
        return f"BatchManager(jobs={len(self._jobs)}{where})"

    def create_batch(
        self,
        requests: Iterable[BatchRequest],
        metadata: dict[str, Any] | None = None,
        progress_callback: ProgressCallback | None = None,
    ) -> BatchJob:
        """Make a PENDING job from ``requests`` and register it.

        Raises:
            InputError: for a non-request item or a duplicate ``custom_id``, naming both rows.
        """
        reqs = list(requests)
        for i, r in enumerate(reqs):
            if not isinstance(r, BatchRequest):
                raise InputError(f"requests[{i}] is a {type(r).__name__}, not a BatchRequest")
        job = BatchJob(reqs, progress_callback=progress_callback, metadata=dict(metadata or {}))
        if self.store is not None:
            self.store.create_job(job)
            self.store.journal(job)
        self._jobs[job.job_id] = job
        return job

    def add_job(self, job: BatchJob) -> BatchJob:
        """Register a job made elsewhere (e.g. reloaded from a store)."""
        self._jobs[job.job_id] = job
        return job

    def get_job(self, job_id: str) -> BatchJob | None:
        """The job, or None for an unknown id (with a store: loaded from it if stored there)."""
        job = self._jobs.get(job_id)
        if job is None and self.store is not None and self.store.has_job(job_id):
            job = self.add_job(self.store.load_job(job_id))
            self.store.journal(job)
        return job

    def get_status(self, job_id: str) -> BatchStatus | None:
        """The job's status, or None for an unknown id."""
        job = self.get_job(job_id)
        return None if job is None else job.status

    def get_results(self, job_id: str) -> list[BatchResult] | None:
        """The job's results so far (arrival order), or None for an unknown id."""
        job = self.get_job(job_id)
        return None if job is None else list(job.results)

    def cancel(self, job_id: str) -> bool:
        """Stop a job: no new request starts, results so far are kept, status CANCELLED.

        Returns False for an unknown id or a job that already ended.
        """
        job = self.get_job(job_id)
        if job is None or job.is_complete:
            return False
        job.request_cancel()
        job.status = BatchStatus.CANCELLED
        job.error = job.error or "cancelled"
        if job.completed_at is None and job.started_at is None:
            job.completed_at = datetime.now(UTC)
        self._persist(job)
        return True

    def list_jobs(self, status_filter: BatchStatus | str | None = None) -> list[BatchJob]:
        """Jobs in creation order, optionally only those with one status."""
        if self.store is not None:
            for row in self.store.list_jobs():
                if row["job_id"] not in self._jobs:
                    self.get_job(row["job_id"])
        jobs = sorted(self._jobs.values(), key=lambda j: j.created_at)
        if status_filter is None:
            return jobs
        wanted = BatchStatus(status_filter)
        return [j for j in jobs if j.status == wanted]

    def get_job_stats(self, job_id: str) -> dict[str, Any] | None:
        """See :func:`job_stats`; None for an unknown id."""
        job = self.get_job(job_id)
        return None if job is None else job_stats(job)

    def estimate_completion_time(self, job_id: str, avg_ms: float | None = None) -> datetime | None:
        """When the job should be done.

        With ``avg_ms`` (time per request), assumes requests run one after another at that
        pace divided by the job's ``metadata["max_concurrent"]`` (1 if unset). Without it,
        extrapolates the throughput observed so far. None for an unknown id, or when there is
        nothing to go on yet (no result and no ``avg_ms``). A finished job returns its end time.
        """
        job = self.get_job(job_id)
        if job is None:
            return None
        if job.is_complete and job.completed_at is not None:
            return job.completed_at
        remaining = job.total - job.done
        now = datetime.now(UTC)
        if avg_ms is not None:
            if avg_ms < 0:
                raise InputError(f"avg_ms must be >= 0, got {avg_ms!r}")
            lanes = max(1, int(job.metadata.get("max_concurrent", 1)))
            return now + timedelta(milliseconds=remaining * avg_ms / lanes)
        elapsed = job.elapsed_s
        if job.done == 0 or elapsed <= 0:
            return None
        return now + timedelta(seconds=remaining * elapsed / job.done)

    def update_job_status(
        self, job_id: str, status: BatchStatus | str, error_msg: str | None = None
    ) -> bool:
        """Set a job's status (and error message); sets started/completed times as fitting."""
        job = self.get_job(job_id)
        if job is None:
            return False
        new = BatchStatus(status)
        job.status = new
        now = datetime.now(UTC)
        if new == BatchStatus.PROCESSING and job.started_at is None:
            job.started_at = now
        if new.is_terminal and job.completed_at is None:
            job.completed_at = now
        if error_msg is not None:
            job.error = error_msg
        self._persist(job)
        return True

    def _persist(self, job: BatchJob) -> None:
        if self.store is not None and self.store.has_job(job.job_id):
            self.store.update_status(job)

    def add_result(self, job_id: str, result: BatchResult) -> bool:
        """Record a result; False for an unknown job, unknown request or a repeated result."""
        job = self.get_job(job_id)
        return False if job is None else job.add_result(result)

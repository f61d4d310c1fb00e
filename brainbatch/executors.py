"""Executors run a job's pending requests through a ``process_fn`` and record the results.

Every executor has the same contract::

    results = await executor.execute(job, process_fn)

``process_fn(request)`` is an async callable returning a ``str``, a ``dict`` (structured output)
or a :class:`~brainbatch.models.ProviderResponse`; every provider is one. An exception from it
becomes an error result for that row and never stops the batch, except
:class:`~brainbatch.errors.StopJob` (a refused API key, the budget guard), which ends the whole
job. Only requests without a result are sent, so running ``execute`` again on a job resumes it.

Pausing (``job.request_pause()``, the panel's Pause button) stops new requests from starting
until ``job.request_resume()``; requests in flight finish and the job keeps its workers, so it
continues where it stopped (no new job, no resume from the store).

Cancellation (``job.request_cancel()``, ``BatchManager.cancel``, a Cancel button) stops new
requests from starting at once; requests already in flight get ``cancel_grace`` seconds to
finish (their answers are usually paid for), then they are abandoned and stay pending.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from .errors import InputError, StopJob
from .models import BatchJob, BatchRequest, BatchResult, BatchStatus, ProviderResponse

__all__ = [
    "Executor",
    "MockExecutor",
    "ParallelExecutor",
    "ProcessFn",
    "SequentialExecutor",
    "make_result",
]

log = logging.getLogger("brainbatch")

ProcessFn = Callable[[BatchRequest], Awaitable[str | dict[str, Any] | ProviderResponse]]

_POLL_S = 0.05


def make_result(request: BatchRequest, out: object, elapsed_ms: float) -> BatchResult:
    """Turn what a ``process_fn`` returned into a success :class:`BatchResult`."""
    if isinstance(out, ProviderResponse):
        return BatchResult(
            request_id=request.id,
            custom_id=request.custom_id,
            status="success",
            result=out.result,
            processing_time_ms=out.latency_ms if out.latency_ms is not None else elapsed_ms,
            metadata=request.metadata,
            input_tokens=out.input_tokens,
            output_tokens=out.output_tokens,
            cached_tokens=out.cached_tokens,
            cost_usd=out.cost_usd,
            attempts=out.attempts,
            finish_reason=out.finish_reason,
            model=out.model or request.model,
            provider_request_id=out.provider_request_id,
            price_source=out.price_source,
            cached=out.cached,
        )
    if isinstance(out, str | dict):
        return BatchResult(
            request_id=request.id,
            custom_id=request.custom_id,
            status="success",
            result=out,
            processing_time_ms=elapsed_ms,
            metadata=request.metadata,
            model=request.model,
        )
    raise TypeError(
        f"process_fn returned {type(out).__name__}; expected str, dict or ProviderResponse"
    )


def error_result(request: BatchRequest, exc: BaseException, elapsed_ms: float) -> BatchResult:
    """An error :class:`BatchResult` for a request whose ``process_fn`` raised ``exc``.

    An error that carries the answer it is about (``exc.response``, a
    :class:`ProviderResponse`: an answer that failed its schema, a refusal) keeps that
    answer as ``result`` with its tokens and cost: it was paid for.
    """
    answer = getattr(exc, "response", None)
    if isinstance(answer, ProviderResponse):
        failed = make_result(request, answer, elapsed_ms)
        failed.status = "error"
        failed.attempts = int(getattr(exc, "attempts", None) or answer.attempts or 1)
        failed.error = str(exc) or type(exc).__name__
        failed.error_type = str(getattr(exc, "kind", None) or type(exc).__name__)
        return failed
    return BatchResult(
        request_id=request.id,
        custom_id=request.custom_id,
        status="error",
        processing_time_ms=elapsed_ms,
        metadata=request.metadata,
        attempts=int(getattr(exc, "attempts", 1) or 1),
        error=str(exc) or type(exc).__name__,
        error_type=str(getattr(exc, "kind", None) or type(exc).__name__),
        model=request.model,
        provider_request_id=getattr(exc, "provider_request_id", None),
    )


class Executor(ABC):
    """Base class: status, timestamps, error capture, progress and the end-of-job verdict.

    Subclasses implement :meth:`_run`, calling :meth:`_process` for each request they start
    and stopping when :meth:`_should_stop` is true.
    """

    cancel_grace: float = 5.0

    def __init__(self) -> None:
        self._stop: StopJob | None = None

    async def execute(
        self, job: BatchJob, process_fn: ProcessFn | None = None
    ) -> list[BatchResult]:
        """Run every pending request of ``job``; returns the job's results in request order."""
        fn = self._resolve(process_fn)
        self._stop = None
        job.status = BatchStatus.PROCESSING
        job.started_at = datetime.now(UTC)
        job.completed_at = None
        job.error = None
        try:
            if not job.cancel_requested:
                await self._run(job, fn)
        except asyncio.CancelledError:
            job.request_cancel()
            self._finish(job)
            await self._notify(job)
            raise
        except Exception as exc:  # a bug or a failing callback: the job fails, results stay
            job.error = f"{type(exc).__name__}: {exc}"
            job.status = BatchStatus.FAILED
            job.completed_at = datetime.now(UTC)
            await self._notify(job)
            raise
        self._finish(job)
        await self._notify(job)
        return [r for r in (job.get_result(q.id) for q in job.requests) if r is not None]

    def _resolve(self, process_fn: ProcessFn | None) -> ProcessFn:
        if process_fn is None:
            raise InputError(f"{type(self).__name__}.execute() needs a process_fn")
        if not callable(process_fn):
            raise InputError("process_fn must be an async callable taking a BatchRequest")
        return process_fn

    @abstractmethod
    async def _run(self, job: BatchJob, fn: ProcessFn) -> None:
        """Send the pending requests; return when none is left or the job must stop."""

    def _should_stop(self, job: BatchJob) -> bool:
        return self._stop is not None or job.cancel_requested

    async def _until_unpaused(self, job: BatchJob) -> bool:
        """Wait while the job is paused (``job.request_pause()``); True when the job may
        start its next request, False when it must stop (cancelled or a StopJob) instead."""
        while job.paused and not self._should_stop(job):
            await asyncio.sleep(_POLL_S)
        return not self._should_stop(job)

    async def _process(self, job: BatchJob, request: BatchRequest, fn: ProcessFn) -> None:
        """Send one request and record its result (or note a StopJob)."""
        t0 = time.perf_counter()
        try:
            out = await fn(request)
            result = make_result(request, out, (time.perf_counter() - t0) * 1000.0)
        except StopJob as exc:
            if self._stop is None:
                self._stop = exc
            if not exc.request_sent:
                return
            result = error_result(request, exc, (time.perf_counter() - t0) * 1000.0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            result = error_result(request, exc, (time.perf_counter() - t0) * 1000.0)
        if job.add_result(result):
            await self._notify(job)

    async def _notify(self, job: BatchJob) -> None:
        try:
            pending = job.notify_progress()
            if pending is not None:
                await pending
        except Exception:  # a broken progress display must never break the job
            log.exception("progress_callback failed for job %s", job.job_id)

    def _finish(self, job: BatchJob) -> None:
        job.completed_at = datetime.now(UTC)
        if self._stop is not None:
            job.status = BatchStatus(self._stop.job_status)
            job.error = str(self._stop)
        elif job.cancel_requested:
            job.status = BatchStatus.CANCELLED
            job.error = job.error or "cancelled"
        elif job.done < job.total:
            job.status = BatchStatus.CANCELLED
            job.error = job.error or f"{job.total - job.done} requests were not run"
        else:
            job.status = BatchStatus.COMPLETED if job.n_error == 0 else BatchStatus.FAILED
            if job.n_error:
                job.error = f"{job.n_error} of {job.total} requests failed"


class SequentialExecutor(Executor):
    """One request at a time, waiting ``delay`` seconds between requests (strict rate limits)."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        if delay < 0:
            raise InputError(f"delay must be >= 0 seconds, got {delay!r}")
        self.delay = float(delay)

    def __repr__(self) -> str:
        return f"SequentialExecutor(delay={self.delay})"

    async def _run(self, job: BatchJob, fn: ProcessFn) -> None:
        first = True
        for request in job.iter_pending():
            if not first and self.delay:
                deadline = time.monotonic() + self.delay
                while not self._should_stop(job) and (left := deadline - time.monotonic()) > 0:
                    await asyncio.sleep(min(left, _POLL_S))
            if self._should_stop(job) or (job.paused and not await self._until_unpaused(job)):
                return
            first = False
            task = asyncio.ensure_future(self._process(job, request, fn))
            await _wait_with_grace([task], job, self.cancel_grace)


class ParallelExecutor(Executor):
    """At most ``max_concurrent`` requests in flight at once.

    A fixed pool of ``max_concurrent`` workers pulls requests from one shared iterator, so a
    1,000,000-request job costs ``max_concurrent`` tasks, not a million.
    """

    def __init__(self, max_concurrent: int = 10) -> None:
        super().__init__()
        if not isinstance(max_concurrent, int) or max_concurrent < 1:
            raise InputError(f"max_concurrent must be an integer >= 1, got {max_concurrent!r}")
        self.max_concurrent = max_concurrent

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_concurrent={self.max_concurrent})"

    async def _run(self, job: BatchJob, fn: ProcessFn) -> None:
        pending: Iterator[BatchRequest] = job.iter_pending()

        async def worker() -> None:
            for request in pending:
                if self._should_stop(job) or (job.paused and not await self._until_unpaused(job)):
                    return
                await self._process(job, request, fn)

        n = min(self.max_concurrent, job.total - job.done)
        workers = [asyncio.ensure_future(worker()) for _ in range(n)]
        await _wait_with_grace(workers, job, self.cancel_grace)


class MockExecutor(ParallelExecutor):
    """For tests and demos: a :class:`ParallelExecutor` whose ``process_fn`` is optional.

    Without one, each request gets a deterministic simulated answer after ``delay`` seconds
    (from :class:`~brainbatch.providers.simulated.SimulatedProvider`, labelled as simulated).
    ``failure_rate`` makes that share of requests fail with a simulated server error.
    """

    def __init__(
        self,
        delay: float = 0.01,
        max_concurrent: int = 10,
        failure_rate: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__(max_concurrent=max_concurrent)
        if delay < 0:
            raise InputError(f"delay must be >= 0 seconds, got {delay!r}")
        self.delay = float(delay)
        self.failure_rate = failure_rate
        self.seed = seed

    def __repr__(self) -> str:
        return (
            f"MockExecutor(delay={self.delay}, max_concurrent={self.max_concurrent}, "
            f"failure_rate={self.failure_rate})"
        )

    def _resolve(self, process_fn: ProcessFn | None) -> ProcessFn:
        if process_fn is not None:
            return super()._resolve(process_fn)
        from .providers.simulated import SimulatedProvider

        return SimulatedProvider(
            latency_ms=self.delay * 1000.0,
            latency_sigma=0.0,
            error_rate=self.failure_rate,
            seed=self.seed,
        )


async def _wait_with_grace(
    tasks: Sequence[asyncio.Future[None]], job: BatchJob, grace: float
) -> None:
    """Wait for ``tasks``; once the job is cancelled give them ``grace`` seconds, then abort.

    Waits on one gathered future (not on every worker each tick), checking the job's
    thread-safe cancel flag every 0.1 s. A cancellation of the waiting task itself (kernel
    interrupt) aborts the tasks at once.
    """
    deadline: float | None = None
    whole = asyncio.gather(*tasks, return_exceptions=True)
    try:
        while not whole.done():
            await asyncio.wait([whole], timeout=_POLL_S * 2)
            if whole.done() or not job.cancel_requested:
                continue
            now = time.monotonic()
            if deadline is None:
                deadline = now + grace
            elif now >= deadline:
                for t in tasks:
                    t.cancel()
                await asyncio.wait([whole])
                return
    finally:
        if not whole.done():
            for t in tasks:
                t.cancel()
    for t in tasks:  # surface bugs (not request errors: those are results already)
        if not t.cancelled() and (exc := t.exception()) is not None:
            raise exc

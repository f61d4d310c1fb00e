"""BatchAPIExecutor: run a job through a provider's native batch API (the 50% path).

Same contract as every executor::

    results = await BatchAPIExecutor(OpenAIProvider(...)).execute(job)

It validates and encodes the job's pending requests (errors name the row, nothing is sent
until everything passes), splits them into as many provider batches as the limits require,
submits them, polls with a growing interval, downloads the results and records each one by
``custom_id``. ``job.request_cancel()`` cancels the provider batches through their cancel
endpoints and then collects whatever they finished.

Every provider batch is recorded in ``job.metadata["provider_batches"]`` (see
:mod:`brainbatch.batchapi.base` for the fields); running :meth:`~BatchAPIExecutor.execute`
again on a job whose batches are still running polls them instead of resubmitting, so a job
reloaded from a journal after a crash re-attaches to its batches. ``job.metadata
["batch_progress"]`` holds what a progress display can show: live counts for OpenAI, and
elapsed time against the provider's ``expires_at`` for Anthropic, whose counts only move at
the end.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from ..errors import (
    AuthenticationError,
    InputError,
    PermanentError,
    ProviderError,
    TransientError,
)
from ..executors import Executor, ProcessFn, error_result, make_result
from ..models import BatchJob, BatchRequest, BatchResult, BatchStatus, ProviderResponse
from .anthropic import AnthropicBatchBackend
from .base import BatchBackend, Outcome, WireProvider
from .jsonl import (
    BatchLimits,
    Chunk,
    ranges_to_rows,
    rows_to_ranges,
    split_batches,
    validate_custom_ids,
)
from .openai import OpenAIBatchBackend
from .progress import batch_progress

__all__ = ["BatchAPIExecutor", "backend_for", "batch_progress"]

log = logging.getLogger("brainbatch")

_BACKENDS: dict[str, type[BatchBackend]] = {
    "openai": OpenAIBatchBackend,
    "anthropic": AnthropicBatchBackend,
}
_NOTIFY_EVERY_S = 0.25


def backend_for(
    provider: WireProvider, api: str | None = None, limits: BatchLimits | None = None
) -> BatchBackend:
    """The batch back end for ``provider`` (chosen by ``api`` or else ``provider.name``)."""
    wanted = api or getattr(provider, "name", None)
    cls = _BACKENDS.get(str(wanted))
    if cls is None:
        raise InputError(
            f"api={wanted!r}: batch APIs exist for {sorted(_BACKENDS)}; pass an OpenAIProvider "
            "or AnthropicProvider (or api='openai' for an OpenAI-compatible provider)"
        )
    for attr in ("base_url", "client", "auth_headers", "build_body", "parse_response"):
        if not hasattr(provider, attr):
            raise InputError(
                f"provider {type(provider).__name__} has no {attr!r}: it cannot drive a batch API"
            )
    return cls(provider, limits)


class BatchAPIExecutor(Executor):
    """Runs jobs through OpenAI's Batch API or Anthropic's Message Batches.

    Args:
        provider: an ``OpenAIProvider`` or ``AnthropicProvider`` (its client, base URL, key
            and request/response format are used).
        poll_interval: seconds between the first status checks; grows by ``poll_backoff``
            up to ``max_poll_interval``.
        completion_window: OpenAI's window (``"24h"``); Anthropic's is fixed at 24 h.
        api: ``"openai"`` or ``"anthropic"`` when the provider's ``name`` is neither.
        max_requests_per_batch, max_bytes_per_batch: lower the provider's limits
            (50,000 / 200 MB for OpenAI, 100,000 / 256 MB for Anthropic) for servers with
            smaller ones.
        cancel_timeout: after a cancel, how long to wait for the provider batches to stop
            before returning (those still stopping can be collected by running again).
        max_poll_failures: consecutive failed status checks tolerated before the job fails.
        on_submit: called as ``on_submit(job, entry)`` (may be async) right after the
            provider accepted each batch, with its ``provider_batches`` entry, so it can be
            persisted at once (e.g. ``JobStore.record_provider_batch``): a crash after that
            re-attaches instead of paying for the batch twice. Its errors are logged.

    Cancelling the asyncio task running :meth:`execute` (not ``job.request_cancel()``) only
    stops waiting: the provider batches keep running and a later :meth:`execute` on the job
    (or on the job reloaded from a journal) collects them.
    """

    def __init__(
        self,
        provider: WireProvider,
        *,
        poll_interval: float = 5.0,
        max_poll_interval: float = 60.0,
        poll_backoff: float = 1.5,
        completion_window: str = "24h",
        api: str | None = None,
        max_requests_per_batch: int | None = None,
        max_bytes_per_batch: int | None = None,
        cancel_timeout: float = 60.0,
        max_poll_failures: int = 10,
        on_submit: Callable[[BatchJob, dict[str, Any]], Any] | None = None,
    ) -> None:
        super().__init__()
        for pname, value in (
            ("poll_interval", poll_interval),
            ("max_poll_interval", max_poll_interval),
            ("cancel_timeout", cancel_timeout),
        ):
            if not isinstance(value, int | float) or value < 0:
                raise InputError(f"{pname} must be a number of seconds >= 0, got {value!r}")
        if max_poll_interval < poll_interval:
            raise InputError(
                f"max_poll_interval ({max_poll_interval}) must be >= poll_interval "
                f"({poll_interval})"
            )
        if not isinstance(poll_backoff, int | float) or poll_backoff < 1:
            raise InputError(f"poll_backoff must be >= 1, got {poll_backoff!r}")
        if not isinstance(completion_window, str) or not completion_window:
            raise InputError(
                f"completion_window must be a string like '24h', got {completion_window!r}"
            )
        backend = backend_for(provider, api)
        limits = backend.limits
        if max_requests_per_batch is not None and (
            not isinstance(max_requests_per_batch, int)
            or not 1 <= max_requests_per_batch <= limits.max_requests
        ):
            raise InputError(
                f"max_requests_per_batch must be an integer from 1 to "
                f"{limits.max_requests:,}, got {max_requests_per_batch!r}"
            )
        if max_bytes_per_batch is not None and (
            not isinstance(max_bytes_per_batch, int)
            or not 1 <= max_bytes_per_batch <= limits.max_bytes
        ):
            raise InputError(
                f"max_bytes_per_batch must be an integer from 1 to {limits.max_bytes:,}, "
                f"got {max_bytes_per_batch!r}"
            )
        backend.limits = BatchLimits(
            max_requests_per_batch or limits.max_requests,
            max_bytes_per_batch or limits.max_bytes,
            limits.id_pattern,
            limits.provider,
        )
        self.provider = provider
        self.backend = backend
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = float(max_poll_interval)
        self.poll_backoff = float(poll_backoff)
        self.completion_window = completion_window
        self.cancel_timeout = float(cancel_timeout)
        self.max_poll_failures = max_poll_failures
        self.on_submit = on_submit
        self._prepared: dict[str, list[Chunk]] = {}
        self._refused: dict[str, str] = {}

    def __repr__(self) -> str:
        return (
            f"BatchAPIExecutor(api={self.backend.name!r}, poll_interval={self.poll_interval}, "
            f"max_poll_interval={self.max_poll_interval}, "
            f"completion_window={self.completion_window!r})"
        )

    # -- public API ----------------------------------------------------------------------------

    def prepare(self, job: BatchJob) -> list[Chunk]:
        """Validate and encode what :meth:`execute` would submit, without sending anything.

        Covers the job's pending requests that no running provider batch already holds.

        Raises:
            InputError: naming the row (bad or repeated ``custom_id``, oversized request) or
                the ``provider_batches`` entry that belongs to another provider.
        """
        entries = _entries(job)
        for i, entry in enumerate(entries):
            if entry.get("provider") != self.backend.name:
                raise InputError(
                    f"job.metadata['provider_batches'][{i}] is a {entry.get('provider')!r} "
                    f"batch; this executor talks to {self.backend.name!r}"
                )
        validate_custom_ids(job.requests, self.backend.limits)
        covered: set[int] = set()
        for entry in entries:
            if not entry.get("collected"):
                covered.update(ranges_to_rows(entry.get("rows", [])))
        items = (
            (i, r)
            for i, r in enumerate(job.requests)
            if i not in covered and not job.has_result(r.id)
        )
        return split_batches(items, self.backend.encode, self.backend.limits)

    def attach(self, job: BatchJob, provider_batches: Iterable[dict[str, Any]]) -> BatchJob:
        """Point ``job`` at provider batches submitted earlier (e.g. read from a journal).

        The next :meth:`execute` polls those still running and collects their results
        instead of submitting their requests again. Returns ``job``.
        """
        entries = []
        for i, entry in enumerate(provider_batches):
            if not isinstance(entry, dict) or not entry.get("batch_id"):
                raise InputError(f"provider_batches[{i}] must be a dict with a 'batch_id'")
            entries.append(entry)
        job.metadata["provider_batches"] = entries
        return job

    async def execute(
        self, job: BatchJob, process_fn: ProcessFn | None = None
    ) -> list[BatchResult]:
        """Run the job's pending requests through the batch API; results in request order.

        ``process_fn`` must be None (or this executor's provider): requests go through the
        provider's batch endpoints, not one by one.

        Raises:
            InputError: before anything is sent, naming the offending row.
        """
        if process_fn is not None and process_fn is not self.provider:  # type: ignore[comparison-overlap]
            raise InputError(
                "BatchAPIExecutor.execute(): process_fn must be None; requests go through "
                "the provider's batch API"
            )
        self._prepared[job.job_id] = self.prepare(job)
        self._refused.pop(job.job_id, None)
        try:
            return await super().execute(job, None)
        finally:
            self._prepared.pop(job.job_id, None)
            self._refused.pop(job.job_id, None)

    async def retry_failed(self, job: BatchJob) -> BatchJob:
        """Resubmit only ``job``'s failed and expired requests, as a new batch job.

        Returns the new job (``metadata["retry_of"]`` is the old job's id) after running it;
        ``job`` itself is left as it is.
        """
        failed: list[BatchRequest] = []
        for result in job.results:
            if not result.ok:
                req = job.get_request(result.request_id)
                if req is not None:
                    failed.append(req)
        retry = BatchJob(
            failed,
            metadata={"retry_of": job.job_id},
            progress_callback=job.progress_callback,
        )
        await self.execute(retry)
        return retry

    # -- Executor hooks ------------------------------------------------------------------------

    def _resolve(self, process_fn: ProcessFn | None) -> ProcessFn:
        return _not_sent

    async def _run(self, job: BatchJob, fn: ProcessFn) -> None:
        chunks = self._prepared.pop(job.job_id, None)
        if chunks is None:
            chunks = self.prepare(job)
        entries = _entries(job)
        job.metadata["provider_batches"] = entries
        keymap = {r.key: r for r in job.requests}
        n_before = len(entries)
        for k, chunk in enumerate(chunks):
            if self._should_stop(job):
                break
            part = f"{n_before + k + 1}/{n_before + len(chunks)}"
            try:
                entry = await self.backend.submit(
                    chunk, job_id=job.job_id, part=part, completion_window=self.completion_window
                )
            except AuthenticationError as exc:
                self._stop = exc
                break
            except PermanentError as exc:
                # refused at creation (Anthropic validates there): nothing of it was run
                self._refused[job.job_id] = f"batch {part} refused: {exc}"
                break
            entry["rows"] = rows_to_ranges(chunk.rows)
            entries.append(entry)
            if self.on_submit is not None:
                try:
                    pending = self.on_submit(job, entry)
                    if inspect.isawaitable(pending):
                        await pending
                except Exception:
                    log.exception("on_submit failed for batch %s", entry["batch_id"])
            self._publish(job, entries)
            await self._notify(job)
        if self._stop is not None:
            return  # the key was refused: polling would be refused too; a rerun re-attaches
        await self._poll(job, entries, keymap)

    async def _poll(
        self, job: BatchJob, entries: list[dict[str, Any]], keymap: dict[str, BatchRequest]
    ) -> None:
        interval = self.poll_interval
        cancel_deadline: float | None = None
        failures = 0
        while True:
            active = [e for e in entries if not e.get("collected")]
            if not active:
                return
            if job.cancel_requested:
                if cancel_deadline is None:
                    cancel_deadline = time.monotonic() + self.cancel_timeout
                    interval = self.poll_interval
                await self._cancel_all(active)
            for entry in active:
                if not entry.get("ended"):
                    try:
                        await self.backend.refresh(entry)
                        failures = 0
                    except TransientError as exc:
                        failures += 1
                        if failures >= self.max_poll_failures:
                            raise
                        log.warning("batch %s: status check failed: %s", entry["batch_id"], exc)
                        continue
                if entry.get("ended"):
                    try:
                        await self._collect(job, entry, keymap)
                    except TransientError as exc:  # results recorded so far stay; retry later
                        failures += 1
                        if failures >= self.max_poll_failures:
                            raise
                        log.warning("batch %s: download failed: %s", entry["batch_id"], exc)
                        continue
                    entry["collected"] = True
            self._publish(job, entries)
            await self._notify(job)
            if all(e.get("collected") for e in entries):
                return
            if cancel_deadline is not None and time.monotonic() >= cancel_deadline:
                log.warning(
                    "job %s: provider batches still stopping after %.0f s; run "
                    "execute() again to collect them",
                    job.job_id,
                    self.cancel_timeout,
                )
                return
            await self._sleep(job, interval, wake_on_cancel=cancel_deadline is None)
            interval = min(interval * self.poll_backoff, self.max_poll_interval)

    async def _sleep(self, job: BatchJob, seconds: float, *, wake_on_cancel: bool) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if wake_on_cancel and job.cancel_requested:
                return
            await asyncio.sleep(min(left, 0.05))

    async def _cancel_all(self, active: list[dict[str, Any]]) -> None:
        for entry in active:
            if entry.get("ended") or entry.get("cancel_sent"):
                continue
            entry["cancel_sent"] = True
            try:
                await self.backend.cancel(entry)
            except ProviderError as exc:
                # e.g. it ended meanwhile; the next status check tells
                entry["cancel_error"] = str(exc)
                log.warning("batch %s: cancel refused: %s", entry["batch_id"], exc)

    async def _collect(
        self, job: BatchJob, entry: dict[str, Any], keymap: dict[str, BatchRequest]
    ) -> None:
        """Record every result of an ended batch; nothing is recorded twice."""
        created, ended = entry.get("created_at"), entry.get("ended_at")
        turnaround = (ended - created) * 1000.0 if created and ended else None
        seen: set[str] = set()
        unknown = 0
        last = time.monotonic()
        if entry.get("status") != "failed":
            async for out in self.backend.outcomes(entry):
                request = keymap.get(out.custom_id)
                if request is None:
                    unknown += 1
                    continue
                seen.add(out.custom_id)
                if job.has_result(request.id):
                    continue
                result = self._result_of(request, out, turnaround)
                if result is not None:
                    job.add_result(result)
                if time.monotonic() - last > _NOTIFY_EVERY_S:
                    last = time.monotonic()
                    self._publish(job, _entries(job))
                    await self._notify(job)
        if unknown:
            log.warning(
                "batch %s: %d result lines name custom_ids not in the job",
                entry["batch_id"],
                unknown,
            )
        state = entry.get("state")
        if state in (BatchStatus.COMPLETED.value, BatchStatus.FAILED.value, "expired") and (
            entry.get("status") != "failed"
        ):
            # every request of a finished batch must have a result: never lose one silently
            kind = "expired" if state == "expired" else "missing"
            for row in ranges_to_rows(entry.get("rows", [])):
                request = job.requests[row]
                if request.key in seen or job.has_result(request.id):
                    continue
                msg = (
                    "the batch expired before this request ran"
                    if kind == "expired"
                    else f"batch {entry['batch_id']} ended without a result for this request"
                )
                job.add_result(self._error(request, msg, kind, turnaround))
        entry["collected_results"] = len(seen)

    def _result_of(
        self, request: BatchRequest, out: Outcome, turnaround: float | None
    ) -> BatchResult | None:
        if out.kind == "success" and out.body is not None:
            try:
                resp: ProviderResponse = self.provider.parse_response(
                    out.body,
                    latency_ms=turnaround,
                    batch=True,
                    json_output=_wants_json(request),
                )
            except Exception as exc:  # a malformed body is that row's error, not the job's
                return error_result(request, exc, turnaround or 0.0)
            return make_result(request, resp, turnaround or 0.0)
        if out.kind in ("error", "expired"):
            return self._error(
                request, out.error or out.kind, out.error_type or out.kind, turnaround
            )
        return None  # not run (cancelled): stays pending, nothing was paid

    @staticmethod
    def _error(
        request: BatchRequest, message: str, kind: str, turnaround: float | None
    ) -> BatchResult:
        return BatchResult(
            request_id=request.id,
            custom_id=request.custom_id,
            status="error",
            processing_time_ms=turnaround,
            metadata=request.metadata,
            error=message,
            error_type=kind,
            model=request.model,
        )

    def _publish(self, job: BatchJob, entries: list[dict[str, Any]]) -> None:
        """Job status from the batches' states, and ``metadata["batch_progress"]``."""
        active = [e for e in entries if not e.get("collected")]
        states = {e.get("state") for e in active}
        if job.status.is_terminal:
            pass  # e.g. BatchManager.cancel() already marked it; the final verdict comes last
        elif active and states <= {BatchStatus.PENDING.value}:
            job.status = BatchStatus.PENDING
        else:
            job.status = BatchStatus.PROCESSING
        job.metadata["batch_progress"] = batch_progress(self.backend.name, entries, job)

    def _finish(self, job: BatchJob) -> None:
        entries = _entries(job)
        if self._stop is not None:
            super()._finish(job)
            return
        job.completed_at = datetime.now(UTC)
        failed = [e for e in entries if e.get("status") == "failed"]
        refused = self._refused.get(job.job_id)
        still_running = [e["batch_id"] for e in entries if not e.get("collected")]
        n_expired = sum(1 for r in job.results if r.error_type == "expired")
        if job.cancel_requested:
            job.status = BatchStatus.CANCELLED
            job.error = job.error or _cancel_message(job, still_running)
        elif failed or refused:
            job.status = BatchStatus.FAILED
            reasons = [refused] if refused else []
            reasons += [
                f"batch {e['batch_id']} failed validation: "
                + ("; ".join(e.get("errors") or []) or "no reason given")
                for e in failed
            ]
            job.error = "; ".join(reasons)
        elif n_expired:
            job.status = BatchStatus.EXPIRED
            job.error = (
                f"{n_expired} of {job.total} requests expired before the provider ran them; "
                "the other results are kept (retry_failed() resubmits the rest)"
            )
        elif job.done < job.total:
            job.status = BatchStatus.CANCELLED
            job.error = job.error or f"{job.total - job.done} requests were not run"
        else:
            job.status = BatchStatus.COMPLETED if job.n_error == 0 else BatchStatus.FAILED
            if job.n_error:
                job.error = f"{job.n_error} of {job.total} requests failed"
        self._publish_final(job, entries)

    def _publish_final(self, job: BatchJob, entries: list[dict[str, Any]]) -> None:
        job.metadata["batch_progress"] = batch_progress(self.backend.name, entries, job)


def _wants_json(request: BatchRequest) -> bool:
    """Whether the request asked for JSON output (as the real-time path decides it)."""
    params = request.params or {}
    fmt = params.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        return True
    config = params.get("output_config")
    return isinstance(config, dict) and isinstance(config.get("format"), dict)


async def _not_sent(request: BatchRequest) -> ProviderResponse:
    raise AssertionError("BatchAPIExecutor never sends requests one by one")


def _cancel_message(job: BatchJob, still_running: list[str]) -> str:
    msg = f"cancelled; {job.total - job.done} requests not run"
    if still_running:
        msg += f"; batches still stopping: {', '.join(still_running)} (execute() again collects)"
    return msg


def _entries(job: BatchJob) -> list[dict[str, Any]]:
    entries = job.metadata.get("provider_batches")
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise InputError("job.metadata['provider_batches'] must be a list of dicts")
    return entries

"""BatchAPIExecutor: run a job through a provider's native batch API (the 50% path).

Same contract as every executor::

    results = await BatchAPIExecutor(OpenAIProvider(...)).execute(job)

It validates and encodes the job's pending requests (errors name the row, nothing is sent
until everything passes), splits them into as many provider batches as the limits require
(one model per batch for OpenAI, whose input files take one model; under the enqueued-token
limit per model when ``max_enqueued_tokens`` is set), submits them as that limit allows,
polls with a growing interval, downloads the results and records each one by
``custom_id``. ``job.request_cancel()`` cancels the provider batches through their cancel
endpoints and then collects whatever they finished.

Every provider batch is a :class:`~brainbatch.batchapi.records.ProviderBatch` in
``job.metadata["provider_batches"]``, written there (and handed to ``on_submit``, which a
store uses to journal it) *before* the provider is called: a run that dies between the
provider accepting a batch and its id reaching the journal leaves an intent, and the next
run finds the job's batch at the provider (by the job id and part in its metadata) and
re-attaches instead of paying for it twice. Running :meth:`~BatchAPIExecutor.execute` again
on a job whose batches are still running polls them instead of resubmitting.
``job.metadata["batch_progress"]`` holds what a progress display can show: live counts for
OpenAI, and elapsed time against the provider's ``expires_at`` for Anthropic, whose counts
only move at the end.

A batch OpenAI fails with ``token_limit_exceeded`` (the model's enqueued tokens across the
organisation's open batches are over its cap) ran nothing: its requests are submitted again
once one of the job's other open batches ends, or, when none is open, split in halves after
a backoff; a single request refused alone fails the job with that reason.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..errors import (
    AuthenticationError,
    InputError,
    PermanentError,
    ProviderError,
    TransientError,
)
from ..estimate import request_max_tokens
from ..executors import Executor, ProcessFn, error_result, make_result
from ..models import BatchJob, BatchRequest, BatchResult, BatchStatus, ProviderResponse
from ..tokens import estimate_message_tokens
from .anthropic import AnthropicBatchBackend
from .base import BatchBackend, Outcome, WireProvider
from .gemini import GeminiBatchBackend
from .hosts import BatchHost, batch_host, host_for_url
from .jsonl import (
    BatchLimits,
    Chunk,
    rows_to_ranges,
    split_batches,
    validate_custom_ids,
)
from .openai import OpenAIBatchBackend
from .progress import batch_progress
from .records import NOT_SUBMITTED, SUBMITTING, ProviderBatch

__all__ = ["BatchAPIExecutor", "backend_for", "batch_progress", "enqueued_tokens"]

log = logging.getLogger("brainbatch")

_BACKENDS: dict[str, type[BatchBackend]] = {
    "openai": OpenAIBatchBackend,
    "anthropic": AnthropicBatchBackend,
    "gemini": GeminiBatchBackend,
}
_NOTIFY_EVERY_S = 0.25
_HOLDS_TOKENS = {BatchStatus.PROCESSING.value, BatchStatus.CANCELLED.value}

TokenLimit = int | Mapping[str, int] | None
"""``max_enqueued_tokens``: one cap for every model, a cap per model name, or None."""


def backend_for(
    provider: WireProvider, api: str | None = None, limits: BatchLimits | None = None
) -> BatchBackend:
    """The batch back end for ``provider`` (chosen by ``api`` or else ``provider.name``)."""
    wanted = api or getattr(provider, "name", None)
    cls = _BACKENDS.get(str(wanted))
    if cls is None:
        raise InputError(
            f"api={wanted!r}: batch APIs exist for {sorted(_BACKENDS)}; pass an OpenAIProvider, "
            "AnthropicProvider or GeminiProvider (or api='openai' for an OpenAI-compatible "
            "provider)"
        )
    for attr in ("base_url", "client", "auth_headers", "build_body", "parse_response"):
        if not hasattr(provider, attr):
            raise InputError(
                f"provider {type(provider).__name__} has no {attr!r}: it cannot drive a batch API"
            )
    return cls(provider, limits)


def _host_of(
    host: str | BatchHost | None, backend: BatchBackend, provider: WireProvider
) -> BatchHost | None:
    """The OpenAI-format batch host to follow: ``host``, else the one of the base URL."""
    if host is None:
        if not isinstance(backend, OpenAIBatchBackend):
            return None
        return host_for_url(getattr(provider, "base_url", None))
    if not isinstance(backend, OpenAIBatchBackend):
        raise InputError(
            f"host={host!r} is for OpenAI-format batch hosts; api={backend.name!r} has its own "
            "limits"
        )
    return batch_host(host)


def enqueued_tokens(request: BatchRequest) -> int:
    """What ``request`` adds to its model's enqueued tokens, as estimated here: the prompt's
    tokens (counted as :mod:`brainbatch.estimate` does) plus its ``max_tokens`` cap (0 when
    it has none)."""
    prompt = estimate_message_tokens(request.chat_messages(), request.system, request.model)
    return prompt + (request_max_tokens(request) or 0)


@dataclass(slots=True)
class _Queued:
    """A chunk waiting to be submitted: not before ``not_before`` (monotonic seconds), and,
    with a ``gate``, not while every batch named in it is still open."""

    chunk: Chunk
    not_before: float = 0.0
    gate: frozenset[str] = field(default_factory=frozenset)
    attempt: int = 0


class BatchAPIExecutor(Executor):
    """Runs jobs through OpenAI's Batch API, Anthropic's Message Batches or Gemini's Batch
    Mode (:mod:`brainbatch.batchapi.gemini`).

    Args:
        provider: an ``OpenAIProvider`` or ``AnthropicProvider`` (its client, base URL, key
            and request/response format are used).
        poll_interval: seconds between the first status checks; grows by ``poll_backoff``
            up to ``max_poll_interval``.
        completion_window: OpenAI's window (``"24h"``); Anthropic's is fixed at 24 h.
        api: ``"openai"`` or ``"anthropic"`` when the provider's ``name`` is neither.
        host: the OpenAI-format batch host (``"openai"``, ``"groq"``, ``"together"`` or a
            :class:`~brainbatch.batchapi.hosts.BatchHost`); default: found from the
            provider's ``base_url`` (none for other servers: OpenAI's limits, any window).
            Its limits split the job, and ``completion_window`` and the endpoint are checked
            against what it accepts before anything is sent (see
            :mod:`brainbatch.batchapi.hosts`).
        max_requests_per_batch, max_bytes_per_batch: lower the provider's limits
            (50,000 / 200 MB for OpenAI, 100,000 / 256 MB for Anthropic) for servers with
            smaller ones.
        max_enqueued_tokens: the most tokens this job keeps enqueued per model across its
            open batches (OpenAI caps them per model and organisation tier; the caps are
            not published in the API, see your limits page): one number for every model,
            or ``{"gpt-4o-mini": 2_000_000, ...}`` (models not named are not capped).
            Batches are cut to fit it, submitted only while they fit, and the next is sent
            when earlier ones end. A request counts its prompt tokens plus its
            ``max_tokens`` (see :func:`enqueued_tokens`). None (default): no cap here; a
            batch OpenAI still refuses with ``token_limit_exceeded`` is sent again later.
        cancel_timeout: after a cancel, how long to wait for the provider batches to stop
            before returning (those still stopping can be collected by running again).
        max_poll_failures: consecutive failed status checks tolerated before the job fails.
        on_submit: called as ``on_submit(job, record)`` (may be async) with the
            :class:`~brainbatch.batchapi.records.ProviderBatch` already in
            ``job.metadata["provider_batches"]``: first as an intent (state
            ``"submitting"``, no ``batch_id``) right before the provider is called, then
            once the provider accepted it (or refused it), so it can be persisted at once
            (e.g. ``JobStore.record_provider_batch``). An error journaling the intent stops
            the job before that batch is sent; later errors are logged.
        check: called with each answer (a ``ProviderResponse``); what it raises becomes
            that row's error (the answer, tokens and cost kept when the error carries them,
            as :class:`~brainbatch.structured.InvalidAnswer` does), so ``retry_failed``
            sends those rows again. ``brainbatch.structured.OutputSchema.check`` is one.

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
        host: str | BatchHost | None = None,
        max_requests_per_batch: int | None = None,
        max_bytes_per_batch: int | None = None,
        max_enqueued_tokens: TokenLimit = None,
        cancel_timeout: float = 60.0,
        max_poll_failures: int = 10,
        on_submit: Callable[[BatchJob, ProviderBatch], Any] | None = None,
        check: Callable[[ProviderResponse], ProviderResponse] | None = None,
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
        self.host = _host_of(host, backend, provider)
        if self.host is not None and isinstance(backend, OpenAIBatchBackend):
            self.host.check_window(completion_window)
            self.host.check_endpoint(backend.endpoint)
            backend.limits = self.host.limits
            backend.file_purpose = self.host.file_purpose
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
        self.max_enqueued_tokens = _check_token_limit(max_enqueued_tokens)
        self.cancel_timeout = float(cancel_timeout)
        self.max_poll_failures = max_poll_failures
        self.on_submit = on_submit
        self.check = check
        self._prepared: dict[str, list[Chunk]] = {}
        self._refused: dict[str, str] = {}

    def __repr__(self) -> str:
        return (
            f"BatchAPIExecutor(api={self.backend.name!r}, "
            f"host={self.host.name if self.host else None!r}, poll_interval={self.poll_interval}, "
            f"max_poll_interval={self.max_poll_interval}, "
            f"completion_window={self.completion_window!r}, "
            f"max_enqueued_tokens={self.max_enqueued_tokens!r})"
        )

    # -- public API ----------------------------------------------------------------------------

    def token_limit(self, model: str) -> int | None:
        """The enqueued-token cap for ``model`` (None: not capped)."""
        limit = self.max_enqueued_tokens
        if limit is None or isinstance(limit, int):
            return limit
        return limit.get(model)

    def prepare(self, job: BatchJob) -> list[Chunk]:
        """Validate and encode what :meth:`execute` would submit, without sending anything.

        Covers the job's pending requests that no provider batch (or intent) already holds.

        Raises:
            InputError: naming the row (bad or repeated ``custom_id``, oversized request, a
                request alone over the enqueued-token cap) or the ``provider_batches``
                record that belongs to another provider.
        """
        records = _records(job)
        for i, record in enumerate(records):
            if record.provider != self.backend.name:
                raise InputError(
                    f"job.metadata['provider_batches'][{i}] is a {record.provider!r} "
                    f"batch; this executor talks to {self.backend.name!r}"
                )
        validate_custom_ids(job.requests, self.backend.limits)
        covered: set[int] = set()
        for record in records:
            if not record.collected and record.state != NOT_SUBMITTED:
                covered.update(record.row_numbers())
        items = (
            (i, r)
            for i, r in enumerate(job.requests)
            if i not in covered and not job.has_result(r.id)
        )
        return self._split(items)

    def attach(
        self, job: BatchJob, provider_batches: Iterable[ProviderBatch | Mapping[str, Any]]
    ) -> BatchJob:
        """Point ``job`` at provider batches submitted earlier (records or their dicts, e.g.
        read from a journal).

        The next :meth:`execute` polls those still running and collects their results
        instead of submitting their requests again (and looks for the batch of an intent
        left without a ``batch_id``). Returns ``job``.
        """
        records = []
        for i, item in enumerate(provider_batches):
            if not isinstance(item, ProviderBatch | Mapping):
                raise InputError(f"provider_batches[{i}] must be a ProviderBatch or a dict")
            record = ProviderBatch.from_dict(item)
            if not record.batch_id and not (record.is_intent and record.part):
                raise InputError(
                    f"provider_batches[{i}] needs a 'batch_id' (or to be an intent with a part)"
                )
            records.append(record)
        job.metadata["provider_batches"] = records
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
        records = _records(job)
        job.metadata["provider_batches"] = records
        keymap = {r.key: r for r in job.requests}
        intents = [r for r in records if r.is_intent]
        if intents:
            if not await self._recover(job, records, intents):
                return  # the key was refused
            if any(r.state == NOT_SUBMITTED for r in intents):
                chunks = self.prepare(job)  # their rows were never sent: plan them again
        queue = [_Queued(c) for c in chunks]
        await self._loop(job, records, queue, keymap)

    # -- steps -------------------------------------------------------------------------------

    def _split(self, items: Iterable[tuple[int, BatchRequest]]) -> list[Chunk]:
        one_model = bool(getattr(self.backend, "one_model_per_batch", False))
        return split_batches(
            items,
            self.backend.encode,
            self.backend.limits,
            group=(lambda r: r.model) if one_model else None,
            tokens=enqueued_tokens if self.max_enqueued_tokens is not None else None,
            token_limit=self.token_limit,
        )

    async def _recover(
        self, job: BatchJob, records: list[ProviderBatch], intents: list[ProviderBatch]
    ) -> bool:
        """Re-attach each intent left by a run that died mid-submit to the batch the
        provider made for it, or mark it never submitted. False if the key was refused."""
        for intent in intents:
            known = {r.batch_id for r in records if r.batch_id}
            try:
                found = await self.backend.recover(intent, job_id=job.job_id, known_ids=known)
            except AuthenticationError as exc:
                self._stop = exc
                return False
            if found:
                log.info(
                    "job %s: part %s was accepted as batch %s before the last run stopped; "
                    "re-attached",
                    job.job_id,
                    intent.part,
                    intent.batch_id,
                )
            else:
                log.info(
                    "job %s: part %s never reached the provider; its requests are sent again",
                    job.job_id,
                    intent.part,
                )
                intent.state = NOT_SUBMITTED
                intent.collected = True
            await self._record(job, intent)
        return True

    async def _loop(
        self,
        job: BatchJob,
        records: list[ProviderBatch],
        queue: list[_Queued],
        keymap: dict[str, BatchRequest],
    ) -> None:
        """Submit what fits, poll, collect, requeue what the token limit refused; repeat."""
        interval = self.poll_interval
        cancel_deadline: float | None = None
        failures = 0
        while True:
            if job.cancel_requested or job.job_id in self._refused:
                queue.clear()  # never submitted: those rows stay pending
            elif await self._submit_ready(job, records, queue):
                interval = self.poll_interval  # a new batch: look at it soon
            if self._stop is not None:
                return  # the key was refused: polling would be refused too; a rerun re-attaches
            active = [r for r in records if not r.collected and r.batch_id is not None]
            if not active and not queue:
                self._publish(job, records, queue)
                return
            if job.cancel_requested:
                if cancel_deadline is None:
                    cancel_deadline = time.monotonic() + self.cancel_timeout
                    interval = self.poll_interval
                await self._cancel_all(active)
            ended_now = False
            for record in active:
                if not record.ended:
                    try:
                        await self.backend.refresh(record)
                        failures = 0
                    except TransientError as exc:
                        failures += 1
                        if failures >= self.max_poll_failures:
                            raise
                        log.warning("batch %s: status check failed: %s", record.batch_id, exc)
                        continue
                if not record.ended:
                    continue
                if record.token_limited:
                    self._requeue(job, records, record, queue)
                    await self._record(job, record)
                    ended_now = True
                    continue
                try:
                    await self._collect(job, record, keymap)
                except TransientError as exc:  # results recorded so far stay; retry later
                    failures += 1
                    if failures >= self.max_poll_failures:
                        raise
                    log.warning("batch %s: download failed: %s", record.batch_id, exc)
                    continue
                record.collected = True
                ended_now = True
            self._publish(job, records, queue)
            await self._notify(job)
            if not queue and all(r.collected or r.batch_id is None for r in records):
                return
            now = time.monotonic()
            if cancel_deadline is not None and now >= cancel_deadline:
                log.warning(
                    "job %s: provider batches still stopping after %.0f s; run "
                    "execute() again to collect them",
                    job.job_id,
                    self.cancel_timeout,
                )
                return
            if ended_now and queue and not job.cancel_requested:
                continue  # room may have opened for a queued batch: submit it now
            if job.cancel_requested and cancel_deadline is None:
                continue  # cancelled meanwhile: send the cancels now
            wait = interval
            if cancel_deadline is not None:
                wait = min(wait, cancel_deadline - now)  # never wait past the cancel limit
            due = [q.not_before - now for q in queue if q.not_before > now]
            if due:
                wait = min(wait, *due)
            await self._sleep(job, max(0.0, wait), wake_on_cancel=cancel_deadline is None)
            interval = min(interval * self.poll_backoff, self.max_poll_interval)

    async def _submit_ready(
        self, job: BatchJob, records: list[ProviderBatch], queue: list[_Queued]
    ) -> bool:
        """Submit, in order, every queued chunk that is due and fits the token limit.
        Returns whether any was submitted."""
        sent = False
        i = 0
        while i < len(queue):
            if self._should_stop(job) or job.job_id in self._refused:
                return sent
            item = queue[i]
            open_ids = {r.batch_id for r in records if r.is_open and r.batch_id}
            waiting = item.gate and item.gate <= open_ids  # every batch it waits for still open
            if item.not_before > time.monotonic() or waiting or not self._fits(records, item):
                i += 1
                continue
            queue.pop(i)
            await self._submit_one(
                job, records, item.chunk, remaining=len(queue), attempt=item.attempt
            )
            sent = True
        return sent

    def _fits(self, records: list[ProviderBatch], item: _Queued) -> bool:
        """Whether the chunk's tokens fit under each model's cap next to the open batches
        (a chunk always fits when nothing of its model is open: there is nothing to wait
        for)."""
        for model, tokens in item.chunk.tokens.items():
            cap = self.token_limit(model)
            if cap is None:
                continue
            enqueued = sum(r.n_tokens.get(model, 0) for r in records if r.is_open)
            if enqueued and enqueued + tokens > cap:
                return False
        return True

    async def _submit_one(
        self,
        job: BatchJob,
        records: list[ProviderBatch],
        chunk: Chunk,
        *,
        remaining: int,
        attempt: int = 0,
    ) -> None:
        seq = len(records) + 1
        record = ProviderBatch(
            provider=self.backend.name,
            part=f"{seq}/{seq + remaining}",
            state=SUBMITTING,
            model=chunk.model,
            n_requests=len(chunk),
            n_tokens=dict(chunk.tokens),
            rows=rows_to_ranges(chunk.rows),
            submitted_at=time.time(),
            attempt=attempt,
        )
        records.append(record)
        # the intent reaches the journal before the provider hears of the batch
        await self._record(job, record, intent=True)
        try:
            await self.backend.submit(
                record, chunk, job_id=job.job_id, completion_window=self.completion_window
            )
        except AuthenticationError as exc:
            self._stop = exc
            self._not_submitted(record, exc)
        except PermanentError as exc:
            # refused at creation (Anthropic validates there): nothing of it was run
            self._refused[job.job_id] = f"batch {record.part} refused: {exc}"
            self._not_submitted(record, exc)
        # any other error leaves the intent "submitting": a later run looks for it
        await self._record(job, record)
        self._publish(job, records)
        await self._notify(job)

    @staticmethod
    def _not_submitted(record: ProviderBatch, exc: Exception) -> None:
        record.state = NOT_SUBMITTED
        record.collected = True
        record.errors = [str(exc)]

    def _requeue(
        self,
        job: BatchJob,
        records: list[ProviderBatch],
        record: ProviderBatch,
        queue: list[_Queued],
    ) -> None:
        """A batch refused for the enqueued-token limit ran nothing: send its requests
        again once another of the job's batches ends, or smaller after a backoff."""
        record.collected = True
        rows = [i for i in record.row_numbers() if not job.has_result(job.requests[i].id)]
        if job.cancel_requested or job.job_id in self._refused or not rows:
            return  # its rows stay pending
        attempt = record.attempt + 1
        # wait for a batch that holds enqueued tokens (validated, running) to end: one still
        # validating may be refused too, and waiting on each other would never end
        models = set(record.n_tokens) or ({record.model} if record.model else set())
        gate = frozenset(
            r.batch_id
            for r in records
            if r is not record
            and r.is_open
            and r.batch_id
            and r.state in _HOLDS_TOKENS
            and (not models or not r.model or r.model in models)
        )
        chunks = self._split((i, job.requests[i]) for i in rows)
        if not gate:  # refused with nothing else of ours enqueued: it alone is too big
            if len(rows) == 1:
                reason = "; ".join(record.errors) or "token_limit_exceeded"
                self._refused[job.job_id] = (
                    f"batch {record.batch_id}: request #{rows[0]} was refused for the "
                    f"enqueued-token limit with no other batch of this job enqueued ({reason}); "
                    "the model's limit (or the organisation's other batches) leaves no room "
                    "for it"
                )
                return
            if len(chunks) == 1:
                chunks = chunks[0].halves()
        record.resubmitted = True
        backoff = 0.0 if gate else min(self.max_poll_interval, self.poll_interval * 2**attempt)
        log.info(
            "batch %s refused for the enqueued-token limit; its %d requests go again in %d "
            "batch(es) %s",
            record.batch_id,
            len(rows),
            len(chunks),
            "once another of the job's batches ends" if gate else f"in {backoff:.1f} s",
        )
        for c in chunks:
            queue.append(
                _Queued(c, not_before=time.monotonic() + backoff, gate=gate, attempt=attempt)
            )

    async def _record(self, job: BatchJob, record: ProviderBatch, *, intent: bool = False) -> None:
        """Hand ``record`` (already in the job's list) to ``on_submit``."""
        if self.on_submit is None:
            return
        try:
            pending = self.on_submit(job, record)
            if inspect.isawaitable(pending):
                await pending
        except Exception:
            if intent:  # sending without a journaled intent could pay twice after a crash
                raise
            log.exception("on_submit failed for batch %s", record.label)

    async def _sleep(self, job: BatchJob, seconds: float, *, wake_on_cancel: bool) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if wake_on_cancel and job.cancel_requested:
                return
            await asyncio.sleep(min(left, 0.05))

    async def _cancel_all(self, active: list[ProviderBatch]) -> None:
        for record in active:
            if record.ended or record.cancel_sent:
                continue
            record.cancel_sent = True
            try:
                await self.backend.cancel(record)
            except ProviderError as exc:
                # e.g. it ended meanwhile; the next status check tells
                record.cancel_error = str(exc)
                log.warning("batch %s: cancel refused: %s", record.batch_id, exc)

    async def _collect(
        self, job: BatchJob, record: ProviderBatch, keymap: dict[str, BatchRequest]
    ) -> None:
        """Record every result of an ended batch; nothing is recorded twice."""
        created, ended = record.created_at, record.ended_at
        turnaround = (ended - created) * 1000.0 if created and ended else None
        seen: set[str] = set()
        unknown = 0
        last = time.monotonic()
        if record.status != "failed":
            async for out in self.backend.outcomes(record):
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
                    self._publish(job, _records(job))
                    await self._notify(job)
        if unknown:
            log.warning(
                "batch %s: %d result lines name custom_ids not in the job",
                record.batch_id,
                unknown,
            )
        state = record.state
        if state in (BatchStatus.COMPLETED.value, BatchStatus.FAILED.value, "expired") and (
            record.status != "failed"
        ):
            # every request of a finished batch must have a result: never lose one silently
            kind = "expired" if state == "expired" else "missing"
            for row in record.row_numbers():
                request = job.requests[row]
                if request.key in seen or job.has_result(request.id):
                    continue
                msg = (
                    "the batch expired before this request ran"
                    if kind == "expired"
                    else f"batch {record.batch_id} ended without a result for this request"
                )
                job.add_result(self._error(request, msg, kind, turnaround))
        record.collected_results = len(seen)

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
                if self.check is not None:  # e.g. a structured-output schema
                    resp = self.check(resp)
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

    def _publish(
        self, job: BatchJob, records: list[ProviderBatch], queue: list[_Queued] | None = None
    ) -> None:
        """Job status from the batches' states, and ``metadata["batch_progress"]``."""
        active = [r for r in records if not r.collected and r.state != NOT_SUBMITTED]
        states = {r.state for r in active}
        if job.status.is_terminal:
            pass  # e.g. BatchManager.cancel() already marked it; the final verdict comes last
        elif active and states <= {BatchStatus.PENDING.value, SUBMITTING}:
            job.status = BatchStatus.PENDING
        else:
            job.status = BatchStatus.PROCESSING
        queued = len(queue) if queue is not None else 0
        job.metadata["batch_progress"] = batch_progress(self.backend.name, records, job, queued)

    def _finish(self, job: BatchJob) -> None:
        records = _records(job)
        if self._stop is not None:
            super()._finish(job)
            return
        job.completed_at = datetime.now(UTC)
        failed = [r for r in records if r.status == "failed" and not r.token_limited]
        refused = self._refused.get(job.job_id)
        still_running = [r.label for r in records if not r.collected and r.state != NOT_SUBMITTED]
        n_expired = sum(1 for r in job.results if r.error_type == "expired")
        if job.cancel_requested:
            job.status = BatchStatus.CANCELLED
            job.error = job.error or _cancel_message(job, still_running)
        elif failed or refused:
            job.status = BatchStatus.FAILED
            reasons = [refused] if refused else []
            reasons += [
                f"batch {r.batch_id} failed validation: "
                + ("; ".join(r.errors) or "no reason given")
                for r in failed
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
        self._publish_final(job, records)

    def _publish_final(self, job: BatchJob, records: list[ProviderBatch]) -> None:
        job.metadata["batch_progress"] = batch_progress(self.backend.name, records, job)


def _check_token_limit(limit: Any) -> TokenLimit:
    def positive(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1

    if limit is None:
        return None
    if positive(limit):
        return int(limit)
    if isinstance(limit, Mapping) and all(
        isinstance(k, str) and positive(v) for k, v in limit.items()
    ):
        return {str(k): int(v) for k, v in limit.items()}
    raise InputError(
        "max_enqueued_tokens must be a positive integer, a {model: positive integer} "
        f"mapping or None, got {limit!r}"
    )


def _wants_json(request: BatchRequest) -> bool:
    """Whether the request asked for JSON output (as the real-time path decides it)."""
    params = request.params or {}
    fmt = params.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        return True
    config = params.get("output_config")
    if isinstance(config, dict) and isinstance(config.get("format"), dict):
        return True
    # Gemini's own spelling (responseMimeType, or inside generationConfig)
    generation = params.get("generationConfig") or params.get("generation_config") or params
    if not isinstance(generation, dict):
        return False
    mime = generation.get("responseMimeType") or generation.get("response_mime_type")
    return mime == "application/json"


async def _not_sent(request: BatchRequest) -> ProviderResponse:
    raise AssertionError("BatchAPIExecutor never sends requests one by one")


def _cancel_message(job: BatchJob, still_running: list[str]) -> str:
    msg = f"cancelled; {job.total - job.done} requests not run"
    if still_running:
        msg += f"; batches still stopping: {', '.join(still_running)} (execute() again collects)"
    return msg


def _records(job: BatchJob) -> list[ProviderBatch]:
    """``job.metadata["provider_batches"]`` as typed records (dicts read from a journal are
    converted in place, so the list stays the one the job holds)."""
    raw = job.metadata.get("provider_batches")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InputError("job.metadata['provider_batches'] must be a list of ProviderBatch")
    for i, item in enumerate(raw):
        if isinstance(item, ProviderBatch):
            continue
        if not isinstance(item, Mapping):
            raise InputError(
                f"job.metadata['provider_batches'][{i}] must be a ProviderBatch or a dict, "
                f"got {type(item).__name__}"
            )
        raw[i] = ProviderBatch.from_dict(item)
    return raw

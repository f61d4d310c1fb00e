"""The batch data model: requests, results, jobs and their status.

These are plain dataclasses with no I/O. A :class:`BatchJob` keeps dictionary indexes next to
its lists so that every lookup by request id or ``custom_id`` is O(1), and running counters so
that progress, counts and cost are O(1) too, whatever the job's size.
"""

from __future__ import annotations

import enum
import inspect
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import InputError

__all__ = [
    "BatchJob",
    "BatchRequest",
    "BatchResult",
    "BatchStatus",
    "ProgressCallback",
    "ProviderResponse",
]


class BatchStatus(enum.StrEnum):
    """Where a job (or a provider batch) stands.

    * ``PENDING``: created, nothing sent yet (a provider batch still being validated).
    * ``PROCESSING``: requests are being sent or the provider is working on them.
    * ``COMPLETED``: every request ended and every one succeeded.
    * ``FAILED``: every request ended and one or more failed, or the job itself failed
      (for example the provider refused the API key); ``BatchJob.error`` says which.
    * ``CANCELLED``: stopped on request (Cancel button, Ctrl-C, ``cancel()``) or by the budget
      guard; results already made are kept, the rest stay pending and can be resumed.
    * ``EXPIRED``: a provider batch ran out of its completion window; partial results kept.
    """

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        """True for the states a job does not leave on its own."""
        return self not in (BatchStatus.PENDING, BatchStatus.PROCESSING)


def _new_id() -> str:
    return str(uuid.uuid4())


@dataclass(slots=True)
class BatchRequest:
    """One prompt to send.

    Give either ``prompt`` (a user message) or ``messages`` (a full chat, OpenAI-style
    ``[{"role": ..., "content": ...}]``). ``system`` is an optional system prompt; ``params``
    go to the provider as they are (``temperature``, ``max_tokens``, ``response_format``...).

    Raises:
        ValueError: (an :class:`~brainbatch.errors.InputError`) naming the field, when both
            prompt and messages are empty, or the model is empty.
    """

    prompt: str = ""
    model: str = ""
    metadata: dict[str, Any] | None = None
    custom_id: str | None = None
    id: str = field(default_factory=_new_id)
    system: str | None = None
    messages: list[dict[str, Any]] | None = None
    params: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise InputError("BatchRequest.model must be a non-empty string")
        if self.messages:
            if not isinstance(self.messages, list) or not all(
                isinstance(m, Mapping) and "role" in m for m in self.messages
            ):
                raise InputError(
                    "BatchRequest.messages must be a list of {'role': ..., 'content': ...} dicts"
                )
        elif not isinstance(self.prompt, str) or not self.prompt.strip():
            raise InputError("BatchRequest.prompt must be a non-empty string (or give messages)")
        if self.custom_id is not None and not isinstance(self.custom_id, str):
            raise InputError("BatchRequest.custom_id must be a string")

    @property
    def key(self) -> str:
        """The id results are joined on: ``custom_id`` when given, else ``id``."""
        return self.custom_id if self.custom_id is not None else self.id

    def chat_messages(self) -> list[dict[str, Any]]:
        """The conversation without the system prompt (OpenAI/Anthropic ``messages``)."""
        if self.messages:
            return list(self.messages)
        return [{"role": "user", "content": self.prompt}]


@dataclass(slots=True)
class ProviderResponse:
    """What a provider measured for one request. Executors turn it into a :class:`BatchResult`.

    A ``process_fn`` may return a plain ``str`` or ``dict`` instead; then only the answer and
    the latency measured by the executor are known.
    """

    result: str | dict[str, Any]
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    finish_reason: str | None = None
    provider_request_id: str | None = None
    latency_ms: float | None = None
    attempts: int = 1
    cost_usd: float | None = None
    price_source: str | None = None
    cached: bool = False
    simulated: bool = False


@dataclass(slots=True)
class BatchResult:
    """The outcome of one request.

    ``status`` is ``"success"`` or ``"error"``. ``result`` is the answer text, or a dict for
    structured (JSON) output; for errors it is the error message (as the seed API has it:
    ``print(f"Error: {result.result}")``), and ``error`` / ``error_type`` say the same in
    their own fields.
    ``cost_usd`` is what the request cost (NaN when the model has no known price);
    ``price_source`` says which price was used. ``cached`` marks answers served from the
    response cache (their original cost is kept in ``cost_usd``; nothing was paid again).
    """

    request_id: str
    custom_id: str | None
    status: str
    result: str | dict[str, Any] | None = None
    processing_time_ms: float | None = None
    metadata: dict[str, Any] | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    cost_usd: float | None = None
    attempts: int = 1
    error: str | None = None
    error_type: str | None = None
    finish_reason: str | None = None
    model: str | None = None
    provider_request_id: str | None = None
    price_source: str | None = None
    cached: bool = False
    completed_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.status != "success" and self.result is None and self.error is not None:
            self.result = self.error

    @property
    def ok(self) -> bool:
        """True for a successful result."""
        return self.status == "success"

    @property
    def paid_usd(self) -> float | None:
        """What this row cost in this run: 0 for cached answers, else ``cost_usd``."""
        return 0.0 if self.cached else self.cost_usd


ProgressCallback = Callable[["BatchJob"], Any]


@dataclass(eq=False)
class BatchJob:
    """A set of requests run together, and their results as they arrive.

    Use :meth:`add_result` (not ``results.append``) so the indexes and counters stay right.
    ``progress_callback(job)`` is called by executors as results arrive and once at the end.
    """

    requests: list[BatchRequest]
    job_id: str = field(default_factory=_new_id)
    status: BatchStatus = BatchStatus.PENDING
    results: list[BatchResult] = field(default_factory=list)
    progress_callback: ProgressCallback | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_at: datetime | None = None
    completed_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def __post_init__(self) -> None:
        self.requests = list(self.requests)
        self._request_index: dict[str, int] = {}
        self._key_index: dict[str, int] = {}
        for i, req in enumerate(self.requests):
            if req.id in self._request_index:
                raise InputError(f"request #{i}: duplicate request id {req.id!r}")
            self._request_index[req.id] = i
            if req.custom_id is not None:
                if req.custom_id in self._key_index:
                    first = self._key_index[req.custom_id]
                    raise InputError(
                        f"duplicate custom_id {req.custom_id!r} at requests #{first} and #{i}"
                    )
                self._key_index[req.custom_id] = i
        self._result_index: dict[str, BatchResult] = {}
        self.n_success = 0
        self.n_error = 0
        self.n_cached = 0
        self.cost_usd = 0.0
        self.paid_usd = 0.0
        self.input_tokens = 0
        self.output_tokens = 0
        self._cancel = threading.Event()
        self._running = threading.Event()  # cleared while paused
        self._running.set()
        self._listeners: list[Callable[[BatchResult], None]] = []
        initial, self.results = self.results, []
        for r in initial:
            self.add_result(r)

    # -- results -----------------------------------------------------------------------------

    def add_result(self, result: BatchResult) -> bool:
        """Record a result; returns False (and changes nothing) for an unknown or repeated id."""
        rid = result.request_id
        if rid not in self._request_index or rid in self._result_index:
            return False
        self._result_index[rid] = result
        self.results.append(result)
        if result.status == "success":
            self.n_success += 1
        else:
            self.n_error += 1
        if result.cached:
            self.n_cached += 1
        cost = result.cost_usd
        if cost is not None and cost == cost:  # skip None and NaN
            self.cost_usd += cost
            if not result.cached:
                self.paid_usd += cost
        self.input_tokens += result.input_tokens or 0
        self.output_tokens += result.output_tokens or 0
        for listener in self._listeners:
            listener(result)
        return True

    def discard_results(self, request_ids: Iterable[str]) -> list[BatchResult]:
        """Remove the results of these requests (by id) so they are pending again; returns
        the removed results. Counters and cost are updated; unknown ids are ignored."""
        drop = {rid for rid in request_ids if rid in self._result_index}
        if not drop:
            return []
        removed = [self._result_index.pop(rid) for rid in drop]
        self.results = [r for r in self.results if r.request_id not in drop]
        for result in removed:
            if result.status == "success":
                self.n_success -= 1
            else:
                self.n_error -= 1
            if result.cached:
                self.n_cached -= 1
            cost = result.cost_usd
            if cost is not None and cost == cost:
                self.cost_usd -= cost
                if not result.cached:
                    self.paid_usd -= cost
            self.input_tokens -= result.input_tokens or 0
            self.output_tokens -= result.output_tokens or 0
        return removed

    def add_listener(self, fn: Callable[[BatchResult], None]) -> None:
        """Call ``fn(result)`` for every result recorded from now on (the journal uses this)."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[BatchResult], None]) -> None:
        """Stop calling ``fn``; no error if it was not registered."""
        if fn in self._listeners:
            self._listeners.remove(fn)

    def get_result(self, request_id: str) -> BatchResult | None:
        """The result for a request id (or a ``custom_id``), or None. O(1)."""
        found = self._result_index.get(request_id)
        if found is None and request_id in self._key_index:
            found = self._result_index.get(self.requests[self._key_index[request_id]].id)
        return found

    def get_request(self, request_id: str) -> BatchRequest | None:
        """The request with this id (or ``custom_id``), or None. O(1)."""
        i = self._request_index.get(request_id)
        if i is None:
            i = self._key_index.get(request_id)
        return None if i is None else self.requests[i]

    def request_positions(self) -> Mapping[str, int]:
        """Request id -> the request's position in :attr:`requests` (read-only view of the
        job's own index: no copy, whatever the job's size)."""
        return self._request_index

    def has_result(self, request_id: str) -> bool:
        """True once the request (by id) has a result. O(1)."""
        return request_id in self._result_index

    def get_results_by_status(self, status: str) -> list[BatchResult]:
        """Results whose ``status`` is ``"success"`` or ``"error"``."""
        return [r for r in self.results if r.status == status]

    def get_successful_results(self) -> list[BatchResult]:
        """Every successful result, in arrival order."""
        return self.get_results_by_status("success")

    def get_failed_results(self) -> list[BatchResult]:
        """Every error result, in arrival order."""
        return self.get_results_by_status("error")

    # -- progress ----------------------------------------------------------------------------

    @property
    def total(self) -> int:
        """Number of requests in the job."""
        return len(self.requests)

    @property
    def done(self) -> int:
        """Number of requests that have a result."""
        return len(self._result_index)

    @property
    def progress(self) -> float:
        """Fraction of requests with a result, 0.0 to 1.0 (1.0 for an empty job)."""
        return self.done / self.total if self.requests else 1.0

    @property
    def progress_percent(self) -> float:
        """:attr:`progress` as a percentage."""
        return self.progress * 100.0

    @property
    def is_complete(self) -> bool:
        """True once the job reached a terminal status (completed, failed, cancelled, expired)."""
        return self.status.is_terminal

    @property
    def pending_requests(self) -> int:
        """How many requests have no result yet (what a resume would send). O(1)."""
        return len(self.requests) - len(self._result_index)

    def get_pending_requests(self) -> list[BatchRequest]:
        """The requests that have no result yet, in order (see also :meth:`iter_pending`)."""
        return list(self.iter_pending())

    def iter_pending(self) -> Iterator[BatchRequest]:
        """Lazily yield requests without a result; cheap for very large jobs."""
        index = self._result_index
        return (r for r in self.requests if r.id not in index)

    @property
    def elapsed_s(self) -> float:
        """Seconds since the job started (to its end once finished); 0 before it starts."""
        if self.started_at is None:
            return 0.0
        end = self.completed_at or datetime.now(UTC)
        return max(0.0, (end - self.started_at).total_seconds())

    # -- cancellation ------------------------------------------------------------------------

    def request_cancel(self) -> None:
        """Ask the running executor to stop starting requests. Safe from any thread."""
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        """True once :meth:`request_cancel` was called."""
        return self._cancel.is_set()

    # -- pause -------------------------------------------------------------------------------

    def request_pause(self) -> None:
        """Ask the running executor to start no new request until :meth:`request_resume`;
        requests in flight finish. Safe from any thread. Cancel still works while paused."""
        self._running.clear()

    def request_resume(self) -> None:
        """Let a paused job start requests again. Safe from any thread."""
        self._running.set()

    @property
    def paused(self) -> bool:
        """True between :meth:`request_pause` and :meth:`request_resume`."""
        return not self._running.is_set()

    def notify_progress(self) -> Any:
        """Call the progress callback, if any; returns what it returned (maybe awaitable)."""
        if self.progress_callback is None:
            return None
        out = self.progress_callback(self)
        return out if inspect.isawaitable(out) else None

    def __repr__(self) -> str:
        return (
            f"BatchJob(job_id={self.job_id!r}, status={self.status.value}, "
            f"done={self.done}/{self.total}, ok={self.n_success}, errors={self.n_error})"
        )

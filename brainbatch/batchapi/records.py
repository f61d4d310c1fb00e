"""Typed records of the provider batches a job submitted: ``job.metadata["provider_batches"]``.

In memory the list holds :class:`ProviderBatch` objects; at rest (the journal, the store,
any JSON) each is its :meth:`ProviderBatch.to_dict`, and :meth:`ProviderBatch.from_dict`
reads it back, including the plain dicts earlier versions stored (same key names, no
``part``/``model``/intent state): a job journaled by them still resumes. Keys it does not
know are kept in ``extra`` and written back as they were.

A record's life (``state``):

* ``"submitting"`` (:data:`SUBMITTING`): the *intent*, journaled before the first call to
  the provider; it names the job's rows and the part label the batch carries in its
  metadata. A run that died before the provider's answer arrived leaves it without a
  ``batch_id``; the next run looks for the job's own batch at the provider and re-attaches
  instead of submitting (and paying for) the same rows again.
* a :class:`~brainbatch.models.BatchStatus` value once the provider answered
  (``"pending"`` while validating, ``"processing"``, ``"completed"``, ``"failed"``,
  ``"expired"``, ``"cancelled"``); ``status`` is the provider's own word.
* ``"not_submitted"`` (:data:`NOT_SUBMITTED`): the provider refused the batch at creation,
  or a later run found no batch for the intent: nothing ran, its rows are pending again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = [
    "NOT_SUBMITTED",
    "SUBMITTING",
    "TOKEN_LIMIT_EXCEEDED",
    "ProviderBatch",
    "RequestCounts",
]

SUBMITTING = "submitting"
"""State of an intent: journaled before submitting, the provider's answer not seen yet."""
NOT_SUBMITTED = "not_submitted"
"""State of an intent the provider never turned into a batch (refused, or not found)."""
TOKEN_LIMIT_EXCEEDED = "token_limit_exceeded"
"""OpenAI's validation error code for a batch over the model's enqueued-token limit."""


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value))
        except ValueError:
            return default
    return default


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


@dataclass(slots=True)
class RequestCounts:
    """A provider batch's request counts, provider-neutral.

    ``completed`` / ``failed``: OpenAI's counts (they move while the batch runs: ``live``);
    Anthropic's ``succeeded`` and ``errored`` + ``expired`` (they only move when the batch
    ends), with ``canceled`` and ``processing``.
    """

    total: int = 0
    completed: int = 0
    failed: int = 0
    canceled: int = 0
    processing: int = 0
    live: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "completed": self.completed,
            "failed": self.failed,
            "canceled": self.canceled,
            "processing": self.processing,
            "live": self.live,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RequestCounts:
        d = data if isinstance(data, Mapping) else {}
        return cls(
            total=_int(d.get("total")),
            completed=_int(d.get("completed")),
            failed=_int(d.get("failed")),
            canceled=_int(d.get("canceled")),
            processing=_int(d.get("processing")),
            live=bool(d.get("live")),
        )


@dataclass(slots=True)
class ProviderBatch:
    """One provider batch of a job (or the intent to submit one).

    Identity: ``provider`` (``"openai"``, ``"anthropic"``), ``batch_id`` (None until the
    provider answered), ``part`` (the label sent in the batch's metadata, unique in the job:
    ``"3/5"``). Contents: ``rows`` (the job's request indexes as ``[start, stop)`` ranges),
    ``n_requests``, ``model`` (the one model of every request; None when they mix models),
    ``n_tokens`` (estimated enqueued tokens per model, when a limit is set).
    Progress: ``state``/``status`` (see the module), ``counts``, ``ended`` (the provider is
    done with it), ``collected`` (its results are recorded in the job, or there is nothing
    to collect). Files: ``input_file_id``, ``output_file_id``, ``error_file_id`` (OpenAI),
    ``results_url`` (Anthropic). Times (Unix seconds): ``submitted_at`` (the intent, this
    machine's clock), ``created_at``, ``expires_at``, ``ended_at`` (the provider's).
    ``errors`` are the provider's validation errors verbatim, ``error_codes`` their codes;
    ``resubmitted`` marks a batch refused for the enqueued-token limit whose rows went into
    later batches; ``attempt`` counts how many such refusals its rows had before.
    """

    provider: str
    part: str = ""
    state: str = SUBMITTING
    batch_id: str | None = None
    status: str | None = None
    model: str | None = None
    endpoint: str | None = None
    input_file_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    results_url: str | None = None
    n_requests: int = 0
    n_tokens: dict[str, int] = field(default_factory=dict)
    rows: list[list[int]] = field(default_factory=list)
    counts: RequestCounts = field(default_factory=RequestCounts)
    submitted_at: float | None = None
    created_at: float | None = None
    expires_at: float | None = None
    ended_at: float | None = None
    ended: bool = False
    collected: bool = False
    collected_results: int | None = None
    errors: list[str] = field(default_factory=list)
    error_codes: list[str] = field(default_factory=list)
    cancel_sent: bool = False
    cancel_error: str | None = None
    resubmitted: bool = False
    attempt: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    # -- derived -------------------------------------------------------------------------------

    @property
    def is_intent(self) -> bool:
        """Journaled before submitting and the provider's answer never seen."""
        return self.state == SUBMITTING and self.batch_id is None

    @property
    def is_open(self) -> bool:
        """Counts against the provider's queue: submitting, or accepted and not ended."""
        return self.state != NOT_SUBMITTED and not self.ended and not self.collected

    @property
    def token_limited(self) -> bool:
        """Failed validation for the enqueued-token limit (nothing of it ran)."""
        return self.status == "failed" and TOKEN_LIMIT_EXCEEDED in self.error_codes

    def row_numbers(self) -> Iterator[int]:
        """The job's request indexes in this batch."""
        for start, stop in self.rows:
            yield from range(start, stop)

    @property
    def label(self) -> str:
        """How messages name it: its batch id, else its part."""
        return self.batch_id or f"part {self.part}"

    # -- at rest -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (what the journal and the store keep)."""
        out: dict[str, Any] = dict(self.extra)
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if isinstance(value, RequestCounts):
                value = value.to_dict()
            elif isinstance(value, list):
                value = [list(v) if isinstance(v, list | tuple) else v for v in value]
            elif isinstance(value, dict):
                value = dict(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | ProviderBatch) -> ProviderBatch:
        """Read a stored record back, this version's or an earlier one's.

        Earlier versions stored the same keys without ``part``, ``model``, ``n_tokens``,
        ``error_codes`` or an intent state; a record with a ``batch_id`` and no ``state`` was
        accepted by the provider. The store's ``id`` / ``provider_batch_id`` spellings of the
        batch id are read too. Unknown keys are kept in ``extra``.
        """
        if isinstance(data, ProviderBatch):
            return data
        d = dict(data)
        known = {f.name for f in fields(cls)}
        batch_id = _str(d.get("batch_id") or d.get("provider_batch_id"))
        extra = {k: v for k, v in d.items() if k not in known}
        if batch_id is None and d.get("id"):
            batch_id = _str(d.get("id"))
            extra.pop("id", None)
        state = _str(d.get("state"))
        if state is None:
            state = SUBMITTING if batch_id is None else "processing"
        errors = [str(e) for e in d.get("errors") or [] if e is not None]
        codes = d.get("error_codes")
        if isinstance(codes, list):
            error_codes = [str(c) for c in codes]
        else:  # earlier versions: "code: message (line 3)" strings only
            error_codes = [e.split(":", 1)[0].strip() for e in errors if ":" in e]
        rows = []
        for r in d.get("rows") or []:
            if isinstance(r, list | tuple) and len(r) == 2:
                rows.append([_int(r[0]), _int(r[1])])
        tokens = d.get("n_tokens")
        n_tokens = (
            {str(k): _int(v) for k, v in tokens.items()} if isinstance(tokens, Mapping) else {}
        )
        collected_results = d.get("collected_results")
        return cls(
            provider=str(d.get("provider") or ""),
            part=str(d.get("part") or ""),
            state=state,
            batch_id=batch_id,
            status=_str(d.get("status")),
            model=_str(d.get("model")),
            endpoint=_str(d.get("endpoint")),
            input_file_id=_str(d.get("input_file_id")),
            output_file_id=_str(d.get("output_file_id")),
            error_file_id=_str(d.get("error_file_id")),
            results_url=_str(d.get("results_url")),
            n_requests=_int(d.get("n_requests")),
            n_tokens=n_tokens,
            rows=rows,
            counts=RequestCounts.from_dict(d.get("counts")),
            submitted_at=_float(d.get("submitted_at")),
            created_at=_float(d.get("created_at")),
            expires_at=_float(d.get("expires_at")),
            ended_at=_float(d.get("ended_at")),
            ended=bool(d.get("ended")),
            collected=bool(d.get("collected")),
            collected_results=None if collected_results is None else _int(collected_results),
            errors=errors,
            error_codes=error_codes,
            cancel_sent=bool(d.get("cancel_sent")),
            cancel_error=_str(d.get("cancel_error")),
            resubmitted=bool(d.get("resubmitted")),
            attempt=_int(d.get("attempt")),
            extra=extra,
        )

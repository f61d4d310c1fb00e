"""The OpenAI Batch API (and compatible servers: Azure OpenAI, Together, vLLM...).

Lifecycle: upload the JSONL input to ``/v1/files`` (``purpose=batch``), create the batch at
``/v1/batches``, poll ``GET /v1/batches/{id}`` (``request_counts`` move while
``in_progress``), then download ``output_file_id`` and ``error_file_id``; either may be null,
and expired or cancelled batches still carry partial results in them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from ..errors import ConnectionFailed
from ..models import BatchRequest, BatchStatus
from .base import BatchBackend, Outcome, WireProvider, to_epoch
from .jsonl import OPENAI_LIMITS, BatchLimits, Chunk, openai_line
from .records import ProviderBatch, RequestCounts

__all__ = ["CLOCK_SKEW_S", "OPENAI_STATES", "OpenAIBatchBackend", "openai_outcome"]

OPENAI_STATES: dict[str, BatchStatus] = {
    "validating": BatchStatus.PENDING,
    "in_progress": BatchStatus.PROCESSING,
    "finalizing": BatchStatus.PROCESSING,
    "completed": BatchStatus.COMPLETED,
    "failed": BatchStatus.FAILED,
    "expired": BatchStatus.EXPIRED,
    "cancelling": BatchStatus.CANCELLED,
    "cancelled": BatchStatus.CANCELLED,
}
"""Provider batch status -> :class:`BatchStatus` of that batch."""

_ENDED = {"completed", "failed", "expired", "cancelled"}

CLOCK_SKEW_S = 600.0
"""How far the provider's clock may be behind this machine's when :meth:`recover
<OpenAIBatchBackend.recover>` decides a batch was created before the intent was written."""


def openai_outcome(line: dict[str, Any]) -> Outcome:
    """Map one output/error file line to an :class:`Outcome`."""
    cid = str(line.get("custom_id"))
    resp = line.get("response")
    err = line.get("error")
    if isinstance(resp, dict) and resp.get("status_code") == 200:
        body = resp.get("body")
        if isinstance(body, dict):
            return Outcome(cid, "success", body)
    if isinstance(err, dict) and (err.get("code") or err.get("message")):
        code = str(err.get("code") or "error")
        msg = str(err.get("message") or code)
        if code == "batch_expired":
            return Outcome(cid, "expired", error=msg, error_type="expired")
        if code == "batch_cancelled":
            return Outcome(cid, "not_run", error=msg, error_type="cancelled")
        return Outcome(cid, "error", error=msg, error_type=code)
    if isinstance(resp, dict):
        status = resp.get("status_code")
        body = resp.get("body")
        detail = body.get("error") if isinstance(body, dict) else None
        if isinstance(detail, dict):
            kind = str(detail.get("type") or detail.get("code") or f"http_{status}")
            msg = str(detail.get("message") or kind)
        else:
            kind, msg = f"http_{status}", str(body)[:500]
        return Outcome(cid, "error", error=f"HTTP {status}: {msg}", error_type=kind)
    return Outcome(
        cid, "error", error="the line has neither a response nor an error", error_type="malformed"
    )


class OpenAIBatchBackend(BatchBackend):
    """OpenAI ``/v1/files`` + ``/v1/batches``. ``provider.base_url`` ends with ``/v1``.

    One model per input file (OpenAI refuses a file that mixes models), so the executor
    splits a job by model (:attr:`one_model_per_batch`). Each batch's metadata names the job
    (``brainbatch_job_id``) and its part (``brainbatch_part``): :meth:`recover` finds it by
    them in the batch list.
    """

    name = "openai"
    default_limits = OPENAI_LIMITS
    endpoint = "/v1/chat/completions"
    """The batch's ``endpoint`` and every line's ``url``: the provider's ``batch_endpoint``
    when it has one (``"/v1/embeddings"`` for ``brainbatch.embeddings``' provider)."""
    one_model_per_batch = True
    file_purpose = "batch"
    """The ``purpose`` of the input file upload (``"batch-api"`` at Together: see
    :mod:`brainbatch.batchapi.hosts`)."""

    def __init__(
        self, provider: WireProvider, limits: BatchLimits | None = None, **kwargs: Any
    ) -> None:
        super().__init__(provider, limits, **kwargs)
        own = getattr(provider, "batch_endpoint", None)
        if isinstance(own, str) and own:
            self.endpoint = own

    def encode(self, custom_id: str, request: BatchRequest) -> bytes:
        return openai_line(custom_id, self.provider.build_body(request), self.endpoint)

    async def submit(
        self, record: ProviderBatch, chunk: Chunk, *, job_id: str, completion_window: str
    ) -> None:
        name = f"brainbatch-{job_id}-{record.part.replace('/', 'of')}.jsonl"
        file_obj = await self.call_json(
            "POST",
            "/files",
            what="upload of the batch input file",
            idempotent=False,
            files={"file": (name, chunk.jsonl(), "application/jsonl")},
            data={"purpose": self.file_purpose},
        )
        record.input_file_id = str(file_obj["id"])
        batch = await self.call_json(
            "POST",
            "/batches",
            what="creation of the batch",
            idempotent=False,
            json={
                "input_file_id": record.input_file_id,
                "endpoint": self.endpoint,
                "completion_window": completion_window,
                "metadata": {"brainbatch_job_id": job_id[:512], "brainbatch_part": record.part},
            },
        )
        record.batch_id = str(batch["id"])
        record.endpoint = self.endpoint
        self._update(record, batch)

    async def refresh(self, record: ProviderBatch) -> None:
        batch = await self.call_json(
            "GET", f"/batches/{record.batch_id}", what=f"status of batch {record.batch_id}"
        )
        self._update(record, batch)

    async def cancel(self, record: ProviderBatch) -> None:
        batch = await self.call_json(
            "POST",
            f"/batches/{record.batch_id}/cancel",
            what=f"cancel of batch {record.batch_id}",
        )
        self._update(record, batch)

    async def recover(self, intent: ProviderBatch, *, job_id: str, known_ids: set[str]) -> bool:
        """Page through ``GET /batches`` (newest first, 100 a page, ``after``) for the batch
        whose metadata names this job and ``intent.part``; stops at batches created well
        before the intent was written."""
        since = None if intent.submitted_at is None else intent.submitted_at - CLOCK_SKEW_S
        params: dict[str, Any] = {"limit": 100}
        while True:
            page = await self.call_json("GET", "/batches", what="list of batches", params=params)
            data = [b for b in page.get("data") or [] if isinstance(b, dict)]
            for batch in data:
                meta = batch.get("metadata")
                if (
                    isinstance(meta, dict)
                    and meta.get("brainbatch_job_id") == job_id[:512]
                    and meta.get("brainbatch_part") == intent.part
                    and batch.get("id")
                    and str(batch["id"]) not in known_ids
                ):
                    intent.batch_id = str(batch["id"])
                    intent.input_file_id = _opt_str(batch.get("input_file_id"))
                    intent.endpoint = _opt_str(batch.get("endpoint")) or self.endpoint
                    self._update(intent, batch)
                    return True
            if not data or not page.get("has_more"):
                return False
            first, last = to_epoch(data[0].get("created_at")), to_epoch(data[-1].get("created_at"))
            if (
                since is not None
                and first is not None
                and last is not None
                and first >= last  # newest first...
                and last < since  # ...and already older than the intent
            ):
                return False
            params = {"limit": 100, "after": page.get("last_id") or data[-1]["id"]}

    async def outcomes(self, record: ProviderBatch) -> AsyncIterator[Outcome]:
        for key, file_id in (
            ("output_file_id", record.output_file_id),
            ("error_file_id", record.error_file_id),
        ):
            if not file_id:
                continue
            n = 0
            async for raw in self.stream_lines(
                f"/files/{file_id}/content", what=f"download of {key} {file_id}"
            ):
                n += 1
                try:
                    line = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    raise ConnectionFailed(f"{key} {file_id} line {n} is not JSON") from None
                if isinstance(line, dict):
                    yield openai_outcome(line)

    def _update(self, record: ProviderBatch, batch: dict[str, Any]) -> None:
        status = str(batch.get("status"))
        record.status = status
        record.state = OPENAI_STATES.get(status, BatchStatus.PROCESSING).value
        record.ended = status in _ENDED
        record.output_file_id = _opt_str(batch.get("output_file_id"))
        record.error_file_id = _opt_str(batch.get("error_file_id"))
        counts = batch.get("request_counts") or {}
        record.counts = RequestCounts(
            total=int(counts.get("total") or record.n_requests or 0),
            completed=int(counts.get("completed") or 0),
            failed=int(counts.get("failed") or 0),
            live=True,
        )
        record.created_at = to_epoch(batch.get("created_at"))
        record.expires_at = to_epoch(batch.get("expires_at"))
        record.ended_at = to_epoch(
            batch.get("completed_at")
            or batch.get("failed_at")
            or batch.get("expired_at")
            or batch.get("cancelled_at")
        )
        errors = (batch.get("errors") or {}).get("data") or []
        errors = [e for e in errors if isinstance(e, dict)]
        record.errors = [_format_error(e) for e in errors]
        record.error_codes = [str(e.get("code") or "error") for e in errors]


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _format_error(err: dict[str, Any]) -> str:
    """A validation error as the provider wrote it, with its line and parameter."""
    text = f"{err.get('code') or 'error'}: {err.get('message') or ''}".rstrip()
    where = []
    if err.get("line") is not None:
        where.append(f"line {err['line']}")
    if err.get("param"):
        where.append(f"param {err['param']}")
    return f"{text} ({', '.join(where)})" if where else text

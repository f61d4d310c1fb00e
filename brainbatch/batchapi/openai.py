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
from .base import BatchBackend, Outcome, to_epoch
from .jsonl import OPENAI_LIMITS, Chunk, openai_line

__all__ = ["OPENAI_STATES", "OpenAIBatchBackend", "openai_outcome"]

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
    """OpenAI ``/v1/files`` + ``/v1/batches``. ``provider.base_url`` ends with ``/v1``."""

    name = "openai"
    default_limits = OPENAI_LIMITS
    endpoint = "/v1/chat/completions"

    def encode(self, custom_id: str, request: BatchRequest) -> bytes:
        return openai_line(custom_id, self.provider.build_body(request), self.endpoint)

    async def submit(
        self, chunk: Chunk, *, job_id: str, part: str, completion_window: str
    ) -> dict[str, Any]:
        name = f"brainbatch-{job_id}-{part.replace('/', 'of')}.jsonl"
        file_obj = await self.call_json(
            "POST",
            "/files",
            what="upload of the batch input file",
            idempotent=False,
            files={"file": (name, chunk.jsonl(), "application/jsonl")},
            data={"purpose": "batch"},
        )
        batch = await self.call_json(
            "POST",
            "/batches",
            what="creation of the batch",
            idempotent=False,
            json={
                "input_file_id": file_obj["id"],
                "endpoint": self.endpoint,
                "completion_window": completion_window,
                "metadata": {"brainbatch_job_id": job_id[:512], "brainbatch_part": part},
            },
        )
        entry: dict[str, Any] = {
            "provider": self.name,
            "batch_id": batch["id"],
            "input_file_id": file_obj["id"],
            "n_requests": len(chunk),
            "collected": False,
            "cancel_sent": False,
        }
        self._update(entry, batch)
        return entry

    async def refresh(self, entry: dict[str, Any]) -> None:
        batch = await self.call_json(
            "GET", f"/batches/{entry['batch_id']}", what=f"status of batch {entry['batch_id']}"
        )
        self._update(entry, batch)

    async def cancel(self, entry: dict[str, Any]) -> None:
        batch = await self.call_json(
            "POST",
            f"/batches/{entry['batch_id']}/cancel",
            what=f"cancel of batch {entry['batch_id']}",
        )
        self._update(entry, batch)

    async def outcomes(self, entry: dict[str, Any]) -> AsyncIterator[Outcome]:
        for key in ("output_file_id", "error_file_id"):
            file_id = entry.get(key)
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

    def _update(self, entry: dict[str, Any], batch: dict[str, Any]) -> None:
        status = str(batch.get("status"))
        entry["status"] = status
        entry["state"] = OPENAI_STATES.get(status, BatchStatus.PROCESSING).value
        entry["ended"] = status in _ENDED
        entry["output_file_id"] = batch.get("output_file_id")
        entry["error_file_id"] = batch.get("error_file_id")
        counts = batch.get("request_counts") or {}
        entry["counts"] = {
            "total": int(counts.get("total") or entry.get("n_requests") or 0),
            "completed": int(counts.get("completed") or 0),
            "failed": int(counts.get("failed") or 0),
            "live": True,
        }
        entry["created_at"] = to_epoch(batch.get("created_at"))
        entry["expires_at"] = to_epoch(batch.get("expires_at"))
        entry["ended_at"] = to_epoch(
            batch.get("completed_at")
            or batch.get("failed_at")
            or batch.get("expired_at")
            or batch.get("cancelled_at")
        )
        errors = (batch.get("errors") or {}).get("data") or []
        entry["errors"] = [_format_error(e) for e in errors if isinstance(e, dict)]


def _format_error(err: dict[str, Any]) -> str:
    """A validation error as the provider wrote it, with its line and parameter."""
    text = f"{err.get('code') or 'error'}: {err.get('message') or ''}".rstrip()
    where = []
    if err.get("line") is not None:
        where.append(f"line {err['line']}")
    if err.get("param"):
        where.append(f"param {err['param']}")
    return f"{text} ({', '.join(where)})" if where else text

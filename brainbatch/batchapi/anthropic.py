"""Anthropic Message Batches.

Lifecycle: ``POST /v1/messages/batches`` with the requests inline
(``{"requests": [{"custom_id", "params"}]}``), poll ``GET /v1/messages/batches/{id}`` until
``processing_status`` is ``ended``, then stream the JSONL at ``results_url``. Its
``request_counts`` only move when the whole batch ends, so progress is time against
``expires_at``, not a percentage.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from ..errors import ConnectionFailed
from ..models import BatchRequest, BatchStatus
from .base import BatchBackend, Outcome, to_epoch
from .jsonl import ANTHROPIC_LIMITS, Chunk

__all__ = ["AnthropicBatchBackend", "anthropic_outcome"]

_PATH = "/v1/messages/batches"


def anthropic_outcome(line: dict[str, Any]) -> Outcome:
    """Map one results line to an :class:`Outcome`."""
    cid = str(line.get("custom_id"))
    result = line.get("result") or {}
    kind = result.get("type")
    if kind == "succeeded" and isinstance(result.get("message"), dict):
        return Outcome(cid, "success", result["message"])
    if kind == "canceled":
        return Outcome(cid, "not_run", error="canceled", error_type="cancelled")
    if kind == "expired":
        return Outcome(
            cid,
            "expired",
            error="the batch expired before this request ran",
            error_type="expired",
        )
    err = result.get("error")
    err = err if isinstance(err, dict) else {}
    inner = err["error"] if isinstance(err.get("error"), dict) else err
    etype = str(inner.get("type") or "errored")
    msg = str(inner.get("message") or etype)
    return Outcome(cid, "error", error=msg, error_type=etype)


class AnthropicBatchBackend(BatchBackend):
    """Anthropic ``/v1/messages/batches``. ``provider.base_url`` has no ``/v1``.

    Sends the ``anthropic-version`` header (the provider's ``anthropic_version`` attribute if
    it has one, else the version brainbatch's Anthropic provider speaks).
    """

    name = "anthropic"
    default_limits = ANTHROPIC_LIMITS

    def extra_headers(self) -> dict[str, str]:
        from ..providers.anthropic import ANTHROPIC_VERSION

        return {"anthropic-version": getattr(self.provider, "anthropic_version", ANTHROPIC_VERSION)}

    def encode(self, custom_id: str, request: BatchRequest) -> bytes:
        return orjson.dumps({"custom_id": custom_id, "params": self.provider.build_body(request)})

    async def submit(
        self, chunk: Chunk, *, job_id: str, part: str, completion_window: str
    ) -> dict[str, Any]:
        batch = await self.call_json(
            "POST",
            _PATH,
            what="creation of the message batch",
            idempotent=False,
            content=chunk.json_requests(),
            headers={"content-type": "application/json"},
        )
        entry: dict[str, Any] = {
            "provider": self.name,
            "batch_id": batch["id"],
            "n_requests": len(chunk),
            "collected": False,
            "cancel_sent": False,
            "part": part,
        }
        self._update(entry, batch)
        return entry

    async def refresh(self, entry: dict[str, Any]) -> None:
        batch = await self.call_json(
            "GET", f"{_PATH}/{entry['batch_id']}", what=f"status of batch {entry['batch_id']}"
        )
        self._update(entry, batch)

    async def cancel(self, entry: dict[str, Any]) -> None:
        batch = await self.call_json(
            "POST",
            f"{_PATH}/{entry['batch_id']}/cancel",
            what=f"cancel of batch {entry['batch_id']}",
        )
        self._update(entry, batch)

    async def outcomes(self, entry: dict[str, Any]) -> AsyncIterator[Outcome]:
        url = entry.get("results_url") or f"{_PATH}/{entry['batch_id']}/results"
        n = 0
        async for raw in self.stream_lines(url, what=f"results of batch {entry['batch_id']}"):
            n += 1
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise ConnectionFailed(
                    f"results of batch {entry['batch_id']}: line {n} is not JSON"
                ) from None
            if isinstance(line, dict):
                yield anthropic_outcome(line)

    def _update(self, entry: dict[str, Any], batch: dict[str, Any]) -> None:
        status = str(batch.get("processing_status"))
        counts = batch.get("request_counts") or {}
        entry["status"] = status
        entry["ended"] = status == "ended"
        if status == "in_progress":
            state = BatchStatus.PROCESSING
        elif status == "canceling" or batch.get("cancel_initiated_at"):
            state = BatchStatus.CANCELLED
        elif int(counts.get("expired") or 0):
            state = BatchStatus.EXPIRED
        elif int(counts.get("errored") or 0):
            state = BatchStatus.FAILED
        else:
            state = BatchStatus.COMPLETED
        entry["state"] = state.value
        entry["results_url"] = batch.get("results_url")
        processing = int(counts.get("processing") or 0)
        entry["counts"] = {
            "total": int(entry.get("n_requests") or 0),
            "completed": int(counts.get("succeeded") or 0),
            "failed": int(counts.get("errored") or 0) + int(counts.get("expired") or 0),
            "canceled": int(counts.get("canceled") or 0),
            "processing": processing,
            "live": False,
        }
        entry["created_at"] = to_epoch(batch.get("created_at"))
        entry["expires_at"] = to_epoch(batch.get("expires_at"))
        entry["ended_at"] = to_epoch(batch.get("ended_at"))
        entry["errors"] = []

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

from ..errors import ConnectionFailed, PermanentError
from ..models import BatchRequest, BatchStatus
from .base import BatchBackend, Outcome, to_epoch
from .jsonl import ANTHROPIC_LIMITS, Chunk
from .records import ProviderBatch, RequestCounts

__all__ = ["CLOCK_SKEW_S", "CREATE_WINDOW_S", "AnthropicBatchBackend", "anthropic_outcome"]

_PATH = "/v1/messages/batches"

CLOCK_SKEW_S = 600.0
"""How far the provider's clock may be behind this machine's (see :meth:`recover
<AnthropicBatchBackend.recover>`)."""
CREATE_WINDOW_S = 3600.0
"""The latest a batch may be created after its intent was written and still be its batch."""


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

    A message batch may mix models, so a job is not split by model: fewer batches, fewer
    status checks; the enqueued-token limit, when set, is still counted per model.

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
        self, record: ProviderBatch, chunk: Chunk, *, job_id: str, completion_window: str
    ) -> None:
        batch = await self.call_json(
            "POST",
            _PATH,
            what="creation of the message batch",
            idempotent=False,
            content=chunk.json_requests(),
            headers={"content-type": "application/json"},
        )
        record.batch_id = str(batch["id"])
        self._update(record, batch)

    async def refresh(self, record: ProviderBatch) -> None:
        batch = await self.call_json(
            "GET", f"{_PATH}/{record.batch_id}", what=f"status of batch {record.batch_id}"
        )
        self._update(record, batch)

    async def cancel(self, record: ProviderBatch) -> None:
        batch = await self.call_json(
            "POST",
            f"{_PATH}/{record.batch_id}/cancel",
            what=f"cancel of batch {record.batch_id}",
        )
        self._update(record, batch)

    async def recover(self, intent: ProviderBatch, *, job_id: str, known_ids: set[str]) -> bool:
        """Page through ``GET /v1/messages/batches`` (newest first, 100 a page, ``after_id``)
        for the batch created for ``intent``.

        Message batches carry no metadata, so the batch is recognised by its size (the
        intent's ``n_requests``) and its creation time (from :data:`CLOCK_SKEW_S` before the
        intent was written to :data:`CREATE_WINDOW_S` after), among the batches not in
        ``known_ids``.

        Raises:
            PermanentError: several batches fit: nothing is guessed (or paid again).
        """
        if intent.submitted_at is None:
            return False
        since = intent.submitted_at - CLOCK_SKEW_S
        until = intent.submitted_at + CREATE_WINDOW_S
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 100}
        while True:
            page = await self.call_json("GET", _PATH, what="list of message batches", params=params)
            data = [b for b in page.get("data") or [] if isinstance(b, dict)]
            for batch in data:
                created = to_epoch(batch.get("created_at"))
                if (
                    batch.get("id")
                    and str(batch["id"]) not in known_ids
                    and created is not None
                    and since <= created <= until
                    and _n_requests(batch) == intent.n_requests
                ):
                    found.append(batch)
            if not data or not page.get("has_more"):
                break
            first, last = to_epoch(data[0].get("created_at")), to_epoch(data[-1].get("created_at"))
            if first is not None and last is not None and first >= last and last < since:
                break  # newest first, and already older than the intent
            params = {"limit": 100, "after_id": page.get("last_id") or data[-1]["id"]}
        if len(found) > 1:
            raise PermanentError(
                f"part {intent.part} of this job was being submitted when the last run "
                f"stopped; {len(found)} message batches at the provider fit it "
                f"({', '.join(str(b['id']) for b in found)}): nothing was submitted again. "
                "Check their results (they name the custom_ids) and attach the right one "
                "with BatchAPIExecutor.attach()"
            )
        if not found:
            return False
        intent.batch_id = str(found[0]["id"])
        self._update(intent, found[0])
        return True

    async def outcomes(self, record: ProviderBatch) -> AsyncIterator[Outcome]:
        url = record.results_url or f"{_PATH}/{record.batch_id}/results"
        n = 0
        async for raw in self.stream_lines(url, what=f"results of batch {record.batch_id}"):
            n += 1
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise ConnectionFailed(
                    f"results of batch {record.batch_id}: line {n} is not JSON"
                ) from None
            if isinstance(line, dict):
                yield anthropic_outcome(line)

    def _update(self, record: ProviderBatch, batch: dict[str, Any]) -> None:
        status = str(batch.get("processing_status"))
        counts = batch.get("request_counts") or {}
        record.status = status
        record.ended = status == "ended"
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
        record.state = state.value
        results_url = batch.get("results_url")
        record.results_url = None if results_url is None else str(results_url)
        record.counts = RequestCounts(
            total=record.n_requests or _n_requests(batch),
            completed=int(counts.get("succeeded") or 0),
            failed=int(counts.get("errored") or 0) + int(counts.get("expired") or 0),
            canceled=int(counts.get("canceled") or 0),
            processing=int(counts.get("processing") or 0),
            live=False,
        )
        record.created_at = to_epoch(batch.get("created_at"))
        record.expires_at = to_epoch(batch.get("expires_at"))
        record.ended_at = to_epoch(batch.get("ended_at"))
        record.errors = []
        record.error_codes = []


def _n_requests(batch: dict[str, Any]) -> int:
    """How many requests a message batch holds (its counts add up to it at any time)."""
    counts = batch.get("request_counts") or {}
    return sum(
        int(counts.get(k) or 0)
        for k in ("processing", "succeeded", "errored", "canceled", "expired")
    )

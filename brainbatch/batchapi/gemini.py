"""Gemini Batch Mode (``models/{model}:batchGenerateContent``).

Lifecycle: ``POST /v1beta/models/{model}:batchGenerateContent`` with the requests inline
(``{"batch": {"displayName", "inputConfig": {"requests": {"requests": [{"request",
"metadata": {"key"}}]}}}}``) while the whole request stays under
:data:`INLINE_MAX_BYTES` (Gemini's 20 MB), else with ``inputConfig.fileName`` naming a JSONL
file (one ``{"key", "request"}`` per line) uploaded first through the Files API (resumable
upload to ``/upload/v1beta/files``). The answer is a long-running operation named
``batches/{id}``: poll ``GET /v1beta/batches/{id}`` until its ``metadata.state`` ends, then
read the results, joined on their ``key``: inline (``metadata.output.inlinedResponses``,
fetched again when collecting, never kept in the journal) or a responses file
(``metadata.output.responsesFile``, streamed from ``/v1beta/{file}:download?alt=media``).

States: ``BATCH_STATE_PENDING`` -> pending; ``RUNNING`` -> processing; ``SUCCEEDED`` ->
completed (failed if any row failed); ``FAILED`` -> failed (the operation's error is the
reason); ``CANCELLED`` -> cancelled (what ran is kept, the rest stays pending);
``EXPIRED`` -> expired (Gemini expires a job still pending or running after 48 hours:
:data:`EXPIRY_S`; partial results kept, the rest ``expired``). ``batchStats`` counts move
while the batch runs.

One model per batch (the model is in the URL), so a job with per-row models is split by
model. Gemini batch work is priced at the price data's batch price (50% of real time as the
fallback), through the provider's ``parse_response(batch=True)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import orjson

from ..errors import ConnectionFailed, PermanentError
from ..models import BatchRequest, BatchStatus
from .base import BatchBackend, Outcome
from .jsonl import BatchLimits, Chunk
from .records import ProviderBatch, RequestCounts

__all__ = [
    "EXPIRY_S",
    "GEMINI_LIMITS",
    "GEMINI_STATES",
    "INLINE_MAX_BYTES",
    "GeminiBatchBackend",
    "gemini_outcome",
    "rpc_status_name",
]

INLINE_MAX_BYTES = 20_000_000
"""The largest create request sent with the requests inline (Gemini: 20 MB); larger batches
go through an uploaded JSONL file."""

EXPIRY_S = 48 * 3600.0
"""Gemini expires a batch job still pending or running 48 hours after its creation."""

# Files API uploads up to 2 GB; Gemini documents no per-batch request count, so brainbatch
# keeps each batch to 100,000 requests (its results file stays a manageable download).
GEMINI_LIMITS = BatchLimits(100_000, 2_000_000_000, None, "Gemini")

GEMINI_STATES = {
    "BATCH_STATE_PENDING": BatchStatus.PENDING,
    "BATCH_STATE_RUNNING": BatchStatus.PROCESSING,
    "BATCH_STATE_SUCCEEDED": BatchStatus.COMPLETED,
    "BATCH_STATE_FAILED": BatchStatus.FAILED,
    "BATCH_STATE_CANCELLED": BatchStatus.CANCELLED,
    "BATCH_STATE_EXPIRED": BatchStatus.EXPIRED,
}
_ENDED = frozenset(
    {"BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED"}
)
_RPC_CODES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)
_KEY_PREFIX = b'{"key":'


def rpc_status_name(code: Any) -> str:
    """The ``google.rpc.Code`` name of a numeric status code (``3`` -> ``INVALID_ARGUMENT``)."""
    if isinstance(code, int) and not isinstance(code, bool) and 0 <= code < len(_RPC_CODES):
        return _RPC_CODES[code]
    return "UNKNOWN"


def gemini_outcome(item: dict[str, Any], key: str | None = None) -> Outcome:
    """One inlined response (``{"metadata": {"key"}, "response" | "error"}``) or one line of
    a responses file (``{"key", "response" | "error"}``) as an :class:`Outcome`."""
    if key is None:
        meta = item.get("metadata")
        key = item.get("key") or (meta.get("key") if isinstance(meta, dict) else None)
    cid = str(key)
    response = item.get("response")
    if isinstance(response, dict):
        return Outcome(cid, "success", response)
    err = item.get("error")
    err = err if isinstance(err, dict) else {}
    kind = str(err.get("status") or rpc_status_name(err.get("code")))
    msg = str(err.get("message") or kind)
    if not err:
        kind, msg = "malformed", "the result has neither a response nor an error"
    return Outcome(cid, "error", error=msg, error_type=kind)


def _time(value: Any) -> float | None:
    """Unix seconds of an RFC 3339 time (``2026-12-03T12:00:00.123456Z``)."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # Python before 3.11 parses at most 6 fractional digits; keep them
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _count(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


class GeminiBatchBackend(BatchBackend):
    """Gemini ``batchGenerateContent`` (and the Files API for large batches).
    ``provider.base_url`` is the host root; the provider's ``api_version`` is used (v1beta).

    :attr:`inline_max_bytes` is the largest create request sent inline (lower it to force
    the file path). Each batch's ``displayName`` names the job and its part: :meth:`recover`
    finds a batch by it in the batch list.
    """

    name = "gemini"
    default_limits = GEMINI_LIMITS
    one_model_per_batch = True
    inline_max_bytes: int = INLINE_MAX_BYTES

    @property
    def version(self) -> str:
        return str(getattr(self.provider, "api_version", "v1beta"))

    def _model_path(self, model: str) -> str:
        path = getattr(self.provider, "model_path", None)
        if callable(path):
            return str(path(model, "batchGenerateContent"))
        return f"/{self.version}/models/{model}:batchGenerateContent"

    # -- wire details ---------------------------------------------------------------------

    def encode(self, custom_id: str, request: BatchRequest) -> bytes:
        """One line of the JSONL input file: ``{"key", "request"}`` (inline requests are made
        from it: ``{"metadata": {"key"}, "request"}``)."""
        return (
            _KEY_PREFIX
            + orjson.dumps(custom_id)
            + b',"request":'
            + orjson.dumps(self.provider.build_body(request))
            + b"}"
        )

    @staticmethod
    def _inline(line: bytes, custom_id: str) -> bytes:
        key = orjson.dumps(custom_id)
        rest = line[len(_KEY_PREFIX) + len(key) :]
        return b'{"metadata":{"key":' + key + b"}" + rest

    def display_name(self, job_id: str, part: str) -> str:
        return f"brainbatch-{job_id}-{part.replace('/', 'of')}"[:128]

    def _create_body(self, display: str, inner: bytes) -> bytes:
        return (
            b'{"batch":{"displayName":' + orjson.dumps(display) + b',"inputConfig":' + inner + b"}}"
        )

    async def submit(
        self, record: ProviderBatch, chunk: Chunk, *, job_id: str, completion_window: str
    ) -> None:
        model = chunk.model
        if model is None:  # pragma: no cover - the executor splits by model
            raise PermanentError("a Gemini batch takes one model; split the job by model")
        display = self.display_name(job_id, record.part)
        items = b",".join(
            self._inline(line, cid) for line, cid in zip(chunk.lines, chunk.custom_ids, strict=True)
        )
        body = self._create_body(display, b'{"requests":{"requests":[' + items + b"]}}")
        if len(body) > self.inline_max_bytes:
            file_name = await self._upload(chunk.jsonl(), display)
            record.input_file_id = file_name
            body = self._create_body(display, b'{"fileName":' + orjson.dumps(file_name) + b"}")
        else:
            record.extra["inline"] = True
        op = await self.call_json(
            "POST",
            self._model_path(model),
            what="creation of the batch",
            idempotent=False,
            content=body,
            headers={"content-type": "application/json"},
        )
        record.batch_id = str(op["name"])
        self._update(record, op)

    async def _upload(self, content: bytes, display: str) -> str:
        """Upload a JSONL file with Google's resumable protocol; its name (``files/...``)."""
        start = await self.call(
            "POST",
            f"/upload/{self.version}/files",
            what="start of the batch input file upload",
            idempotent=False,
            content=orjson.dumps(
                {"file": {"displayName": display, "mimeType": "application/jsonl"}}
            ),
            headers={
                "content-type": "application/json",
                "x-goog-upload-protocol": "resumable",
                "x-goog-upload-command": "start",
                "x-goog-upload-header-content-length": str(len(content)),
                "x-goog-upload-header-content-type": "application/jsonl",
            },
        )
        upload_url = start.headers.get("x-goog-upload-url")
        if not upload_url:
            raise PermanentError(
                "start of the batch input file upload: the answer has no x-goog-upload-url"
            )
        done = await self.call_json(
            "POST",
            upload_url,
            what="upload of the batch input file",
            idempotent=False,
            content=content,
            headers={
                "content-type": "application/jsonl",
                "x-goog-upload-command": "upload, finalize",
                "x-goog-upload-offset": "0",
            },
        )
        file_obj = done.get("file")
        if not isinstance(file_obj, dict) or not file_obj.get("name"):
            raise PermanentError("upload of the batch input file: the answer names no file")
        return str(file_obj["name"])

    async def refresh(self, record: ProviderBatch) -> None:
        op = await self.call_json(
            "GET", f"/{self.version}/{record.batch_id}", what=f"status of batch {record.batch_id}"
        )
        self._update(record, op)

    async def cancel(self, record: ProviderBatch) -> None:
        await self.call_json(
            "POST",
            f"/{self.version}/{record.batch_id}:cancel",
            what=f"cancel of batch {record.batch_id}",
        )
        await self.refresh(record)

    async def recover(self, intent: ProviderBatch, *, job_id: str, known_ids: set[str]) -> bool:
        """Page through ``GET /v1beta/batches`` for the batch whose ``displayName`` names this
        job and ``intent.part``."""
        wanted = self.display_name(job_id, intent.part)
        params: dict[str, Any] = {"pageSize": 100}
        while True:
            page = await self.call_json(
                "GET", f"/{self.version}/batches", what="list of batches", params=params
            )
            for op in page.get("operations") or []:
                if not isinstance(op, dict):
                    continue
                meta = op.get("metadata")
                name = op.get("name")
                if (
                    isinstance(meta, dict)
                    and meta.get("displayName") == wanted
                    and name
                    and str(name) not in known_ids
                ):
                    intent.batch_id = str(name)
                    input_config = meta.get("inputConfig")
                    if isinstance(input_config, dict) and input_config.get("fileName"):
                        intent.input_file_id = str(input_config["fileName"])
                    else:
                        intent.extra["inline"] = True
                    self._update(intent, op)
                    return True
            token = page.get("nextPageToken")
            if not token:
                return False
            params = {"pageSize": 100, "pageToken": token}

    async def outcomes(self, record: ProviderBatch) -> AsyncIterator[Outcome]:
        if record.output_file_id:
            n = 0
            async for raw in self.stream_lines(
                f"/{self.version}/{record.output_file_id}:download?alt=media",
                what=f"download of responses file {record.output_file_id}",
            ):
                n += 1
                try:
                    line = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    raise ConnectionFailed(
                        f"responses file {record.output_file_id} line {n} is not JSON"
                    ) from None
                if isinstance(line, dict):
                    yield gemini_outcome(line)
            return
        op = await self.call_json(
            "GET", f"/{self.version}/{record.batch_id}", what=f"results of batch {record.batch_id}"
        )
        output = (op.get("metadata") or {}).get("output") or {}
        inlined = (output.get("inlinedResponses") or {}).get("inlinedResponses") or []
        for item in inlined:
            if isinstance(item, dict):
                yield gemini_outcome(item)

    def _update(self, record: ProviderBatch, op: dict[str, Any]) -> None:
        meta = op.get("metadata") if isinstance(op.get("metadata"), dict) else {}
        assert isinstance(meta, dict)
        state = str(meta.get("state") or "BATCH_STATE_PENDING")
        record.status = state.removeprefix("BATCH_STATE_").lower()
        record.state = GEMINI_STATES.get(state, BatchStatus.PROCESSING).value
        record.ended = state in _ENDED
        output = meta.get("output")
        if isinstance(output, dict) and output.get("responsesFile"):
            record.output_file_id = str(output["responsesFile"])
        stats = meta.get("batchStats") if isinstance(meta.get("batchStats"), dict) else {}
        assert isinstance(stats, dict)
        record.counts = RequestCounts(
            total=_count(stats.get("requestCount")) or record.n_requests,
            completed=_count(stats.get("successfulRequestCount")),
            failed=_count(stats.get("failedRequestCount")),
            processing=_count(stats.get("pendingRequestCount")),
            live=True,
        )
        record.created_at = _time(meta.get("createTime"))
        record.expires_at = None if record.created_at is None else record.created_at + EXPIRY_S
        record.ended_at = _time(meta.get("endTime")) if record.ended else None
        error = op.get("error")
        if state == "BATCH_STATE_FAILED" and isinstance(error, dict):
            kind = str(error.get("status") or rpc_status_name(error.get("code")))
            record.errors = [f"{kind}: {error.get('message') or ''}".rstrip(": ")]
            record.error_codes = [kind]
        else:
            record.errors = []
            record.error_codes = []

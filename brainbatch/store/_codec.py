"""How requests, results and settings become rows: canonical hashes and secret scrubbing."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import operator
import re
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from ..models import BatchRequest, BatchResult, ProviderResponse

__all__ = [
    "body_hash",
    "canonical_json",
    "dumps",
    "insert_cache",
    "insert_results",
    "request_from_row",
    "request_row_body",
    "response_from_json",
    "response_to_json",
    "result_from_row",
    "scrub",
]

REDACTED = "<redacted>"

_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY

# Field names whose values are secrets, whatever they look like.
_SECRET_NAME = re.compile(
    r"api[_-]?key|apikey|secret|passw|authori[sz]ation|credential|cookie|bearer|"
    r"access[_-]?token|refresh[_-]?token|auth[_-]?token|session[_-]?key|private[_-]?key|"
    r"(^|[_-])token$|^key$",
    re.IGNORECASE,
)
# Values that look like a credential wherever they appear (error text, URLs, free metadata).
_SECRET_VALUE = re.compile(
    r"sk-[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9._~+/=\-]{8,}|AIza[0-9A-Za-z_\-]{20,}|"
    r"xai-[A-Za-z0-9]{16,}|(?:(?<=[?&]key=)|(?<=[?&]api_key=)|(?<=[?&]apikey=)|(?<=[?&]token=))"
    r"[^&#\s]+",
    re.IGNORECASE,
)


def dumps(obj: Any) -> str:
    """Compact JSON text (keys sorted) for storing; non-JSON values become strings."""
    return orjson.dumps(obj, option=_OPTS, default=str).decode()


def canonical_json(obj: Any) -> bytes:
    """Canonical JSON bytes: UTF-8, compact, keys sorted at every level."""
    return orjson.dumps(obj, option=_OPTS, default=str)


def body_hash(request: BatchRequest) -> str:
    """sha256 (hex) of the canonical JSON of what is sent: model, system, messages, params.

    A ``prompt`` and the equivalent one-message ``messages`` hash the same; ids, ``custom_id``
    and metadata are not part of it.
    """
    body = {
        "model": request.model,
        "system": request.system,
        "messages": request.chat_messages(),
        "params": request.params or {},
    }
    return hashlib.sha256(canonical_json(body)).hexdigest()


def scrub(obj: Any) -> Any:
    """A copy of ``obj`` with secrets replaced by ``"<redacted>"``.

    Values under key-like names (``api_key``, ``Authorization``, ``x-api-key``, ``token``,
    ``secret``, ``password``...) are dropped whatever they hold; strings that look like a key
    (``sk-...``, ``Bearer ...``, ``?key=...`` in a URL) are masked anywhere.
    """
    if isinstance(obj, Mapping):
        out: dict[Any, Any] = {}
        for k, v in obj.items():
            if isinstance(k, str) and _SECRET_NAME.search(k) and v not in (None, ""):
                out[k] = REDACTED
            else:
                out[k] = scrub(v)
        return out
    if isinstance(obj, list | tuple):
        return [scrub(v) for v in obj]
    if isinstance(obj, str):
        return _SECRET_VALUE.sub(REDACTED, obj) if len(obj) >= 8 else obj
    return obj


def request_row_body(request: BatchRequest) -> str:
    """The JSON that rebuilds ``request`` (secrets scrubbed from params and metadata)."""
    return dumps(
        {
            "prompt": request.prompt,
            "model": request.model,
            "system": request.system,
            "messages": request.messages,
            "params": scrub(request.params) if request.params is not None else None,
            "metadata": scrub(request.metadata) if request.metadata is not None else None,
        }
    )


def request_from_row(request_id: str, custom_id: str | None, body: str) -> BatchRequest:
    """Rebuild a request stored by :func:`request_row_body`."""
    d = orjson.loads(body)
    return BatchRequest(
        prompt=d.get("prompt") or "",
        model=d["model"],
        metadata=d.get("metadata"),
        custom_id=custom_id,
        id=request_id,
        system=d.get("system"),
        messages=d.get("messages"),
        params=d.get("params"),
    )


_RESULT_FIELD_SET = frozenset(f.name for f in dataclasses.fields(BatchResult))
_RESPONSE_FIELDS = tuple(f.name for f in dataclasses.fields(ProviderResponse))


#: The result fields kept in ``results.data`` (a JSON array, in this order; the store's ``meta``
#: table records the order it was written with). status, cached and cost_usd have columns;
#: request_id and custom_id come from the request row; metadata is the request's own.
RESULT_FIELDS = (
    "result",
    "processing_time_ms",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "attempts",
    "error",
    "error_type",
    "finish_reason",
    "model",
    "provider_request_id",
    "price_source",
    "completed_at",
)
_result_row = operator.attrgetter("status", "cached", "cost_usd", *RESULT_FIELDS)
_ERROR_AT = 3 + RESULT_FIELDS.index("error")

_INSERT_RESULTS = (
    "INSERT OR IGNORE INTO results(id, status, cached, cost_usd, data)"
    " SELECT ?1 + (value->>0), value->>1, value->>2, value->>3, value->'$[4]' FROM json_each(?2)"
)
_INSERT_CACHE = (
    "INSERT OR IGNORE INTO cache(key, namespace, body_hash, response, created_at)"
    " SELECT value->>0, value->>1, value->>2, json_remove(value->'$[3]', '$.latency_ms',"
    " '$.cached'), value->>4 FROM json_each(?1)"
)
_FAST = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _result_record(seq: int, result: BatchResult) -> tuple[Any, ...]:
    row = _result_row(result)
    if row[_ERROR_AT]:
        # a failed result's ``result`` repeats its error message: stored once, rebuilt on load
        row = (*row[:3], None, *row[4:_ERROR_AT], scrub(row[_ERROR_AT]), *row[_ERROR_AT + 1 :])
    return (seq, row[0], row[1], row[2], row[3:])


def insert_results(
    conn: sqlite3.Connection,
    job_num: int,
    results: Sequence[tuple[int, BatchResult]],
    one_statement: bool = False,
) -> None:
    """Insert ``(seq, result)`` pairs of one job (the first result per request wins).

    With ``one_statement`` the rows travel as one JSON array that SQLite unpacks
    (``json_each``): one call into SQLite per group instead of one per row. That costs SQLite
    about 1.5 us more per row but matters on the journal thread, where each call gives up
    the GIL and has to take it back from a busy event loop. On the loop itself, plain
    ``executemany`` is cheaper.
    """
    if not results:
        return
    base = int(job_num) << 32  # results.id = (jobs.num << 32) | seq, see _db.RESULT_ID_SHIFT
    records = [_result_record(seq, r) for seq, r in results]
    if one_statement:
        payload = orjson.dumps(records, option=_FAST, default=str).decode()
        conn.execute(_INSERT_RESULTS, (base, payload))
        return
    conn.executemany(
        "INSERT OR IGNORE INTO results(id, status, cached, cost_usd, data) VALUES (?,?,?,?,?)",
        [
            (base + rec[0], *rec[1:4], orjson.dumps(rec[4], option=_FAST, default=str).decode())
            for rec in records
        ],
    )


def result_from_row(
    request: BatchRequest,
    status: str,
    cached: int,
    cost_usd: float | None,
    data: str,
    fields: Sequence[str] = RESULT_FIELDS,
) -> BatchResult:
    """Rebuild a result from its row and its request."""
    values = dict(zip(fields, orjson.loads(data), strict=False))
    kept = {k: v for k, v in values.items() if k in _RESULT_FIELD_SET}
    if cost_usd is None and kept.get("price_source") == "unknown":
        cost_usd = math.nan  # SQLite has no NaN: "no known price" comes back as NaN
    return BatchResult(
        request_id=request.id,
        custom_id=request.custom_id,
        status=status,
        cached=bool(cached),
        cost_usd=cost_usd,
        metadata=request.metadata,
        **kept,
    )


def insert_cache(conn: sqlite3.Connection, entries: Sequence[tuple[Any, ...]]) -> None:
    """Insert cache entries ``(key, namespace, body_hash, ProviderResponse, created_at)``."""
    if entries:
        conn.execute(_INSERT_CACHE, (orjson.dumps(entries, option=_FAST, default=str).decode(),))


def response_to_json(response: ProviderResponse) -> str:
    """A provider response as cache JSON (without the per-call latency and ``cached`` flag)."""
    d = {name: getattr(response, name) for name in _RESPONSE_FIELDS}
    d.pop("cached", None)
    d.pop("latency_ms", None)
    return dumps(d)


def response_from_json(data: str) -> ProviderResponse:
    """Rebuild a cached response, marked ``cached=True``."""
    d = orjson.loads(data)
    kept = {k: v for k, v in d.items() if k in _RESPONSE_FIELDS}
    kept["cached"] = True
    return ProviderResponse(**kept)

"""How requests, results and settings become rows.

What is stored exactly and what is not (the one secret rule is :mod:`brainbatch.secrets`):

* request bodies (prompt, system, messages, ``params``) and request metadata: exactly as given,
  key order included (:func:`request_row_body`): a resumed row sends the bytes an
  uninterrupted run sends. Keys live in headers, never in bodies;
* job metadata: exactly as given; the native batch records in it are text from a provider
  (:func:`redact_record`);
* run settings (a job's spec): without credentials and secret headers (:func:`public_spec`);
* error text from providers: key-like strings masked (:func:`redact_text`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import operator
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from ..errors import InputError
from ..models import BatchJob, BatchRequest, BatchResult, ProviderResponse
from ..secrets import is_credential, public_settings, redact

__all__ = [
    "body_hash",
    "canonical_json",
    "dumps",
    "exact_json",
    "insert_cache",
    "insert_results",
    "public_spec",
    "redact_record",
    "redact_text",
    "request_from_row",
    "request_row_body",
    "response_from_json",
    "response_to_json",
    "result_from_row",
    "seq_index",
]

_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_EXACT = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def dumps(obj: Any) -> str:
    """Compact JSON text (keys sorted) for storing; non-JSON values become strings."""
    return orjson.dumps(obj, option=_OPTS, default=str).decode()


def canonical_json(obj: Any) -> bytes:
    """Canonical JSON bytes: UTF-8, compact, keys sorted at every level.

    Raises:
        InputError: ``obj`` holds an integer beyond 64 bits (JSON APIs cannot carry it).
    """
    try:
        return orjson.dumps(obj, option=_OPTS, default=str)
    except orjson.JSONEncodeError as exc:
        raise InputError(f"cannot be sent or stored exactly: {exc}") from None


def body_hash(request: BatchRequest) -> str:
    """sha256 (hex) of the canonical JSON of what is sent: model, system, messages, params.

    A ``prompt`` and the equivalent one-message ``messages`` hash the same; ids, ``custom_id``
    and metadata are not part of it.
    """
    if not request.messages:
        # the same bytes as the general case below, without building and sorting the dict:
        # keys in sorted order (messages, model, params, system), one user message
        # ({"content", "role"}), compact; about half the cost, and every stored row pays it
        try:
            canonical = b"".join(
                (
                    b'{"messages":[{"content":',
                    orjson.dumps(request.prompt, option=_OPTS, default=str),
                    b',"role":"user"}],"model":',
                    orjson.dumps(request.model, option=_OPTS, default=str),
                    b',"params":',
                    orjson.dumps(request.params or {}, option=_OPTS, default=str),
                    b',"system":',
                    orjson.dumps(request.system, option=_OPTS, default=str),
                    b"}",
                )
            )
        except orjson.JSONEncodeError as exc:
            raise InputError(f"cannot be sent or stored exactly: {exc}") from None
        return hashlib.sha256(canonical).hexdigest()
    body = {
        "model": request.model,
        "system": request.system,
        "messages": request.chat_messages(),
        "params": request.params or {},
    }
    return hashlib.sha256(canonical_json(body)).hexdigest()


def redact_text(text: Any) -> Any:
    """Free text from outside (an error message) with anything key-like masked
    (:func:`brainbatch.secrets.redact`); None and non-text values are returned as they are."""
    return redact(text) if isinstance(text, str) else text


def redact_record(obj: Any) -> Any:
    """A provider's record (a native batch's state, its errors) with credentials dropped by
    name and key-like text masked: it is text from outside, like an error message."""
    if isinstance(obj, Mapping):
        return {
            k: redact_record(v)
            for k, v in obj.items()
            if not (isinstance(k, str) and is_credential(k))
        }
    if isinstance(obj, list | tuple):
        return [redact_record(v) for v in obj]
    return redact_text(obj)


def public_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Run settings as stored: :func:`brainbatch.secrets.public_settings` at every level
    (credentials and secret headers left out, everything else exactly as given)."""
    out = public_settings(spec)
    return {k: public_spec(v) if isinstance(v, Mapping) else v for k, v in out.items()}


def exact_json(obj: Any, what: str = "value") -> str:
    """JSON text of ``obj`` that loads back equal: key order kept, floats shortest-exact,
    text UTF-8 as given (values JSON cannot hold, such as dates, are stored as their text).

    Raises:
        InputError: ``obj`` holds an integer beyond 64 bits, which JSON APIs (and the
            HTTP providers) cannot carry exactly.
    """
    try:
        return orjson.dumps(obj, option=_EXACT, default=str).decode()
    except orjson.JSONEncodeError as exc:
        raise InputError(f"{what} cannot be stored exactly: {exc}") from None


def request_row_body(request: BatchRequest) -> str:
    """The JSON that rebuilds ``request`` exactly as given (prompt, model, system, messages,
    params, metadata): nothing is masked or reordered, so a resume sends the same bytes.
    Fields that are None are left out (:func:`request_from_row` reads them back as None):
    a shorter row for every request of a job.

    Keys belong in headers, never in bodies (see :mod:`brainbatch.secrets`).
    """
    row: dict[str, Any] = {"prompt": request.prompt, "model": request.model}
    if request.system is not None:
        row["system"] = request.system
    if request.messages is not None:
        row["messages"] = request.messages
    if request.params is not None:
        row["params"] = request.params
    if request.metadata is not None:
        row["metadata"] = request.metadata
    return exact_json(row, f"request {request.custom_id or request.id!r}")


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
#: ``error_type`` of failed results whose ``result`` is the (paid) answer, not the error
#: message: an answer that failed its schema, a refusal; stored so a resume can check it again
KEEPS_ANSWER = frozenset({"invalid_output", "refusal"})

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
    if row[_ERROR_AT] and result.error_type not in KEEPS_ANSWER:
        # a failed result's ``result`` repeats its error message: stored once, rebuilt on load
        row = (
            *row[:3],
            None,
            *row[4:_ERROR_AT],
            redact_text(row[_ERROR_AT]),
            *row[_ERROR_AT + 1 :],
        )
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


def seq_index(job: BatchJob) -> Mapping[str, int]:
    """Request id -> position in the job (the ``seq`` its rows are stored under): the job's
    own index, not a copy (a copy costs about 100 bytes per request)."""
    return job.request_positions()

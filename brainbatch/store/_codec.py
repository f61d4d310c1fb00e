"""How requests, results and settings become rows: canonical hashes and secret scrubbing."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping
from typing import Any

import orjson

from ..models import BatchRequest, BatchResult, ProviderResponse

__all__ = [
    "body_hash",
    "canonical_json",
    "dumps",
    "request_from_row",
    "request_row_body",
    "response_from_json",
    "response_to_json",
    "result_from_json",
    "result_to_json",
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


_RESULT_FIELDS = tuple(f.name for f in dataclasses.fields(BatchResult))
_RESPONSE_FIELDS = tuple(f.name for f in dataclasses.fields(ProviderResponse))


def result_to_json(result: BatchResult) -> str:
    """All fields of a result as JSON; error text and metadata scrubbed of secrets."""
    d = {name: getattr(result, name) for name in _RESULT_FIELDS}
    if d["error"]:
        d["error"] = scrub(d["error"])
    if d["metadata"] is not None:
        d["metadata"] = scrub(d["metadata"])
    return dumps(d)


def result_from_json(data: str) -> BatchResult:
    """Rebuild a result; unknown fields (from a newer brainbatch) are ignored."""
    d = orjson.loads(data)
    return BatchResult(**{k: v for k, v in d.items() if k in _RESULT_FIELDS})


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

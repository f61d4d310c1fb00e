"""Simulated native Batch APIs: OpenAI ``/v1/files`` + ``/v1/batches`` and Anthropic
``/v1/messages/batches``, on a compressed clock.

:func:`add_routes` adds them to the simulated server's app (``build_app`` calls it). Their
state lives under the AppKey :data:`SIM_BATCHES` (a :class:`BatchSimState`); change the clock
or the scenario from a test with ``app[SIM_BATCHES].configure(in_progress_s=2, ...)``. The
life of a batch and the scenarios are described in :mod:`brainbatch.sim.batch_state`.
"""

from __future__ import annotations

import time
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import orjson
from aiohttp import web

from .batch_state import (
    SCENARIOS,
    SIM_BATCH_PROFILES,
    BatchSimConfig,
    BatchSimState,
    SimBatch,
    SimFile,
    enqueued_token_error,
    validate_input,
    window_hours,
)
from .common import SIM_STATE, check_auth
from .observe import SIM_OBSERVERS, note
from .state import SimState, body_hash
from .wire import anthropic_error, openai_error

__all__ = [
    "SCENARIOS",
    "SIM_BATCHES",
    "SIM_BATCH_PROFILES",
    "BatchSimConfig",
    "BatchSimState",
    "add_routes",
]

_FILE_MAX_BYTES = 512 * 1024 * 1024  # any upload to the Files API (batch files: 200 MB)
_OPEN = ("validating", "in_progress", "finalizing", "cancelling")  # tokens stay enqueued
_JSON = "application/json"

#: The app's :class:`BatchSimState`.
SIM_BATCHES = web.AppKey("brainbatch_sim_batches", BatchSimState)


# -- helpers -------------------------------------------------------------------------------------


def _sim(request: web.Request) -> SimState:
    return request.app[SIM_STATE]


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(obj), content_type=_JSON)


def _oa_error(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> web.Response:
    return web.Response(
        status=status, body=openai_error(status, message, param, code), content_type=_JSON
    )


def _an_error(status: int, message: str) -> web.Response:
    return web.Response(status=status, body=anthropic_error(status, message), content_type=_JSON)


def _guard(request: web.Request, anthropic: bool, raw: bytes = b"") -> web.Response | None:
    """Log the call; refuse a missing key or (Anthropic) version header."""
    state = _sim(request)
    ok = check_auth(request, state.config, anthropic)
    status = 200
    out: web.Response | None = None
    if not ok:
        status = 401
        out = (
            _an_error(401, "invalid x-api-key")
            if anthropic
            else _oa_error(401, "Incorrect API key provided.", code="invalid_api_key")
        )
    elif anthropic and "anthropic-version" not in request.headers:
        status = 400
        out = _an_error(400, "anthropic-version: header is required")
    state.record(
        time.monotonic(),
        request.path,
        status,
        body_hash(raw),
        None,
        None,
        "auth" if status == 401 else None,
    )
    return out


def _page(
    items: list[dict[str, Any]], request: web.Request, after_key: str
) -> tuple[list[dict[str, Any]], bool] | web.Response:
    try:
        limit = int(request.query.get("limit", "20"))
    except ValueError:
        limit = -1
    if not 1 <= limit <= 1000:
        return _oa_error(400, "limit must be an integer from 1 to 1000", "limit")
    after = request.query.get(after_key)
    if after:
        ids = [i["id"] for i in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    return items[:limit], len(items) > limit


def _find(request: web.Request, kind: str) -> SimBatch | None:
    b = request.app[SIM_BATCHES].batches.get(request.match_info["batch_id"])
    return b if b is not None and b.kind == kind else None


def _base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _guarded_file(request: web.Request) -> SimFile | web.Response:
    """Log the call; the file named in the path, or the response refusing it."""
    if (refused := _guard(request, False)) is not None:
        return refused
    f: SimFile | None = request.app[SIM_BATCHES].files.get(request.match_info["file_id"])
    if f is None:
        return _oa_error(404, f"No such File object: {request.match_info['file_id']}", "id")
    return f


def _guarded_batch(request: web.Request, kind: str) -> SimBatch | web.Response:
    """Log the call; the ``kind`` batch named in the path, or the response refusing it."""
    anthropic = kind == "anthropic"
    if (refused := _guard(request, anthropic)) is not None:
        return refused
    b = _find(request, kind)
    if b is not None:
        return b
    bid = request.match_info["batch_id"]
    if anthropic:
        return _an_error(404, f"message batch {bid} not found")
    return _oa_error(404, f"No batch found with id '{bid}'.")


def _obj(request: web.Request, b: SimBatch, status: str) -> dict[str, Any]:
    """The wire object of ``b`` (OpenAI or Anthropic, by its kind) in ``status``."""
    store = request.app[SIM_BATCHES]
    if b.kind == "anthropic":
        return store.anthropic_obj(b, status, _base(request))
    return store.openai_obj(b, status)


def _advance(request: web.Request, b: SimBatch) -> str:
    """Run ``b``'s requests due by now; its status."""
    return request.app[SIM_BATCHES].advance(b, _sim(request), time.monotonic())


def _objs(request: web.Request, kind: str) -> list[dict[str, Any]]:
    """Every ``kind`` batch, advanced to now, as wire objects, newest first."""
    store = request.app[SIM_BATCHES]
    now = time.monotonic()
    return [
        _obj(request, b, store.advance(b, _sim(request), now))
        for b in reversed(list(store.batches.values()))
        if b.kind == kind
    ]


def _cancel(request: web.Request, b: SimBatch) -> tuple[str, bool]:
    """Advance ``b`` to now and cancel it if it is still running.

    Returns its status and whether it was running (so this call cancelled it).
    """
    store = request.app[SIM_BATCHES]
    now = time.monotonic()
    status = store.advance(b, _sim(request), now)
    if status not in ("validating", "in_progress", "finalizing"):
        return status, False
    b.cancel_mono = now
    return store.advance(b, _sim(request), now), True


# -- OpenAI files ----------------------------------------------------------------------------


def form_parts(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The parts of a ``multipart/form-data`` body: ``{name: (filename, content)}``.

    Parsed from the bytes (the body is read whole before the handler runs, so observers can
    see it). Raises ``ValueError`` for a body that is not multipart/form-data.
    """
    ctype = content_type.partition(";")[0]
    if ctype.strip().lower() != "multipart/form-data":
        raise ValueError("not multipart/form-data")
    msg = Message()
    msg["content-type"] = content_type
    boundary = msg.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise ValueError("no boundary")
    delimiter = b"--" + boundary.encode()
    chunks = raw.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise ValueError("unterminated multipart body")
    parts: dict[str, tuple[str | None, bytes]] = {}
    for chunk in chunks[1:-1]:
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep or not content.endswith(b"\r\n"):
            raise ValueError("malformed part")
        headers = BytesParser(policy=HTTP).parsebytes(head.lstrip(b"\r\n") + b"\r\n\r\n")
        disposition = headers.get("content-disposition")
        if disposition is None:
            raise ValueError("part without content-disposition")
        params = disposition.params
        name = params.get("name")
        if name is None:
            raise ValueError("part without a name")
        parts[name] = (params.get("filename"), content[:-2])
    return parts


async def upload_file(request: web.Request) -> web.Response:
    """``POST /v1/files`` (multipart: ``file``, ``purpose``)."""
    raw = await request.read()
    if (refused := _guard(request, False, raw)) is not None:
        return refused
    store = request.app[SIM_BATCHES]
    try:
        parts = form_parts(request.headers.get("Content-Type", ""), raw)
    except ValueError:
        return _oa_error(
            400, "The request must be multipart/form-data with 'file' and 'purpose'.", "file"
        )
    filename, content = parts.get("file", (None, None))
    filename = filename or "upload.jsonl"
    purpose_part = parts.get("purpose")
    purpose = purpose_part[1].decode(errors="replace") if purpose_part else None
    if content is None:
        return _oa_error(
            400, "Missing required parameter: 'file'.", "file", "missing_required_parameter"
        )
    if purpose not in ("batch", "fine-tune", "assistants", "vision", "user_data", "evals"):
        return _oa_error(
            400, f"Invalid value for 'purpose': {purpose!r}.", "purpose", "invalid_value"
        )
    if len(content) > _FILE_MAX_BYTES:
        return _oa_error(400, "File is too large: files are limited to 512 MB.", "file")
    return _json(store.add_file(_sim(request), filename, purpose, content).obj())


async def get_file(request: web.Request) -> web.Response:
    """``GET /v1/files/{id}``."""
    f = _guarded_file(request)
    if isinstance(f, web.Response):
        return f
    return _json(f.obj())


async def delete_file(request: web.Request) -> web.Response:
    """``DELETE /v1/files/{id}``."""
    if (refused := _guard(request, False)) is not None:
        return refused
    fid = request.match_info["file_id"]
    if request.app[SIM_BATCHES].files.pop(fid, None) is None:
        return _oa_error(404, f"No such File object: {fid}", "id")
    return _json({"id": fid, "object": "file", "deleted": True})


async def file_content(request: web.Request) -> web.Response:
    """``GET /v1/files/{id}/content``."""
    f = _guarded_file(request)
    if isinstance(f, web.Response):
        return f
    note(request, file_purpose=f.purpose)
    return web.Response(body=f.content, content_type="application/octet-stream")


# -- OpenAI batches --------------------------------------------------------------------------


async def create_batch(request: web.Request) -> web.Response:
    """``POST /v1/batches``."""
    raw = await request.read()
    if (refused := _guard(request, False, raw)) is not None:
        return refused
    store = request.app[SIM_BATCHES]
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _oa_error(
            400, "We could not parse the JSON body of your request.", code="invalid_json"
        )
    if not isinstance(body, dict):
        return _oa_error(400, "The request body must be a JSON object.")
    fid = body.get("input_file_id")
    f = store.files.get(fid) if isinstance(fid, str) else None
    if f is None:
        return _oa_error(404, f"No such File object: {fid}", "input_file_id")
    profile = store.profile
    endpoint = body.get("endpoint")
    if endpoint not in profile.endpoints:
        return _oa_error(
            400,
            f"Invalid value for 'endpoint': {endpoint!r}; the simulated "
            f"server supports {list(profile.endpoints)}.",
            "endpoint",
            "invalid_value",
        )
    window = body.get("completion_window")
    hours = window_hours(window)
    if hours is None or not profile.min_window_h <= hours <= profile.max_window_h:
        return _oa_error(
            400,
            f"Invalid value for 'completion_window': {window!r}; supported values are "
            f"{profile.window_text}.",
            "completion_window",
            "invalid_value",
        )
    metadata = body.get("metadata")
    if metadata is not None and (
        not isinstance(metadata, dict)
        or len(metadata) > 16
        or not all(
            isinstance(k, str) and len(k) <= 64 and isinstance(v, str) and len(v) <= 512
            for k, v in metadata.items()
        )
    ):
        return _oa_error(
            400,
            "Invalid 'metadata': at most 16 pairs, keys up to 64 "
            "characters, string values up to 512.",
            "metadata",
            "invalid_value",
        )
    config = store.config
    scenario = (metadata or {}).get("sim_scenario", config.scenario)
    if scenario not in SCENARIOS:
        return _oa_error(
            400, f"metadata.sim_scenario must be one of {SCENARIOS}", "metadata.sim_scenario"
        )
    now = time.monotonic()
    parsed = validate_input(f.content, endpoint, store.limits())
    errors = parsed.errors
    limit = _sim(request).config.token_limit(parsed.model) if parsed.model else None
    if not errors and limit is not None:
        queued = sum(
            b.prompt_tokens
            for b in store.batches.values()
            if b.kind == "openai" and b.model == parsed.model and store.phase(b, now)[0] in _OPEN
        )
        if queued + parsed.prompt_tokens > limit:
            errors = [enqueued_token_error(parsed.model or "", limit)]
    if scenario == "validation_failure" and not errors:
        errors = [enqueued_token_error("gpt-4o-mini", 90_000)]
    bid = _sim(request).new_id("batch_")
    b = SimBatch(
        bid,
        "openai",
        parsed.requests,
        config,
        scenario,
        now,
        time.time(),
        input_file_id=f.id,
        endpoint=endpoint,
        completion_window=str(window),
        metadata=metadata,
        errors=errors,
        order=store.result_order(len(parsed.requests), _sim(request).config.seed),
        model=parsed.model,
        prompt_tokens=0 if errors else parsed.prompt_tokens,
    )
    store.batches[bid] = b
    return _json(_obj(request, b, _advance(request, b)))


async def get_batch(request: web.Request) -> web.Response:
    """``GET /v1/batches/{id}``."""
    b = _guarded_batch(request, "openai")
    if isinstance(b, web.Response):
        return b
    return _json(_obj(request, b, _advance(request, b)))


async def list_batches(request: web.Request) -> web.Response:
    """``GET /v1/batches?limit=&after=`` (newest first)."""
    if (refused := _guard(request, False)) is not None:
        return refused
    page = _page(_objs(request, "openai"), request, "after")
    if isinstance(page, web.Response):
        return page
    data, more = page
    listing: dict[str, Any] = {"object": "list", "data": data, "has_more": more}
    if data:  # the document types the ids as strings: absent, not null, on an empty page
        listing["first_id"], listing["last_id"] = data[0]["id"], data[-1]["id"]
    return _json(listing)


async def cancel_batch(request: web.Request) -> web.Response:
    """``POST /v1/batches/{id}/cancel``."""
    b = _guarded_batch(request, "openai")
    if isinstance(b, web.Response):
        return b
    status, was_running = _cancel(request, b)
    if not was_running and status not in ("cancelling", "cancelled"):
        return _oa_error(409, f"Cannot cancel a batch with status '{status}'.")
    return _json(_obj(request, b, status))


# -- Anthropic message batches ---------------------------------------------------------------


async def create_message_batch(request: web.Request) -> web.Response:
    """``POST /v1/messages/batches``."""
    raw = await request.read()
    if (refused := _guard(request, True, raw)) is not None:
        return refused
    store = request.app[SIM_BATCHES]
    limits = store.config
    if len(raw) > limits.anthropic_max_bytes:
        return _an_error(
            413,
            f"Request exceeds the maximum size of {limits.anthropic_max_bytes:,} bytes "
            "for a message batch.",
        )
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _an_error(400, "The request body is not valid JSON.")
    reqs = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(reqs, list) or not reqs:
        return _an_error(400, "requests: Field required (a non-empty list)")
    if len(reqs) > limits.anthropic_max_requests:
        return _an_error(
            400,
            f"requests: List should have at most {limits.anthropic_max_requests:,} items "
            f"after validation, not {len(reqs):,}",
        )
    requests: list[tuple[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(reqs):
        cid = item.get("custom_id") if isinstance(item, dict) else None
        if (
            not isinstance(cid, str)
            or not 1 <= len(cid) <= 64
            or not all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in cid)
        ):
            return _an_error(
                400,
                f"requests.{i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'",
            )
        if cid in seen:
            return _an_error(
                400,
                f"requests.{i}.custom_id: Duplicate custom_id '{cid}'; "
                "custom_id must be unique within a batch",
            )
        seen.add(cid)
        params = item.get("params")
        if not isinstance(params, dict):
            return _an_error(400, f"requests.{i}.params: Field required")
        requests.append((cid, params))
    config = store.config
    if config.scenario == "validation_failure":
        return _an_error(
            400,
            "requests.0.params.model: model: sim-refused is not available "
            "for batch processing (simulated validation failure)",
        )
    bid = _sim(request).new_id("msgbatch_")
    b = SimBatch(
        bid,
        "anthropic",
        requests,
        config,
        config.scenario,
        time.monotonic(),
        time.time(),
        order=store.result_order(len(requests), _sim(request).config.seed),
    )
    store.batches[bid] = b
    return _json(_obj(request, b, _advance(request, b)))


async def get_message_batch(request: web.Request) -> web.Response:
    """``GET /v1/messages/batches/{id}``."""
    b = _guarded_batch(request, "anthropic")
    if isinstance(b, web.Response):
        return b
    return _json(_obj(request, b, _advance(request, b)))


async def list_message_batches(request: web.Request) -> web.Response:
    """``GET /v1/messages/batches?limit=&after_id=`` (newest first)."""
    if (refused := _guard(request, True)) is not None:
        return refused
    page = _page(_objs(request, "anthropic"), request, "after_id")
    if isinstance(page, web.Response):
        return _an_error(400, "limit: must be from 1 to 1000")
    data, more = page
    return _json(
        {
            "data": data,
            "has_more": more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    )


async def cancel_message_batch(request: web.Request) -> web.Response:
    """``POST /v1/messages/batches/{id}/cancel``."""
    b = _guarded_batch(request, "anthropic")
    if isinstance(b, web.Response):
        return b
    status, _ = _cancel(request, b)
    return _json(_obj(request, b, status))


async def message_batch_results(request: web.Request) -> web.Response:
    """``GET /v1/messages/batches/{id}/results`` (JSONL, once ended)."""
    b = _guarded_batch(request, "anthropic")
    if isinstance(b, web.Response):
        return b
    _advance(request, b)
    if not b.finished:
        return _an_error(
            400,
            f"message batch {b.id} has not ended yet; results are available "
            "once processing_status is 'ended'",
        )
    return web.Response(body=b"\n".join(b.outputs) + b"\n", content_type="application/x-jsonl")


async def delete_message_batch(request: web.Request) -> web.Response:
    """``DELETE /v1/messages/batches/{id}`` (ended batches only)."""
    b = _guarded_batch(request, "anthropic")
    if isinstance(b, web.Response):
        return b
    _advance(request, b)
    if not b.finished:
        return _an_error(
            400, "a message batch can only be deleted once it has ended; cancel it first"
        )
    del request.app[SIM_BATCHES].batches[b.id]
    return _json({"id": b.id, "type": "message_batch_deleted"})


def add_routes(
    app: web.Application, config: BatchSimConfig | None = None, profile: str = "openai"
) -> None:
    """Add the simulated Batch API routes and their state (``app[SIM_BATCHES]``) to ``app``.

    ``profile`` is the OpenAI-format batch host played (see :data:`SIM_BATCH_PROFILES`): its
    ``/files`` and ``/batches`` are served under its prefix (``/openai/v1`` for Groq) with
    its limits and completion windows.
    """
    observers = app.get(SIM_OBSERVERS)
    state = app[SIM_BATCHES] = BatchSimState(config, observers, profile)
    r = app.router
    v1 = state.profile.prefix
    r.add_post(f"{v1}/files", upload_file)
    r.add_get(f"{v1}/files/{{file_id}}", get_file)
    r.add_delete(f"{v1}/files/{{file_id}}", delete_file)
    r.add_get(f"{v1}/files/{{file_id}}/content", file_content)
    r.add_post(f"{v1}/batches", create_batch)
    r.add_get(f"{v1}/batches", list_batches)
    r.add_get(f"{v1}/batches/{{batch_id}}", get_batch)
    r.add_post(f"{v1}/batches/{{batch_id}}/cancel", cancel_batch)
    r.add_post("/v1/messages/batches", create_message_batch)
    r.add_get("/v1/messages/batches", list_message_batches)
    r.add_get("/v1/messages/batches/{batch_id}", get_message_batch)
    r.add_delete("/v1/messages/batches/{batch_id}", delete_message_batch)
    r.add_post("/v1/messages/batches/{batch_id}/cancel", cancel_message_batch)
    r.add_get("/v1/messages/batches/{batch_id}/results", message_batch_results)

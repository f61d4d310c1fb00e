"""Simulated Gemini Batch Mode and Files API, on the same compressed clock as the other
batch APIs (:mod:`brainbatch.sim.batch_state`: ``app[SIM_BATCHES].configure(...)`` sets it,
``reset()`` forgets Gemini batches and files too).

Routes (all ``/v1beta``; keys as for ``generateContent``, see
:func:`~brainbatch.sim.gemini.check_gemini_auth`):

* ``POST /v1beta/models/{model}:batchGenerateContent``: ``{"batch": {"displayName",
  "inputConfig": {"requests": {"requests": [{"request", "metadata"}]}} | {"fileName"}}}``;
  answers a long-running operation ``batches/{id}``. Refused with 400 ``INVALID_ARGUMENT``
  (nothing runs): an unknown field, no ``displayName``, both or neither of ``requests`` and
  ``fileName``, no requests, a request with fields ``GenerateContentRequest`` does not have,
  a request naming another model than the URL, a create request over 20 MB
  (:attr:`GeminiSimState.inline_max_bytes`), a file that does not exist.
* ``GET /v1beta/batches`` (``pageSize`` 1..1000, ``pageToken``), ``GET /v1beta/batches/{id}``,
  ``POST /v1beta/batches/{id}:cancel`` (``{}``), ``DELETE /v1beta/batches/{id}`` (ended only).
* Files: the resumable upload (``POST /upload/v1beta/files`` with ``x-goog-upload-command:
  start``, then ``upload, finalize`` to the ``x-goog-upload-url`` it answered, which is the
  credential of that upload as at Google; at most 2 GB),
  ``GET``/``DELETE /v1beta/files/{id}``, ``GET /v1beta/files/{id}:download?alt=media``
  (generated files only: a batch's responses file).

A batch goes ``BATCH_STATE_PENDING`` (``validating_s``) -> ``RUNNING`` (``in_progress_s``
and ``finalizing_s``; ``batchStats`` move) -> ``SUCCEEDED``; cancelled ->
``CANCELLED`` (what ran is in the output); scenarios of :class:`BatchSimConfig`:
``validation_failure`` and a file with a line that is not ``{"key", "request"}`` ->
``FAILED`` with the operation's ``error``; ``expire`` -> ``EXPIRED`` after
``expire_fraction`` ran; ``all_errors`` -> every request ``NOT_FOUND``. Requests finish in a
shuffled order; inline results come back in input order (as Gemini gives them) with their
``metadata``, file results as lines of a responses file in the order they finished, each
``{"key", "response" | "error"}``. Requests Gemini refuses (temperature 5...) are that
request's error (``google.rpc.Status``), the rest run.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from .batch_state import BatchSimState, SimBatch, SimFile
from .batches import SIM_BATCHES
from .common import SIM_STATE
from .gemini import (
    GENERATE_CONTENT_FIELDS,
    GeminiWireError,
    check_gemini_auth,
    complete_generate,
    gemini_error,
    rpc_code,
)
from .observe import note
from .state import SimState, body_hash

__all__ = ["SIM_GEMINI", "GeminiSimState", "add_gemini_batch_routes"]

BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
FILE_MAX_BYTES = 2 * 1024**3
INLINE_MAX_BYTES = 20 * 1024 * 1024
_BATCH_FIELDS = frozenset({"model", "displayName", "inputConfig", "priority"})
_STATES = {
    "validating": "BATCH_STATE_PENDING",
    "in_progress": "BATCH_STATE_RUNNING",
    "finalizing": "BATCH_STATE_RUNNING",
    "cancelling": "BATCH_STATE_RUNNING",
    "completed": "BATCH_STATE_SUCCEEDED",
    "failed": "BATCH_STATE_FAILED",
    "expired": "BATCH_STATE_EXPIRED",
    "cancelled": "BATCH_STATE_CANCELLED",
}
_ENDED = ("completed", "failed", "expired", "cancelled")
_JSON = "application/json"


@dataclass
class GeminiSimState:
    """Uploads in progress (resumable sessions) and the inline size limit."""

    inline_max_bytes: int = INLINE_MAX_BYTES
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)


#: The app's :class:`GeminiSimState`.
SIM_GEMINI = web.AppKey("brainbatch_sim_gemini", GeminiSimState)


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _error(status: int, message: str) -> web.Response:
    return web.Response(status=status, body=gemini_error(status, message), content_type=_JSON)


def _json(obj: Any) -> web.Response:
    return web.Response(body=orjson.dumps(obj), content_type=_JSON)


def _guard(request: web.Request, raw: bytes = b"") -> web.Response | None:
    """Log the call; the answer refusing its key, if it is refused."""
    state: SimState = request.app[SIM_STATE]
    refused = check_gemini_auth(request, state.config)
    state.record(
        time.monotonic(),
        request.path,
        refused[0] if refused else 200,
        body_hash(raw),
        None,
        None,
        "auth" if refused else None,
    )
    if refused is None:
        return None
    return web.Response(status=refused[0], body=refused[1], content_type=_JSON)


def _store(request: web.Request) -> BatchSimState:
    return request.app[SIM_BATCHES]


# -- files -------------------------------------------------------------------------------------


def _file_obj(request: web.Request, f: SimFile) -> dict[str, Any]:
    digest = base64.b64encode(hashlib.sha256(f.content).digest()).decode()
    name = f.id
    wall = float(f.created_at)
    return {
        "name": name,
        "displayName": f.filename,
        "mimeType": "application/jsonl",
        "sizeBytes": str(len(f.content)),
        "createTime": _iso(wall),
        "updateTime": _iso(wall),
        "expirationTime": _iso(wall + 48 * 3600),
        "sha256Hash": digest,
        "uri": f"{request.scheme}://{request.host}/v1beta/{name}",
        "state": "ACTIVE",
        "source": "GENERATED" if f.purpose == "gemini_output" else "UPLOADED",
    }


def _new_file(request: web.Request, display: str, purpose: str, content: bytes) -> SimFile:
    state: SimState = request.app[SIM_STATE]
    f = SimFile(state.new_id("files/"), display, purpose, content, int(time.time()))
    _store(request).files[f.id] = f
    return f


async def upload(request: web.Request) -> web.Response:
    """``POST /upload/v1beta/files``: the resumable protocol's start, then its finalize."""
    raw = await request.read()
    gem = request.app[SIM_GEMINI]
    upload_id = request.query.get("upload_id")
    if upload_id in gem.uploads:  # the session URL is the credential of an upload's bytes
        request.app[SIM_STATE].record(time.monotonic(), request.path, 200, body_hash(raw))
    elif (refused := _guard(request, raw)) is not None:
        return refused
    command = request.headers.get("x-goog-upload-command", "").replace(" ", "").lower()
    if upload_id is None:
        if command != "start" or request.headers.get("x-goog-upload-protocol") != "resumable":
            return _error(
                400,
                "Only the resumable upload protocol is simulated: send "
                "X-Goog-Upload-Protocol: resumable and X-Goog-Upload-Command: start.",
            )
        try:
            meta = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError:
            return _error(400, "Invalid JSON payload received.")
        info = meta.get("file") if isinstance(meta, dict) else None
        if not isinstance(info, dict) or set(meta) - {"file"}:
            return _error(400, 'Invalid JSON payload received. Expected {"file": {...}}.')
        size = request.headers.get("x-goog-upload-header-content-length", "0")
        if not size.isdigit() or int(size) > FILE_MAX_BYTES:
            return _error(400, f"File size {size} exceeds the limit of {FILE_MAX_BYTES} bytes.")
        new = request.app[SIM_STATE].new_id("up")
        gem.uploads[new] = {"displayName": str(info.get("displayName") or new)}
        url = f"{request.scheme}://{request.host}/upload/v1beta/files?upload_id={new}&upload_protocol=resumable"
        headers = {
            "x-goog-upload-url": url,
            "x-goog-upload-status": "active",
            "x-goog-upload-chunk-granularity": "8388608",
        }
        return web.Response(body=b"", headers=headers, content_type=_JSON)
    session = gem.uploads.get(upload_id)
    if session is None:
        return _error(404, f"Upload {upload_id} not found.")
    if "finalize" not in command.split(",") or request.headers.get("x-goog-upload-offset") != "0":
        return _error(400, "Send the whole file at offset 0 with 'upload, finalize'.")
    if len(raw) > FILE_MAX_BYTES:
        return _error(400, f"File size exceeds the limit of {FILE_MAX_BYTES} bytes.")
    del gem.uploads[upload_id]
    f = _new_file(request, session["displayName"], "gemini_input", raw)
    return web.Response(
        body=orjson.dumps({"file": _file_obj(request, f)}),
        headers={"x-goog-upload-status": "final"},
        content_type=_JSON,
    )


def _found_file(request: web.Request) -> SimFile | web.Response:
    name = "files/" + request.match_info["file_id"]
    f = _store(request).files.get(name)
    if f is None or not f.purpose.startswith("gemini"):
        return _error(
            403, f"You do not have permission to access the File {name} or it may not exist."
        )
    return f


async def get_file(request: web.Request) -> web.Response:
    if (refused := _guard(request)) is not None:
        return refused
    f = _found_file(request)
    return f if isinstance(f, web.Response) else _json(_file_obj(request, f))


async def delete_file(request: web.Request) -> web.Response:
    if (refused := _guard(request)) is not None:
        return refused
    f = _found_file(request)
    if isinstance(f, web.Response):
        return f
    del _store(request).files[f.id]
    return _json({})


async def download_file(request: web.Request) -> web.Response:
    """``GET /v1beta/files/{id}:download?alt=media``: a generated file's bytes."""
    if (refused := _guard(request)) is not None:
        return refused
    f = _found_file(request)
    if isinstance(f, web.Response):
        return f
    if f.purpose != "gemini_output":
        return _error(400, "Only generated files can be downloaded; uploaded files cannot.")
    if request.query.get("alt") != "media":
        return _error(400, "Download with alt=media.")
    note(request, file_purpose="gemini_output")
    return web.Response(body=f.content, content_type="application/octet-stream")


# -- batches -----------------------------------------------------------------------------------


def _check_request(i: int, item: Any, model: str) -> tuple[str, Any]:
    """``(key, request)`` of an inlined request or a file line, or :class:`GeminiWireError`."""
    if not isinstance(item, dict) or not isinstance(item.get("request"), dict):
        raise GeminiWireError(400, f"* requests[{i}].request: request is required")
    req = item["request"]
    unknown = sorted(set(req) - GENERATE_CONTENT_FIELDS)
    if unknown:
        raise GeminiWireError(
            400,
            f'Invalid JSON payload received. Unknown name "{unknown[0]}" at '
            f"'batch.input_config.requests.requests[{i}].request': Cannot find field.",
        )
    named = req.get("model")
    if named is not None and str(named).removeprefix("models/") != model:
        raise GeminiWireError(
            400, f"* requests[{i}].request.model: {named!r} is not the batch's model {model!r}"
        )
    meta = item.get("metadata")
    key = item.get("key")
    if key is None and isinstance(meta, dict):
        key = meta.get("key")
    return str(key if key is not None else i), req


async def create_batch(request: web.Request) -> web.Response:
    """``POST /v1beta/models/{model}:batchGenerateContent``."""
    raw = await request.read()
    if (refused := _guard(request, raw)) is not None:
        return refused
    model = request.match_info["model"]
    if len(raw) > request.app[SIM_GEMINI].inline_max_bytes:
        return _error(
            400,
            f"Request payload size exceeds the limit: {request.app[SIM_GEMINI].inline_max_bytes} "
            "bytes.",
        )
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _error(400, "Invalid JSON payload received.")
    batch = body.get("batch") if isinstance(body, dict) else None
    if not isinstance(batch, dict) or set(body) - {"batch"}:
        return _error(400, "* BatchGenerateContentRequest.batch: batch is required")
    unknown = sorted(set(batch) - _BATCH_FIELDS)
    if unknown:
        return _error(
            400,
            f"Invalid JSON payload received. Unknown name \"{unknown[0]}\" at 'batch': Cannot "
            "find field.",
        )
    display = batch.get("displayName")
    if not isinstance(display, str) or not display:
        return _error(
            400, "* BatchGenerateContentRequest.batch.display_name: display_name is required"
        )
    config = batch.get("inputConfig")
    if not isinstance(config, dict) or ("requests" in config) == ("fileName" in config):
        return _error(
            400,
            "* BatchGenerateContentRequest.batch.input_config: give exactly one "
            "of requests and file_name",
        )
    store = _store(request)
    errors: list[str] = []
    items: list[tuple[str, Any]] = []
    file_name: str | None = None
    if "requests" in config:
        inlined = config["requests"]
        listed = inlined.get("requests") if isinstance(inlined, dict) else None
        if not isinstance(listed, list) or not listed:
            return _error(400, "* batch.input_config.requests.requests: requests must not be empty")
        try:
            items = [_check_request(i, item, model) for i, item in enumerate(listed)]
        except GeminiWireError as e:
            return _error(e.status, e.message)
    else:
        file_name = str(config["fileName"])
        f = store.files.get(file_name)
        if f is None or f.purpose != "gemini_input":
            return _error(400, f"* batch.input_config.file_name: File {file_name} not found.")
        for n, line in enumerate(f.content.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                items.append(_check_request(n, orjson.loads(line), model))
            except (orjson.JSONDecodeError, GeminiWireError) as e:
                message = e.message if isinstance(e, GeminiWireError) else "not JSON"
                errors.append(f"line {n}: {message}")
                if len(errors) >= 5:
                    break
        if not items and not errors:
            errors.append("the input file has no requests")
    state: SimState = request.app[SIM_STATE]
    cfg = store.config
    bid = state.new_id("batches/")
    scenario = cfg.scenario
    if scenario == "validation_failure":
        errors = errors or ["the input could not be validated (simulated validation failure)"]
    b = SimBatch(
        id=bid,
        kind="gemini",
        requests=items,
        config=cfg,
        scenario=scenario,
        created_mono=time.monotonic(),
        created_wall=time.time(),
        input_file_id=file_name,
        metadata={"displayName": display},
        errors=[{"message": e} for e in errors],
        order=store.result_order(len(items), state.config.seed),
        model=model,
    )
    store.batches[bid] = b
    return _json(_operation(request, b, _advance(request, b)))


def _advance(request: web.Request, b: SimBatch) -> str:
    """Run ``b``'s requests due by now; its phase (OpenAI words, see ``BatchSimState.phase``)."""
    store = _store(request)
    state: SimState = request.app[SIM_STATE]
    status, done = store.phase(b, time.monotonic())
    if b.cancel_mono is not None and b.frozen_done is None:
        b.frozen_done = done
    while b.done < done:
        _run_one(store, b, b.order[b.done], state)
        b.done += 1
    if status in _ENDED and not b.finished:
        b.finished = True
        if b.input_file_id is not None and status != "failed":
            out = _new_file(request, f"{b.id}-responses", "gemini_output", b"")
            out.content = b"".join(line + b"\n" for line in b.outputs)
            b.output_file_id = out.id
    return status


def _run_one(store: BatchSimState, b: SimBatch, i: int, state: SimState) -> None:
    key, req = b.requests[i]
    model = str(b.model)
    path = f"/v1beta/models/{model}:generateContent"
    try:
        if b.scenario == "all_errors":
            raise GeminiWireError(404, f"models/{model} is not found for API version v1beta.")
        response = complete_generate(model, req, state.config, state.new_id("gresp-"))
    except GeminiWireError as e:
        b.failed += 1
        store.observers.batch_request(
            "gemini-batch",
            path,
            req,
            e.status,
            orjson.loads(gemini_error(e.status, e.message)),
            key,
            b.id,
        )
        line: dict[str, Any] = {"error": {"code": rpc_code(e.status), "message": e.message}}
    else:
        b.succeeded += 1
        store.observers.batch_request("gemini-batch", path, req, 200, response, key, b.id)
        line = {"response": response}
    if b.input_file_id is not None:
        b.outputs.append(orjson.dumps({"key": key, **line}))
    else:
        b.outputs.append(orjson.dumps({"index": i, "metadata": {"key": key}, **line}))


def _operation(request: web.Request, b: SimBatch, status: str) -> dict[str, Any]:
    state = _STATES[status]
    n = len(b.requests)
    c = b.config
    now = time.time()
    meta: dict[str, Any] = {
        "@type": BATCH_TYPE,
        "model": f"models/{b.model}",
        "name": b.id,
        "displayName": (b.metadata or {}).get("displayName", ""),
        "createTime": _iso(b.created_wall),
        "updateTime": _iso(min(now, b.created_wall + c.validating_s + c.in_progress_s)),
        "batchStats": {
            "requestCount": str(n),
            "successfulRequestCount": str(b.succeeded),
            "failedRequestCount": str(b.failed),
            "pendingRequestCount": str(n - b.done if status not in _ENDED else 0),
        },
        "state": state,
    }
    if b.input_file_id is not None:
        meta["inputConfig"] = {"fileName": b.input_file_id}
    op: dict[str, Any] = {"name": b.id, "metadata": meta}
    if status not in _ENDED:
        return op
    meta["endTime"] = meta["updateTime"]
    op["done"] = True
    if status == "failed":
        meta["batchStats"]["pendingRequestCount"] = "0"
        op["error"] = {"code": 3, "message": "; ".join(e["message"] for e in b.errors)}
        return op
    if b.output_file_id is not None:
        output: dict[str, Any] = {"responsesFile": b.output_file_id}
    else:
        lines = sorted((orjson.loads(raw) for raw in b.outputs), key=lambda x: x.pop("index"))
        output = {"inlinedResponses": {"inlinedResponses": lines}}
    meta["output"] = output
    op["response"] = {"@type": OUTPUT_TYPE, **output}
    return op


def _found_batch(request: web.Request) -> SimBatch | web.Response:
    name = "batches/" + request.match_info["batch_id"]
    b = _store(request).batches.get(name)
    if b is None or b.kind != "gemini":
        return _error(404, f"Batch {name} not found.")
    return b


async def get_batch(request: web.Request) -> web.Response:
    if (refused := _guard(request)) is not None:
        return refused
    b = _found_batch(request)
    if isinstance(b, web.Response):
        return b
    return _json(_operation(request, b, _advance(request, b)))


async def list_batches(request: web.Request) -> web.Response:
    if (refused := _guard(request)) is not None:
        return refused
    size_text = request.query.get("pageSize", "50")
    if not size_text.isdigit() or not 1 <= int(size_text) <= 1000:
        return _error(400, f"Invalid value for pageSize: {size_text!r} (1 to 1000).")
    size = int(size_text)
    token = request.query.get("pageToken") or "0"
    if not token.isdigit():
        return _error(400, f"Invalid page token {token!r}.")
    start = int(token)
    batches = [b for b in reversed(list(_store(request).batches.values())) if b.kind == "gemini"]
    page = batches[start : start + size]
    out: dict[str, Any] = {
        "operations": [_operation(request, b, _advance(request, b)) for b in page]
    }
    if start + size < len(batches):
        out["nextPageToken"] = str(start + size)
    return _json(out)


async def cancel_batch(request: web.Request) -> web.Response:
    if (refused := _guard(request)) is not None:
        return refused
    b = _found_batch(request)
    if isinstance(b, web.Response):
        return b
    status = _advance(request, b)
    if status in _ENDED:
        return _error(400, f"Batch {b.id} has already ended ({_STATES[status]}).")
    if b.cancel_mono is None:
        b.cancel_mono = time.monotonic()
        _advance(request, b)
    return _json({})


async def delete_batch(request: web.Request) -> web.Response:
    if (refused := _guard(request)) is not None:
        return refused
    b = _found_batch(request)
    if isinstance(b, web.Response):
        return b
    if _advance(request, b) not in _ENDED:
        return _error(400, f"Batch {b.id} is still running; cancel it first.")
    del _store(request).batches[b.id]
    return _json({})


def add_gemini_batch_routes(app: web.Application) -> None:
    """Add the Gemini batch and file routes (and ``app[SIM_GEMINI]``); needs the batch
    state of :func:`brainbatch.sim.batches.add_routes` (``app[SIM_BATCHES]``)."""
    app[SIM_GEMINI] = GeminiSimState()
    r = app.router
    r.add_post("/v1beta/models/{model}:batchGenerateContent", create_batch)
    r.add_get("/v1beta/batches", list_batches)
    r.add_post("/v1beta/batches/{batch_id}:cancel", cancel_batch)
    r.add_get("/v1beta/batches/{batch_id}", get_batch)
    r.add_delete("/v1beta/batches/{batch_id}", delete_batch)
    r.add_post("/upload/v1beta/files", upload)
    r.add_get("/v1beta/files/{file_id}:download", download_file)
    r.add_get("/v1beta/files/{file_id}", get_file)
    r.add_delete("/v1beta/files/{file_id}", delete_file)

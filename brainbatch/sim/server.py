"""The simulated OpenAI/Anthropic-compatible HTTP app (aiohttp.web).

Routes: ``POST /v1/chat/completions`` (OpenAI), ``POST /v1/messages`` (Anthropic; needs the
``anthropic-version`` header), ``POST /v1beta/models/{model}:generateContent`` (Gemini, also
under ``/v1``; see :mod:`brainbatch.sim.gemini`), ``GET /v1/models`` and ``GET /v1/models/{id}``
(Anthropic's list shape when the request carries ``anthropic-version``, else OpenAI's), and
``GET /_sim/stats`` (request counts, for a server in another process).

Extending the app (e.g. native Batch API routes in :mod:`brainbatch.sim.batches`):
``build_app(config)`` stores one :class:`~brainbatch.sim.state.SimState` under the AppKey
:data:`SIM_STATE`. Route modules read it with ``state = request.app[SIM_STATE]`` and use

* ``state.config``: the current :class:`~brainbatch.sim.config.SimConfig` (read it once per
  request; ``SimServer.configure`` swaps it), including ``seed`` and ``mean_output_tokens``;
* ``state.record(t, path, status, body_hash, user_text, custom_id, fault)``: append to the
  request log (``t`` from ``time.monotonic()``, ``body_hash`` from
  :func:`~brainbatch.sim.state.body_hash`); never log credentials;
* ``state.new_id(prefix)``: unique ids;
* :func:`~brainbatch.sim.wire.complete_chat` / :func:`~brainbatch.sim.wire.complete_message`
  (``body, state.config, id``): validated answers identical to the real-time routes (they raise
  :class:`~brainbatch.sim.wire.WireError` with ``status``/``message``/``param`` for bad bodies);
* :func:`~brainbatch.sim.common.check_auth` for the same API-key rule as the real-time routes.

Those shared names live in :mod:`brainbatch.sim.common` (re-exported here), so route modules
import it and never this module: the imports of ``brainbatch.sim`` have no cycle.

The hot path is lean on purpose (orjson, no access log, no per-request logging): the server
must not be the bottleneck of client benchmarks.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

from .batches import add_routes as add_batch_routes
from .common import SIM_STATE, check_auth
from .config import SimConfig
from .embeddings import embeddings, gemini_batch_embed
from .gemini import generate_content as _gemini_generate
from .gemini_batches import add_gemini_batch_routes
from .observe import SIM_OBSERVERS, Observer, Observers, note, observe_middleware
from .state import SimState, body_hash, last_user_text
from .wire import (
    WireError,
    answer_of,
    anthropic_error,
    anthropic_message,
    chat_completion,
    openai_error,
    parse_chat,
    parse_message,
)

__all__ = ["SIM_STATE", "SLEEPERS", "build_app", "check_auth"]


class Sleepers:
    """Requests waiting out their latency (or hanging). On shutdown they all wake at once and
    drop their connections, so a server stops at once whatever its latency."""

    __slots__ = ("stopping", "waiting")

    def __init__(self) -> None:
        self.stopping = False
        self.waiting: set[asyncio.Future[None]] = set()

    async def sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` (like ``asyncio.sleep``); ``True`` if woken by shutdown."""
        if self.stopping:
            return True
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        handle = loop.call_later(seconds, _wake, fut)
        self.waiting.add(fut)
        try:
            await fut
        finally:
            self.waiting.discard(fut)
            handle.cancel()
        return self.stopping

    def wake_all(self) -> None:
        """Shutdown: wake every sleeper."""
        self.stopping = True
        for fut in list(self.waiting):
            _wake(fut)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


#: The app's :class:`Sleepers` (woken on shutdown).
SLEEPERS = web.AppKey("brainbatch_sim_sleepers", Sleepers)

_JSON = "application/json"
_CUSTOM_ID = "x-brainbatch-custom-id"
_FAULT_STATUS = {"http_500": 500, "http_502": 502, "http_503": 503, "rate_limit_429": 429}
_FAULT_MESSAGE = {
    500: "The server had an error while processing your request.",
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later.",
    429: "Rate limit reached (simulated). Please try again later.",
}


def _go_duration(seconds: float) -> str:
    """OpenAI's reset format: ``"120ms"``, ``"2.4s"``, ``"1m0s"``."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    if seconds < 60:
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.0f}s"


def _rate_headers(state: SimState, now: float, anthropic: bool, headers: dict[str, str]) -> None:
    snap = state.limiter.snapshot(now)
    if anthropic:
        wall = datetime.now(UTC)
        for what in ("requests", "tokens"):
            if f"limit_{what}" in snap:
                reset = wall + timedelta(seconds=snap[f"reset_{what}"])
                prefix = f"anthropic-ratelimit-{what}-"
                headers[prefix + "limit"] = str(int(snap[f"limit_{what}"]))
                headers[prefix + "remaining"] = str(int(snap[f"remaining_{what}"]))
                headers[prefix + "reset"] = reset.strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        for what in ("requests", "tokens"):
            if f"limit_{what}" in snap:
                headers[f"x-ratelimit-limit-{what}"] = str(int(snap[f"limit_{what}"]))
                headers[f"x-ratelimit-remaining-{what}"] = str(int(snap[f"remaining_{what}"]))
                headers[f"x-ratelimit-reset-{what}"] = _go_duration(snap[f"reset_{what}"])


def _retry_headers(seconds: float, headers: dict[str, str]) -> None:
    headers["Retry-After"] = str(math.ceil(seconds))
    headers["retry-after-ms"] = str(math.ceil(seconds * 1000))


def _drop(request: web.Request, fault: str = "drop") -> web.Response:
    """Close the connection without answering (aiohttp then skips the write quietly)."""
    note(request, fault=fault)
    protocol = request.protocol
    if protocol is not None:
        protocol.force_close()
    return web.Response()


async def _pause(request: web.Request, seconds: float) -> bool:
    """Wait ``seconds``; ``True`` if the server is shutting down (then drop the request)."""
    return await request.app[SLEEPERS].sleep(seconds)


async def _generate(request: web.Request, anthropic: bool) -> web.Response:
    """Shared handler of ``/v1/chat/completions`` and ``/v1/messages``."""
    t = time.monotonic()
    state = request.app[SIM_STATE]
    cfg = state.config
    raw = await request.read()
    h = body_hash(raw)
    path = request.path
    custom_id = request.headers.get(_CUSTOM_ID)
    rid = state.new_id("req_")
    headers = {"Content-Type": _JSON, ("request-id" if anthropic else "x-request-id"): rid}
    err = anthropic_error if anthropic else None

    def fail(
        status: int,
        message: str,
        fault: str,
        text: str | None = None,
        param: str | None = None,
        code: str | None = None,
    ) -> web.Response:
        state.record(t, path, status, h, text, custom_id, fault)
        body = (
            anthropic_error(status, message, rid)
            if err
            else openai_error(status, message, param, code)
        )
        return web.Response(status=status, body=body, headers=headers)

    if cfg.api_key is not None and not check_auth(request, cfg, anthropic):
        if anthropic:
            return fail(401, "invalid x-api-key", "auth")
        return fail(
            401,
            "Incorrect API key provided. You can find your API key in your account settings.",
            "auth",
            code="invalid_api_key",
        )
    if anthropic and "anthropic-version" not in request.headers:
        return fail(400, "anthropic-version: header is required", "invalid")
    try:
        body: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return fail(
            400, "We could not parse the JSON body of your request.", "invalid", code="invalid_json"
        )
    text = last_user_text(body.get("messages")) if isinstance(body, dict) else None
    try:
        model, messages, system, params = (parse_message if anthropic else parse_chat)(body)
    except WireError as e:
        return fail(e.status, e.message, "invalid", text, e.param, e.code)

    flex = not anthropic and body.get("service_tier") == "flex"
    if flex and cfg.flex_unavailable and state.rng.random() < cfg.flex_unavailable:
        return fail(
            429,
            "Resource unavailable: there is not enough flex processing capacity for this "
            "request right now. Please retry later, or use the default service tier.",
            "flex",
            text,
            code="resource_unavailable",
        )

    # deterministic faults first, then random ones, then the limits
    fault: str | None = None
    if cfg.fail_first_n:
        seen = state.attempts[h]
        state.attempts[h] = seen + 1
        if seen < cfg.fail_first_n:
            fault = "fail_first_n"
    if fault is None:
        fault = state.draw_fault()
    answer = None
    if fault is None:
        answer = answer_of(cfg, model, messages, system, params, state.nth_answer(h))
        limiter = state.limiter
        if limiter.rpm is not None or limiter.tpm is not None:
            refused, wait = limiter.admit(t, answer.input_tokens + answer.output_tokens)
            _rate_headers(state, t, anthropic, headers)
            if refused is not None:
                _retry_headers(wait, headers)
                what = "requests" if refused == "rpm" else "tokens"
                return fail(
                    429,
                    f"Rate limit reached for {what} per minute (simulated "
                    f"{refused}); retry in {wait:.3f}s.",
                    refused,
                    text,
                    code="rate_limit_exceeded",
                )

    # the log says what arrived when it arrives; the answer leaves after the latency
    if fault == "hang":
        state.record(t, path, 0, h, text, custom_id, fault)
        await _pause(request, cfg.max_hang_s)
        return _drop(request, "hang")
    delay = state.draw_latency_s()
    response: web.Response
    if fault is None or fault == "malformed":
        state.record(t, path, 200, h, text, custom_id, fault)
        if answer is None:
            answer = answer_of(cfg, model, messages, system, params, state.nth_answer(h))
        if anthropic:
            obj = anthropic_message(state.new_id("msg_"), model, answer)
        else:
            tier = "flex" if flex else "default"
            obj = chat_completion(state.new_id("chatcmpl-"), model, answer, tier)
        out = orjson.dumps(obj)
        if fault == "malformed":
            out = out[: len(out) // 2]
            note(request, fault="malformed")
        response = web.Response(body=out, headers=headers)
    elif fault == "drop":
        state.record(t, path, 0, h, text, custom_id, fault)
        if delay:
            await _pause(request, delay)
        return _drop(request)
    else:
        status = cfg.fail_status if fault == "fail_first_n" else _FAULT_STATUS[fault]
        if status == 429:
            _retry_headers(cfg.retry_after, headers)
        message = _FAULT_MESSAGE.get(status, f"Simulated failure (HTTP {status}).")
        code = "rate_limit_exceeded" if status == 429 else None
        response = fail(status, message, fault, text, code=code)
    if delay and await _pause(request, delay):
        return _drop(request)
    return response


async def chat_completions(request: web.Request) -> web.Response:
    """``POST /v1/chat/completions``: an OpenAI chat completion."""
    return await _generate(request, anthropic=False)


async def messages(request: web.Request) -> web.Response:
    """``POST /v1/messages``: an Anthropic message."""
    return await _generate(request, anthropic=True)


async def generate_content(request: web.Request) -> web.Response:
    """``POST /v1beta/models/{model}:generateContent``: a Gemini answer (:mod:`.gemini`)."""
    return await _gemini_generate(request, _pause, _drop)


def _model_entry(model_id: str, anthropic: bool) -> dict[str, Any]:
    if anthropic:
        return {
            "type": "model",
            "id": model_id,
            "display_name": model_id,
            "created_at": "2025-01-01T00:00:00Z",
            "capabilities": None,
            "max_input_tokens": None,
            "max_tokens": None,
        }
    return {"id": model_id, "object": "model", "created": 1735689600, "owned_by": "brainbatch-sim"}


async def models(request: web.Request) -> web.Response:
    """``GET /v1/models`` and ``GET /v1/models/{model}``."""
    t = time.monotonic()
    state = request.app[SIM_STATE]
    cfg = state.config
    anthropic = "anthropic-version" in request.headers
    rid = state.new_id("req_")
    headers = {"Content-Type": _JSON, ("request-id" if anthropic else "x-request-id"): rid}
    custom_id = request.headers.get(_CUSTOM_ID)
    status, body = 200, b""
    wanted = request.match_info.get("model")
    if not check_auth(request, cfg, anthropic):
        status = 401
        body = (
            anthropic_error(401, "invalid x-api-key", rid)
            if anthropic
            else openai_error(401, "Incorrect API key provided.", code="invalid_api_key")
        )
    elif wanted is not None and wanted not in cfg.models:
        status = 404
        message = f"The model '{wanted}' does not exist"
        body = (
            anthropic_error(404, message, rid)
            if anthropic
            else openai_error(404, message, "model", "model_not_found")
        )
    elif wanted is not None:
        body = orjson.dumps(_model_entry(wanted, anthropic))
    elif anthropic:
        data = [_model_entry(m, True) for m in cfg.models]
        body = orjson.dumps(
            {
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )
    else:
        body = orjson.dumps(
            {"object": "list", "data": [_model_entry(m, False) for m in cfg.models]}
        )
    state.record(
        t, request.path, status, body_hash(b""), None, custom_id, "auth" if status == 401 else None
    )
    return web.Response(status=status, body=body, headers=headers)


async def stats(request: web.Request) -> web.Response:
    """``GET /_sim/stats``: requests received, in total and by status (not itself logged).

    Lets a client count what a server in another process received (see ``SimProcess``)."""
    log = list(request.app[SIM_STATE].log)
    by_status: dict[str, int] = {}
    for r in log:
        key = str(r.status)
        by_status[key] = by_status.get(key, 0) + 1
    body = orjson.dumps({"requests": len(log), "by_status": by_status})
    return web.Response(body=body, content_type=_JSON)


async def _on_shutdown(app: web.Application) -> None:
    app[SLEEPERS].wake_all()


def build_app(
    config: SimConfig | None = None,
    observers: Iterable[Observer] = (),
    batch_profile: str = "openai",
) -> web.Application:
    """The simulated server's aiohttp app, with its :class:`SimState` at ``app[SIM_STATE]``
    and ``observers`` (see :mod:`brainbatch.sim.observe`) at ``app[SIM_OBSERVERS]``;
    ``batch_profile`` is the OpenAI-format batch host its ``/files`` + ``/batches`` play
    (see :data:`brainbatch.sim.batches.SIM_BATCH_PROFILES`)."""
    # room for the largest upload (512 MB) so that the handlers, not aiohttp, refuse bodies
    app = web.Application(client_max_size=600 * 1024**2, middlewares=[observe_middleware])
    app[SIM_OBSERVERS] = Observers(tuple(observers))
    app[SIM_STATE] = SimState(config or SimConfig())
    app[SLEEPERS] = Sleepers()
    app.on_shutdown.append(_on_shutdown)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/v1/models/{model}", models)
    for version in ("v1beta", "v1"):  # google-genai 3.x defaults to v1
        app.router.add_post(f"/{version}/models/{{model}}:generateContent", generate_content)
        app.router.add_post(f"/{version}/models/{{model}}:batchEmbedContents", gemini_batch_embed)
    app.router.add_get("/_sim/stats", stats)
    add_batch_routes(app, profile=batch_profile)  # native Batch APIs (own module)
    add_gemini_batch_routes(app)  # Gemini Batch Mode and Files API (own module)
    return app

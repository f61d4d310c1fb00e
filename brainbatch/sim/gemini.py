"""Gemini's ``generateContent`` on the simulated server: wire shapes and the route handler.

``POST /v1beta/models/{model}:generateContent`` validates the body the way Gemini does (its
v1beta discovery document's ``GenerateContentRequest``, fields in camelCase; an unknown
field, an empty ``contents``, a role other than ``user``/``model``, a temperature outside
0..2... is a 400 ``INVALID_ARGUMENT`` in Google's error shape) and answers with
:func:`~brainbatch.providers.simulated.simulate_answer`, as the other routes do, with the
same fault injection, latency and RPM/TPM limits. Gemini sends no rate-limit headers: a 429
(``RESOURCE_EXHAUSTED``) carries a ``google.rpc.RetryInfo`` detail with its ``retryDelay``.

Keys: with ``SimConfig(api_key=...)`` a request must carry it in ``x-goog-api-key`` (or the
``key`` query parameter); a wrong key is Gemini's HTTP 400 ``API_KEY_INVALID``, a missing
one its 403 ``PERMISSION_DENIED``.

Deterministic extras, for tests:

* a prompt containing :data:`BLOCK_PROMPT` is blocked (``promptFeedback.blockReason:
  SAFETY``, no candidates), one containing :data:`BLOCK_ANSWER` gets a candidate stopped
  with ``finishReason: SAFETY`` and no content;
* ``generationConfig.thinkingConfig.thinkingBudget > 0`` reports thinking tokens
  (``thoughtsTokenCount``: twice the answer's tokens, at most the budget).
* ``responseMimeType: application/json`` with ``responseJsonSchema`` (or ``responseSchema``)
  gets JSON that follows the schema; ``SimConfig(invalid_output=..., refusal=...)`` break or
  refuse that share of them, drawn per answer as for the other routes (a refusal is plain
  text, not JSON, since Gemini has no refusal field).

The handler (:func:`generate_content`) takes the server's ``pause`` and ``drop`` helpers as
arguments, so this module imports no other route module.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from aiohttp import web

from ..providers.simulated import SimAnswer
from .common import SIM_STATE
from .config import SimConfig
from .media import MediaError, check_gemini_part
from .observe import note
from .state import SimState, body_hash
from .wire import answer_of

__all__ = [
    "BLOCK_ANSWER",
    "BLOCK_PROMPT",
    "GENERATE_CONTENT_FIELDS",
    "GENERATION_CONFIG_FIELDS",
    "PART_FIELDS",
    "check_gemini_auth",
    "gemini_error",
    "gemini_response",
    "generate_content",
    "parse_generate",
    "rpc_code",
]

BLOCK_PROMPT = "[sim:block-prompt]"
"""A prompt containing this is blocked by the simulated safety filter."""
BLOCK_ANSWER = "[sim:block-answer]"
"""A prompt containing this gets an answer stopped for safety, with no content."""

#: ``GenerateContentRequest`` fields (the discovery document's; ``model`` is in the URL).
GENERATE_CONTENT_FIELDS = frozenset(
    {
        "model",
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "safetySettings",
        "generationConfig",
        "cachedContent",
        "serviceTier",
        "store",
    }
)
#: ``GenerationConfig`` fields.
GENERATION_CONFIG_FIELDS = frozenset(
    {
        "candidateCount",
        "stopSequences",
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "seed",
        "responseMimeType",
        "responseSchema",
        "_responseJsonSchema",
        "responseJsonSchema",
        "presencePenalty",
        "frequencyPenalty",
        "responseLogprobs",
        "logprobs",
        "enableEnhancedCivicAnswers",
        "responseModalities",
        "speechConfig",
        "thinkingConfig",
        "imageConfig",
        "mediaResolution",
        "responseFormat",
    }
)
#: ``Part`` fields.
PART_FIELDS = frozenset(
    {
        "text",
        "inlineData",
        "functionCall",
        "functionResponse",
        "fileData",
        "executableCode",
        "codeExecutionResult",
        "toolCall",
        "toolResponse",
        "videoMetadata",
        "thought",
        "thoughtSignature",
        "partMetadata",
        "mediaResolution",
    }
)
_MIME_TYPES = ("text/plain", "application/json", "text/x.enum")

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_FAULT_STATUS = {"http_500": 500, "http_502": 502, "http_503": 503, "rate_limit_429": 429}
_FAULT_MESSAGE = {
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    502: "Bad gateway.",
    503: "The model is overloaded. Please try again later.",
    429: "You exceeded your current quota (simulated). Please retry later.",
}
_JSON = "application/json"
_CUSTOM_ID = "x-brainbatch-custom-id"


class GeminiWireError(Exception):
    """A request Gemini would refuse: the HTTP status and Google's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def gemini_error(status: int, message: str, details: list[dict[str, Any]] | None = None) -> bytes:
    """Google's error body: ``{"error": {"code", "message", "status", "details"?}}``."""
    err: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _STATUS_NAMES.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION"),
    }
    if details:
        err["details"] = details
    return orjson.dumps({"error": err})


_RPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 10, 429: 8, 500: 13, 503: 14, 504: 4}


def rpc_code(status: int) -> int:
    """The ``google.rpc.Code`` number of an HTTP error status (400 -> 3 INVALID_ARGUMENT)."""
    return _RPC_CODES.get(status, 13 if status >= 500 else 9)


def retry_info(seconds: float) -> dict[str, Any]:
    """A ``google.rpc.RetryInfo`` detail saying ``seconds``."""
    return {
        "@type": "type.googleapis.com/google.rpc.RetryInfo",
        "retryDelay": f"{max(0.0, seconds):.3f}".rstrip("0").rstrip(".") + "s",
    }


def check_gemini_auth(request: web.Request, config: SimConfig) -> tuple[int, bytes] | None:
    """``None`` when the request carries the configured key (or none is configured), else the
    ``(status, body)`` Gemini answers: 403 without a key, 400 ``API_KEY_INVALID`` with a
    wrong one."""
    key = config.api_key
    if key is None:
        return None
    given = request.headers.get("x-goog-api-key") or request.query.get("key")
    if given == key:
        return None
    if not given:
        return 403, gemini_error(
            403,
            "Method doesn't allow unregistered callers (callers without established identity)."
            " Please use API Key or other form of API consumer identity to call this API.",
        )
    return 400, gemini_error(
        400,
        "API key not valid. Please pass a valid API key.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ],
    )


def _unknown(where: str, name: str) -> GeminiWireError:
    return GeminiWireError(
        400,
        f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': Cannot find field.",
    )


def _number(config: Mapping[str, Any], name: str, lo: float, hi: float | None) -> None:
    value = config.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GeminiWireError(
            400, f"Invalid value at 'generation_config.{name}' (TYPE_FLOAT), {value!r}"
        )
    if value < lo or (hi is not None and value > hi):
        bound = f"[{lo:g}, {hi:g}]" if hi is not None else f">= {lo:g}"
        raise GeminiWireError(
            400, f"Unable to submit request because {name} must be in the range {bound}."
        )


def _integer(config: Mapping[str, Any], name: str, lo: int) -> None:
    value = config.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise GeminiWireError(
            400, f"Invalid value at 'generation_config.{name}' (TYPE_INT32), {value!r}"
        )
    if value < lo:
        raise GeminiWireError(400, f"{name} must be at least {lo}, got {value}.")


def _text_of(parts: list[dict[str, Any]]) -> str:
    return "\n".join(p["text"] for p in parts if isinstance(p.get("text"), str))


def _lower_types(schema: Any) -> Any:
    """An OpenAPI-subset ``responseSchema`` (``"type": "OBJECT"``) as JSON Schema types."""
    if isinstance(schema, list):
        return [_lower_types(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _lower_types(v) for k, v in schema.items()}
    if isinstance(out.get("type"), str):
        out["type"] = out["type"].lower()
    return out


def parse_generate(
    body: Any,
) -> tuple[list[dict[str, Any]], str | None, dict[str, Any], int]:
    """Validate a ``GenerateContentRequest``; return ``(messages, system, params,
    thinking_budget)`` as :func:`simulate_answer` takes them (roles ``user``/``assistant``,
    OpenAI-style params).

    Raises:
        GeminiWireError: what Gemini refuses, with its message.
    """
    if not isinstance(body, dict):
        raise GeminiWireError(400, "Invalid JSON payload received. Expected an object.")
    for name in body:
        if name not in GENERATE_CONTENT_FIELDS:
            raise _unknown("", name)
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise GeminiWireError(400, "* GenerateContentRequest.contents: contents is not specified")
    messages: list[dict[str, Any]] = []
    for i, content in enumerate(contents):
        if not isinstance(content, dict):
            raise GeminiWireError(400, f"Invalid value at 'contents[{i}]': expected an object")
        for name in content:
            if name not in ("parts", "role"):
                raise _unknown(f"contents[{i}]", name)
        role = content.get("role", "user")
        if role not in ("user", "model"):
            raise GeminiWireError(
                400, f"Please use a valid role: user, model. (contents[{i}].role: {role!r})"
            )
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise GeminiWireError(
                400,
                f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.",
            )
        for j, part in enumerate(parts):
            if not isinstance(part, dict) or not part:
                raise GeminiWireError(
                    400,
                    f"* GenerateContentRequest.contents[{i}].parts[{j}].data: required "
                    "oneof field 'data' must have one initialized field",
                )
            for name in part:
                if name not in PART_FIELDS:
                    raise _unknown(f"contents[{i}].parts[{j}]", name)
            try:
                check_gemini_part(part, f"contents[{i}].parts[{j}]")
            except MediaError as exc:
                raise GeminiWireError(
                    400, f"Invalid value at '{exc.param}': {exc.message}"
                ) from None
        inline = [p for p in parts if "inlineData" in p]
        text: Any = _text_of(parts)
        if inline:  # answers depend on the images' bytes
            text = [{"type": "text", "text": text}, *inline]
        messages.append({"role": "user" if role == "user" else "assistant", "content": text})
    system = None
    instruction = body.get("systemInstruction")
    if instruction is not None:
        if not isinstance(instruction, dict) or not isinstance(instruction.get("parts"), list):
            raise GeminiWireError(
                400, "Invalid value at 'system_instruction': expected a Content with parts"
            )
        for name in instruction:
            if name not in ("parts", "role"):
                raise _unknown("system_instruction", name)
        system = _text_of(instruction["parts"]) or None
    config = body.get("generationConfig") or {}
    if not isinstance(config, dict):
        raise GeminiWireError(400, "Invalid value at 'generation_config': expected an object")
    for name in config:
        if name not in GENERATION_CONFIG_FIELDS:
            raise _unknown("generation_config", name)
    _number(config, "temperature", 0.0, 2.0)
    _number(config, "topP", 0.0, 1.0)
    _integer(config, "maxOutputTokens", 1)
    _integer(config, "topK", 1)
    _integer(config, "candidateCount", 1)
    if (config.get("candidateCount") or 1) > 8:
        raise GeminiWireError(400, "candidateCount must be in the range [1, 8].")
    mime = config.get("responseMimeType")
    if mime is not None and mime not in _MIME_TYPES:
        raise GeminiWireError(
            400,
            f"* GenerateContentRequest.generation_config.response_mime_type: allowed "
            f"mimetypes are {', '.join(repr(m) for m in _MIME_TYPES)}. {mime!r} is not supported.",
        )
    schema = config.get("responseJsonSchema") or config.get("responseSchema")
    if schema is not None and mime != "application/json":
        raise GeminiWireError(
            400,
            "* GenerateContentRequest.generation_config.response_mime_type: "
            "response_mime_type must be 'application/json' when a response schema is set.",
        )
    if "responseJsonSchema" in config and "responseSchema" in config:
        raise GeminiWireError(400, "responseSchema and responseJsonSchema cannot both be set.")
    params: dict[str, Any] = {}
    for gemini_name, openai_name in (
        ("maxOutputTokens", "max_tokens"),
        ("temperature", "temperature"),
        ("topP", "top_p"),
        ("topK", "top_k"),
        ("stopSequences", "stop"),
        ("seed", "seed"),
    ):
        if gemini_name in config:
            params[openai_name] = config[gemini_name]
    if mime == "application/json":
        if schema is not None:
            target = schema if "responseJsonSchema" in config else _lower_types(schema)
            params["response_format"] = {"type": "json_schema", "json_schema": {"schema": target}}
        else:
            params["response_format"] = {"type": "json_object"}
    thinking = config.get("thinkingConfig") or {}
    budget = thinking.get("thinkingBudget") if isinstance(thinking, dict) else None
    return messages, system, params, budget if isinstance(budget, int) and budget > 0 else 0


def gemini_response(
    response_id: str, model: str, answer: SimAnswer, thinking_budget: int = 0, text: str = ""
) -> dict[str, Any]:
    """A ``GenerateContentResponse`` for ``answer`` (``text``: the prompt, for the simulated
    safety filter)."""
    usage: dict[str, Any] = {
        "promptTokenCount": answer.input_tokens,
        "totalTokenCount": answer.input_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": answer.input_tokens}],
    }
    out: dict[str, Any] = {"modelVersion": model, "responseId": response_id}
    if BLOCK_PROMPT in text:
        out["promptFeedback"] = {
            "blockReason": "SAFETY",
            "safetyRatings": [
                {
                    "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
                    "probability": "HIGH",
                    "blocked": True,
                },
                {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
            ],
        }
        out["usageMetadata"] = usage
        return out
    if BLOCK_ANSWER in text:
        out["candidates"] = [
            {
                "finishReason": "SAFETY",
                "index": 0,
                "safetyRatings": [
                    {
                        "category": "HARM_CATEGORY_HATE_SPEECH",
                        "probability": "HIGH",
                        "blocked": True,
                    },
                ],
            }
        ]
        out["usageMetadata"] = usage
        return out
    result = answer.result
    body = result if isinstance(result, str) else orjson.dumps(result).decode()
    thoughts = min(thinking_budget, 2 * answer.output_tokens) if thinking_budget else 0
    usage["candidatesTokenCount"] = answer.output_tokens
    usage["totalTokenCount"] = answer.input_tokens + answer.output_tokens + thoughts
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    out["candidates"] = [
        {
            "content": {"parts": [{"text": body}], "role": "model"},
            "finishReason": "MAX_TOKENS" if answer.finish_reason == "length" else "STOP",
            "index": 0,
        }
    ]
    out["usageMetadata"] = usage
    return out


def complete_generate(model: str, body: Any, config: SimConfig, response_id: str) -> dict[str, Any]:
    """Validate a ``GenerateContentRequest`` and answer it (raises :class:`GeminiWireError`);
    what a batch runs for each of its requests."""
    messages, system, params, budget = parse_generate(body)
    answer = answer_of(config, model, messages, system, params)
    text = "\n".join(str(m["content"]) for m in messages if m["role"] == "user")
    return gemini_response(response_id, model, answer, budget, text)


Pause = Callable[[web.Request, float], Awaitable[bool]]
Drop = Callable[[web.Request, str], web.Response]


async def generate_content(request: web.Request, pause: Pause, drop: Drop) -> web.Response:
    """``POST /v1beta/models/{model}:generateContent``."""
    t = time.monotonic()
    state: SimState = request.app[SIM_STATE]
    cfg = state.config
    raw = await request.read()
    h = body_hash(raw)
    path = request.path
    model = request.match_info["model"]
    custom_id = request.headers.get(_CUSTOM_ID)
    headers = {"Content-Type": _JSON}

    def fail(
        status: int,
        message: str,
        fault: str,
        text: str | None = None,
        details: list[dict[str, Any]] | None = None,
        body: bytes | None = None,
    ) -> web.Response:
        state.record(t, path, status, h, text, custom_id, fault)
        out = body if body is not None else gemini_error(status, message, details)
        return web.Response(status=status, body=out, headers=headers)

    refused = check_gemini_auth(request, cfg)
    if refused is not None:
        return fail(refused[0], "", "auth", body=refused[1])
    try:
        body: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return fail(400, "Invalid JSON payload received.", "invalid")
    try:
        messages, system, params, budget = parse_generate(body)
    except GeminiWireError as e:
        return fail(e.status, e.message, "invalid")
    text = "\n".join(str(m["content"]) for m in messages if m["role"] == "user")
    last = messages[-1]["content"] if messages and messages[-1]["role"] == "user" else None

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
            over, wait = limiter.admit(t, answer.input_tokens + answer.output_tokens)
            if over is not None:
                what = "requests" if over == "rpm" else "input tokens"
                return fail(
                    429,
                    f"You exceeded your current quota: {what} per minute (simulated {over}). "
                    f"Please retry in {wait:.3f}s.",
                    over,
                    last,
                    [retry_info(wait)],
                )
    if fault == "hang":
        state.record(t, path, 0, h, last, custom_id, fault)
        await pause(request, cfg.max_hang_s)
        return drop(request, "hang")
    delay = state.draw_latency_s()
    response: web.Response
    if fault is None or fault == "malformed":
        state.record(t, path, 200, h, last, custom_id, fault)
        if answer is None:
            answer = answer_of(cfg, model, messages, system, params, state.nth_answer(h))
        obj = gemini_response(state.new_id("gresp-"), model, answer, budget, text)
        out = orjson.dumps(obj)
        if fault == "malformed":
            out = out[: len(out) // 2]
            note(request, fault="malformed")
        response = web.Response(body=out, headers=headers)
    elif fault == "drop":
        state.record(t, path, 0, h, last, custom_id, fault)
        if delay:
            await pause(request, delay)
        return drop(request, "drop")
    else:
        status = cfg.fail_status if fault == "fail_first_n" else _FAULT_STATUS[fault]
        message = _FAULT_MESSAGE.get(status, f"Simulated failure (HTTP {status}).")
        details = [retry_info(cfg.retry_after)] if status == 429 else None
        response = fail(status, message, fault, last, details)
    if delay and await pause(request, delay):
        return drop(request, "drop")
    return response

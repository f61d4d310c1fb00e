"""Wire shapes of the simulated server: request validation, answers and error bodies.

OpenAI (``/v1/chat/completions``) and Anthropic (``/v1/messages``) bodies are validated the way
the real APIs do (400 with the provider's error JSON, naming the parameter) and answered with
:func:`brainbatch.providers.simulated.simulate_answer`, so a request gets the same answer here
as from the in-process ``SimulatedProvider``:

* OpenAI: ``system`` is the first message when its role is ``system``; the other messages go
  as they are.
* Both: ``params`` is the body without ``model``, ``messages``, ``system`` and the transport-only
  keys in :data:`NOT_PARAMS` (``stream``, ``metadata``, ``user``, ...).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from ..providers.simulated import SimAnswer, simulate_answer
from .config import SimConfig
from .media import MediaError, check_anthropic_content, check_openai_content

__all__ = [
    "ANTHROPIC_PARAMS",
    "NOT_PARAMS",
    "WireError",
    "anthropic_error",
    "anthropic_message",
    "chat_completion",
    "complete_chat",
    "complete_message",
    "openai_error",
    "parse_chat",
    "parse_message",
]

#: Body keys that are not passed to ``simulate_answer`` as params.
NOT_PARAMS = frozenset(
    {
        "model",
        "messages",
        "system",
        "stream",
        "stream_options",
        "metadata",
        "store",
        "user",
        "service_tier",
    }
)

#: The top-level keys of an Anthropic Messages body (``CreateMessageParams`` of Anthropic's
#: API document, which refuses any other: "Extra inputs are not permitted").
ANTHROPIC_PARAMS = frozenset(
    {
        "cache_control",
        "container",
        "inference_geo",
        "max_tokens",
        "messages",
        "metadata",
        "model",
        "output_config",
        "service_tier",
        "stop_sequences",
        "stream",
        "system",
        "temperature",
        "thinking",
        "tool_choice",
        "tools",
        "top_k",
        "top_p",
    }
)

_OPENAI_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_ANTHROPIC_ROLES = frozenset({"user", "assistant"})

_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    # Anthropic's errors page names 413 "request_too_large", but the API document's
    # ErrorResponse has no such type: the document wins
    413: "invalid_request_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}

_OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_exceeded",
}


class WireError(Exception):
    """A request the real API would refuse: the status, message and parameter at fault."""

    def __init__(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code


def openai_error(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> bytes:
    """An OpenAI error body: ``{"error": {"message", "type", "param", "code"}}``."""
    kind = _OPENAI_ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request")
    err = {"message": message, "type": kind, "param": param, "code": code}
    return orjson.dumps({"error": err})


def anthropic_error(status: int, message: str, request_id: str | None = None) -> bytes:
    """An Anthropic error body: ``{"type": "error", "error": {"type", "message"},
    "request_id"}`` (``request_id`` is required by the API document, null when unknown)."""
    kind = _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
    return orjson.dumps(
        {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}
    )


def _text_of(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str)
        )
    return None


def _check_messages(messages: Any, roles: frozenset[str]) -> list[dict[str, Any]]:
    if messages is None:
        raise WireError(
            400, "Missing required parameter: 'messages'.", "messages", "missing_required_parameter"
        )
    if not isinstance(messages, list):
        raise WireError(
            400, "Invalid type for 'messages': expected an array.", "messages", "invalid_type"
        )
    if not messages:
        raise WireError(
            400, "'messages' must contain at least one message.", "messages", "empty_array"
        )
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise WireError(
                400,
                f"Invalid type for 'messages[{i}]': expected an object.",
                f"messages[{i}]",
                "invalid_type",
            )
        if m.get("role") not in roles:
            raise WireError(
                400,
                f"Invalid value for 'messages[{i}].role': {m.get('role')!r}; "
                f"supported values are {sorted(roles)}.",
                f"messages[{i}].role",
                "invalid_value",
            )
        if "content" not in m:
            raise WireError(
                400,
                f"Missing required parameter: 'messages[{i}].content'.",
                f"messages[{i}].content",
                "missing_required_parameter",
            )
    return messages


def _check_common(body: Any) -> str:
    if not isinstance(body, dict):
        raise WireError(400, "The request body must be a JSON object.", None, "invalid_json")
    model = body.get("model")
    if model is None:
        raise WireError(
            400, "Missing required parameter: 'model'.", "model", "missing_required_parameter"
        )
    if not isinstance(model, str) or not model:
        raise WireError(
            400, "Invalid type for 'model': expected a non-empty string.", "model", "invalid_type"
        )
    if body.get("stream"):
        raise WireError(
            400,
            "The simulated server does not stream; send 'stream': false.",
            "stream",
            "unsupported_value",
        )
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            raise WireError(
                400,
                f"Invalid value for '{name}': expected an integer >= 1, got {value!r}.",
                name,
                "invalid_value",
            )
    temperature = body.get("temperature")
    if temperature is not None and (
        not isinstance(temperature, int | float)
        or isinstance(temperature, bool)
        or not 0 <= temperature <= 2
    ):
        raise WireError(
            400,
            f"Invalid value for 'temperature': expected a number between 0 "
            f"and 2, got {temperature!r}.",
            "temperature",
            "invalid_value",
        )
    return model


def _params(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in NOT_PARAMS}


def parse_chat(body: Any) -> tuple[str, list[dict[str, Any]], str | None, dict[str, Any]]:
    """Validate an OpenAI chat body; return ``(model, messages, system, params)``."""
    model = _check_common(body)
    messages = _check_messages(body.get("messages"), _OPENAI_ROLES)
    system = None
    if messages[0].get("role") == "system":
        system = _text_of(messages[0].get("content"))
        messages = messages[1:]
    for i, m in enumerate(messages):
        try:
            check_openai_content(m.get("content"), f"messages[{i}]")
        except MediaError as exc:
            raise WireError(400, exc.message, exc.param, "invalid_image") from None
    fmt = body.get("response_format")
    if fmt is not None and (
        not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema")
    ):
        raise WireError(
            400,
            "Invalid value for 'response_format': expected an object with "
            "type 'text', 'json_object' or 'json_schema'.",
            "response_format",
            "invalid_value",
        )
    return model, messages, system, _params(body)


def parse_message(body: Any) -> tuple[str, list[dict[str, Any]], str | None, dict[str, Any]]:
    """Validate an Anthropic Messages body; return ``(model, messages, system, params)``."""
    model = _check_common(body)
    extra = sorted(set(body) - ANTHROPIC_PARAMS)
    if extra:
        raise WireError(400, f"{extra[0]}: Extra inputs are not permitted", extra[0])
    if body.get("max_tokens") is None:
        raise WireError(400, "max_tokens: Field required", "max_tokens")
    temperature = body.get("temperature")
    if isinstance(temperature, int | float) and temperature > 1:
        raise WireError(400, "temperature: Input should be less than or equal to 1", "temperature")
    messages = _check_messages(body.get("messages"), _ANTHROPIC_ROLES)
    for i, m in enumerate(messages):
        try:
            check_anthropic_content(m.get("content"), f"messages.{i}")
        except MediaError as exc:
            raise WireError(400, exc.message, exc.param) from None
    system = body.get("system")
    if system is not None:
        text = _text_of(system)
        if text is None:
            raise WireError(
                400, "system: Input should be a string or a list of text blocks", "system"
            )
        system = text
    return model, messages, system, _params(body)


def _text(answer: SimAnswer) -> str:
    result = answer.result
    return result if isinstance(result, str) else orjson.dumps(result).decode()


def chat_completion(
    completion_id: str, model: str, answer: SimAnswer, service_tier: str = "default"
) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` object for ``answer`` (served in ``service_tier``)."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None if answer.refusal else _text(answer),
                    "refusal": _text(answer) if answer.refusal else None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": answer.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": answer.input_tokens,
            "completion_tokens": answer.output_tokens,
            "total_tokens": answer.input_tokens + answer.output_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": service_tier,
        "system_fingerprint": "fp_brainbatch_sim",
    }


def anthropic_message(
    message_id: str, model: str, answer: SimAnswer, service_tier: str = "standard"
) -> dict[str, Any]:
    """An Anthropic ``message`` object for ``answer`` (``service_tier`` ``"batch"`` for an
    answer a message batch gave)."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": _text(answer), "citations": None}],
        "stop_reason": (
            "refusal"
            if answer.refusal
            else "max_tokens"
            if answer.finish_reason == "length"
            else "end_turn"
        ),
        "stop_sequence": None,
        "stop_details": None,
        "container": None,
        "usage": {
            "input_tokens": answer.input_tokens,
            "output_tokens": answer.output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": None,
            "inference_geo": None,
            "output_tokens_details": None,
            "server_tool_use": None,
            "service_tier": service_tier,
        },
    }


def answer_of(
    config: SimConfig,
    model: str,
    messages: list[dict[str, Any]],
    system: str | None,
    params: dict[str, Any],
    nth: int = 0,
) -> SimAnswer:
    """The simulated answer under ``config`` (its seed, length, invalid and refusal shares);
    ``nth``: how many answers the same request got before."""
    return simulate_answer(
        model,
        messages,
        system,
        params,
        config.seed,
        config.mean_output_tokens,
        invalid_output=config.invalid_output,
        refusal=config.refusal,
        nth=nth,
    )


def complete_chat(body: Any, config: SimConfig, completion_id: str, nth: int = 0) -> dict[str, Any]:
    """Validate an OpenAI chat body and answer it (raises :class:`WireError`)."""
    model, messages, system, params = parse_chat(body)
    answer = answer_of(config, model, messages, system, params, nth)
    return chat_completion(completion_id, model, answer)


def complete_message(
    body: Any, config: SimConfig, message_id: str, service_tier: str = "standard", nth: int = 0
) -> dict[str, Any]:
    """Validate an Anthropic Messages body and answer it (raises :class:`WireError`)."""
    model, messages, system, params = parse_message(body)
    answer = answer_of(config, model, messages, system, params, nth)
    return anthropic_message(message_id, model, answer, service_tier)

"""Anthropic Messages (``/v1/messages``).

``base_url`` excludes the version, like the ``anthropic`` SDK: ``https://api.anthropic.com``.
Requests carry ``x-api-key`` and ``anthropic-version``. The API requires ``max_tokens``; a
request without one gets :data:`DEFAULT_MAX_TOKENS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ..errors import ConfigurationError
from ..images import anthropic_block
from ..models import BatchRequest, ProviderResponse
from ..pricing import cost_of
from ..structured import anthropic_schema
from ._shape import Shape
from ._status import answer_error
from .http import HttpProvider, parse_json_text

__all__ = ["ANTHROPIC_VERSION", "DEFAULT_MAX_TOKENS", "DEPRECATED_FIELDS", "AnthropicProvider"]

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024
"""``max_tokens`` sent when a request sets neither ``max_tokens`` nor ``max_completion_tokens``."""

DEPRECATED_FIELDS: Mapping[str, str] = {
    "temperature": (
        "models released after Claude Opus 4.6 accept only temperature=1.0 and refuse any "
        "other value with HTTP 400"
    ),
    "top_p": (
        "models released after Claude Opus 4.6 accept only top_p >= 0.99 and refuse any other "
        "value with HTTP 400"
    ),
    "top_k": "models released after Claude Opus 4.6 refuse any top_k with HTTP 400",
}
"""Messages request fields that Anthropic's official API document marks deprecated, with its
reason (a test checks this table against the document)."""

# Anthropic's stop reasons, as the OpenAI-style finish reasons every result uses.
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


class AnthropicProvider(HttpProvider):
    """Sends requests to ``{base_url}/v1/messages``.

    Takes the same arguments as :class:`~brainbatch.providers.openai.OpenAIProvider`
    (key from ``ANTHROPIC_API_KEY``; default ``base_url`` ``https://api.anthropic.com``), plus
    ``max_tokens`` (default :data:`DEFAULT_MAX_TOKENS`) and ``anthropic_version``.

    Request mapping: ``system`` (and any ``system`` messages) go to the top-level ``system``;
    OpenAI-style params are translated (``max_completion_tokens`` -> ``max_tokens``, ``stop``
    -> ``stop_sequences``, ``response_format`` with a JSON schema -> ``output_config.format``);
    other params pass through unchanged. Finish reasons are reported OpenAI-style
    (``end_turn`` -> ``"stop"``, ``max_tokens`` -> ``"length"``). ``input_tokens`` counts
    cached and cache-written prompt tokens too; ``cached_tokens`` is the cache reads.

    Requests to ``api.anthropic.com`` that use a field Anthropic marks deprecated
    (:data:`DEPRECATED_FIELDS`: ``temperature``, ``top_p``, ``top_k``) give one
    :class:`~brainbatch.errors.DeprecatedFieldWarning` per field and provider; the request is
    sent unchanged.
    """

    name: ClassVar[str] = "anthropic"
    path: ClassVar[str] = "/v1/messages"
    key_env: ClassVar[str] = "ANTHROPIC_API_KEY"
    request_id_header: ClassVar[str] = "request-id"
    default_base_url: ClassVar[str] = "https://api.anthropic.com"
    official_hosts: ClassVar[frozenset[str]] = frozenset({"api.anthropic.com"})
    deprecated_fields: ClassVar[Mapping[str, str]] = DEPRECATED_FIELDS

    def __init__(
        self,
        model: str | None = None,
        *,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        anthropic_version: str = ANTHROPIC_VERSION,
        **kwargs: Any,
    ) -> None:
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise ConfigurationError(f"max_tokens must be an integer >= 1, got {max_tokens!r}")
        self.default_max_tokens = max_tokens
        extra = {
            "anthropic-version": anthropic_version,
            **(kwargs.pop("extra_headers", None) or {}),
        }
        super().__init__(model, extra_headers=extra, **kwargs)

    def _auth(self, key: str) -> dict[str, str]:
        return {"x-api-key": key}

    def build_body(self, request: BatchRequest) -> dict[str, Any]:
        """``{"model", "max_tokens", "messages", "system"?, **params}`` for ``/v1/messages``."""
        systems = [request.system] if request.system else []
        messages: list[dict[str, Any]] = []
        if request.messages:
            for m in request.messages:
                if m.get("role") == "system":
                    content = m.get("content")
                    if isinstance(content, str) and content:
                        systems.append(content)
                else:
                    msg = dict(m)
                    if isinstance(msg.get("content"), list):  # image_url / file parts
                        msg["content"] = [
                            anthropic_block(b) if isinstance(b, Mapping) else b
                            for b in msg["content"]
                        ]
                    messages.append(msg)
        else:
            messages.append({"role": "user", "content": request.prompt})
        params = dict(request.params or {})
        max_tokens = params.pop("max_completion_tokens", None) or params.pop("max_tokens", None)
        params.pop("max_tokens", None)
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": max_tokens or self.default_max_tokens,
            "messages": messages,
        }
        if systems:
            body["system"] = "\n\n".join(systems)
        if "stop" in params:
            stop = params.pop("stop")
            body["stop_sequences"] = [stop] if isinstance(stop, str) else stop
        fmt = params.pop("response_format", None)
        if isinstance(fmt, Mapping) and fmt.get("type") in ("json_schema", "json_object"):
            spec = fmt.get("json_schema") or {}
            schema = spec.get("schema", spec) if isinstance(spec, Mapping) else {}
            if isinstance(spec, Mapping) and spec.get("strict") and isinstance(schema, Mapping):
                schema = anthropic_schema(schema)  # constraints it lacks go to descriptions
            config = dict(params.pop("output_config", None) or {})
            config["format"] = {"type": "json_schema", "schema": schema or {"type": "object"}}
            body["output_config"] = config
        body.update(params)
        if params:
            self.warn_deprecated_fields(body)
        return body

    def parse_response(
        self,
        body: dict[str, Any],
        *,
        latency_ms: float | None = None,
        batch: bool = False,
        json_output: bool | None = None,
    ) -> ProviderResponse:
        """A ``message`` body -> :class:`ProviderResponse`.

        ``result`` is the text blocks joined; parsed as a JSON object when ``json_output``
        (or, with ``None``, when the text is one). An answer with only a ``tool_use`` block
        gives that tool's ``input`` dict (the "JSON via a tool" pattern).

        Raises:
            ConnectionFailed: (``kind="malformed_response"``) the body is not a message, or
                a field has the wrong type; the message names the field (``"anthropic:
                malformed response: content must be a list, got string"``).
            ProviderError: the body is an error object (``{"type": "error", "error": {...}}``
                with HTTP 200): the class its type means, with the provider's message.
        """
        shape = Shape(self.name)
        body = shape.mapping(body, "the body", required=True)
        rid = shape.request_id = shape.text(body.get("id"), "id")
        error = answer_error(
            body,
            source=self.name,
            key_env=self.key_env_var(),
            secrets=(self._key,),
            request_id_header=self.request_id_header,
        )
        if error is not None:
            error.provider_request_id = error.provider_request_id or rid
            raise error
        blocks = shape.array(body.get("content"), "content", required=True)
        texts: list[str] = []
        tool_input: dict[str, Any] | None = None
        for i, item in enumerate(blocks):
            block = shape.mapping(item, f"content[{i}]", required=True)
            kind = shape.text(block.get("type"), f"content[{i}].type")
            if kind == "text":
                text = shape.text(block.get("text"), f"content[{i}].text")
                if text is not None:
                    texts.append(text)
            elif kind == "tool_use" and tool_input is None:
                tool_input = shape.mapping(block.get("input"), f"content[{i}].input", required=True)
        result: str | dict[str, Any] = "".join(texts)
        if texts and json_output is not False:
            parsed = parse_json_text(str(result))
            if parsed is not None:
                result = parsed
        elif not texts and tool_input is not None:
            result = tool_input
        usage = shape.mapping(body.get("usage"), "usage")
        cache_read = shape.count(
            usage.get("cache_read_input_tokens"), "usage.cache_read_input_tokens"
        )
        cache_write = shape.count(
            usage.get("cache_creation_input_tokens"), "usage.cache_creation_input_tokens"
        )
        raw_in = shape.count(usage.get("input_tokens"), "usage.input_tokens")
        out = shape.count(usage.get("output_tokens"), "usage.output_tokens")
        cache_read, cache_write = cache_read or 0, cache_write or 0
        inp = None if raw_in is None else raw_in + cache_read + cache_write
        model = shape.text(body.get("model"), "model") or self.model or ""
        cost = cost_of(model, inp, out, cache_read, batch=batch, cache_write_tokens=cache_write)
        stop = shape.text(body.get("stop_reason"), "stop_reason")
        return ProviderResponse(
            result=result,
            model=model or None,
            input_tokens=inp,
            output_tokens=out,
            cached_tokens=cache_read,
            finish_reason=_FINISH.get(stop, stop) if stop is not None else None,
            provider_request_id=rid,
            latency_ms=latency_ms,
            cost_usd=cost.usd,
            price_source=cost.price_source,
        )

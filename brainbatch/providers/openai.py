"""OpenAI Chat Completions, and every server that speaks it (OpenRouter, Together, Groq, vLLM,
Ollama's ``/v1``, LM Studio, the simulated server).

``base_url`` includes the version, like the ``openai`` SDK: ``https://api.openai.com/v1``,
``https://openrouter.ai/api/v1``, ``http://localhost:11434/v1``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ..images import resolve_messages
from ..models import BatchRequest, ProviderResponse
from ..pricing import cost_of
from ._shape import Shape
from ._status import answer_error
from .http import HttpProvider, parse_json_text

__all__ = ["DEPRECATED_FIELDS", "OPENROUTER_BASE_URL", "OpenAIProvider"]

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"

DEPRECATED_FIELDS: Mapping[str, str] = {
    "max_tokens": (
        "use max_completion_tokens instead (max_tokens does not work with o-series models)"
    ),
    "seed": "OpenAI's API document marks it deprecated, with no replacement",
    "functions": "use tools instead",
    "function_call": "use tool_choice instead",
    "user": "use safety_identifier (and prompt_cache_key for caching) instead",
}
"""Chat Completions request fields that OpenAI's official API document marks deprecated, with
what to use instead (a test checks this table against the document)."""


class OpenAIProvider(HttpProvider):
    """Sends requests to ``{base_url}/chat/completions``.

    Args:
        model: the model this provider was chosen for (informational: every request names
            its own model).
        base_url: the API root, version included (default ``https://api.openai.com/v1``);
            or a list of the roots of replicas of one server (vLLM, SGLang, TGI...): real-time
            requests then go to the least busy replica that is up (:mod:`.pool`).
        api_key: the key; default from ``OPENAI_API_KEY`` (``OPENROUTER_API_KEY`` when
            ``base_url`` is OpenRouter). Servers on localhost need none.
        client: your own ``httpx.AsyncClient`` (used as is, never closed by brainbatch).
        transport: an httpx transport (e.g. ``httpx.MockTransport``) to build the client on.
        max_concurrent: requests in flight at once (also the connection pool size).
        rpm, tpm: requests / tokens per minute to stay under; ``"auto"`` (default): the
            limits the provider states in its rate-limit headers, learned from the first
            answers, at 90% (each 429 lowers the share by 10%, down to 50%); None: no limit.
        max_attempts: tries per request, the first included.
        timeout: seconds per attempt; connect_timeout: seconds to connect.
        batch: price answers as native batch work (50%).
        retry: a full :class:`~brainbatch.limits.RetryPolicy` (overrides ``max_attempts``).
        rate_window_s: the window rpm/tpm are counted over (60; smaller in tests).
        adapt_to_headers: pause every worker when ``x-ratelimit-remaining-*`` reach zero.
        default_output_tokens: output tokens reserved under ``tpm`` when a request sets no
            ``max_tokens``.
        extra_headers: more headers for every request (``OpenAI-Organization``...).
        service_tier: sent as the body's ``service_tier`` unless a request sets its own:
            ``"flex"`` is OpenAI's flex processing (batch prices, slower answers, 429
            ``resource_unavailable`` when there is no capacity, retried with backoff without
            pausing the other workers); ``mode="flex"`` sets it. An answer that says
            ``"service_tier": "flex"`` is priced at the batch price.

    Requests to ``api.openai.com`` that use a field OpenAI marks deprecated
    (:data:`DEPRECATED_FIELDS`: ``max_tokens``, ``seed``, ``functions``, ``function_call``,
    ``user``) give one :class:`~brainbatch.errors.DeprecatedFieldWarning` per field and
    provider; the request is sent unchanged. Compatible servers (vLLM, Ollama, OpenRouter...)
    have their own rules and get no such warning.

    Raises:
        ConfigurationError: no key found (the message says how to run offline instead).
    """

    name: ClassVar[str] = "openai"
    path: ClassVar[str] = "/chat/completions"
    key_env: ClassVar[str] = "OPENAI_API_KEY"
    request_id_header: ClassVar[str] = "x-request-id"
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    official_hosts: ClassVar[frozenset[str]] = frozenset({"api.openai.com"})
    deprecated_fields: ClassVar[Mapping[str, str]] = DEPRECATED_FIELDS

    def key_env_var(self) -> str:
        if "openrouter.ai" in self.base_url:
            return "OPENROUTER_API_KEY"
        return self.key_env

    def _auth(self, key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"}

    def build_body(self, request: BatchRequest) -> dict[str, Any]:
        """``{"model", "messages", **params}``; ``system`` becomes the first message."""
        if request.messages:
            messages = resolve_messages(request.messages)  # files are read here, at send time
        else:
            messages = [{"role": "user", "content": request.prompt}]
        if request.system:
            messages.insert(0, {"role": "system", "content": request.system})
        body: dict[str, Any] = {"model": request.model, "messages": messages}
        if request.params:
            body.update(request.params)
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
        """A ``chat.completion`` body -> :class:`ProviderResponse`.

        ``result`` is the message text; with ``json_output`` (structured output was asked
        for) the text parsed as a JSON object. ``json_output=None`` parses text that is a
        JSON object and keeps anything else as text. An answer with only tool calls gives
        ``{"tool_calls": [...]}``. A refusal (``message.refusal`` without content) gives the
        refusal text with ``finish_reason="refusal"``.

        Raises:
            ConnectionFailed: (``kind="malformed_response"``) the body is not a completion,
                or a field has the wrong type; the message names the field
                (``"openai: malformed response: usage must be an object, got list"``).
            ProviderError: the body is an error object (``{"error": {...}}`` with HTTP 200):
                the class its code or type means, with the provider's message.
        """
        shape = Shape(self.name)
        body = shape.mapping(body, "the body", required=True)
        rid = shape.request_id = shape.text(body.get("id"), "id")
        error = answer_error(
            body,
            source=self.name,
            key_env=self.key_env_var(),
            secrets=(self._key,),
        )
        if error is not None:
            error.provider_request_id = error.provider_request_id or rid
            raise error
        choices = shape.array(body.get("choices"), "choices")
        if not choices:
            raise shape.error("the body has no choices[0].message")
        choice = shape.mapping(choices[0], "choices[0]", required=True)
        message = shape.mapping(choice.get("message"), "choices[0].message", required=True)
        content = shape.text(message.get("content"), "choices[0].message.content")
        tool_calls = shape.array(message.get("tool_calls"), "choices[0].message.tool_calls")
        result: str | dict[str, Any]
        if content is not None:
            result = content
            if json_output is not False:
                parsed = parse_json_text(content)
                if parsed is not None:
                    result = parsed
        elif tool_calls:
            result = {"tool_calls": tool_calls}
        else:
            result = shape.text(message.get("refusal"), "choices[0].message.refusal") or ""
        usage = shape.mapping(body.get("usage"), "usage")
        inp = shape.count(usage.get("prompt_tokens"), "usage.prompt_tokens")
        out = shape.count(usage.get("completion_tokens"), "usage.completion_tokens")
        details = shape.mapping(usage.get("prompt_tokens_details"), "usage.prompt_tokens_details")
        cached = shape.count(
            details.get("cached_tokens"), "usage.prompt_tokens_details.cached_tokens"
        )
        model = shape.text(body.get("model"), "model") or self.model or ""
        finish = shape.text(choice.get("finish_reason"), "choices[0].finish_reason")
        if content is None and not tool_calls and result:
            finish = "refusal"  # message.refusal: the model declined (as Anthropic says it)
        flex = body.get("service_tier") == "flex"  # flex processing is billed as batch work
        cost = cost_of(model, inp, out, cached, batch=batch or flex)
        price_source = cost.price_source
        if flex and not batch and cost.price_source != "unknown":
            price_source = f"{price_source} (flex processing: batch price)"
        return ProviderResponse(
            result=result,
            model=model or None,
            input_tokens=inp,
            output_tokens=out,
            cached_tokens=cached,
            finish_reason=finish,
            provider_request_id=rid,
            latency_ms=latency_ms,
            cost_usd=cost.usd,
            price_source=price_source,
        )

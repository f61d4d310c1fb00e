"""Google Gemini Developer API (``models/{model}:generateContent``).

``base_url`` is the host root, like the ``google-genai`` SDK's ``HttpOptions.base_url``:
``https://generativelanguage.googleapis.com``; the API version (``api_version``, default
``v1beta``) is added to every path. Requests carry the key in ``x-goog-api-key`` (from
``GEMINI_API_KEY``, then ``GOOGLE_API_KEY``), never in the URL.

Request mapping (OpenAI-style input, as every brainbatch request is written):

* ``system`` and ``system``/``developer`` messages -> ``systemInstruction``; ``user`` ->
  role ``user``, ``assistant`` -> role ``model``; string content and text blocks ->
  ``parts``; messages already in Gemini's shape (``{"role", "parts"}``) pass unchanged.
* params: ``temperature``, ``top_p`` -> ``topP``, ``top_k`` -> ``topK``, ``max_tokens`` /
  ``max_completion_tokens`` / ``max_output_tokens`` -> ``maxOutputTokens``, ``stop`` ->
  ``stopSequences``, ``seed``, ``presence_penalty``, ``frequency_penalty``, ``n`` ->
  ``candidateCount`` go to ``generationConfig``; ``response_format`` with a JSON schema
  -> ``responseMimeType: "application/json"`` and ``responseJsonSchema`` (``json_object``:
  the MIME type alone). Gemini's own names (``generationConfig``, its fields such as
  ``thinkingConfig``, ``responseSchema``, and ``safetySettings``, ``tools``, ``toolConfig``,
  ``cachedContent``, ``serviceTier``, ``store``; camelCase or snake_case) pass through. Any
  other parameter is an :class:`~brainbatch.errors.InputError` naming it: Gemini refuses
  unknown fields.

Answers: the text parts of the first candidate (thought parts left out), parsed as a JSON
object for JSON output. ``input_tokens`` is ``promptTokenCount`` (cached tokens included)
plus ``toolUsePromptTokenCount``; ``cached_tokens`` is ``cachedContentTokenCount``, priced at
the cache-read price; ``output_tokens`` is ``candidatesTokenCount`` plus
``thoughtsTokenCount``, since Gemini bills thinking tokens as output. Finish reasons are
reported OpenAI-style (``STOP`` -> ``"stop"``, ``MAX_TOKENS`` -> ``"length"``, safety
reasons -> ``"content_filter"``).

Safety blocks are per-row errors that are not retried: a prompt blocked by Gemini
(``promptFeedback.blockReason``) or an answer stopped for safety with no text is a
:class:`~brainbatch.errors.PermanentError` with ``kind="safety_block"`` whose message
names the reason and the categories rated as blocked.

Errors: Gemini answers a bad key with HTTP 400 ``API_KEY_INVALID``; that stops the job like
any refused key (:class:`~brainbatch.errors.AuthenticationError`). A 429's ``RetryInfo``
(``"retryDelay": "37s"``) is the wait before the retry when no ``Retry-After`` is sent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from ..errors import (
    AuthenticationError,
    ConfigurationError,
    InputError,
    PermanentError,
    ProviderError,
)
from ..images import gemini_part
from ..models import BatchRequest, ProviderResponse
from ..pricing import cost_of
from ._shape import Shape
from ._status import answer_error, body_message, status_error
from .http import HttpProvider, RawResponse, parse_json_text

__all__ = [
    "GEMINI_API_VERSION",
    "GEMINI_BASE_URL",
    "GENERATION_CONFIG_FIELDS",
    "REQUEST_FIELDS",
    "GeminiProvider",
    "gemini_model_id",
]

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
GEMINI_API_VERSION = "v1beta"

#: ``GenerationConfig`` fields of Gemini's API (its v1beta discovery document; a test checks
#: this list against it). A request param with one of these names (or its snake_case form)
#: goes into ``generationConfig``.
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

#: Top-level ``GenerateContentRequest`` fields a request param may set (besides
#: ``generationConfig``); ``contents``, ``systemInstruction`` and ``model`` come from the
#: request itself.
REQUEST_FIELDS = frozenset(
    {"tools", "toolConfig", "safetySettings", "cachedContent", "serviceTier", "store"}
)

# OpenAI-style params -> GenerationConfig fields
_OPENAI_PARAMS = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "max_tokens": "maxOutputTokens",
    "max_completion_tokens": "maxOutputTokens",
    "max_output_tokens": "maxOutputTokens",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "n": "candidateCount",
}

_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
}
_ROLES = {"user": "user", "assistant": "model", "model": "model"}
_SNAKE = re.compile(r"_([a-z])")
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _camel(name: str) -> str:
    return _SNAKE.sub(lambda m: m.group(1).upper(), name)


def gemini_model_id(model: str) -> str:
    """The model id in Gemini's URLs: ``"gemini-2.5-flash"`` from ``"gemini-2.5-flash"``,
    ``"models/gemini-2.5-flash"`` or ``"google/gemini-2.5-flash"``.

    Raises:
        InputError: a name that cannot be a Gemini model id (empty, or with ``/``, ``:``...).
    """
    name = model.strip()
    for prefix in ("models/", "google/", "gemini/"):
        if name.lower().startswith(prefix) and len(name) > len(prefix):
            name = name[len(prefix) :]
            break
    if not _MODEL_ID.match(name):
        raise InputError(
            f"model {model!r} is not a Gemini model id (like 'gemini-2.5-flash'): it may "
            "contain only letters, digits, '.', '_' and '-'"
        )
    return name


def _parts(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    if isinstance(content, list):
        parts: list[dict[str, Any]] = []
        for i, block in enumerate(content):
            if isinstance(block, str):
                parts.append({"text": block})
            elif isinstance(block, Mapping) and block.get("type") in ("text", "input_text"):
                parts.append({"text": str(block.get("text", ""))})
            elif isinstance(block, Mapping) and block.get("type") in ("image_url", "file"):
                parts.append(gemini_part(block) or {})
            elif isinstance(block, Mapping) and "type" not in block:
                parts.append(dict(block))  # already a Gemini part (inlineData, fileData...)
            else:
                kind = block.get("type") if isinstance(block, Mapping) else type(block).__name__
                raise InputError(
                    f"gemini: {where}[{i}] is a {kind!r} block; give text blocks or Gemini "
                    "parts ({'text': ...}, {'inlineData': ...}, {'fileData': ...})"
                )
        return parts
    raise InputError(f"gemini: {where} must be a string or a list of parts")


def _status_details(content: bytes) -> list[dict[str, Any]]:
    try:
        payload = orjson.loads(content)
    except orjson.JSONDecodeError:
        return []
    err = payload.get("error") if isinstance(payload, dict) else None
    details = err.get("details") if isinstance(err, dict) else None
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def parse_duration(value: Any) -> float | None:
    """Seconds in a protobuf ``Duration`` as JSON (``"37s"``, ``"1.5s"``), else None."""
    if isinstance(value, str) and value.endswith("s"):
        try:
            seconds = float(value[:-1])
        except ValueError:
            return None
        return seconds if seconds >= 0 else None
    return None


class GeminiProvider(HttpProvider):
    """Sends requests to ``{base_url}/{api_version}/models/{model}:generateContent``.

    Takes the same arguments as :class:`~brainbatch.providers.openai.OpenAIProvider`
    (key from ``GEMINI_API_KEY``, then ``GOOGLE_API_KEY``; default ``base_url``
    ``https://generativelanguage.googleapis.com``), plus ``api_version`` (``"v1beta"``).
    See the module documentation for how requests and answers are mapped.
    """

    name: ClassVar[str] = "gemini"
    path: ClassVar[str] = ""
    key_env: ClassVar[str] = "GEMINI_API_KEY"
    fallback_key_env: ClassVar[str] = "GOOGLE_API_KEY"
    default_base_url: ClassVar[str] = GEMINI_BASE_URL
    official_hosts: ClassVar[frozenset[str]] = frozenset({"generativelanguage.googleapis.com"})

    def __init__(
        self, model: str | None = None, *, api_version: str = GEMINI_API_VERSION, **kwargs: Any
    ) -> None:
        if not isinstance(api_version, str) or not re.fullmatch(r"v\d+[a-z0-9]*", api_version):
            raise ConfigurationError(
                f"api_version must look like 'v1beta' or 'v1', got {api_version!r}"
            )
        self.api_version = api_version
        self._paths: dict[str, str] = {}
        super().__init__(model, **kwargs)

    # -- keys and paths --------------------------------------------------------------------

    def key_env_var(self) -> str:
        """``GEMINI_API_KEY``, or ``GOOGLE_API_KEY`` when only that one is set."""
        if not os.environ.get(self.key_env) and os.environ.get(self.fallback_key_env):
            return self.fallback_key_env
        return self.key_env

    def _auth(self, key: str) -> dict[str, str]:
        return {"x-goog-api-key": key}

    def model_path(self, model: str, method: str = "generateContent") -> str:
        """``/v1beta/models/{model}:{method}`` for ``model`` (see :func:`gemini_model_id`)."""
        key = f"{model}\0{method}"
        path = self._paths.get(key)
        if path is None:
            path = f"/{self.api_version}/models/{gemini_model_id(model)}:{method}"
            if len(self._paths) < 4096:
                self._paths[key] = path
        return path

    def request_path(self, request: BatchRequest) -> str:
        return self.model_path(request.model)

    # -- requests --------------------------------------------------------------------------

    def build_body(self, request: BatchRequest) -> dict[str, Any]:
        """A ``GenerateContentRequest`` (without ``model``, which is in the URL).

        Raises:
            InputError: a parameter Gemini has no field for, or content it cannot take.
        """
        gemini_model_id(request.model)
        systems = [request.system] if request.system else []
        contents: list[dict[str, Any]] = []
        for i, m in enumerate(request.chat_messages()):
            role = m.get("role")
            if role in ("system", "developer"):
                content = m.get("content")
                if isinstance(content, str) and content:
                    systems.append(content)
                elif content:
                    systems.extend(p.get("text", "") for p in _parts(content, f"messages[{i}]"))
                continue
            if "parts" in m and role in ("user", "model"):
                contents.append(dict(m))
                continue
            if role not in _ROLES:
                raise InputError(
                    f"gemini: messages[{i}] has role {role!r}; use 'system', 'user' or 'assistant'"
                )
            contents.append(
                {"role": _ROLES[role], "parts": _parts(m.get("content"), f"messages[{i}]")}
            )
        body: dict[str, Any] = {"contents": contents}
        if systems:
            body["systemInstruction"] = {"parts": [{"text": "\n\n".join(systems)}]}
        config: dict[str, Any] = {}
        for name, value in (request.params or {}).items():
            camel = _camel(name)
            if name in _OPENAI_PARAMS:
                config[_OPENAI_PARAMS[name]] = value
            elif name == "stop":
                config["stopSequences"] = [value] if isinstance(value, str) else value
            elif name == "response_format":
                config.update(_response_format(value))
            elif camel == "generationConfig":
                if not isinstance(value, Mapping):
                    raise InputError("gemini: parameter 'generationConfig' must be an object")
                config.update({_camel(k): v for k, v in value.items()})
            elif camel in GENERATION_CONFIG_FIELDS:
                config[camel] = value
            elif camel in REQUEST_FIELDS:
                body[camel] = value
            else:
                raise InputError(
                    f"gemini: parameter {name!r} is not a field of Gemini's generateContent "
                    "request; use temperature, max_tokens, top_p, top_k, stop, seed, "
                    "response_format, a GenerationConfig field (thinkingConfig, "
                    "responseSchema...) or safetySettings, tools, toolConfig, cachedContent"
                )
        if config:
            body["generationConfig"] = config
        return body

    def max_output_tokens(self, body: Mapping[str, Any]) -> int:
        config = body.get("generationConfig")
        if isinstance(config, Mapping):
            value = config.get("maxOutputTokens")
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        return self.default_output_tokens

    # -- answers ---------------------------------------------------------------------------

    def parse_response(
        self,
        body: dict[str, Any],
        *,
        latency_ms: float | None = None,
        batch: bool = False,
        json_output: bool | None = None,
    ) -> ProviderResponse:
        """A ``GenerateContentResponse`` -> :class:`ProviderResponse`.

        Raises:
            PermanentError: (``kind="safety_block"``) the prompt or the answer was blocked.
            ConnectionFailed: (``kind="malformed_response"``) a field has the wrong type, or
                the answer has no candidate and no block reason.
            ProviderError: the body is an error object.
        """
        shape = Shape(self.name)
        body = shape.mapping(body, "the body", required=True)
        rid = shape.request_id = shape.text(body.get("responseId"), "responseId")
        error = answer_error(
            body, source=self.name, key_env=self.key_env_var(), secrets=(self._key,)
        )
        if error is not None:
            error.provider_request_id = error.provider_request_id or rid
            raise error
        feedback = shape.mapping(body.get("promptFeedback"), "promptFeedback")
        candidates = shape.array(body.get("candidates"), "candidates")
        block = shape.text(feedback.get("blockReason"), "promptFeedback.blockReason")
        if block is not None and not candidates:
            raise _safety_error(
                f"gemini: the prompt was blocked ({block})",
                shape.array(feedback.get("safetyRatings"), "promptFeedback.safetyRatings"),
                rid,
            )
        if not candidates:
            raise shape.error("the body has no candidates[0] and no promptFeedback.blockReason")
        candidate = shape.mapping(candidates[0], "candidates[0]", required=True)
        reason = shape.text(candidate.get("finishReason"), "candidates[0].finishReason")
        content = shape.mapping(candidate.get("content"), "candidates[0].content")
        texts: list[str] = []
        calls: list[Any] = []
        for i, item in enumerate(shape.array(content.get("parts"), "candidates[0].content.parts")):
            part = shape.mapping(item, f"candidates[0].content.parts[{i}]", required=True)
            if part.get("thought") is True:
                continue
            text = shape.text(part.get("text"), f"candidates[0].content.parts[{i}].text")
            if text is not None:
                texts.append(text)
            elif isinstance(part.get("functionCall"), dict):
                calls.append(part["functionCall"])
        finish = _FINISH.get(reason, reason.lower()) if reason is not None else None
        if not texts and not calls and finish == "content_filter":
            ratings = shape.array(candidate.get("safetyRatings"), "candidates[0].safetyRatings")
            raise _safety_error(f"gemini: the answer was blocked ({reason})", ratings, rid)
        result: str | dict[str, Any] = "".join(texts)
        if texts and json_output is not False:
            parsed = parse_json_text(str(result))
            if parsed is not None:
                result = parsed
        elif not texts and calls:
            result = {"tool_calls": calls}
        usage = shape.mapping(body.get("usageMetadata"), "usageMetadata")

        def count(name: str) -> int | None:
            return shape.count(usage.get(name), f"usageMetadata.{name}")

        prompt, tool_prompt = count("promptTokenCount"), count("toolUsePromptTokenCount")
        answer, thoughts = count("candidatesTokenCount"), count("thoughtsTokenCount")
        cached = count("cachedContentTokenCount")
        inp = None if prompt is None else prompt + (tool_prompt or 0)
        out = None if answer is None and thoughts is None else (answer or 0) + (thoughts or 0)
        version = shape.text(body.get("modelVersion"), "modelVersion")
        model = version or self.model or ""
        cost = cost_of(model, inp, out, cached, batch=batch)
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
            price_source=cost.price_source,
        )

    # -- errors ----------------------------------------------------------------------------

    def error_for(self, raw: RawResponse) -> ProviderError:
        """Gemini's error answers: a refused key (HTTP 400 ``API_KEY_INVALID``) stops the
        job like a 401; a 429's ``RetryInfo.retryDelay`` becomes ``retry_after``."""
        details = _status_details(raw.content) if raw.status in (400, 429, 503) else []
        status = raw.status
        if status == 400 and any(d.get("reason") == "API_KEY_INVALID" for d in details):
            status = 401
        error = status_error(
            status,
            body_message(raw.content),
            raw.headers,
            source=self.name,
            url=self.base_url,
            key_env=self.key_env_var(),
            secrets=(self._key,),
            request_id_header=self.request_id_header,
        )
        if status != raw.status:  # the key was refused: say what was answered
            error = AuthenticationError(
                str(error).replace(f"HTTP {status}", f"HTTP {raw.status} (API_KEY_INVALID)", 1),
                status_code=raw.status,
                provider_request_id=error.provider_request_id,
            )
        if error.retry_after is None:
            for d in details:
                if str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
                    error.retry_after = parse_duration(d.get("retryDelay"))
        return error


def _response_format(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError("gemini: response_format must be an object like {'type': 'json_schema'}")
    kind = value.get("type")
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        spec = value.get("json_schema") or {}
        schema = spec.get("schema", spec) if isinstance(spec, Mapping) else {}
        out: dict[str, Any] = {"responseMimeType": "application/json"}
        if schema:
            out["responseJsonSchema"] = schema
        return out
    raise InputError(
        f"gemini: response_format type {kind!r}; use 'text', 'json_object' or 'json_schema'"
    )


def _safety_error(what: str, ratings: list[Any], rid: str | None) -> ProviderError:
    flagged = [
        f"{r.get('category', '?')} ({r.get('probability', '?')})"
        for r in ratings
        if isinstance(r, dict) and (r.get("blocked") or r.get("probability") in ("MEDIUM", "HIGH"))
    ]
    why = f": {', '.join(flagged)}" if flagged else ""
    return PermanentError(
        f"{what}{why}. Gemini's safety filters refused this row; it is not retried "
        "(change the prompt, or set safetySettings in params)",
        kind="safety_block",
        provider_request_id=rid,
    )

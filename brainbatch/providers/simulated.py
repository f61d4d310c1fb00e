"""The simulated provider: an LLM API without a network, for demos, notebooks and tests.

Answers are deterministic functions of (seed, model, system, messages, params): the same
request gets the same answer in every run and from the simulated HTTP server
(:mod:`brainbatch.sim`), which uses :func:`simulate_answer` too. Every text answer starts with
``[simulated]`` so nobody mistakes it for a model's output.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from ..errors import ConnectionFailed, InputError, RateLimitError, ServerError
from ..images import media_digest, resolve_messages
from ..limits import Limiter
from ..models import BatchRequest, ProviderResponse
from ..pricing import cost_of
from ..tokens import estimate_message_tokens
from .base import Provider

__all__ = ["SimAnswer", "SimulatedProvider", "simulate_answer"]

_WORDS = (
    "the answer depends on context but overall the text reads as clear and useful with a "
    "positive tone some points are mixed while the main claim holds up well under review "
    "customers mention quality price delivery and support as the key factors in their view "
    "in short it is a reasonable summary of the input with no major issues found"
).split()

_LABELS = ("positive", "negative", "neutral", "mixed")


@dataclass(frozen=True, slots=True)
class SimAnswer:
    """A simulated completion: the answer and its usage."""

    result: str | dict[str, Any]
    input_tokens: int
    output_tokens: int
    finish_reason: str
    refusal: bool = False
    """True when ``result`` is a refusal text (the answer the schema asked for was declined)."""


def _digest(*parts: object) -> int:
    raw = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS, default=str)
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big")


_DAY_S = 86_400


def _resolve(schema: Any, defs: Mapping[str, Any]) -> Any:
    for _ in range(32):  # a $ref to a $ref...; recursion deeper than this stops the walk
        if not isinstance(schema, Mapping) or "$ref" not in schema:
            return schema
        schema = defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
    return {}


def _from_schema(
    schema: Any, rng: random.Random, depth: int = 0, defs: Mapping[str, Any] | None = None
) -> Any:
    """A value that follows ``schema`` (objects, arrays, enums, const, $ref/$defs, anyOf,
    numeric and length bounds, date-time/date strings), drawn from ``rng``."""
    if defs is None and isinstance(schema, Mapping):
        defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    defs = defs or {}
    schema = _resolve(schema, defs)
    if not isinstance(schema, Mapping):
        return None
    kind = schema.get("type")
    if isinstance(kind, list):
        real = [k for k in kind if k != "null"]
        kind = real[0] if real else "null"
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return rng.choice(list(schema["enum"]))
    branches = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(branches, list) and branches:
        real = [b for b in branches if _resolve(b, defs) != {"type": "null"}]
        if depth > 3 or not real:
            return None  # deep recursive unions end with null where the schema allows it
        return _from_schema(rng.choice(real), rng, depth + 1, defs)
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {}) or {}
        return {k: _from_schema(v, rng, depth + 1, defs) for k, v in props.items()}
    if kind == "array":
        items = schema.get("items", {"type": "string"})
        lo = int(schema.get("minItems", 1 if depth < 3 else 0))
        hi = max(lo, min(int(schema.get("maxItems", 3)), lo + 3))
        return [_from_schema(items, rng, depth + 1, defs) for _ in range(rng.randint(lo, hi))]
    if kind == "integer":
        lo = int(schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1))
        hi = int(schema.get("maximum", schema.get("exclusiveMaximum", 11) - 1))
        return rng.randint(lo, max(lo, hi))
    if kind == "number":
        low, high = float(schema.get("minimum", 0.0)), float(schema.get("maximum", 1.0))
        return round(rng.uniform(low, max(low, high)), 3)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    fmt = schema.get("format")
    if fmt in ("date-time", "date"):
        stamp = 1_767_225_600 + rng.randrange(365) * _DAY_S + rng.randrange(_DAY_S)  # 2026
        text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))
        return text if fmt == "date-time" else text[:10]
    text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 6)))
    shortest, longest = int(schema.get("minLength", 0)), schema.get("maxLength")
    text = text.ljust(shortest, "x")
    return text[: int(longest)] if longest is not None else text


def _broken(value: Any, rng: random.Random) -> Any:
    """``value`` made to break its schema: a required field dropped, or not JSON at all."""
    if isinstance(value, dict) and value:
        broken = dict(value)
        broken.pop(rng.choice(sorted(broken)))
        return broken
    return "[simulated] not JSON: this answer breaks the requested schema"


def answer_schema(params: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The JSON schema a request asks its answer to follow: OpenAI's ``response_format``
    (type ``json_schema``) or Anthropic's ``output_config.format``; None for free text."""
    fmt = params.get("response_format")
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema", {})
        schema = spec.get("schema", spec) if isinstance(spec, Mapping) else {}
        return schema if isinstance(schema, Mapping) else {}
    config = params.get("output_config")
    if isinstance(config, Mapping) and isinstance(config.get("format"), Mapping):
        schema = config["format"].get("schema", {})
        return schema if isinstance(schema, Mapping) else {}
    return None


REFUSAL_TEXT = "[simulated] I'm sorry, but I can't help with that request."


def simulate_answer(
    model: str,
    messages: list[dict[str, Any]],
    system: str | None = None,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    mean_output_tokens: int = 60,
    *,
    invalid_output: float = 0.0,
    refusal: float = 0.0,
    nth: int = 0,
) -> SimAnswer:
    """The deterministic simulated answer to a chat request.

    Output length is lognormal around ``mean_output_tokens`` and capped by ``max_tokens`` /
    ``max_completion_tokens`` (then ``finish_reason`` is ``"length"``). A ``response_format``
    of type ``json_schema`` (or Anthropic's ``output_config.format``) gets a dict that
    follows the schema; ``json_object`` gets ``{"answer": ..., "label": ...}``.

    ``invalid_output`` / ``refusal``: the share of structured answers that break the schema
    / that are refusals, drawn from (seed, request, ``nth``) where ``nth`` counts earlier
    answers to the same request: the same run gives the same answers, and a request asked
    again can get a good answer.
    """
    params = params or {}
    rng = random.Random(_digest(seed, model, system, messages, sorted(params.items())))
    input_tokens = estimate_message_tokens(messages, system)
    wanted = max(1, int(rng.lognormvariate(math.log(mean_output_tokens), 0.5)))
    cap = params.get("max_completion_tokens") or params.get("max_tokens")
    finish = "stop"
    if isinstance(cap, int) and cap > 0 and wanted > cap:
        wanted, finish = cap, "length"
    fmt = params.get("response_format")
    schema = answer_schema(params)
    result: str | dict[str, Any]
    if schema is not None:
        result = _from_schema(schema, rng)
        if invalid_output or refusal:
            draw = random.Random(_digest(seed, "fault", model, messages, nth)).random()
            if draw < refusal:
                return SimAnswer(REFUSAL_TEXT, input_tokens, 12, "stop", refusal=True)
            if draw < refusal + invalid_output:
                result = _broken(result, rng)
        wanted = min(wanted, max(5, len(orjson.dumps(result)) // 4))
        finish = "stop"
    elif isinstance(fmt, Mapping) and fmt.get("type") == "json_object":
        result = {"label": rng.choice(_LABELS), "answer": " ".join(rng.sample(_WORDS, 6))}
        finish = "stop"
    else:
        label = rng.choice(_LABELS)
        body = " ".join(rng.choice(_WORDS) for _ in range(max(1, int(wanted * 0.75) - 3)))
        result = f"[simulated] {label}: {body}"
        digest = media_digest(messages)
        if digest is not None:  # tells images apart: the same bytes, the same digest
            result += f" [media {digest}]"
    return SimAnswer(result, input_tokens, wanted, finish)


class SimulatedProvider(Provider):
    """An in-process provider that behaves like an LLM API, with no network.

    Args:
        model: the model to price answers as when a request's model is ``sim`` or starts with
            ``sim/`` (default ``gpt-4o-mini``); other model names are priced as themselves.
        latency_ms: median latency; ``latency_sigma`` is the lognormal spread (0 = fixed).
        error_rate: share of requests that fail, split over ``error_kinds``
            (``"rate_limit"``, ``"server_error"``, ``"timeout"``).
        seed: changes every answer and every random draw.
        batch: price as native batch work (50% path).
    """

    name: ClassVar[str] = "sim"

    def __init__(
        self,
        model: str = "gpt-4o-mini",
        *,
        latency_ms: float = 400.0,
        latency_sigma: float = 0.4,
        error_rate: float = 0.0,
        error_kinds: tuple[str, ...] = ("rate_limit", "server_error", "timeout"),
        seed: int = 0,
        mean_output_tokens: int = 60,
        batch: bool = False,
        rpm: int | None = None,
        tpm: int | None = None,
        rate_window_s: float = 60.0,
    ) -> None:
        if latency_ms < 0:
            raise InputError(f"latency_ms must be >= 0, got {latency_ms!r}")
        if not 0.0 <= error_rate <= 1.0:
            raise InputError(f"error_rate must be between 0 and 1, got {error_rate!r}")
        unknown = set(error_kinds) - {"rate_limit", "server_error", "timeout"}
        if unknown:
            raise InputError(f"unknown error_kinds {sorted(unknown)}")
        self.model = model
        self.latency_ms = float(latency_ms)
        self.latency_sigma = float(latency_sigma)
        self.error_rate = float(error_rate)
        self.error_kinds = tuple(error_kinds)
        self.seed = seed
        self.mean_output_tokens = mean_output_tokens
        self.batch = batch
        self._rng = random.Random(seed)
        self.calls = 0
        self.limiter = Limiter(rpm=rpm, tpm=tpm, window_s=rate_window_s) if rpm or tpm else None
        """rpm/tpm: the same limiter the HTTP providers use (None without limits)."""

    def __repr__(self) -> str:
        return (
            f"SimulatedProvider(model={self.model!r}, latency_ms={self.latency_ms}, "
            f"error_rate={self.error_rate}, seed={self.seed})"
        )

    def cache_namespace(self) -> str:
        """The response cache's namespace: the seed, answer length and pricing path change
        the answers."""
        path = "batch" if self.batch else "realtime"
        return f"{self.name}||seed={self.seed},out={self.mean_output_tokens}|{path}"

    def price_model(self, model: str) -> str:
        """The model name answers are priced as."""
        if model == "sim":
            return self.model
        return model.removeprefix("sim/")

    def sample_latency_s(self) -> float:
        """One latency draw in seconds."""
        if self.latency_ms <= 0:
            return 0.0
        if self.latency_sigma <= 0:
            return self.latency_ms / 1000.0
        return self._rng.lognormvariate(math.log(self.latency_ms), self.latency_sigma) / 1000.0

    async def __call__(self, request: BatchRequest) -> ProviderResponse:
        limiter = self.limiter
        if limiter is None:
            return await self._answer(request)
        estimate = 0
        if limiter.counts_tokens:
            estimate = estimate_message_tokens(request.chat_messages(), request.system)
            estimate += self.mean_output_tokens
        ticket = await limiter.acquire(estimate)
        try:
            out = await self._answer(request)
        except BaseException:
            limiter.record_usage(ticket, estimate, 0)
            raise
        finally:
            limiter.release()
        limiter.record_usage(ticket, estimate, (out.input_tokens or 0) + (out.output_tokens or 0))
        return out

    async def _answer(self, request: BatchRequest) -> ProviderResponse:
        self.calls += 1
        delay = self.sample_latency_s()
        if self.error_rate and self._rng.random() < self.error_rate:
            kind = self._rng.choice(self.error_kinds)
            await asyncio.sleep(delay)
            if kind == "rate_limit":
                raise RateLimitError(
                    "simulated 429: rate limit reached", status_code=429, retry_after=1.0
                )
            if kind == "server_error":
                raise ServerError("simulated 500: internal server error", status_code=500)
            raise ConnectionFailed("simulated timeout: no answer in time", kind="timeout")
        answer = simulate_answer(
            request.model,
            resolve_messages(request.chat_messages()),  # files are read here, at send time
            request.system,
            request.params,
            self.seed,
            self.mean_output_tokens,
        )
        await asyncio.sleep(delay)
        priced_as = self.price_model(request.model)
        cost = cost_of(priced_as, answer.input_tokens, answer.output_tokens, batch=self.batch)
        return ProviderResponse(
            result=answer.result,
            model=request.model,
            input_tokens=answer.input_tokens,
            output_tokens=answer.output_tokens,
            cached_tokens=0,
            finish_reason=answer.finish_reason,
            provider_request_id=f"sim-{_digest(self.seed, request.id):016x}",
            latency_ms=delay * 1000.0,
            cost_usd=cost.usd,
            price_source=cost.price_source,
            simulated=True,
        )

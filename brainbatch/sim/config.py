"""Configuration of the simulated server: latency, fault injection, limits and the API key."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError

__all__ = ["FAULT_KINDS", "OPENAI_TIER_1_ENQUEUED_TOKENS", "SimConfig"]

#: The randomly injected faults, in the order a single random draw is matched against them.
FAULT_KINDS = ("http_500", "http_502", "http_503", "rate_limit_429", "hang", "drop", "malformed")

#: OpenAI's batch queue limits (enqueued prompt tokens per model, across an organisation's
#: open batches) at usage tier 1, as OpenAI's rate-limits page gives them; higher tiers
#: allow more (gpt-4o-mini: 20M at tier 2, 40M at tier 3...). Use them with
#: ``SimServer(enqueued_token_limit=OPENAI_TIER_1_ENQUEUED_TOKENS)``.
OPENAI_TIER_1_ENQUEUED_TOKENS: Mapping[str, int] = {
    "gpt-4o": 90_000,
    "gpt-4o-mini": 2_000_000,
}

DEFAULT_MODELS = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1-mini",
    "claude-haiku-4-5",
    "claude-sonnet-4-6",
    "sim",
)


@dataclass(frozen=True, slots=True)
class SimConfig:
    """How a :class:`~brainbatch.sim.SimServer` behaves. Immutable: change it with
    ``SimServer.configure(**changes)`` (which validates the new values).

    Latency:
        latency_ms: median server-side delay before each answer (0 = answer at once).
        latency_sigma: lognormal spread of that delay (0 = always exactly ``latency_ms``).
        The delay applies to answers and injected faults; refusals (401, 400, RPM/TPM 429)
        are immediate. Stopping the server drops requests still waiting.

    Answers:
        seed: changes every answer (same meaning as ``SimulatedProvider(seed=...)``) and
            seeds the server's random draws (latency, faults).
        mean_output_tokens: typical answer length, as for ``SimulatedProvider``.

    Random faults (each a fraction of requests, 0..1; together at most 1):
        http_500, http_502, http_503: answer with that status and the provider's error JSON.
        rate_limit_429: answer 429 with ``Retry-After`` (whole seconds, rounded up) and
            ``retry-after-ms`` headers saying ``retry_after`` seconds.
        hang: never answer; the connection stays open until the client gives up, the server
            stops, or ``max_hang_s`` passes (then the connection is closed without a response).
        drop: close the connection without any response.
        malformed: answer 200 with a truncated, unparsable JSON body.

    Deterministic faults:
        fail_first_n: the first ``n`` attempts of every distinct request body (same bytes) fail
            with ``fail_status`` (429s carry ``Retry-After`` like above); the next attempt
            succeeds. Retry tests need no randomness.

    Structured answers (requests with a JSON schema: OpenAI ``response_format`` of type
    ``json_schema``, Anthropic ``output_config.format``; each a fraction, 0..1):
        invalid_output: answers that break the schema (a required field left out).
        refusal: refusals (OpenAI ``message.refusal``, Anthropic ``stop_reason: "refusal"``).
        Drawn from the seed, the request and how many answers that request got before, so
        runs repeat exactly and a request sent again may get a good answer.

    Limits (a sliding 60 s window shared by all endpoints; only requests that get an answer
    count):
        rpm: requests per minute; over it: 429 with ``Retry-After`` from the window.
        tpm: tokens (prompt + completion of the answer) per minute; same.
        When set, every answer carries the ``x-ratelimit-*`` headers (OpenAI paths) or
        ``anthropic-ratelimit-*`` headers (``/v1/messages``).

    Flex processing (OpenAI ``service_tier: "flex"``):
        flex_unavailable: share of flex requests refused with 429 ``resource_unavailable``
            (OpenAI answers so when flex capacity is short); answered flex requests say
            ``"service_tier": "flex"``.

    Batch queue (OpenAI Batch API):
        enqueued_token_limit: the most prompt tokens one model may have enqueued across the
            open batches (validating, in progress, finalizing, cancelling), as one number for
            every model or ``{model: tokens}`` (models not named are unlimited); a batch that
            would go over it fails validation with ``token_limit_exceeded``, as OpenAI's do.
            ``None`` (default): no limit. :data:`OPENAI_TIER_1_ENQUEUED_TOKENS` has real ones.

    Auth:
        api_key: when set, requests must carry it (``Authorization: Bearer`` on OpenAI paths,
            ``x-api-key`` or ``Authorization: Bearer`` on Anthropic paths, as recent anthropic
            SDKs send it) or get 401 in the provider's error shape. Never shown in reprs.
    """

    latency_ms: float = 0.0
    latency_sigma: float = 0.0
    seed: int = 0
    mean_output_tokens: int = 60
    http_500: float = 0.0
    http_502: float = 0.0
    http_503: float = 0.0
    rate_limit_429: float = 0.0
    hang: float = 0.0
    drop: float = 0.0
    malformed: float = 0.0
    retry_after: float = 1.0
    max_hang_s: float = 30.0
    fail_first_n: int = 0
    fail_status: int = 500
    rpm: int | None = None
    tpm: int | None = None
    api_key: str | None = field(default=None, repr=False)
    models: tuple[str, ...] = DEFAULT_MODELS
    enqueued_token_limit: int | Mapping[str, int] | None = None
    flex_unavailable: float = 0.0
    invalid_output: float = 0.0
    refusal: float = 0.0

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise InputError(f"SimConfig latency_ms must be >= 0, got {self.latency_ms!r}")
        if self.latency_sigma < 0:
            raise InputError(f"SimConfig latency_sigma must be >= 0, got {self.latency_sigma!r}")
        if self.mean_output_tokens < 1:
            raise InputError(
                f"SimConfig mean_output_tokens must be >= 1, got {self.mean_output_tokens!r}"
            )
        for kind in FAULT_KINDS:
            rate = getattr(self, kind)
            if not 0.0 <= rate <= 1.0:
                raise InputError(f"SimConfig {kind} must be between 0 and 1, got {rate!r}")
        if self.fault_rate > 1.0 + 1e-9:
            raise InputError(
                f"SimConfig fault rates add up to {self.fault_rate:.3f}; they must be <= 1"
            )
        if not 0.0 <= self.flex_unavailable <= 1.0:
            raise InputError(
                f"SimConfig flex_unavailable must be between 0 and 1, got {self.flex_unavailable!r}"
            )
        for name in ("invalid_output", "refusal"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise InputError(f"SimConfig {name} must be between 0 and 1, got {rate!r}")
        if self.invalid_output + self.refusal > 1.0 + 1e-9:
            raise InputError("SimConfig invalid_output + refusal must be <= 1")
        if self.retry_after < 0:
            raise InputError(f"SimConfig retry_after must be >= 0, got {self.retry_after!r}")
        if self.max_hang_s < 0:
            raise InputError(f"SimConfig max_hang_s must be >= 0, got {self.max_hang_s!r}")
        if self.fail_first_n < 0:
            raise InputError(f"SimConfig fail_first_n must be >= 0, got {self.fail_first_n!r}")
        if not 400 <= self.fail_status <= 599:
            raise InputError(
                f"SimConfig fail_status must be an HTTP error status, got {self.fail_status!r}"
            )
        for name in ("rpm", "tpm"):
            limit = getattr(self, name)
            if limit is not None and limit < 1:
                raise InputError(f"SimConfig {name} must be >= 1 or None, got {limit!r}")

        limit = self.enqueued_token_limit
        if limit is not None:
            values = list(limit.values()) if isinstance(limit, Mapping) else [limit]
            if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
                raise InputError(
                    "SimConfig enqueued_token_limit must be a whole number >= 1, a "
                    f"{{model: number}} mapping of them, or None; got {limit!r}"
                )
            if isinstance(limit, Mapping):
                object.__setattr__(self, "enqueued_token_limit", dict(limit))

    def token_limit(self, model: str) -> int | None:
        """The enqueued-token limit of ``model``'s batches (``None``: unlimited)."""
        limit = self.enqueued_token_limit
        if isinstance(limit, Mapping):
            return limit.get(model)
        return limit

    @property
    def fault_rate(self) -> float:
        """The share of requests that get a random fault."""
        return float(sum(getattr(self, kind) for kind in FAULT_KINDS))

    def replace(self, **changes: Any) -> SimConfig:
        """A copy with ``changes`` applied (unknown names are an :class:`InputError`)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise InputError(f"unknown SimConfig settings {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

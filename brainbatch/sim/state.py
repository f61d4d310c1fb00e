"""The simulated server's shared state: configuration, request log, limits and random draws.

One :class:`SimState` lives on each app (``app[SIM_STATE]``, see :mod:`brainbatch.sim.server`).
Everything here runs on the server's event loop except the read-only views and the
reference swaps done by :meth:`SimState.configure` / :meth:`SimState.reset`, which are safe
to call from another thread (each swaps one attribute; handlers read it once per request).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import random
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

from .config import FAULT_KINDS, SimConfig

__all__ = ["RateLimiter", "RequestRecord", "SimState", "body_hash", "last_user_text"]

WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """What the server received, one per request. Never holds credentials.

    Attributes:
        t: ``time.monotonic()`` when the request arrived (comparable across threads).
        path: the URL path, e.g. ``/v1/chat/completions``.
        status: the status the server chose to send; 0 when it sent none (hang, drop).
        body_hash: stable hash of the raw request body (same bytes, same hash).
        user_text: text of the last ``user`` message, if any.
        custom_id: value of the ``x-brainbatch-custom-id`` header, if sent.
        fault: why the request was not answered normally (``"http_500"``, ``"rate_limit_429"``,
            ``"rpm"``, ``"tpm"``, ``"flex"`` (no flex capacity), ``"fail_first_n"``,
            ``"auth"``, ``"invalid"``, ``"hang"``, ``"drop"``, ``"malformed"``), else ``None``.
    """

    t: float
    path: str
    status: int
    body_hash: str
    user_text: str | None
    custom_id: str | None
    fault: str | None = None


def body_hash(raw: bytes) -> str:
    """The stable hash the request log uses for a body: 16 hex digits of BLAKE2b."""
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


def last_user_text(messages: Any) -> str | None:
    """The text of the last ``user`` message (string content or text blocks joined)."""
    if not isinstance(messages, list):
        return None
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "\n".join(
                    b["text"]
                    for b in content
                    if isinstance(b, dict) and isinstance(b.get("text"), str)
                )
            return None
    return None


class RateLimiter:
    """Requests- and tokens-per-minute over a sliding 60 s window."""

    __slots__ = ("_requests", "_tokens", "_used", "rpm", "tpm")

    def __init__(self, rpm: int | None, tpm: int | None) -> None:
        self.rpm = rpm
        self.tpm = tpm
        self._requests: deque[float] = deque()
        self._tokens: deque[tuple[float, int]] = deque()
        self._used = 0

    def _prune(self, now: float) -> None:
        horizon = now - WINDOW_S
        requests, tokens = self._requests, self._tokens
        while requests and requests[0] <= horizon:
            requests.popleft()
        while tokens and tokens[0][0] <= horizon:
            self._used -= tokens.popleft()[1]

    def admit(self, now: float, tokens: int) -> tuple[str | None, float]:
        """Count one request of ``tokens`` tokens, or refuse it.

        Returns ``(None, 0)`` when admitted, else ``("rpm" | "tpm", seconds to wait)``.
        """
        self._prune(now)
        if self.rpm is not None and len(self._requests) >= self.rpm:
            return "rpm", self._requests[0] + WINDOW_S - now
        if self.tpm is not None and self._tokens and self._used + tokens > self.tpm:
            # wait until enough old tokens leave the window (all of them at worst)
            need = self._used + tokens - self.tpm
            freed = 0
            for t, n in self._tokens:
                freed += n
                if freed >= need:
                    return "tpm", t + WINDOW_S - now
            return "tpm", self._tokens[-1][0] + WINDOW_S - now
        if self.rpm is not None:
            self._requests.append(now)
        if self.tpm is not None:
            self._tokens.append((now, tokens))
            self._used += tokens
        return None, 0.0

    def snapshot(self, now: float) -> dict[str, float]:
        """Limits, what remains and seconds until the window next frees capacity."""
        self._prune(now)
        out: dict[str, float] = {}
        if self.rpm is not None:
            out["limit_requests"] = self.rpm
            out["remaining_requests"] = max(0, self.rpm - len(self._requests))
            out["reset_requests"] = self._requests[0] + WINDOW_S - now if self._requests else 0.0
        if self.tpm is not None:
            out["limit_tokens"] = self.tpm
            out["remaining_tokens"] = max(0, self.tpm - self._used)
            out["reset_tokens"] = self._tokens[0][0] + WINDOW_S - now if self._tokens else 0.0
        return out


class SimState:
    """Configuration, request log, limiter and random draws of one simulated server.

    Other route modules (e.g. the native Batch API routes) use:
    ``state.config`` (the current :class:`SimConfig`), ``state.record(...)`` to log a request,
    ``state.new_id(prefix)`` for unique ids, and :func:`brainbatch.sim.wire.chat_completion` /
    :func:`brainbatch.sim.wire.anthropic_message` for answers identical to the real-time ones.
    """

    def __init__(self, config: SimConfig) -> None:
        self.initial_config = config
        self.log: list[RequestRecord] = []
        self._ids = itertools.count(1)
        self._id_prefix = os.urandom(4).hex()
        self.configure(config)
        self.reset()

    # -- configuration (thread-safe: attribute swaps) ---------------------------------------
    def configure(self, config: SimConfig) -> None:
        """Switch to ``config``; the rate windows restart if the limits changed."""
        old = getattr(self, "config", None)
        thresholds: list[tuple[float, str]] = []
        acc = 0.0
        for kind in FAULT_KINDS:
            rate = getattr(config, kind)
            if rate > 0:
                acc += rate
                thresholds.append((acc, kind))
        self.fault_thresholds = tuple(thresholds)
        self.rng = random.Random(config.seed)
        if old is None or (old.rpm, old.tpm) != (config.rpm, config.tpm):
            self.limiter = RateLimiter(config.rpm, config.tpm)
        self.config = config

    def reset(self) -> None:
        """Forget the log, the rate windows and the ``fail_first_n`` attempt counts."""
        self.log = []
        self.attempts: Counter[str] = Counter()
        self.answers: Counter[str] = Counter()
        self.limiter = RateLimiter(self.config.rpm, self.config.tpm)
        self.rng = random.Random(self.config.seed)

    # -- hot path helpers ------------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        """A unique id like ``chatcmpl-1a2b3c4d000000000042``."""
        return f"{prefix}{self._id_prefix}{next(self._ids):012d}"

    def record(
        self,
        t: float,
        path: str,
        status: int,
        body_hash: str,
        user_text: str | None = None,
        custom_id: str | None = None,
        fault: str | None = None,
    ) -> None:
        """Append one :class:`RequestRecord` to the log."""
        self.log.append(RequestRecord(t, path, status, body_hash, user_text, custom_id, fault))

    def nth_answer(self, body_hash: str) -> int:
        """How many answers this request body got before (counted only while
        ``invalid_output`` or ``refusal`` is set: they decide by it)."""
        if not (self.config.invalid_output or self.config.refusal):
            return 0
        seen = self.answers[body_hash]
        self.answers[body_hash] = seen + 1
        return seen

    def draw_fault(self) -> str | None:
        """A random fault kind, or ``None`` (most of the time)."""
        if not self.fault_thresholds:
            return None
        r = self.rng.random()
        for threshold, kind in self.fault_thresholds:
            if r < threshold:
                return kind
        return None

    def draw_latency_s(self) -> float:
        """One server-side latency draw in seconds."""
        cfg = self.config
        if cfg.latency_ms <= 0:
            return 0.0
        if cfg.latency_sigma <= 0:
            return cfg.latency_ms / 1000.0
        return self.rng.lognormvariate(math.log(cfg.latency_ms), cfg.latency_sigma) / 1000.0

    # -- views (safe from any thread) ------------------------------------------------------
    def count(self, path: str | None = None) -> int:
        """Requests received, optionally only those for ``path``."""
        log = self.log
        if path is None:
            return len(log)
        return sum(1 for r in list(log) if r.path == path)

    def count_by_hash(self, status: int | None = None) -> Counter[str]:
        """How many times each distinct body arrived (optionally only those answered
        with ``status``)."""
        return Counter(r.body_hash for r in list(self.log) if status is None or r.status == status)

"""Rate limits and retries: RPM and TPM together, max concurrency, a shared 429 cool-down.

One :class:`Limiter` per provider (so per job) is shared by every worker:

* **Concurrency**: at most ``max_concurrent`` requests in flight.
* **RPM and TPM**: workers wait in line (first come, first served); the one at the head
  sleeps until there is room for 1 request and its estimated tokens (prompt estimate +
  ``max_tokens``); nothing polls. Its place is counted when it leaves, after any cool-down,
  so the limits hold for the times requests are really sent (a place counted before a
  pause and used after it would let a burst through when the pause ends). Requests are
  spaced evenly (GCRA, a burst of one second's worth, then a steady rate) and counted
  over a sliding window too, the hard bound; tokens are counted over a sliding window,
  since requests differ in size. After the answer the token reservation is corrected by
  the actual usage (:meth:`Limiter.record_usage`), giving back what was over-estimated.
  Both admit at most ``headroom`` x the limit (99% of RPM, 97% of TPM by default) in *any*
  window of ``window_s`` seconds plus a margin for the time requests take to reach the
  provider (1% of the window, at least 50 ms, at most 0.5 s), so they are safe against the
  strictest enforcement, a sliding window, as well as against token buckets.
* **Shared cool-down**: when any request gets a 429 (or a ``Retry-After``), or the
  ``x-ratelimit-remaining-*`` headers say nothing is left, :meth:`Limiter.cool_down` holds
  *every* worker until the provider's reset time, then lets them go with a little jitter: a
  429 storm slows the whole job down instead of every worker hammering the API.

:class:`RetryPolicy` is the one retry rule of every HTTP call brainbatch makes (real-time
requests and every Batch API call): exponential backoff with full jitter, honouring
``Retry-After`` and ``retry-after-ms``, with a bounded number of attempts and a bounded total
wait; calls that must not run twice (creating a batch) are sent again only when the provider
certainly did not act on them (:func:`retry_allowed`).

Why hand-written rather than aiolimiter + tenacity/stamina (``bench/realtime.py --limits``
measures the overheads): aiolimiter (a leaky bucket) costs about what :class:`Limiter`
costs (1.5-3.5 us per request here) but cannot give back over-estimated tokens, has no
shared cool-down and no reservation for a request waiting on two limits at once. tenacity
(and stamina, built on it) retries a single call, cannot make *other* workers wait on a
``Retry-After``, and costs 75-110 us of CPU per request here even when the first try
succeeds, against 0.1-0.2 us for the plain loop in
:class:`~brainbatch.providers.http.HttpProvider`: at thousands of requests per second that
is a third to half of what the whole HTTP exchange costs.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Literal

from .errors import ConnectionFailed, InputError, ProviderError, RateLimitError

__all__ = [
    "DEFAULT_AUTO_SHARE",
    "MIN_AUTO_SHARE",
    "RELEARN_EVERY",
    "Attempt",
    "Attempts",
    "Limiter",
    "RetryPolicy",
    "parse_reset",
    "parse_retry_after",
    "rate_header",
    "retry_allowed",
]


def retry_allowed(error: BaseException, *, idempotent: bool = True) -> bool:
    """May the call that failed with ``error`` be sent again (attempts and waits aside)?

    Only :class:`~brainbatch.errors.TransientError` s are retried (408, 409, 429, 5xx,
    timeouts, dropped connections, malformed bodies). A call that must not run twice
    (``idempotent=False``: uploading a file, creating a batch) is sent again only when the
    provider certainly did not act on it: the connection was refused or could not be opened
    in time (``ConnectionFailed.maybe_sent`` is False), or the answer was a 429 (refused before
    any work). Never after a 5xx, a read timeout or a connection dropped mid-call: the provider
    may have accepted it, and a second batch would be paid twice.
    """
    if not isinstance(error, ProviderError) or not error.retryable:
        return False
    if idempotent or isinstance(error, RateLimitError):
        return True
    return isinstance(error, ConnectionFailed) and not error.maybe_sent


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """The retry rule: when to send a failed call again, and how long to wait first.

    A failed call is sent again when :func:`retry_allowed` says so, fewer than
    ``max_attempts`` were made, and the wait would not take the waits of this call past
    ``max_total_wait_s``; otherwise its error is raised, with ``attempts`` set. The wait is
    the provider's ``Retry-After`` / ``retry-after-ms`` when it sent one (at most
    ``max_retry_after_s``, plus up to 10% jitter), else full jitter under a doubling ceiling
    (``base_delay_s``, twice that, ... up to ``max_delay_s``).

    Use :meth:`attempts` to loop over the tries of one call, or :meth:`retry_in` for a
    hand-written loop (the real-time hot path).

    Args:
        max_attempts: tries in all, the first included (1 = never retry).
        base_delay_s: the backoff ceiling of the first retry; it doubles with each retry.
        max_delay_s: the largest backoff ceiling.
        max_retry_after_s: the longest ``Retry-After`` honoured as given (longer hints are
            cut to this).
        max_total_wait_s: the most time one call spends waiting between its attempts; a
            retry that would wait past it is not made.
    """

    max_attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_retry_after_s: float = 300.0
    max_total_wait_s: float = 600.0

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise InputError(f"max_attempts must be an integer >= 1, got {self.max_attempts!r}")
        for name in ("base_delay_s", "max_delay_s", "max_retry_after_s", "max_total_wait_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise InputError(f"{name} must be a number >= 0, got {value!r}")

    def ceiling(self, attempt: int) -> float:
        """The backoff ceiling after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** min(attempt - 1, 30)))

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after failed attempt ``attempt``.

        Without a hint: full jitter, uniform in ``[0, ceiling(attempt)]``. With the
        provider's ``retry_after``: at least that (capped at ``max_retry_after_s``), plus up
        to 10% (at most 1 s) of jitter so that retries do not arrive all at once.
        """
        r = (rng or random).random()
        if retry_after is not None:
            wait = min(max(retry_after, 0.0), self.max_retry_after_s)
            return wait + r * min(1.0, 0.1 * wait)
        return r * self.ceiling(attempt)

    def retry_in(
        self,
        error: BaseException,
        attempt: int,
        waited: float = 0.0,
        *,
        idempotent: bool = True,
        rng: random.Random | None = None,
    ) -> float | None:
        """Seconds to wait before sending again a call whose attempt number ``attempt``
        (1-based) failed with ``error``, having already waited ``waited`` seconds between its
        attempts; None when the error must be raised instead."""
        if attempt >= self.max_attempts or not retry_allowed(error, idempotent=idempotent):
            return None
        hint = error.retry_after if isinstance(error, ProviderError) else None
        wait = self.delay(attempt, hint, rng)
        if waited + wait > self.max_total_wait_s:
            return None
        return wait

    def attempts(
        self,
        *,
        idempotent: bool = True,
        rng: random.Random | None = None,
        on_retry: Callable[[ProviderError, int, float], None] | None = None,
    ) -> Attempts:
        """The attempts of one call, to loop over (stamina's ``retry_context`` style)::

            async for attempt in policy.attempts(idempotent=False):
                with attempt:
                    return await send()

        A :class:`~brainbatch.errors.ProviderError` raised inside ``with attempt:`` is
        swallowed when :meth:`retry_in` allows another try (the loop then waits and goes
        round again) and propagates otherwise, with ``attempts`` set; other exceptions
        always propagate. ``on_retry(error, attempt, delay)`` is called before each wait.
        """
        return Attempts(self, idempotent=idempotent, rng=rng, on_retry=on_retry)


class Attempt:
    """One try of a call: a context manager that decides what a failure inside it means."""

    __slots__ = ("_owner", "number")

    def __init__(self, owner: Attempts, number: int) -> None:
        self._owner = owner
        self.number = number
        """1 for the first try."""

    def __enter__(self) -> Attempt:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        owner = self._owner
        if exc is None:
            owner._done = True
            return False
        if not isinstance(exc, ProviderError):
            return False
        exc.attempts = self.number
        delay = owner.policy.retry_in(
            exc, self.number, owner.waited, idempotent=owner.idempotent, rng=owner.rng
        )
        if delay is None:
            return False
        owner.waited += delay
        owner._delay = delay
        if owner.on_retry is not None:
            owner.on_retry(exc, self.number, delay)
        return True


class Attempts:
    """The async iterator :meth:`RetryPolicy.attempts` returns."""

    __slots__ = ("_delay", "_done", "idempotent", "number", "on_retry", "policy", "rng", "waited")

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        idempotent: bool,
        rng: random.Random | None,
        on_retry: Callable[[ProviderError, int, float], None] | None,
    ) -> None:
        self.policy = policy
        self.idempotent = idempotent
        self.rng = rng
        self.on_retry = on_retry
        self.number = 0
        self.waited = 0.0
        """Seconds waited between attempts so far."""
        self._delay: float | None = None
        self._done = False

    def __aiter__(self) -> Attempts:
        return self

    async def __anext__(self) -> Attempt:
        if self._done:
            raise StopAsyncIteration
        if self.number:
            delay, self._delay = self._delay, None
            if delay is None:  # the last attempt neither succeeded nor failed retryably
                raise StopAsyncIteration
            await asyncio.sleep(delay)
        self.number += 1
        return Attempt(self, self.number)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


REQUEST_HEADROOM = 0.99
"""Default share of an RPM limit a :class:`Limiter` uses (request counts are exact)."""
TOKEN_HEADROOM = 0.97
"""Default share of a TPM limit a :class:`Limiter` uses (token counts start as estimates)."""

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_reset(value: str | None) -> float | None:
    """Seconds until a rate-limit window resets, from ``x-ratelimit-reset-*`` headers.

    Understands OpenAI's durations (``"1s"``, ``"6m0s"``, ``"20ms"``), plain seconds and
    Anthropic's RFC 3339 timestamps (``"2025-01-01T00:00:30Z"``).
    """
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value.strip():
        return sum(float(n) * _UNIT_S[u] for n, u in parts)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class _Gcra:
    """Even spacing: ``limit`` units per ``window_s`` as a steady rate, after a burst of
    ``burst`` units (one second's worth of a per-minute limit) that also absorbs the lateness
    of wake-ups. The burst can put more than the limit in one window after an idle spell:
    the hard bound is the sliding window kept beside it (:class:`_TokenWindow`)."""

    __slots__ = ("burst_s", "interval", "tat")

    def __init__(self, limit: float, window_s: float, headroom: float) -> None:
        burst = max(1.0, limit / 60.0)
        if burst >= limit:
            burst = max(1.0, limit / 2.0)
        rate = limit * headroom / window_s
        self.interval = 1.0 / rate  # seconds per unit
        self.burst_s = burst * self.interval
        self.tat = 0.0  # theoretical arrival time of the next unit

    def earliest(self, now: float, cost: float) -> float:
        """The first time ``cost`` units may be used (nothing is reserved)."""
        tat = self.tat if self.tat > now else now
        # exact GCRA: a request bigger than the burst waits for the extra (finite) time too,
        # so no window ever holds more than burst + rate * window = the limit
        go = tat + cost * self.interval - self.burst_s
        return go if go > now else now

    def commit(self, at: float, cost: float) -> None:
        """Count ``cost`` units used at time ``at`` (no earlier than :meth:`earliest`)."""
        tat = self.tat if self.tat > at else at
        self.tat = tat + cost * self.interval

    def reserve(self, now: float, cost: float) -> float:
        """:meth:`earliest`, then :meth:`commit` at that time; returns the time."""
        go = self.earliest(now, cost)
        self.commit(go, cost)
        return go


class _TokenWindow:
    """At most ``limit`` tokens in any ``window_s`` (a sliding window, like the strictest
    providers), for requests of any size; reservations can be corrected afterwards.

    The log keeps at most ~``slots`` entries: reservations are grouped in slots of
    1/``slots`` of the window, each stamped with the end of its slot (later than the truth:
    conservative). An entry is ``[time, tokens, alive]``; :meth:`reserve` returns it as the
    ticket.
    """

    __slots__ = ("limit", "log", "slot", "used", "window")

    def __init__(self, limit: float, window_s: float, headroom: float, slots: int = 100) -> None:
        self.limit = limit * headroom
        self.window = window_s
        self.slot = window_s / slots
        self.log: deque[list[float]] = deque()
        self.used = 0.0

    def _expire(self, horizon: float) -> None:
        log = self.log
        while log and log[0][0] <= horizon:
            entry = log.popleft()
            self.used -= entry[1]
            entry[2] = 0.0

    def earliest(self, now: float, cost: float) -> float:
        """The first time ``cost`` more tokens fit in the window (nothing is reserved)."""
        self._expire(now - self.window)
        excess = self.used + cost - self.limit
        if excess <= 0 or not self.log:
            return now
        freed = 0.0
        for entry in self.log:  # wait for the oldest entries to leave the window
            freed += entry[1]
            if freed >= excess:
                return max(now, entry[0] + self.window)
        return max(now, self.log[-1][0] + self.window)  # an empty window takes any size

    def commit(self, at: float, cost: float) -> list[float]:
        """Count ``cost`` tokens used at time ``at``; returns the ticket for :meth:`correct`.

        Entries that left the window go at the next :meth:`earliest` (which callers ask
        first); until then they count: conservative."""
        log = self.log
        stamp = math.ceil(at / self.slot) * self.slot
        if log and log[-1][0] >= stamp:
            entry = log[-1]
            entry[1] += cost
        else:
            entry = [stamp, cost, 1.0]
            log.append(entry)
        self.used += cost
        return entry

    def reserve(self, now: float, cost: float) -> tuple[float, list[float]]:
        """:meth:`earliest`, then :meth:`commit` at that time; returns (time, ticket)."""
        go = self.earliest(now, cost)
        return go, self.commit(go, cost)

    def correct(self, ticket: list[float], delta: float) -> None:
        """Add ``delta`` tokens (negative: give back) to a reservation still in the window."""
        if ticket[2]:
            ticket[1] += delta
            self.used += delta


DEFAULT_AUTO_SHARE = 0.9
"""Share of the provider's own limits used with ``rpm="auto"`` / ``tpm="auto"``."""

RELEARN_EVERY = 64
"""Once learned, limits are read again from one answer in this many."""

MIN_AUTO_SHARE = 0.5
"""The least share of learned limits 429s can shrink the pace to."""


def rate_header(headers: Mapping[str, str], field: str, what: str) -> str | None:
    """A rate-limit header in either provider's naming: ``field`` is ``"limit"``,
    ``"remaining"`` or ``"reset"``, ``what`` ``"requests"`` or ``"tokens"`` (OpenAI:
    ``x-ratelimit-remaining-requests``; Anthropic: ``anthropic-ratelimit-requests-remaining``)."""
    value = headers.get(f"x-ratelimit-{field}-{what}")
    if value is None:
        value = headers.get(f"anthropic-ratelimit-{what}-{field}")
    return value


class Limiter:
    """Concurrency, RPM and TPM limits and the shared cool-down of one provider.

    Args:
        rpm: requests per ``window_s`` (None: no limit; ``"auto"``: the provider's own limit,
            learned from its rate-limit headers, see :meth:`learn`).
        tpm: tokens (prompt + completion) per ``window_s`` (None: no limit; ``"auto"``).
        max_concurrent: requests in flight at once (None: no limit here).
        window_s: the window the provider counts over (60 s for "per minute" limits).
        headroom: share of the limits to use; default 99% of ``rpm`` (request counts are
            exact) and 97% of ``tpm`` (a margin for token estimates).
        auto_share: share of *learned* limits to use (default 90%; each 429 lowers it by
            10%, down to 50%).
        clock, sleep: the time source and the way to wait (tests pass a virtual clock).

    Use as ``await limiter.acquire(tokens)`` ... ``limiter.release()`` around each attempt.
    """

    def __init__(
        self,
        *,
        rpm: float | Literal["auto"] | None = None,
        tpm: float | Literal["auto"] | None = None,
        max_concurrent: int | None = None,
        window_s: float = 60.0,
        headroom: float | None = None,
        auto_share: float = DEFAULT_AUTO_SHARE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.auto_rpm = rpm == "auto"
        self.auto_tpm = tpm == "auto"
        fixed_rpm = None if rpm == "auto" else rpm
        fixed_tpm = None if tpm == "auto" else tpm
        for name, value in (("rpm", fixed_rpm), ("tpm", fixed_tpm)):
            bad = isinstance(value, bool) or not isinstance(value, int | float)
            if value is not None and (bad or not 0 < value < math.inf):
                raise InputError(f"{name} must be a number > 0, 'auto' or None, got {value!r}")
        if max_concurrent is not None and (
            not isinstance(max_concurrent, int)
            or isinstance(max_concurrent, bool)
            or max_concurrent < 1
        ):
            raise InputError(
                f"max_concurrent must be an integer >= 1 or None, got {max_concurrent!r}"
            )
        if not MIN_AUTO_SHARE <= auto_share <= 1:
            raise InputError(
                f"auto_share must be between {MIN_AUTO_SHARE} and 1, got {auto_share!r}"
            )
        self.auto_share = auto_share
        """Share of learned limits used (shrinks by 10% per 429, down to half)."""
        self.learned_rpm: int | None = None
        self.learned_tpm: int | None = None
        self._answers_since_learned = 0
        self.learned_from: dict[str, str] = {}
        """The header each learned limit was read from (``"rpm"`` -> header name)."""
        self.shrinks = 0
        """429s that lowered :attr:`auto_share` so far."""
        self.limits_source = "set" if fixed_rpm or fixed_tpm else "none"
        rpm, tpm = fixed_rpm, fixed_tpm
        if not window_s > 0:
            raise InputError(f"window_s must be > 0, got {window_s!r}")
        if headroom is not None and not 0 < headroom <= 1:
            raise InputError(f"headroom must be in (0, 1], got {headroom!r}")
        self.rpm = rpm
        self.tpm = tpm
        self.max_concurrent = max_concurrent
        self.window_s = window_s
        self._clock = clock
        self._sleep = sleep
        self._sem: asyncio.Semaphore | None = None
        self._sem_loop: asyncio.AbstractEventLoop | None = None
        self._gate_lock: asyncio.Lock | None = None
        self._gate_loop: asyncio.AbstractEventLoop | None = None
        self._queued = 0  # workers in line for room under RPM/TPM
        # count over a slightly longer window than the provider: requests reach it a few
        # milliseconds after they leave here, later still on a busy machine
        counted_s = window_s + min(0.5, max(0.05, 0.01 * window_s))
        rpm_share = REQUEST_HEADROOM if headroom is None else headroom
        tpm_share = TOKEN_HEADROOM if headroom is None else headroom
        # requests: evenly spaced (GCRA), and never more than the limit in any window (a
        # sliding window of 1/1000-window slots: the bound, exact to 0.1% of the window)
        self._requests = _Gcra(rpm, counted_s, rpm_share) if rpm else None
        self._sent = _TokenWindow(rpm, counted_s, rpm_share, slots=1000) if rpm else None
        if self.auto_rpm:  # count sends from the start: they count once the limit is known
            self._sent = _TokenWindow(1 << 62, counted_s, 1.0, slots=1000)
        self._tokens = _TokenWindow(tpm, counted_s, tpm_share) if tpm else None
        self._resume_at = 0.0
        self._spread = 0.0
        self.cool_downs = 0
        """How many times a cool-down was started or extended (for tests and stats)."""

    def __repr__(self) -> str:
        return (
            f"Limiter(rpm={self.rpm}, tpm={self.tpm}, max_concurrent={self.max_concurrent}, "
            f"window_s={self.window_s:g})"
        )

    @property
    def counts_tokens(self) -> bool:
        """True when a TPM limit is set (callers then estimate each request's tokens)."""
        return self._tokens is not None

    @property
    def cooling_down_s(self) -> float:
        """Seconds left of the shared cool-down (0 when none)."""
        return max(0.0, self._resume_at - self._clock())

    async def acquire(self, tokens: int = 0) -> list[float] | None:
        """Wait for a concurrency slot, the cool-down, and room under RPM and TPM.

        Returns the token reservation's ticket (None without a TPM limit) for
        :meth:`record_usage`. The caller sends at once: under RPM/TPM limits the place is
        counted at the moment this returns, never earlier (see :meth:`_admit`).
        """
        sem = self._semaphore()
        if sem is not None:
            await sem.acquire()
        try:
            if self._requests is None and (self._tokens is None or tokens <= 0):
                if self._resume_at > self._clock():
                    await self._wait_cool_down()
                sent = self._sent
                if sent is not None:  # rpm="auto", limit not known yet: count, never wait
                    now = self._clock()
                    sent._expire(now - sent.window)  # keep one window of history, no more
                    sent.commit(now, 1)
                return None
            return await self._admit(tokens)
        except BaseException:
            if sem is not None:
                sem.release()
            raise

    async def _admit(self, tokens: int) -> list[float] | None:
        """Wait in line for room under RPM/TPM and count the request when it may go.

        One worker at a time (first come, first served) waits for its time; others wait
        behind it. Nothing is counted while a worker waits: a cool-down that starts in the
        meantime (another worker's 429) would otherwise send every place reserved during the
        pause at once when it ends, more than the limit in one window. So a place is counted
        only when the request leaves, after any pause, and the limits hold for the times
        requests are really sent.
        """
        window = self._tokens if tokens > 0 else None
        clock = self._clock
        if not self._queued:  # nobody in line: go now if there is room (no await: atomic)
            now = clock()
            if self._resume_at <= now and self._room_at(now, window, tokens) <= now:
                return self._count(now, window, tokens)
        self._queued += 1
        try:
            async with self._gate():
                while True:
                    now = clock()
                    if self._resume_at > now:
                        await self._wait_cool_down()
                        continue
                    go = self._room_at(now, window, tokens)
                    if go > now:
                        await self._sleep(go - now)
                        continue  # look again: a cool-down may have started meanwhile
                    return self._count(now, window, tokens)
        finally:
            self._queued -= 1

    def would_wait(self, tokens: int = 0) -> bool:
        """True when :meth:`acquire` for ``tokens`` would wait now (no free concurrency slot,
        a cool-down, workers in line, or no room under RPM/TPM); when False, an ``await
        acquire(tokens)`` right away returns without suspending."""
        now = self._clock()
        if self.max_concurrent is not None and self._sem is not None and self._sem.locked():
            return True
        if self._resume_at > now:
            return True
        if self._requests is None and (self._tokens is None or tokens <= 0):
            return False
        window = self._tokens if tokens > 0 else None
        return bool(self._queued) or self._room_at(now, window, tokens) > now

    def _room_at(self, now: float, window: _TokenWindow | None, tokens: int) -> float:
        """When there is room for one request (and ``tokens`` in ``window``)."""
        go = now
        if window is not None:
            go = window.earliest(now, tokens)
        if self._requests is not None:
            at = self._requests.earliest(now, 1)
            go = at if at > go else go
        if self._sent is not None:
            at = self._sent.earliest(now, 1)
            go = at if at > go else go
        return go

    def _count(self, now: float, window: _TokenWindow | None, tokens: int) -> list[float] | None:
        """Count one request (and ``tokens``) sent at ``now``; the token ticket."""
        if self._requests is not None:
            self._requests.commit(now, 1)
        if self._sent is not None:
            self._sent.commit(now, 1)
        return window.commit(now, tokens) if window is not None else None

    def _semaphore(self) -> asyncio.Semaphore | None:
        # one per event loop: a provider may serve several asyncio.run() calls in turn
        if self.max_concurrent is None:
            return None
        loop = asyncio.get_running_loop()
        if self._sem is None or self._sem_loop is not loop:
            self._sem = asyncio.Semaphore(self.max_concurrent)
            self._sem_loop = loop
        return self._sem

    def _gate(self) -> asyncio.Lock:
        # one per event loop, like the semaphore
        loop = asyncio.get_running_loop()
        if self._gate_lock is None or self._gate_loop is not loop:
            self._gate_lock = asyncio.Lock()
            self._gate_loop = loop
        return self._gate_lock

    def release(self) -> None:
        """Give the concurrency slot back (call once per successful :meth:`acquire`)."""
        if self._sem is not None:
            self._sem.release()

    def record_usage(self, ticket: list[float] | None, estimated: int, actual: int) -> None:
        """Correct a request's token reservation by what the provider reported it used
        (``actual=0`` for a request the provider refused)."""
        if self._tokens is not None and ticket is not None and actual != estimated:
            self._tokens.correct(ticket, actual - estimated)

    def cool_down(self, seconds: float) -> None:
        """Hold every worker for ``seconds`` from now (extends, never shortens, a cool-down)."""
        if seconds <= 0:
            return
        until = self._clock() + seconds
        if until > self._resume_at:
            self._resume_at = until
            self._spread = min(1.0, 0.2 * seconds)
            self.cool_downs += 1

    async def _wait_cool_down(self) -> None:
        while (left := self._resume_at - self._clock()) > 0:
            await self._sleep(left + random.random() * self._spread)

    def observe_headers(self, headers: Mapping[str, str], next_tokens: int = 1) -> None:
        """Start a cool-down when the rate-limit headers (OpenAI's ``x-ratelimit-*``,
        Anthropic's ``anthropic-ratelimit-*``) say no request (or fewer tokens than
        ``next_tokens``) remains before the window resets (learning the limits themselves
        is :meth:`learn`)."""
        remaining = rate_header(headers, "remaining", "requests")
        if remaining is not None and remaining.strip() == "0":
            wait = parse_reset(rate_header(headers, "reset", "requests"))
            if wait:
                self.cool_down(wait)
        remaining_tokens = rate_header(headers, "remaining", "tokens")
        if remaining_tokens is not None:
            try:
                left = int(float(remaining_tokens))
            except ValueError:
                return
            if left < next_tokens:
                wait = parse_reset(rate_header(headers, "reset", "tokens"))
                if wait:
                    self.cool_down(wait)

    # -- limits learned from the provider ----------------------------------------------------

    def learn(self, headers: Mapping[str, str]) -> bool:
        """Take the provider's own limits from its ``...-limit-requests`` /
        ``...-limit-tokens`` headers (for the sides set to ``"auto"``) and run at
        :attr:`auto_share` of them. Returns True when a limit changed.

        Called with every answer's headers: until every ``"auto"`` side is known each call
        reads them; after that one call in :data:`RELEARN_EVERY` does (a limit the provider
        raises or lowers is still seen, without parsing headers on every request)."""
        known = (not self.auto_rpm or self.learned_rpm is not None) and (
            not self.auto_tpm or self.learned_tpm is not None
        )
        if known:
            self._answers_since_learned += 1
            if self._answers_since_learned % RELEARN_EVERY:
                return False
        changed = False
        for what, auto in (("requests", self.auto_rpm), ("tokens", self.auto_tpm)):
            if not auto:
                continue
            raw = rate_header(headers, "limit", what)
            header = f"x-ratelimit-limit-{what}"
            if headers.get(header) is None:
                header = f"anthropic-ratelimit-{what}-limit"
            try:
                limit = int(float(raw)) if raw is not None else 0
            except ValueError:
                continue
            if limit < 1:
                continue
            if what == "requests" and limit != self.learned_rpm:
                self.learned_rpm = limit
                self.learned_from["rpm"] = header
                changed = True
            elif what == "tokens" and limit != self.learned_tpm:
                self.learned_tpm = limit
                self.learned_from["tpm"] = header
                changed = True
        if changed:
            self._apply_learned()
        return changed

    def shrink(self) -> None:
        """A 429 under learned limits: run at 90% of the share used so far (at least half
        the provider's limits), so the next windows stay under them."""
        if self.learned_rpm is None and self.learned_tpm is None:
            return
        share = max(MIN_AUTO_SHARE, self.auto_share * 0.9)
        if share < self.auto_share:
            self.auto_share = share
            self.shrinks += 1
            self._apply_learned()

    def _apply_learned(self) -> None:
        counted_s = self.window_s + min(0.5, max(0.05, 0.01 * self.window_s))
        share = self.auto_share
        if self.learned_rpm is not None:
            self.rpm = self.learned_rpm
            old = self._sent
            self._requests = _Gcra(self.rpm, counted_s, share)
            self._sent = _TokenWindow(self.rpm, counted_s, share, slots=1000)
            if old is not None:  # what was sent in this window still counts
                self._sent.log, self._sent.used = old.log, old.used
        if self.learned_tpm is not None:
            self.tpm = self.learned_tpm
            old_tokens = self._tokens
            self._tokens = _TokenWindow(self.tpm, counted_s, share)
            if old_tokens is not None:
                self._tokens.log, self._tokens.used = old_tokens.log, old_tokens.used
        self.limits_source = "learned"

    @property
    def limits_in_force(self) -> str:
        """The limits this limiter runs under, and where they came from (for displays), e.g.
        ``rpm 4,500 (90% of 5,000 learned from x-ratelimit-limit-requests), tpm 30,000 set by
        you``; ``shrunk after 429`` once 429s lowered the share."""
        parts = []
        for name, value, auto in (
            ("rpm", self.rpm, self.auto_rpm),
            ("tpm", self.tpm, self.auto_tpm),
        ):
            if value is None:
                if auto:
                    parts.append(f"{name} auto (not yet learned)")
            elif auto:
                used = int(value * self.auto_share)
                source = self.learned_from.get(name, "the provider")
                shrunk = f", shrunk after 429 x{self.shrinks}" if self.shrinks else ""
                parts.append(
                    f"{name} {used:,} ({self.auto_share:.0%} of {value:,} learned from "
                    f"{source}{shrunk})"
                )
            else:
                shown = f"{value:,.0f}" if float(value).is_integer() else f"{value:,g}"
                parts.append(f"{name} {shown} set by you")
        return ", ".join(parts) if parts else "no rate limits"

"""Rate limits, the shared cool-down and the retry policy."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from brainbatch import BatchJob, BatchRequest, BatchStatus, ParallelExecutor
from brainbatch.errors import InputError
from brainbatch.limits import Limiter, RetryPolicy, parse_reset, parse_retry_after
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim import SimServer


def job(n: int, **params: object) -> BatchJob:
    return BatchJob(
        [
            BatchRequest(
                prompt=f"Short review {i}", model="gpt-4o-mini", params=dict(params) or None
            )
            for i in range(n)
        ]
    )


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


class VirtualTime:
    """A clock and a sleep for :class:`Limiter` (``clock=vt.clock, sleep=vt.sleep``): time
    moves only when every task is waiting, straight to the earliest wake-up."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._seq), fut))
        await fut

    async def run(self, coros: list[Awaitable[Any]]) -> None:
        tasks = [asyncio.ensure_future(c) for c in coros]
        while not all(t.done() for t in tasks):
            for _ in range(50):  # let every task run until it waits
                await asyncio.sleep(0)
            if not self._sleepers:
                assert all(t.done() for t in tasks), "tasks wait for something but no time"
                break
            at, _, fut = heapq.heappop(self._sleepers)
            self.now = max(self.now, at)
            fut.set_result(None)
        for t in tasks:
            t.result()


def send_with_429s(
    limiter: Limiter, vt: VirtualTime, n: int, *, every: int, retry_after: float
) -> tuple[list[Awaitable[None]], list[float]]:
    """``n`` workers, each sending one request (0.5 s latency) through ``limiter``; every
    ``every``-th attempt gets a 429 with ``retry_after``: a shared cool-down, then a retry.
    Returns the workers and the list the send times go to."""
    sent: list[float] = []
    attempts = itertools.count(1)

    async def worker() -> None:
        while True:
            await limiter.acquire()
            sent.append(vt.now)
            refused = next(attempts) % every == 0
            await vt.sleep(0.5)
            limiter.release()
            if not refused:
                return
            limiter.cool_down(retry_after)
            await vt.sleep(retry_after)

    return [worker() for _ in range(n)], sent


# -- pure helpers ----------------------------------------------------------------------------


def test_full_jitter_stays_under_a_doubling_ceiling() -> None:
    policy, rng = RetryPolicy(base_delay_s=0.5, max_delay_s=4.0), random.Random(1)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        delays = [policy.delay(attempt, None, rng) for _ in range(200)]
        assert min(delays) >= 0 and max(delays) <= ceiling and max(delays) > ceiling / 2


def test_a_retry_after_hint_is_a_floor_for_the_delay() -> None:
    policy = RetryPolicy()
    assert all(2.0 <= policy.delay(1, 2.0) <= 2.2 for _ in range(100))


def test_a_bad_max_attempts_is_an_input_error() -> None:
    with pytest.raises(InputError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after-ms": "1500", "retry-after": "2"}, 1.5),
        ({}, None),
    ],
)
def test_retry_after_headers_are_read(headers: dict[str, str], seconds: float | None) -> None:
    assert parse_retry_after(headers) == seconds


def test_an_http_date_retry_after_is_read_as_seconds_from_now() -> None:
    from email.utils import formatdate

    got = parse_retry_after({"retry-after": formatdate(time.time() + 30, usegmt=True)})
    assert got is not None and 28 <= got <= 31


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1m2.5s", 62.5),
        ("0.5", 0.5),
        ("soon", None),
    ],
)
def test_openai_reset_durations_are_read(value: str, seconds: float | None) -> None:
    assert parse_reset(value) == seconds


async def test_the_limiter_never_admits_more_than_the_limit_in_any_window() -> None:
    vt = VirtualTime()
    limiter = Limiter(rpm=50, window_s=10.0, clock=vt.clock, sleep=vt.sleep)
    sent: list[float] = []

    async def caller(i: int) -> None:  # waves of callers, faster than the limit, idle between
        await vt.sleep((i // 80) * 25.0 + (i % 80) * 0.01)
        await limiter.acquire()
        sent.append(vt.now)
        limiter.release()

    await vt.run([caller(i) for i in range(400)])
    assert len(sent) == 400
    assert max_in_window(sent, 10.0) <= 50


def test_tokens_given_back_after_the_answer_make_room_at_once() -> None:
    def window_after(actual: int) -> float:
        limiter = Limiter(tpm=1000, window_s=60.0, headroom=1.0, clock=lambda: 0.0)
        assert limiter._tokens is not None
        _, ticket = limiter._tokens.reserve(0.0, 900)
        limiter.record_usage(ticket, estimated=900, actual=actual)
        return limiter._tokens.reserve(0.0, 800)[0]  # when the next 800 tokens may go

    assert window_after(actual=900) == pytest.approx(60.0, abs=1.0)
    assert window_after(actual=100) == 0.0


async def test_a_cool_down_holds_every_new_acquire() -> None:
    limiter = Limiter(max_concurrent=10)
    limiter.cool_down(0.15)
    t0 = time.monotonic()
    await limiter.acquire()
    limiter.release()
    assert time.monotonic() - t0 >= 0.15


def test_a_cool_down_is_extended_never_shortened() -> None:
    limiter = Limiter()
    limiter.cool_down(5.0)
    limiter.cool_down(0.1)
    assert limiter.cooling_down_s > 4.0


# -- against the SimServer -------------------------------------------------------------------


async def test_a_429_makes_every_worker_wait_not_only_the_one_refused(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider]
) -> None:
    sim.configure(rate_limit_429=0.05, retry_after=0.3, latency_ms=10, seed=3)
    await ParallelExecutor(max_concurrent=4).execute(job(60), openai_at())
    log = sim.log
    first_429 = next(r.t for r in log if r.status == 429)
    # requests already in flight may land just after; then nothing until the hint has passed
    # (without the shared cool-down the three other workers would go on sending)
    quiet = [r for r in log if first_429 + 0.05 < r.t < first_429 + 0.3]
    assert quiet == []


async def test_no_429_from_a_server_enforcing_the_rpm_the_client_was_given(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider], short_window: float
) -> None:
    sim.configure(rpm=10)
    j = job(25)
    provider = openai_at(rpm=10, rate_window_s=short_window, adapt_to_headers=False)
    await ParallelExecutor(max_concurrent=16).execute(j, provider)
    assert j.status is BatchStatus.COMPLETED
    assert [r for r in sim.log if r.status == 429] == []
    assert max_in_window([r.t for r in sim.log], short_window) <= 10


async def test_no_429_from_a_server_enforcing_the_tpm_the_client_was_given(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider], short_window: float
) -> None:
    sim.configure(tpm=600, mean_output_tokens=20)
    j = job(24, max_tokens=30)  # ~10 prompt + at most 30 answer tokens each
    provider = openai_at(tpm=600, rate_window_s=short_window, adapt_to_headers=False)
    await ParallelExecutor(max_concurrent=16).execute(j, provider)
    assert j.status is BatchStatus.COMPLETED
    assert [r for r in sim.log if r.status == 429] == []


async def test_rate_limit_headers_pause_a_client_that_was_given_no_limit(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider], short_window: float
) -> None:
    sim.configure(rpm=4)
    j = job(10)
    # rpm=None: no limit of its own, none learned; only the remaining-headers pauses hold it
    provider = openai_at(rpm=None, tpm=None, adapt_to_headers=True)
    await ParallelExecutor(max_concurrent=1).execute(j, provider)
    assert j.status is BatchStatus.COMPLETED
    assert [r for r in sim.log if r.status == 429] == []


def test_token_reservations_bigger_than_the_burst_still_respect_every_window() -> None:
    now = [0.0]
    limiter = Limiter(tpm=6000, window_s=6.0, clock=lambda: now[0])
    assert limiter._tokens is not None
    sent: list[tuple[float, int]] = []
    for i in range(200):  # requests of 300-900 tokens, far bigger than the 100-token burst
        cost = 300 + (i * 37) % 600
        go, _ = limiter._tokens.reserve(now[0], cost)
        sent.append((go, cost))
        now[0] = go
    for start, _ in sent:
        assert sum(c for t, c in sent if start <= t < start + 6.0) <= 6000


async def test_pauses_after_429s_never_let_more_than_the_rpm_into_any_window(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider], short_window: float
) -> None:
    # 429s with Retry-After pause every worker; slots reserved before a pause must not all
    # go at once when it ends
    sim.configure(rate_limit_429=0.15, retry_after=0.4, latency_ms=5, seed=11)
    j = job(50)
    # enough tries that no row runs out of them on 15% random 429s (0.15**12 per row): this
    # test is about the windows, not about giving up
    retry = RetryPolicy(max_attempts=12, base_delay_s=0.005, max_delay_s=0.02)
    provider = openai_at(rpm=20, rate_window_s=short_window, adapt_to_headers=False, retry=retry)
    await ParallelExecutor(max_concurrent=16).execute(j, provider)
    assert j.status is BatchStatus.COMPLETED
    assert provider.limiter.cool_downs > 0  # precondition: pauses did happen
    assert max_in_window([r.t for r in sim.log], short_window) <= 20


async def test_429_pauses_never_let_more_than_the_rpm_into_any_window_virtual_time() -> None:
    # the reported case: 40 per window, 64 in flight, 429s with a 10 s Retry-After
    vt = VirtualTime()
    limiter = Limiter(rpm=40, max_concurrent=64, window_s=60.0, clock=vt.clock, sleep=vt.sleep)
    workers, sent = send_with_429s(limiter, vt, 200, every=9, retry_after=10.0)
    await vt.run(workers)
    assert limiter.cool_downs >= 5  # precondition: many pauses
    assert len(sent) > 200
    assert max_in_window(sent, 60.0) <= 40


async def test_the_default_rate_window_is_60_seconds() -> None:
    vt = VirtualTime()
    limiter = Limiter(rpm=100, max_concurrent=64, clock=vt.clock, sleep=vt.sleep)
    workers, sent = send_with_429s(limiter, vt, 500, every=10**9, retry_after=0.0)
    await vt.run(workers)
    assert len(sent) == 500
    assert max_in_window(sent, 60.0) <= 100  # a shorter window would let more through
    assert max_in_window(sent, 60.0) >= 95  # a longer one would let fewer through


async def test_an_http_provider_counts_its_rpm_over_60_seconds_by_default() -> None:
    provider = OpenAIProvider(rpm=100, base_url="http://127.0.0.1:9/v1", api_key="sk-test")
    vt = VirtualTime()
    limiter = provider.limiter
    limiter._clock, limiter._sleep = vt.clock, vt.sleep  # the provider's own limiter
    workers, sent = send_with_429s(limiter, vt, 300, every=10**9, retry_after=0.0)
    await vt.run(workers)
    assert 95 <= max_in_window(sent, 60.0) <= 100


async def test_429_pauses_never_let_more_than_the_tpm_into_any_window_virtual_time() -> None:
    vt = VirtualTime()
    limiter = Limiter(tpm=4000, max_concurrent=64, window_s=60.0, clock=vt.clock, sleep=vt.sleep)
    sent: list[tuple[float, int]] = []
    attempts = itertools.count(1)

    async def worker(i: int) -> None:
        tokens = 100 + (i * 37) % 200
        await vt.sleep(i * 0.4)  # arrivals spread out: the window fills bit by bit
        while True:
            ticket = await limiter.acquire(tokens)
            at = vt.now
            refused = next(attempts) % 7 == 0
            if not refused:  # a refused request uses no tokens (what providers count)
                sent.append((at, tokens))
            await vt.sleep(0.5)
            limiter.release()
            limiter.record_usage(ticket, tokens, 0 if refused else tokens)
            if not refused:
                return
            limiter.cool_down(10.0)
            await vt.sleep(10.0)

    await vt.run([worker(i) for i in range(150)])
    assert limiter.cool_downs >= 5
    for start, _ in sent:
        assert sum(c for t, c in sent if start <= t < start + 60.0) <= 4000


async def test_would_wait_is_true_exactly_when_acquire_would_wait() -> None:
    now = [0.0]
    limiter = Limiter(rpm=2, max_concurrent=3, window_s=60.0, headroom=1.0, clock=lambda: now[0])
    assert not limiter.would_wait()
    await limiter.acquire()
    limiter.release()
    assert limiter.would_wait()  # the next place under the rpm is 30 s away
    now[0] = 61.0
    assert not limiter.would_wait()
    limiter.cool_down(5.0)
    assert limiter.would_wait()  # a cool-down holds everyone


async def test_would_wait_is_true_without_a_free_concurrency_slot() -> None:
    limiter = Limiter(max_concurrent=1)
    await limiter.acquire()
    assert limiter.would_wait()
    limiter.release()
    assert not limiter.would_wait()

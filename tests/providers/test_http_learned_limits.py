"""rpm="auto" / tpm="auto": limits learned from the provider's rate-limit headers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from brainbatch import BatchJob, BatchRequest, BatchStatus, ParallelExecutor
from brainbatch.cli import build_parser
from brainbatch.limits import MIN_AUTO_SHARE, Limiter
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.runner import RunSettings
from brainbatch.sim import SimServer


def _job(n: int) -> BatchJob:
    return BatchJob(
        [BatchRequest(prompt=f"Short review {i}", model="gpt-4o-mini") for i in range(n)]
    )


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


OPENAI_HEADERS = {"x-ratelimit-limit-requests": "500", "x-ratelimit-limit-tokens": "200000"}
ANTHROPIC_HEADERS = {
    "anthropic-ratelimit-requests-limit": "50",
    "anthropic-ratelimit-tokens-limit": "40000",
}


@pytest.mark.parametrize(
    "headers", [OPENAI_HEADERS, ANTHROPIC_HEADERS], ids=["openai", "anthropic"]
)
def test_auto_limits_are_read_from_either_providers_headers(headers: dict[str, str]) -> None:
    limiter = Limiter(rpm="auto", tpm="auto")
    assert limiter.rpm is None and limiter.tpm is None
    assert limiter.learn(headers)
    values = [int(v) for v in headers.values()]
    assert (limiter.rpm, limiter.tpm) == tuple(values)
    assert limiter.counts_tokens
    rpm_header = next(h for h in headers if "requests" in h)
    assert f"rpm {int(values[0] * 0.9):,} (90% of {values[0]:,} learned from {rpm_header})" in (
        limiter.limits_in_force
    )


def test_a_limit_set_by_the_user_is_never_replaced_by_a_learned_one() -> None:
    limiter = Limiter(rpm=30, tpm="auto")
    limiter.learn(OPENAI_HEADERS)
    assert (limiter.rpm, limiter.tpm) == (30, 200000)
    assert "rpm 30 set by you" in limiter.limits_in_force


def test_each_429_slows_learned_limits_down_to_half() -> None:
    limiter = Limiter(rpm="auto")
    limiter.learn(OPENAI_HEADERS)
    limiter.shrink()
    assert limiter.auto_share == pytest.approx(0.81)
    assert "rpm 405 (81% of 500 learned from x-ratelimit-limit-requests, shrunk after 429 x1)" in (
        limiter.limits_in_force
    )
    for _ in range(20):
        limiter.shrink()
    assert limiter.auto_share == MIN_AUTO_SHARE


def test_nothing_shrinks_before_a_limit_is_known() -> None:
    limiter = Limiter(rpm="auto")
    limiter.shrink()
    assert limiter.auto_share == 0.9
    assert limiter.limits_in_force == "rpm auto (not yet learned)"


def test_anthropic_remaining_zero_pauses_every_worker() -> None:
    # Anthropic names them anthropic-ratelimit-requests-remaining (not ...-remaining-requests)
    limiter = Limiter()
    limiter.observe_headers(
        {"anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": "2"}
    )
    assert limiter.cool_downs == 1 and limiter.cooling_down_s > 1.5


async def test_an_http_provider_learns_the_servers_limit_and_stays_under_it(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider], short_window: float
) -> None:
    sim.configure(rpm=20, latency_ms=5)
    provider = openai_at(rate_window_s=short_window, adapt_to_headers=False)  # rpm: default
    assert provider.limiter.auto_rpm
    j = _job(60)
    await ParallelExecutor(max_concurrent=16).execute(j, provider)
    assert j.status is BatchStatus.COMPLETED
    assert provider.limiter.rpm == 20
    assert [r for r in sim.log if r.status == 429] == []  # 16 at once, then paced under 20/s
    assert _max_in_window([r.t for r in sim.log], short_window) <= 20


def test_run_settings_take_auto_limits() -> None:
    assert RunSettings(model="gpt-4o-mini", rpm="auto", tpm="auto").rpm == "auto"


def test_the_cli_takes_rpm_auto() -> None:
    argv = ["run", "in.csv", "--prompt", "{t}", "--model", "m", "--out", "o.csv"]
    args = build_parser().parse_args([*argv, "--rpm", "auto", "--tpm", "5000"])
    assert (args.rpm, args.tpm) == ("auto", 5000.0)


async def test_sends_counted_before_a_limit_is_known_keep_one_window_only() -> None:
    now = [0.0]
    limiter = Limiter(rpm="auto", window_s=1.0, clock=lambda: now[0])
    for i in range(20_000):  # 20 windows of sends, never a header with a limit
        now[0] = i / 1000
        await limiter.acquire()
        limiter.release()
    assert limiter._sent is not None
    assert len(limiter._sent.log) <= 1_100  # one window of 1/1000-window slots (and a few)


def test_a_limit_the_provider_changes_later_is_still_seen() -> None:
    from brainbatch.limits import RELEARN_EVERY

    limiter = Limiter(rpm="auto")
    limiter.learn({"x-ratelimit-limit-requests": "500"})
    raised = {"x-ratelimit-limit-requests": "1000"}
    changed = [limiter.learn(raised) for _ in range(RELEARN_EVERY)]
    assert changed.count(True) == 1  # read again once in RELEARN_EVERY answers, not each time
    assert limiter.rpm == 1000

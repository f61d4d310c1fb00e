"""mode="flex": OpenAI's flex processing, against the simulated server over real sockets."""

from __future__ import annotations

import orjson
import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.errors import InputError, RateLimitError, TransientError
from brainbatch.limits import RetryPolicy
from brainbatch.models import BatchJob, BatchRequest
from brainbatch.providers._status import status_error
from brainbatch.runner import FLEX_TIMEOUT_S, JobRunner, RunSettings
from brainbatch.sim import SimServer
from brainbatch.sim.observe import Exchange


def _df(n: int = 20) -> pd.DataFrame:
    return pd.DataFrame({"text": [f"is review {i} happy?" for i in range(n)]})


def _run(sim: SimServer, mode: str, **kw: object) -> pd.DataFrame:
    return bb.run(
        _df(),
        prompt="{text}",
        model="gpt-4o-mini",
        provider="openai",
        mode=mode,  # type: ignore[arg-type]
        base_url=sim.openai_base_url,
        api_key="sk-test",
        store=False,
        progress=False,
        **kw,
    )


def test_flex_sends_the_flex_tier_and_prices_at_the_batch_price(sim: SimServer) -> None:
    seen: list[Exchange] = []
    stop = sim.observe(seen.append)
    try:
        flex = _run(sim, "flex")
    finally:
        stop()
    tiers = {
        orjson.loads(x.body).get("service_tier") for x in seen if x.path.endswith("/completions")
    }
    assert tiers == {"flex"}
    realtime = _run(sim, "realtime")
    assert (flex.status == "success").all()
    assert flex.cost_usd.to_numpy() == pytest.approx(realtime.cost_usd.to_numpy() / 2)
    assert flex.price_source.str.contains("flex processing: batch price").all()


def test_no_flex_capacity_is_retried_without_pausing_other_workers(sim: SimServer) -> None:
    sim.configure(flex_unavailable=0.3, seed=5)
    provider = bb.OpenAIProvider(
        base_url=sim.openai_base_url,
        api_key="sk-test",
        service_tier="flex",
        retry=RetryPolicy(max_attempts=12, base_delay_s=0.005, max_delay_s=0.02),
    )
    out = bb.run(
        _df(), prompt="{text}", model="gpt-4o-mini", provider=provider, mode="flex",
        store=False, progress=False,
    )  # fmt: skip
    assert (out.status == "success").all()
    assert sum(1 for r in sim.log if r.status == 429) > 0  # precondition: capacity 429s came
    assert provider.limiter.cool_downs == 0  # no pause for everyone: it is not our rate limit


def test_a_rows_own_service_tier_wins(sim: SimServer) -> None:
    out = _run(sim, "flex", params={"service_tier": "default"})
    assert not out.price_source.str.contains("flex").any()


def test_flex_on_an_anthropic_model_is_refused_before_sending() -> None:
    with pytest.raises(InputError, match="mode='flex' is OpenAI's flex processing"):
        bb.run(_df(), prompt="{text}", model="claude-haiku-4-5", mode="flex", progress=False)


def test_flex_on_the_in_process_simulator_says_how_to_try_it_offline() -> None:
    with pytest.raises(InputError, match="SimServer"):
        bb.run(_df(), prompt="{text}", model="sim", mode="flex", progress=False)


def test_flex_with_a_provider_object_needs_the_flex_tier(sim: SimServer) -> None:
    plain = bb.OpenAIProvider(base_url=sim.openai_base_url, api_key="sk-test")
    with pytest.raises(InputError, match="service_tier='flex'"):
        RunSettings(model="gpt-4o-mini", provider=plain, mode="flex")


def test_flex_waits_long_for_an_answer_by_default(sim: SimServer) -> None:
    job = BatchJob([BatchRequest(prompt="hi", model="gpt-4o-mini")])
    settings = RunSettings(
        model="gpt-4o-mini",
        provider="openai",
        mode="flex",
        provider_kwargs={"base_url": sim.openai_base_url, "api_key": "sk-test"},
    )
    provider, _ = JobRunner(job, settings).open_provider()
    assert provider.http.timeout == FLEX_TIMEOUT_S
    assert provider.service_tier == "flex"


def test_a_capacity_429_is_transient_and_a_plain_429_a_rate_limit() -> None:
    capacity = status_error(429, "no room", {}, source="openai", code="resource_unavailable")
    assert isinstance(capacity, TransientError) and capacity.kind == "capacity"
    limit = status_error(429, "slow down", {}, source="openai", code="rate_limit_exceeded")
    assert isinstance(limit, RateLimitError)

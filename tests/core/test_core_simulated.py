"""The in-process simulated provider: deterministic, realistic, honest about being simulated."""

from __future__ import annotations

import pytest

from brainbatch import (
    BatchRequest,
    ConnectionFailed,
    InputError,
    RateLimitError,
    ServerError,
    SimulatedProvider,
    cost_of,
)
from brainbatch.providers.simulated import simulate_answer


async def test_answers_are_deterministic_and_labelled_simulated() -> None:
    req = BatchRequest(prompt="Summarise the news", model="gpt-4o-mini")
    a = await SimulatedProvider(latency_ms=0)(req)
    b = await SimulatedProvider(latency_ms=0)(
        BatchRequest(prompt="Summarise the news", model="gpt-4o-mini")
    )
    assert a.result == b.result
    assert str(a.result).startswith("[simulated]")
    assert a.simulated


async def test_the_seed_changes_the_answer() -> None:
    req = BatchRequest(prompt="Summarise the news", model="gpt-4o-mini")
    a = await SimulatedProvider(latency_ms=0, seed=1)(req)
    b = await SimulatedProvider(latency_ms=0, seed=2)(req)
    assert a.result != b.result


async def test_usage_and_cost_are_reported() -> None:
    res = await SimulatedProvider(latency_ms=0)(
        BatchRequest(prompt="word " * 100, model="gpt-4o-mini")
    )
    assert res.input_tokens is not None and 100 <= res.input_tokens <= 120
    assert res.output_tokens and res.output_tokens > 0
    assert res.cost_usd and res.cost_usd > 0
    assert res.price_source == "genai-prices"


async def test_sim_models_are_priced_as_the_configured_model() -> None:
    p = SimulatedProvider(model="gpt-4o", latency_ms=0)
    for model in ("sim", "sim/gpt-4o"):
        res = await p(BatchRequest(prompt="hello there", model=model))
        expected = cost_of("gpt-4o", res.input_tokens, res.output_tokens)
        assert res.cost_usd == pytest.approx(expected.usd)


async def test_batch_pricing_is_half_of_real_time() -> None:
    req = BatchRequest(prompt="hello there", model="gpt-4o-mini")
    rt = await SimulatedProvider(latency_ms=0)(req)
    bt = await SimulatedProvider(latency_ms=0, batch=True)(req)
    assert bt.cost_usd == pytest.approx((rt.cost_usd or 0) / 2)
    assert "batch" in (bt.price_source or "")


def test_max_tokens_caps_the_output_with_finish_reason_length() -> None:
    ans = simulate_answer(
        "m", [{"role": "user", "content": "x"}], params={"max_tokens": 3}, mean_output_tokens=200
    )
    assert ans.output_tokens == 3 and ans.finish_reason == "length"


def test_json_schema_output_follows_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": ["pos", "neg"]},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }
    ans = simulate_answer(
        "m",
        [{"role": "user", "content": "x"}],
        params={
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "s", "schema": schema},
            }
        },
    )
    assert isinstance(ans.result, dict)
    assert ans.result["label"] in ("pos", "neg")
    assert 0 <= ans.result["score"] <= 1
    assert isinstance(ans.result["tags"], list)


@pytest.mark.parametrize(
    ("kind", "exc"),
    [("rate_limit", RateLimitError), ("server_error", ServerError), ("timeout", ConnectionFailed)],
)
async def test_error_injection_raises_each_kind(kind: str, exc: type[Exception]) -> None:
    p = SimulatedProvider(latency_ms=0, error_rate=1.0, error_kinds=(kind,))
    with pytest.raises(exc):
        await p(BatchRequest(prompt="x", model="gpt-4o-mini"))


def test_latency_is_lognormal_around_the_median() -> None:
    p = SimulatedProvider(latency_ms=100, latency_sigma=0.5, seed=4)
    draws = sorted(p.sample_latency_s() for _ in range(4001))
    assert 0.09 < draws[2000] < 0.11
    assert draws[-1] > 0.2  # a real tail


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"latency_ms": -1}, "latency_ms"),
        ({"error_rate": 2}, "error_rate"),
        ({"error_kinds": ("boom",)}, "error_kinds"),
    ],
)
def test_bad_settings_are_rejected_naming_the_parameter(kw: dict[str, object], name: str) -> None:
    with pytest.raises(InputError, match=name):
        SimulatedProvider(**kw)  # type: ignore[arg-type]


def test_the_simulated_provider_keeps_an_rpm_limit() -> None:
    import asyncio

    from brainbatch.executors import ParallelExecutor
    from brainbatch.models import BatchJob, BatchRequest
    from brainbatch.providers import SimulatedProvider

    provider = SimulatedProvider(latency_ms=0, rpm=5, rate_window_s=3600)
    job = BatchJob([BatchRequest(prompt=f"p{i}", model="sim") for i in range(20)])

    async def go() -> None:
        task = asyncio.ensure_future(ParallelExecutor(8).execute(job, provider))
        await asyncio.sleep(0.5)
        job.request_cancel()
        await task

    asyncio.run(go())
    assert 1 <= provider.calls <= 5

"""JobRunner and RunSettings: checked settings, provider, cache, journal, executor choice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.batchapi import BatchAPIExecutor
from brainbatch.errors import InputError
from brainbatch.executors import ParallelExecutor, SequentialExecutor
from brainbatch.models import BatchJob, BatchRequest, BatchStatus
from brainbatch.providers import SimulatedProvider
from brainbatch.runner import JobRunner, ProviderRouter, RunSettings, open_providers, run_job
from brainbatch.sim import SimServer
from brainbatch.store import JobStore

Prompts = Callable[[int], pd.DataFrame]


def sim_job(n: int = 5) -> BatchJob:
    return BatchJob([BatchRequest(prompt=f"p{i}", model="sim", custom_id=str(i)) for i in range(n)])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "later"}, "mode must be 'realtime', 'batch' or 'flex'"),
        ({"max_concurrent": 0}, "max_concurrent must be an integer > 0"),
        ({"max_concurrent": 2.5}, "max_concurrent must be an integer > 0"),
        ({"delay": -1}, "delay must be a number of seconds >= 0"),
        ({"rpm": 0}, "rpm must be a number > 0"),
        ({"tpm": -5}, "tpm must be a number > 0"),
        ({"max_cost_usd": 0}, "max_cost_usd must be a number > 0"),
        ({"cache": "yes"}, "cache must be True, False or None"),
        ({"poll_interval": 1.0}, "poll_interval applies to mode='batch' only"),
        (
            {"model": "gpt-4o", "mode": "batch", "delay": 1.0},
            "delay applies to mode=.realtime. only",
        ),
        ({"model": ""}, "model must be a non-empty string"),
        ({"model": "sim", "mode": "batch"}, "mode='batch' needs a provider with a native"),
    ],
)
def test_bad_setting_is_refused_naming_the_parameter(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        RunSettings(**kwargs)


def test_spec_leaves_out_secrets_and_repr_shows_no_key() -> None:
    settings = RunSettings(
        model="gpt-4o-mini",
        provider="openai",
        provider_kwargs={
            "api_key": "sk-secret-123456",
            "extra_headers": {"x": "y", "Authorization": "Bearer sk-secret-123456"},
            "seed": 3,
        },
    )
    spec = settings.spec()
    # brainbatch.secrets: credentials and secret headers go, ordinary headers stay
    assert spec["provider_kwargs"] == {"extra_headers": {"x": "y"}, "seed": 3}
    assert "sk-secret" not in repr(settings) + repr(spec)


def test_spec_keeps_every_non_secret_provider_setting() -> None:
    kept = {"default_output_tokens": 512, "adapt_to_headers": False, "key_env": "MY_KEY"}
    settings = RunSettings(model="gpt-4o-mini", provider="openai", provider_kwargs=kept)
    assert settings.spec()["provider_kwargs"] == kept


def test_spec_round_trips_through_from_spec() -> None:
    settings = RunSettings(model="sim", max_concurrent=7, delay=0.5, provider_kwargs={"seed": 2})
    again = RunSettings.from_spec(settings.spec())
    assert (again.max_concurrent, again.delay, dict(again.provider_kwargs)) == (7, 0.5, {"seed": 2})


def test_default_executor_is_parallel_with_the_concurrency_asked_for() -> None:
    runner = JobRunner(sim_job(), RunSettings(max_concurrent=12))
    executor = runner.make_executor(SimulatedProvider())
    assert isinstance(executor, ParallelExecutor) and executor.max_concurrent == 12


def test_delay_picks_the_sequential_executor() -> None:
    executor = JobRunner(sim_job(), RunSettings(delay=0.2)).make_executor(SimulatedProvider())
    assert isinstance(executor, SequentialExecutor) and executor.delay == 0.2


def test_batch_mode_picks_the_batch_api_executor(sim: SimServer) -> None:
    provider = bb.OpenAIProvider("gpt-4o-mini", base_url=sim.openai_base_url, api_key="sk-t")
    runner = JobRunner(sim_job(), RunSettings(model="gpt-4o-mini", mode="batch"))
    assert isinstance(runner.make_executor(provider), BatchAPIExecutor)


def test_batch_mode_records_each_accepted_batch_in_the_store_at_once(
    sim: SimServer, tmp_path: Path
) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    job = sim_job()
    store.create_job(job)
    provider = bb.OpenAIProvider("gpt-4o-mini", base_url=sim.openai_base_url, api_key="sk-t")
    runner = JobRunner(job, RunSettings(model="gpt-4o-mini", mode="batch"), store)
    executor = runner.make_executor(provider)
    assert isinstance(executor, BatchAPIExecutor)
    assert executor.on_submit == store.record_provider_batch
    assert (
        JobRunner(job, RunSettings(model="gpt-4o-mini", mode="batch"))
        .make_executor(provider)
        .on_submit
        is None
    )  # type: ignore[attr-defined]


class ClosingProbe(SimulatedProvider):
    closed = False

    async def aclose(self) -> None:
        self.closed = True


def test_provider_the_runner_made_is_closed_at_the_end() -> None:
    probe = ClosingProbe(latency_ms=0)

    class Runner(JobRunner):
        def open_provider(self) -> tuple[Any, bool]:
            return probe, True

    asyncio.run(Runner(sim_job(), RunSettings()).run())
    assert probe.closed


def test_provider_object_passed_in_is_left_open() -> None:
    probe = ClosingProbe(latency_ms=0)
    job = asyncio.run(run_job(sim_job(), RunSettings(provider=probe)))
    assert job.status == BatchStatus.COMPLETED
    assert not probe.closed


def test_plain_async_function_works_as_provider() -> None:
    async def echo(request: BatchRequest) -> str:
        return request.prompt.upper()

    job = asyncio.run(run_job(sim_job(2), RunSettings(provider=echo)))
    assert sorted(str(r.result) for r in job.results) == ["P0", "P1"]


def test_runner_failure_before_sending_marks_the_job_failed() -> None:
    job = BatchJob([BatchRequest(prompt="p", model="no-such-model-family")])
    with pytest.raises(bb.ConfigurationError):
        asyncio.run(run_job(job, RunSettings(model="no-such-model-family")))
    assert job.status == BatchStatus.FAILED
    assert "no provider known" in (job.error or "")


def test_models_of_several_providers_get_a_router() -> None:
    router = open_providers(None, "gpt-4o-mini", ["gpt-4o-mini", "claude-3-5-haiku"], api_key="k")
    try:
        assert isinstance(router, ProviderRouter)
        assert sorted(router.providers) == ["anthropic", "openai"]
    finally:
        asyncio.run(router.aclose())


def test_models_of_one_provider_get_that_provider() -> None:
    provider = open_providers(None, "sim/gpt-4o", ["sim/gpt-4o", "sim/gpt-4o-mini"])
    assert isinstance(provider, SimulatedProvider)


def test_results_are_journaled_to_the_store(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "j.sqlite")
    job = store.create_job(sim_job(6), name="journaled")
    asyncio.run(run_job(job, RunSettings(provider_kwargs={"latency_ms": 0}), store))
    store.close()
    again = JobStore(tmp_path / "j.sqlite").load_job("journaled")
    assert again.done == 6
    assert again.status == BatchStatus.COMPLETED


def test_with_cache_true_repeated_requests_are_answered_from_the_cache(
    prompts: Prompts,
) -> None:
    df = prompts(5)
    first = bb.run(df, prompt="text", model="sim", latency_ms=0, cache=True)
    second = bb.run(df, prompt="text", model="sim", latency_ms=0, cache=True)
    assert not first.cached.any()
    assert second.cached.all()
    assert (second.paid_usd == 0).all()
    assert list(second.response) == list(first.response)


def test_by_default_every_request_is_sent_again(prompts: Prompts) -> None:
    df = prompts(3)
    bb.run(df, prompt="text", model="sim", latency_ms=0, params={"temperature": 0})
    again = bb.run(df, prompt="text", model="sim", latency_ms=0, params={"temperature": 0})
    assert not again.cached.any()


def test_native_batch_mode_runs_end_to_end_on_the_simulated_server(
    prompts: Prompts, sim: SimServer
) -> None:
    out = bb.run(
        prompts(20),
        prompt="text",
        model="gpt-4o-mini",
        provider="openai",
        mode="batch",
        base_url=sim.openai_base_url,
        api_key="sk-test",
        poll_interval=0.05,
    )
    assert (out.status == "success").all()
    assert out.price_source.str.contains("batch").all()


def test_realtime_mode_over_http_on_the_simulated_server(prompts: Prompts, sim: SimServer) -> None:
    out = bb.run(
        prompts(20),
        prompt="text",
        model="gpt-4o-mini",
        base_url=sim.openai_base_url,
        api_key="sk-test",
        rpm=100_000,
        max_concurrent=4,
    )
    assert (out.status == "success").all()
    assert (out.input_tokens > 0).all()


def test_max_cost_stops_the_job_within_budget_and_keeps_results(prompts: Prompts) -> None:
    limit = 0.002  # about half of what 300 answers of at most 20 tokens cost
    job = bb.submit(
        prompts(300),
        prompt="text",
        model="sim",
        params={"max_tokens": 20},
        latency_ms=1,
        max_cost_usd=limit,
    )
    out = job.result(timeout=60)
    assert job.status == BatchStatus.CANCELLED
    assert "max_cost_usd" in (job.job.error or "")
    assert 0 < (out.status == "success").sum() < 300
    assert (out.status == "cancelled").sum() > 0
    assert out.paid_usd.sum() <= limit


@pytest.mark.filterwarnings("ignore:no price known")
def test_a_budget_on_an_unpriced_model_says_why_in_every_unsent_row(prompts: Prompts) -> None:
    out = bb.run(
        prompts(5),
        prompt="text",
        model="acme-unpriced-1",
        provider="sim",
        params={"max_tokens": 10},
        latency_ms=0,
        max_cost_usd=1.0,
        store=False,
        progress=False,
    )
    assert list(out.status) == ["cancelled"] * 5
    assert all("no price known for model 'acme-unpriced-1'" in e for e in out.error)
    assert all("set_price" in e for e in out.error)


def test_native_batch_over_budget_is_refused_before_uploading(
    prompts: Prompts, sim: SimServer
) -> None:
    job = bb.submit(
        prompts(50),
        prompt="text",
        model="gpt-4o",
        provider="openai",
        mode="batch",
        base_url=sim.openai_base_url,
        api_key="sk-test",
        poll_interval=0.05,
        params={"max_tokens": 100},
        max_cost_usd=0.0001,
    )
    out = job.result(timeout=60)
    assert job.status == BatchStatus.CANCELLED
    assert "Nothing was uploaded" in (job.job.error or "")
    assert (out.status == "cancelled").all()
    assert sim.count("/v1/files") == 0

"""Whole jobs through ParallelExecutor with the HTTP providers, against the SimServer."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from brainbatch import BatchJob, BatchRequest, BatchStatus, ParallelExecutor
from brainbatch.limits import RetryPolicy
from brainbatch.providers.anthropic import AnthropicProvider
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim import SimServer

SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "verdict",
        "schema": {
            "type": "object",
            "properties": {
                "label": {"type": "string", "enum": ["good", "bad"]},
                "score": {"type": "integer"},
            },
        },
    },
}


def job(n: int, model: str = "gpt-4o-mini", **params: object) -> BatchJob:
    return BatchJob(
        [
            BatchRequest(
                prompt=f"Review number {i}: fine product",
                model=model,
                custom_id=f"row{i}",
                params=dict(params) or None,
            )
            for i in range(n)
        ]
    )


async def test_openai_results_carry_tokens_cost_latency_and_request_id(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider]
) -> None:
    j = job(20)
    await ParallelExecutor(max_concurrent=8).execute(j, openai_at())
    assert j.status is BatchStatus.COMPLETED
    for r in j.results:
        assert isinstance(r.result, str) and r.result.startswith("[simulated]")
        assert r.input_tokens and r.output_tokens and r.cost_usd and r.cost_usd > 0
        assert r.processing_time_ms is not None and r.provider_request_id
        assert r.finish_reason == "stop" and r.attempts == 1


async def test_anthropic_results_carry_tokens_cost_latency_and_request_id(
    sim: SimServer, anthropic_at: Callable[..., AnthropicProvider]
) -> None:
    j = job(20, model="claude-sonnet-4-5")
    await ParallelExecutor(max_concurrent=8).execute(j, anthropic_at())
    assert j.status is BatchStatus.COMPLETED
    assert sim.count("/v1/messages") == 20
    for r in j.results:
        assert r.input_tokens and r.output_tokens and r.cost_usd and r.cost_usd > 0
        assert r.provider_request_id and r.finish_reason in ("stop", "length")


async def test_nothing_is_sent_twice_when_nothing_fails(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider]
) -> None:
    await ParallelExecutor(max_concurrent=16).execute(job(50), openai_at())
    counts = sim.received_bodies_count_by_hash()
    assert len(counts) == 50 and max(counts.values()) == 1


async def test_structured_output_comes_back_as_a_dict(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider]
) -> None:
    j = job(5, response_format=SCHEMA)
    await ParallelExecutor(max_concurrent=5).execute(j, openai_at())
    for r in j.results:
        assert isinstance(r.result, dict) and r.result["label"] in ("good", "bad")


async def test_a_refused_key_stops_the_job_after_a_few_requests(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider]
) -> None:
    sim.configure(api_key="the-right-key", latency_ms=5)
    j = job(500)
    await ParallelExecutor(max_concurrent=8).execute(j, openai_at())
    assert j.status is BatchStatus.FAILED and "401" in (j.error or "")
    assert sim.count() <= 16  # at most the requests already in flight, not 500
    assert j.done < 20 and j.pending_requests > 480  # the rest can be resumed


async def test_a_job_under_ten_percent_faults_ends_with_every_row_answered_or_classified(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider]
) -> None:
    sim.configure(
        http_500=0.02,
        http_503=0.02,
        rate_limit_429=0.02,
        retry_after=0.02,
        drop=0.02,
        malformed=0.01,
        hang=0.01,
        max_hang_s=1.0,
    )
    j = job(300)
    provider = openai_at(timeout=0.3, retry=RetryPolicy(max_attempts=3, base_delay_s=0.005))
    await ParallelExecutor(max_concurrent=32).execute(j, provider)
    assert j.done == 300
    kinds = {"rate_limit", "server_error", "timeout", "connection", "malformed_response"}
    for r in j.results:
        assert r.ok or r.error_type in kinds, r
    assert j.n_success >= 290  # three tries at 10% faults: ~0.1% fail
    assert sum(1 for r in j.results if r.attempts > 1) >= 10  # faults did happen


async def test_max_concurrent_caps_requests_in_flight(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider]
) -> None:
    sim.configure(latency_ms=60)
    await ParallelExecutor(max_concurrent=32).execute(job(12), openai_at(max_concurrent=3))
    arrivals = sorted(r.t for r in sim.log)
    assert len(arrivals) == 12
    # with 3 in flight and 60 ms answers, no 4 requests arrive within 40 ms of each other
    assert all(arrivals[i + 3] - arrivals[i] > 0.04 for i in range(len(arrivals) - 3))


async def test_provider_client_is_an_httpx_client_on_the_same_pool(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider]
) -> None:
    p = openai_at()
    assert isinstance(p.client, httpx.AsyncClient)
    resp = await p.client.get(sim.openai_base_url + "/models", headers=p.auth_headers())
    assert resp.status_code == 200 and resp.json()["data"]
    await p.aclose()
    assert p.client is not None  # a fresh one is made lazily if used again


async def test_a_provider_given_an_httpx_transport_works_over_real_sockets(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider]
) -> None:
    p = openai_at(transport=httpx.AsyncHTTPTransport())
    out = await p(BatchRequest(prompt="Hi there", model="gpt-4o-mini"))
    assert out.output_tokens and sim.count() == 1


def test_a_provider_serves_one_event_loop_after_another(sim: SimServer) -> None:
    import asyncio

    from http_testutil import KEY

    p = OpenAIProvider(base_url=sim.openai_base_url, api_key=KEY, max_concurrent=2)

    async def run(j: BatchJob) -> None:
        await ParallelExecutor(max_concurrent=6).execute(j, p)
        await p.aclose()  # closes this loop's connections; the next run opens new ones

    for _ in range(2):  # e.g. two blocking runs from a notebook, each with its own loop
        j = job(6)
        asyncio.run(run(j))
        assert j.status is BatchStatus.COMPLETED


async def test_provider_client_streams_answers_from_the_shared_pool(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider]
) -> None:
    p = openai_at()
    url = sim.openai_base_url + "/models"
    async with p.client.stream("GET", url, headers=p.auth_headers()) as resp:
        chunks = [chunk async for chunk in resp.aiter_bytes()]
    assert resp.status_code == 200 and b"gpt-4o-mini" in b"".join(chunks)

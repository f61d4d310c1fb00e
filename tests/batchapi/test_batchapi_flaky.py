"""Transient failures of the batch endpoints themselves do not lose the job: status checks
and downloads are retried. A transport in front of the real simulated server fails chosen
calls, then lets them through."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from brainbatch import BatchJob, BatchStatus, ServerError
from brainbatch.batchapi import BatchAPIExecutor
from brainbatch.limits import RetryPolicy
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim import SimServer
from brainbatch.sim.batches import BatchSimState

FAST = {"poll_interval": 0.02, "max_poll_interval": 0.1}
"""Executor polling that suits the simulated clock."""


class FlakyTransport(httpx.AsyncBaseTransport):
    """Answers 503 to the first ``times`` calls whose path matches ``pattern``."""

    def __init__(self, pattern: str, times: int) -> None:
        self.pattern = re.compile(pattern)
        self.left = times
        self.failed = 0
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.left and self.pattern.search(request.url.path):
            self.left -= 1
            self.failed += 1
            return httpx.Response(503, json={"error": {"message": "overloaded", "type": "x"}})
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def flaky(
    sim: SimServer, batch_sim: BatchSimState
) -> AsyncIterator[Callable[..., OpenAIProvider]]:
    clients: list[httpx.AsyncClient] = []

    def make(pattern: str, times: int) -> OpenAIProvider:
        transport = FlakyTransport(pattern, times)
        client = httpx.AsyncClient(transport=transport)
        clients.append(client)
        provider = OpenAIProvider(base_url=sim.openai_base_url, client=client)
        provider.flaky = transport  # type: ignore[attr-defined]
        return provider

    yield make
    for c in clients:
        await c.aclose()


def _executor(provider: OpenAIProvider) -> BatchAPIExecutor:
    ex = BatchAPIExecutor(provider, **FAST)
    ex.backend.retry = RetryPolicy(max_attempts=4, base_delay_s=0.001, max_delay_s=0.005)
    return ex


async def test_status_checks_failing_with_503_are_retried(
    flaky: Callable[..., OpenAIProvider], make_job: Callable[..., BatchJob]
) -> None:
    provider = flaky(r"^/v1/batches/batch_[^/]+$", 5)
    job = make_job(10)
    await _executor(provider).execute(job)
    assert provider.flaky.failed == 5  # type: ignore[attr-defined]
    assert job.status == BatchStatus.COMPLETED and job.n_success == 10


async def test_a_failing_download_is_tried_again_at_the_next_poll(
    flaky: Callable[..., OpenAIProvider], make_job: Callable[..., BatchJob]
) -> None:
    provider = flaky(r"/content$", 6)  # more than one call's own retries
    job = make_job(10)
    await _executor(provider).execute(job)
    assert provider.flaky.failed == 6  # type: ignore[attr-defined]
    assert job.status == BatchStatus.COMPLETED and job.n_success == 10


async def test_status_checks_failing_for_good_fail_the_job_and_keep_the_batch_ids(
    flaky: Callable[..., OpenAIProvider], make_job: Callable[..., BatchJob]
) -> None:
    provider = flaky(r"^/v1/batches/batch_[^/]+$", 10_000)
    ex = _executor(provider)
    ex.max_poll_failures = 3
    job = make_job(3)
    with pytest.raises(ServerError, match="HTTP 503: x: overloaded"):
        await ex.execute(job)
    assert job.status == BatchStatus.FAILED
    assert job.metadata["provider_batches"][0].batch_id.startswith("batch_")

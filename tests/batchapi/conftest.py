"""Fixtures for the native Batch API tests.

``batch_sim``: the session's simulated server (the ``sim`` fixture, reset per test) with its
batch endpoints on a fast clock and no files or batches left from other tests; it yields the
:class:`~brainbatch.sim.batches.BatchSimState` (``batch_sim.configure(scenario=...)``).
``openai_provider`` / ``anthropic_provider``: HTTP providers pointed at that server.
``make_job(n)``: a job of ``n`` small requests with custom_ids ``r0``, ``r1``...
Helpers shared by the tests are in ``batch_helpers.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from brainbatch import BatchJob, BatchRequest
from brainbatch.providers.anthropic import AnthropicProvider
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim import SimServer
from brainbatch.sim.batches import SIM_BATCHES, BatchSimState


@pytest.fixture
def batch_sim(sim: SimServer) -> Iterator[BatchSimState]:
    state = sim.app[SIM_BATCHES]
    state.reset()
    state.configure(validating_s=0.05, in_progress_s=0.2, finalizing_s=0.05, cancelling_s=0.05)
    yield state
    state.reset()


@pytest.fixture
async def openai_provider(
    sim: SimServer, batch_sim: BatchSimState
) -> AsyncIterator[OpenAIProvider]:
    provider = OpenAIProvider(base_url=sim.openai_base_url, max_attempts=1)
    yield provider
    await provider.aclose()


@pytest.fixture
async def anthropic_provider(
    sim: SimServer, batch_sim: BatchSimState
) -> AsyncIterator[AnthropicProvider]:
    provider = AnthropicProvider(base_url=sim.anthropic_base_url, max_attempts=1)
    yield provider
    await provider.aclose()


@pytest.fixture
def make_job() -> Callable[..., BatchJob]:
    def make(n: int, model: str = "gpt-4o-mini", **kw: Any) -> BatchJob:
        return BatchJob(
            [
                BatchRequest(prompt=f"question {i}", model=model, custom_id=f"r{i}", **kw)
                for i in range(n)
            ]
        )

    return make


@pytest.fixture
async def gemini_provider(sim: SimServer, batch_sim: BatchSimState) -> AsyncIterator[Any]:
    from brainbatch.providers.gemini import GeminiProvider

    provider = GeminiProvider(base_url=sim.gemini_base_url, api_key="test-key", max_attempts=1)
    yield provider
    await provider.aclose()

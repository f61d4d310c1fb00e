"""Fixtures for the HTTP provider tests: providers pointed at the session's SimServer.

Every provider made here is closed after its test. Retries use millisecond backoffs so that
retry tests take no time; ``KEY`` is the (fake) key whose leaks the tests look for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from http_testutil import FAST_RETRY, KEY

from brainbatch.providers.anthropic import AnthropicProvider
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim import SimServer


@pytest.fixture(autouse=True)
def _no_keys_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def openai_at(sim: SimServer) -> AsyncIterator[Callable[..., OpenAIProvider]]:
    """``openai_at(**kwargs)``: an OpenAIProvider on the SimServer (fast retries, test key)."""
    made: list[OpenAIProvider] = []

    def make(**kwargs: Any) -> OpenAIProvider:
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("retry", FAST_RETRY)
        provider = OpenAIProvider(base_url=sim.openai_base_url, **kwargs)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.aclose()


@pytest.fixture
async def anthropic_at(sim: SimServer) -> AsyncIterator[Callable[..., AnthropicProvider]]:
    """``anthropic_at(**kwargs)``: an AnthropicProvider on the SimServer."""
    made: list[AnthropicProvider] = []

    def make(**kwargs: Any) -> AnthropicProvider:
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("retry", FAST_RETRY)
        provider = AnthropicProvider(base_url=sim.anthropic_base_url, **kwargs)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.aclose()


@pytest.fixture
def short_window(monkeypatch: pytest.MonkeyPatch) -> Iterator[float]:
    """Make the in-thread SimServer count rpm/tpm over 1 s instead of 60 s (fast limit tests)."""
    import brainbatch.sim.state as sim_state

    monkeypatch.setattr(sim_state, "WINDOW_S", 1.0)
    yield 1.0

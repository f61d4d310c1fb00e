"""Fixtures for the HTTP provider tests: providers pointed at the session's SimServer.

Every provider made here is closed after its test. Retries use millisecond backoffs so that
retry tests take no time; ``KEY`` is the (fake) key whose leaks the tests look for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
from http_testutil import FAST_RETRY, KEY

from brainbatch.providers.anthropic import AnthropicProvider
from brainbatch.providers.gemini import GeminiProvider
from brainbatch.providers.http import HttpProvider
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim import SimServer

P = TypeVar("P", bound=HttpProvider)


@pytest.fixture(autouse=True)
def _no_keys_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "OPENROUTER_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


@asynccontextmanager
async def _providers_at(cls: type[P], base_url: str) -> AsyncIterator[Callable[..., P]]:
    """``make(**kwargs)``: a ``cls`` on ``base_url`` (fast retries, test key); closed on exit."""
    made: list[P] = []

    def make(**kwargs: Any) -> P:
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("retry", FAST_RETRY)
        provider = cls(base_url=base_url, **kwargs)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.aclose()


@pytest.fixture
async def openai_at(sim: SimServer) -> AsyncIterator[Callable[..., OpenAIProvider]]:
    """``openai_at(**kwargs)``: an OpenAIProvider on the SimServer (fast retries, test key)."""
    async with _providers_at(OpenAIProvider, sim.openai_base_url) as make:
        yield make


@pytest.fixture
async def anthropic_at(sim: SimServer) -> AsyncIterator[Callable[..., AnthropicProvider]]:
    """``anthropic_at(**kwargs)``: an AnthropicProvider on the SimServer."""
    async with _providers_at(AnthropicProvider, sim.anthropic_base_url) as make:
        yield make


@pytest.fixture
def short_window(monkeypatch: pytest.MonkeyPatch) -> Iterator[float]:
    """Make the in-thread SimServer count rpm/tpm over 1 s instead of 60 s (fast limit tests)."""
    import brainbatch.sim.state as sim_state

    monkeypatch.setattr(sim_state, "WINDOW_S", 1.0)
    yield 1.0


@pytest.fixture
async def gemini_at(sim: SimServer) -> AsyncIterator[Callable[..., GeminiProvider]]:
    """``gemini_at(**kwargs)``: a GeminiProvider on the SimServer (fast retries, test key)."""
    async with _providers_at(GeminiProvider, sim.gemini_base_url) as make:
        yield make

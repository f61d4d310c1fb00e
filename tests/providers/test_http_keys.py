"""API keys: where they come from, the error when there is none, and that they never leak."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest
from http_testutil import KEY

from brainbatch import BatchJob, BatchRequest, ParallelExecutor
from brainbatch.errors import AuthenticationError, ConfigurationError
from brainbatch.providers.anthropic import AnthropicProvider
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim import SimServer


def test_a_missing_openai_key_is_a_configuration_error_saying_how_to_run_offline() -> None:
    with pytest.raises(ConfigurationError) as info:
        OpenAIProvider()
    assert "OPENAI_API_KEY" in str(info.value) and 'provider="sim"' in str(info.value)


def test_a_missing_anthropic_key_names_its_variable() -> None:
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        AnthropicProvider()


def test_openrouter_reads_its_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-abcdef123456")
    p = OpenAIProvider(base_url="https://openrouter.ai/api/v1")
    assert p.auth_headers() == {"authorization": "Bearer sk-or-abcdef123456"}


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env-123456")
    assert AnthropicProvider().auth_headers() == {"x-api-key": "sk-ant-from-env-123456"}


def test_a_local_server_needs_no_key() -> None:
    assert OpenAIProvider(base_url="http://localhost:11434/v1").auth_headers() == {}


def test_the_key_is_not_in_the_repr() -> None:
    for p in (OpenAIProvider(api_key=KEY), AnthropicProvider(api_key=KEY)):
        assert KEY not in repr(p) and KEY not in str(p) and "***" in repr(p)
        assert KEY not in repr(p.http) and KEY not in repr(p.limiter)


async def test_a_refused_key_leaks_nowhere(
    sim: SimServer,
    openai_at: Callable[..., OpenAIProvider],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim.configure(api_key="the-right-key")
    caplog.set_level(logging.DEBUG)
    j = BatchJob([BatchRequest(prompt=f"q{i}", model="gpt-4o-mini") for i in range(30)])
    await ParallelExecutor(max_concurrent=4).execute(j, openai_at())
    with pytest.raises(AuthenticationError) as info:
        await openai_at()(BatchRequest(prompt="q", model="gpt-4o-mini"))
    texts = [str(info.value), repr(info.value), str(j.error), repr(j), caplog.text]
    texts += [repr(r) for r in j.results]
    assert all(KEY not in t for t in texts)
    assert "401" in str(info.value)


async def test_key_fragments_echoed_by_the_provider_are_redacted() -> None:
    echo = {
        "error": {
            "message": f"Incorrect API key provided: {KEY[:8]}***{KEY[-4:]}. Full: {KEY}",
            "type": "invalid_request_error",
        }
    }
    transport = httpx.MockTransport(lambda r: httpx.Response(401, json=echo))
    async with OpenAIProvider(api_key=KEY, transport=transport) as p:
        with pytest.raises(AuthenticationError) as info:
            await p(BatchRequest(prompt="q", model="gpt-4o-mini"))
    assert KEY not in str(info.value) and KEY[:8] not in str(info.value)

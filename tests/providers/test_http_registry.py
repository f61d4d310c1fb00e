"""Choosing a provider from provider= or the model name; never the simulator by accident."""

from __future__ import annotations

import pytest
from http_testutil import KEY

from brainbatch import resolve_provider
from brainbatch.errors import ConfigurationError
from brainbatch.providers import AnthropicProvider, OpenAIProvider, SimulatedProvider


@pytest.mark.parametrize(
    "model", ["gpt-4o-mini", "gpt-4.1", "o1-mini", "o3", "o4-mini", "chatgpt-4o-latest"]
)
def test_openai_model_names_choose_openai(model: str) -> None:
    assert isinstance(resolve_provider(model=model, api_key=KEY), OpenAIProvider)


def test_claude_model_names_choose_anthropic() -> None:
    assert isinstance(resolve_provider(model="claude-sonnet-4-5", api_key=KEY), AnthropicProvider)


def test_sim_model_names_choose_the_simulated_provider_priced_as_the_named_model() -> None:
    p = resolve_provider(model="sim/gpt-4o")
    assert isinstance(p, SimulatedProvider) and p.model == "gpt-4o"


def test_an_explicit_provider_wins_over_the_model_name() -> None:
    p = resolve_provider("openai", model="llama-3.1-8b", base_url="http://localhost:8000/v1")
    assert isinstance(p, OpenAIProvider) and p.base_url == "http://localhost:8000/v1"


def test_openrouter_is_openai_compatible_at_its_base_url() -> None:
    p = resolve_provider("openrouter", model="meta-llama/llama-3-70b", api_key=KEY)
    assert isinstance(p, OpenAIProvider) and p.base_url == "https://openrouter.ai/api/v1"


def test_an_unknown_model_is_an_error_naming_it_and_the_choices() -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_provider(model="llama-3.1-8b")
    msg = str(info.value)
    assert "llama-3.1-8b" in msg and "'openai'" in msg and "'sim'" in msg


def test_an_unknown_provider_name_is_an_error_listing_the_choices() -> None:
    with pytest.raises(ConfigurationError, match="'anthropic'"):
        resolve_provider("cohere", model="command-r")


def test_a_missing_key_is_an_error_not_a_silent_simulator() -> None:
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        resolve_provider(model="gpt-4o-mini")


def test_a_provider_instance_is_used_as_is() -> None:
    sim = SimulatedProvider()
    assert resolve_provider(sim, model="gpt-4o") is sim

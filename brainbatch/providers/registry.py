"""Choosing a provider: from an explicit ``provider=`` or from the model's name.

Never falls back to the simulator on its own: an unknown model is an error that names it.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ConfigurationError
from .base import Provider

__all__ = ["PROVIDER_NAMES", "provider_for_model", "resolve_provider"]

PROVIDER_NAMES = ("openai", "anthropic", "gemini", "openrouter", "sim")

_OPENAI = re.compile(r"^(gpt-|chatgpt-|o\d|text-|davinci|babbage|ft:gpt-)")
_GEMINI = re.compile(r"^(google/|models/)?gemini-")


def provider_for_model(model: str) -> str | None:
    """The provider name a model name implies (``"openai"``, ``"anthropic"``, ``"gemini"``,
    ``"sim"``), or
    None when the name says nothing (``"llama3"``: then give ``provider=``)."""
    name = model.strip().lower()
    if name == "sim" or name.startswith("sim/"):
        return "sim"
    if name.startswith("claude-") or name.startswith("anthropic/claude-"):
        return "anthropic"
    if _OPENAI.match(name):
        return "openai"
    if _GEMINI.match(name):
        return "gemini"
    return None


def resolve_provider(
    provider: str | Provider | None = None, model: str | None = None, **kwargs: Any
) -> Provider:
    """The provider to send ``model``'s requests to.

    Args:
        provider: ``"openai"``, ``"anthropic"``, ``"openrouter"``, ``"sim"``, a
            :class:`Provider` instance (returned as is), or None to pick from ``model``:
            ``gpt-*``, ``o1``/``o3``/``o4*``, ``chatgpt-*`` -> OpenAI; ``claude-*`` ->
            Anthropic; ``gemini-*`` (also ``google/gemini-*``, ``models/gemini-*``) -> Gemini
            (``provider="google"`` is the same); ``sim`` or ``sim/<model>`` -> the simulated
            provider.
        model: the model the requests name.
        **kwargs: passed to the provider's constructor (``base_url``, ``api_key``, ``rpm``...).

    Raises:
        ConfigurationError: unknown provider name, a model no provider is known for (the
            message names the model and the choices), kwargs given with an instance, or a
            missing API key.
    """
    if isinstance(provider, Provider):
        if kwargs:
            raise ConfigurationError(
                f"provider= is already a {type(provider).__name__}; settings "
                f"{sorted(kwargs)} cannot be applied to it"
            )
        return provider
    if provider is None:
        if not model:
            raise ConfigurationError(
                "give provider= (one of " + ", ".join(PROVIDER_NAMES) + ") or a model name"
            )
        name = provider_for_model(model)
        if name is None:
            raise ConfigurationError(
                f"no provider known for model {model!r}: pass provider= one of "
                f"{', '.join(repr(n) for n in PROVIDER_NAMES)} (for an OpenAI-compatible "
                f'server: provider="openai", base_url=...), or use a model named '
                f'"sim/{model}" to run offline on the simulated provider'
            )
    elif isinstance(provider, str):
        name = provider.strip().lower()
    else:
        raise ConfigurationError(
            f"provider must be a name or a Provider instance, got {type(provider).__name__}"
        )
    if name == "openai":
        from .openai import OpenAIProvider

        return OpenAIProvider(model, **kwargs)
    if name == "openrouter":
        from .openai import OPENROUTER_BASE_URL, OpenAIProvider

        kwargs.setdefault("base_url", OPENROUTER_BASE_URL)
        return OpenAIProvider(model, **kwargs)
    if name == "anthropic":
        from .anthropic import AnthropicProvider

        return AnthropicProvider(model, **kwargs)
    if name in ("gemini", "google"):
        from .gemini import GeminiProvider

        return GeminiProvider(model, **kwargs)
    if name in ("sim", "simulated"):
        from .simulated import SimulatedProvider

        if model and model != "sim" and "model" not in kwargs:
            kwargs["model"] = model.removeprefix("sim/")
        try:
            return SimulatedProvider(**kwargs)
        except TypeError as exc:
            raise ConfigurationError(f"provider='sim': {exc}") from None
    raise ConfigurationError(
        f"unknown provider {provider!r}: choose one of "
        f"{', '.join(repr(n) for n in PROVIDER_NAMES)} or pass a Provider instance"
    )

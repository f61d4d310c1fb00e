"""Providers: one module per wire protocol. Each provider is an async ``process_fn``."""

from .anthropic import AnthropicProvider
from .base import Provider
from .gemini import GeminiProvider
from .http import HttpProvider
from .openai import OpenAIProvider
from .registry import provider_for_model, resolve_provider
from .simulated import SimulatedProvider, simulate_answer

__all__ = [
    "AnthropicProvider",
    "GeminiProvider",
    "HttpProvider",
    "OpenAIProvider",
    "Provider",
    "SimulatedProvider",
    "provider_for_model",
    "resolve_provider",
    "simulate_answer",
]

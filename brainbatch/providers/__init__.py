"""Providers: one module per wire protocol. Each provider is an async ``process_fn``."""

from .base import Provider
from .simulated import SimulatedProvider, simulate_answer

__all__ = ["Provider", "SimulatedProvider", "simulate_answer"]

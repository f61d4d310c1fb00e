"""Constants shared by the HTTP tests (imported as a plain module: tests/ has no packages)."""

from __future__ import annotations

from brainbatch.limits import RetryPolicy

KEY = "sk-test-SECRET0123456789abcdef"
"""The fake API key every test provider uses; leak checks look for it."""

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.005, max_delay_s=0.02)
"""Retries with millisecond backoffs, so retry tests take no time."""

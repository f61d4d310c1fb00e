"""Fixtures for the pricing, token-estimate and budget tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from brainbatch import pricing


@pytest.fixture(autouse=True)
def fresh_prices() -> Iterator[None]:
    """Every test starts and ends with no user prices, no warnings given, empty caches."""
    pricing._reset()
    yield
    pricing._reset()

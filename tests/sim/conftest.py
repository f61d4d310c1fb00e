"""Fixtures for the simulated-server tests: plain httpx clients on the session server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from brainbatch.sim import SimServer


@pytest.fixture
def client(sim: SimServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, timeout=5.0) as c:
        yield c

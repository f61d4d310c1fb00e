"""Fixtures for the image and document tests: an httpx client on the session's simulated
server, and the request bodies the server received."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from brainbatch.sim import SimServer


@pytest.fixture
def client(sim: SimServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, timeout=5.0) as c:
        yield c


@pytest.fixture
def exchanges(sim: SimServer) -> Iterator[list[dict[str, Any]]]:
    bodies: list[dict[str, Any]] = []

    def keep(exchange: Any) -> None:
        if exchange.method == "POST" and (
            exchange.path.endswith(("/chat/completions", "/messages"))
            or ":generateContent" in exchange.path
        ):
            bodies.append(orjson.loads(exchange.body))

    stop = sim.observe(keep)
    yield bodies
    stop()

"""Fixtures for the embeddings tests: texts, and the embeddings requests the simulated
server received (bodies as dicts)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pandas as pd
import pytest

from brainbatch.sim import SimServer


@pytest.fixture
def texts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": [
                "red apples and green pears",
                "green pears are sweet",
                "a fast car on the open road",
                "the road into the old city",
            ]
        }
    )


@pytest.fixture(autouse=True)
def _no_keys_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def sent(sim: SimServer) -> Iterator[list[dict[str, Any]]]:
    bodies: list[dict[str, Any]] = []

    def keep(exchange: Any) -> None:
        if exchange.path == "/v1/embeddings" and exchange.status == 200:
            bodies.append(orjson.loads(exchange.body))

    stop = sim.observe(keep)
    yield bodies
    stop()

"""Fixtures for the typed structured-output tests.

The Pydantic models the tests ask for are in ``structured_models.py``. ``batch_sim``: the
session's simulated server with its batch endpoints on a fast clock (as in tests/batchapi).
``exchanges``: the request bodies the simulated server received during the test, as dicts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pandas as pd
import pytest

from brainbatch.sim import SimServer
from brainbatch.sim.batches import SIM_BATCHES, BatchSimState


@pytest.fixture
def reviews() -> pd.DataFrame:
    return pd.DataFrame({"text": [f"review number {i}" for i in range(8)]})


@pytest.fixture
def batch_sim(sim: SimServer) -> Iterator[BatchSimState]:
    state = sim.app[SIM_BATCHES]
    state.reset()
    state.configure(validating_s=0.05, in_progress_s=0.2, finalizing_s=0.05, cancelling_s=0.05)
    yield state
    state.reset()


@pytest.fixture
def exchanges(sim: SimServer) -> Iterator[list[dict[str, Any]]]:
    bodies: list[dict[str, Any]] = []

    def keep(exchange: Any) -> None:
        if exchange.method == "POST" and exchange.path.endswith(("/chat/completions", "/messages")):
            bodies.append(orjson.loads(exchange.body))

    stop = sim.observe(keep)
    yield bodies
    stop()

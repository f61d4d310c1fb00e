"""Fixtures for the typed structured-output tests.

``models``: the Pydantic models the tests ask for. ``batch_sim``: the session's simulated
server with its batch endpoints on a fast clock (as in tests/batchapi). ``exchanges``: the
request bodies the simulated server received during the test, as dicts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import orjson
import pandas as pd
import pytest
from pydantic import BaseModel, Field

from brainbatch.sim import SimServer
from brainbatch.sim.batches import SIM_BATCHES, BatchSimState


class Colour(StrEnum):
    red = "red"
    blue = "blue"


class Address(BaseModel):
    city: str
    zip_code: int


class Review(BaseModel):
    """Every kind of field the results frame types."""

    label: Literal["positive", "negative", "neutral"]
    score: float = Field(ge=0, le=1)
    stars: int
    recommended: bool
    written: datetime
    colour: Colour
    address: Address
    tags: list[str]
    note: str | None = None


class Sentiment(BaseModel):
    label: Literal["positive", "negative"]
    confidence: float


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

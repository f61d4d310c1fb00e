"""Typed answers with Gemini models: ``schema=`` becomes ``generationConfig.responseMimeType``
``application/json`` plus ``responseJsonSchema`` (Gemini's v1beta discovery document), in real
time and in Batch Mode, over real sockets to the simulated server (whose traffic is checked
against the discovery document by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
from structured_models import Review, Sentiment

import brainbatch as bb
from brainbatch.sim import SimServer
from brainbatch.sim.batches import BatchSimState

MODEL = "gemini-2.5-flash"


@pytest.fixture
def gemini_bodies(sim: SimServer) -> Iterator[list[dict[str, Any]]]:
    bodies: list[dict[str, Any]] = []

    def keep(exchange: Any) -> None:
        if exchange.method == "POST" and exchange.path.endswith(":generateContent"):
            bodies.append(orjson.loads(exchange.body))

    stop = sim.observe(keep)
    yield bodies
    stop()


def _run(sim: SimServer, df: pd.DataFrame, **kw: Any) -> pd.DataFrame:
    kw.setdefault("store", False)
    out = bb.run(
        df,
        prompt="Classify: {text}",
        model=MODEL,
        base_url=sim.gemini_base_url,
        api_key="test-key",
        progress="none",
        **kw,
    )
    assert isinstance(out, pd.DataFrame)
    return out


def test_gemini_request_carries_json_mime_type_and_response_json_schema(
    sim: SimServer, reviews: pd.DataFrame, gemini_bodies: list[dict[str, Any]]
) -> None:
    _run(sim, reviews.head(1), schema=Sentiment)
    config = gemini_bodies[0]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["properties"]["label"]["enum"] == ["positive", "negative"]
    assert "response_format" not in gemini_bodies[0]


def test_gemini_answers_become_model_instances_and_typed_columns(
    sim: SimServer, reviews: pd.DataFrame
) -> None:
    out = _run(sim, reviews, schema=Review)
    assert (out.status == "success").all()
    assert all(isinstance(r, Review) for r in out.response)
    assert isinstance(out["response.label"].dtype, pd.CategoricalDtype)
    assert str(out["response.stars"].dtype) == "Int64"
    assert str(out["response.recommended"].dtype) == "boolean"


def test_gemini_answers_that_break_the_schema_are_marked_invalid(
    sim: SimServer, reviews: pd.DataFrame
) -> None:
    sim.configure(invalid_output=1.0)
    out = _run(sim, reviews.head(2), schema=Sentiment, schema_attempts=1)
    assert (out.status == "invalid").all()


def test_gemini_batch_mode_sends_the_schema_and_types_the_answers(
    sim: SimServer, batch_sim: BatchSimState, reviews: pd.DataFrame, tmp_path: Path
) -> None:
    out = _run(
        sim, reviews, schema=Sentiment, mode="batch", poll_interval=0.02, store=tmp_path / "j"
    )
    assert (out.status == "success").all()
    assert all(isinstance(r, Sentiment) for r in out.response)
    assert isinstance(out["response.label"].dtype, pd.CategoricalDtype)
    assert (out.price_source == "genai-prices batch price").all()

"""Gemini embeddings: ``bb.embed(df, col, model="gemini-embedding-001")`` over
``models/{model}:batchEmbedContents`` of the simulated server (requests and answers checked
against Gemini's discovery document by the suite's spec recorder), and that route's rules."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.errors import InputError
from brainbatch.pricing import cost_of
from brainbatch.sim import SimServer
from brainbatch.sim.embeddings import embed_text

MODEL = "gemini-embedding-001"
PATH = f"/v1beta/models/{MODEL}:batchEmbedContents"


@pytest.fixture
def gemini_sent(sim: SimServer) -> Iterator[list[dict[str, Any]]]:
    bodies: list[dict[str, Any]] = []

    def keep(exchange: Any) -> None:
        if exchange.path == PATH and exchange.status == 200:
            bodies.append(orjson.loads(exchange.body))

    stop = sim.observe(keep)
    yield bodies
    stop()


def _embed(sim: SimServer, df: pd.DataFrame, **kw: Any) -> pd.DataFrame:
    return bb.embed(df, "text", model=MODEL, base_url=sim.gemini_base_url, api_key="g", **kw)


def test_gemini_vectors_of_the_asked_size_priced_at_geminis_price(
    sim: SimServer, texts: pd.DataFrame, gemini_sent: list[dict[str, Any]]
) -> None:
    out = _embed(sim, texts, dimensions=64)
    assert (out.status == "success").all()
    assert len(gemini_sent) == 1
    assert gemini_sent[0]["requests"][0]["outputDimensionality"] == 64
    for text, vec in zip(texts.text, out.embedding, strict=True):
        assert vec.dtype == np.float32 and np.array_equal(vec, embed_text(text, MODEL, 64))
    expected = cost_of(MODEL, int(out.input_tokens.sum()), 0).usd
    assert expected is not None and expected > 0
    assert math.isclose(out.cost_usd.sum(), expected, rel_tol=1e-9)
    assert out.price_source.eq("Gemini price list (embeddings)").all()


def test_gemini_rows_are_packed_100_to_a_request(
    sim: SimServer, gemini_sent: list[dict[str, Any]]
) -> None:
    df = pd.DataFrame({"text": [f"row {i} of pears" for i in range(250)]})
    out = _embed(sim, df, dimensions=8)
    assert sorted(len(b["requests"]) for b in gemini_sent) == [50, 100, 100]
    assert (out.status == "success").all()


def test_gemini_full_size_vectors_without_dimensions(sim: SimServer, texts: pd.DataFrame) -> None:
    assert _embed(sim, texts).embedding[0].shape == (3072,)


def test_a_batch_size_over_geminis_limit_is_refused(sim: SimServer, texts: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="batch_size must be an integer from 1 to 100"):
        _embed(sim, texts, batch_size=101)


def test_gemini_has_no_batch_mode_here(sim: SimServer, texts: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="Gemini embeddings run in real time"):
        _embed(sim, texts, mode="batch")


@pytest.fixture
def client(sim: SimServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, timeout=5.0) as c:
        yield c


def _requests(n: int, model: str = MODEL) -> dict[str, Any]:
    return {
        "requests": [
            {"model": f"models/{model}", "content": {"parts": [{"text": f"t{i}"}]}}
            for i in range(n)
        ]
    }


def test_the_route_refuses_more_than_100_requests(client: httpx.Client) -> None:
    r = client.post(PATH, json=_requests(101))
    assert r.status_code == 400
    assert "at most 100 requests can be in one batch" in r.json()["error"]["message"]
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_the_route_refuses_a_request_for_another_model(client: httpx.Client) -> None:
    r = client.post(PATH, json=_requests(2, model="text-embedding-004"))
    assert r.status_code == 400 and "does not match" in r.json()["error"]["message"]


def test_the_route_refuses_an_unknown_model(client: httpx.Client) -> None:
    r = client.post("/v1beta/models/gemini-2.5-flash:batchEmbedContents", json=_requests(1))
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"

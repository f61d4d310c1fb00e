"""``bb.embed``: rows in, float32 vectors out, over real sockets to the simulated server
(whose requests and answers are checked against OpenAI's API document)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.embeddings import pack
from brainbatch.errors import InputError
from brainbatch.pricing import cost_of
from brainbatch.sim import SimServer


def test_embed_gives_float32_vectors_of_the_asked_size_with_tokens_and_cost(
    sim: SimServer, texts: pd.DataFrame
) -> None:
    out = bb.embed(texts, "text", base_url=sim.openai_base_url, dimensions=256)
    assert list(out.columns[:2]) == ["text", "embedding"]
    assert (out.status == "success").all()
    for vec in out.embedding:
        assert isinstance(vec, np.ndarray) and vec.dtype == np.float32 and vec.shape == (256,)
        assert math.isclose(float(np.linalg.norm(vec)), 1.0, rel_tol=1e-5)
    assert out.input_tokens.gt(0).all()
    expected = cost_of("text-embedding-3-small", int(out.input_tokens.sum()), 0).usd
    assert expected is not None and math.isclose(out.cost_usd.sum(), expected, rel_tol=1e-9)
    assert out.price_source.eq("OpenAI price list (embeddings)").all()


def test_full_size_vectors_without_dimensions(sim: SimServer, texts: pd.DataFrame) -> None:
    out = bb.embed(texts, "text", model="text-embedding-3-large", base_url=sim.openai_base_url)
    assert out.embedding[0].shape == (3072,)


def test_rows_are_packed_into_requests_of_at_most_batch_size(
    sim: SimServer, texts: pd.DataFrame, sent: list[dict[str, Any]]
) -> None:
    many = pd.concat([texts] * 5, ignore_index=True)  # 20 rows
    out = bb.embed(many, "text", base_url=sim.openai_base_url, batch_size=8)
    assert sorted(len(b["input"]) for b in sent) == [4, 8, 8]
    assert (out.status == "success").all()


def test_per_row_tokens_add_up_to_what_the_server_billed(
    sim: SimServer, texts: pd.DataFrame, sent: list[dict[str, Any]]
) -> None:
    out = bb.embed(texts, "text", base_url=sim.openai_base_url)
    assert len(sent) == 1
    from brainbatch.tokens import estimate_tokens

    billed = sum(estimate_tokens(t, "text-embedding-3-small") for t in texts.text)
    assert int(out.input_tokens.sum()) == billed


def test_pack_keeps_requests_under_the_token_limit_too() -> None:
    groups = pack([100_000, 150_000, 60_000, 10], max_inputs=2048, max_tokens=300_000)
    assert [list(g) for g in groups] == [[0, 1], [2, 3]]


def test_similar_texts_get_similar_vectors(sim: SimServer, texts: pd.DataFrame) -> None:
    out = bb.embed(texts, "text", base_url=sim.openai_base_url)
    m = np.stack(out.embedding)
    sims = m @ m.T
    assert sims[0, 1] > sims[0, 2] and sims[2, 3] > sims[2, 1]


def test_offline_model_gives_the_servers_vectors(sim: SimServer, texts: pd.DataFrame) -> None:
    online = bb.embed(texts, "text", base_url=sim.openai_base_url, dimensions=32)
    offline = bb.embed(texts, "text", model="sim/text-embedding-3-small", dimensions=32)
    assert np.array_equal(np.stack(online.embedding), np.stack(offline.embedding))
    assert offline.input_tokens.tolist() == online.input_tokens.tolist()


def test_a_template_over_columns_is_embedded(sim: SimServer) -> None:
    df = pd.DataFrame({"title": ["Pears", "Cars"], "body": ["sweet fruit", "fast roads"]})
    out = bb.embed(df, "{title}: {body}", model="sim/text-embedding-3-small")
    first = bb.embed(
        pd.DataFrame({"t": ["Pears: sweet fruit"]}), "t", model="sim/text-embedding-3-small"
    )
    assert np.array_equal(out.embedding[0], first.embedding[0])


def test_a_row_over_the_input_token_limit_is_refused_naming_it_before_sending(
    sim: SimServer,
) -> None:
    df = pd.DataFrame({"text": ["short", "word " * 9000]}, index=["a", "b"])
    with pytest.raises(InputError, match=r"rows 'b' have more than 8,192 tokens"):
        bb.embed(df, "text", base_url=sim.openai_base_url)
    assert sim.count("/v1/embeddings") == 0


def test_missing_values_are_refused_naming_the_row(sim: SimServer) -> None:
    df = pd.DataFrame({"text": ["ok", None]})
    with pytest.raises(InputError, match="NaN/None at rows 1"):
        bb.embed(df, "text", base_url=sim.openai_base_url)


@pytest.mark.parametrize(
    ("model", "dimensions", "message"),
    [
        ("text-embedding-ada-002", 256, "does not take dimensions"),
        ("text-embedding-3-small", 4096, "more than 'text-embedding-3-small' gives"),
        ("text-embedding-3-small", 0, "dimensions must be an integer >= 1"),
    ],
)
def test_dimensions_the_model_cannot_give_are_refused(
    sim: SimServer, texts: pd.DataFrame, model: str, dimensions: int, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        bb.embed(texts, "text", model=model, base_url=sim.openai_base_url, dimensions=dimensions)
    assert sim.count("/v1/embeddings") == 0


def test_batch_size_over_the_providers_limit_is_refused(texts: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="batch_size must be an integer from 1 to 2048"):
        bb.embed(texts, "text", model="sim/text-embedding-3-small", batch_size=5000)


def test_a_refused_key_marks_every_row_with_the_reason(sim: SimServer, texts: pd.DataFrame) -> None:
    sim.configure(api_key="sk-right")
    out = bb.embed(texts, "text", base_url=sim.openai_base_url, api_key="sk-wrong")
    assert (out.status == "error").all()
    assert out.error.str.contains("API key").all()
    assert "sk-wrong" not in " ".join(out.error)
    assert out.embedding.isna().all()


def test_accessor_embeds(texts: pd.DataFrame) -> None:
    out = texts.bb.embed("text", model="sim/text-embedding-3-small", dimensions=8)
    assert out.embedding[0].shape == (8,)

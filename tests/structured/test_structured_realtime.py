"""Typed answers in real time, over real sockets to the simulated server (whose traffic is
checked against the providers' OpenAPI documents by tests/conftest.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from structured_models import Review, Sentiment

import brainbatch as bb
from brainbatch.errors import InputError
from brainbatch.pricing import cost_of
from brainbatch.sim import SimServer

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}


def _run(sim: SimServer, api: str, df: pd.DataFrame, **kw: Any) -> pd.DataFrame:
    base_url = sim.openai_base_url if api == "openai" else sim.anthropic_base_url
    kw.setdefault("store", False)
    out = bb.run(
        df,
        prompt="Classify: {text}",
        model=MODELS[api],
        provider=api,
        base_url=base_url,
        progress="none",
        **kw,
    )
    assert isinstance(out, pd.DataFrame)
    return out


def test_openai_request_carries_the_strict_json_schema(
    sim: SimServer, reviews: pd.DataFrame, exchanges: list[dict[str, Any]]
) -> None:
    _run(sim, "openai", reviews.head(1), schema=Review)
    fmt = exchanges[0]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["additionalProperties"] is False


def test_anthropic_request_carries_output_config_format(
    sim: SimServer, reviews: pd.DataFrame, exchanges: list[dict[str, Any]]
) -> None:
    _run(sim, "anthropic", reviews.head(1), schema=Review)
    body = exchanges[0]
    assert "response_format" not in body
    fmt = body["output_config"]["format"]
    assert fmt["type"] == "json_schema"
    assert fmt["schema"]["properties"]["score"]["description"] == "{maximum: 1, minimum: 0}"


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_answers_become_model_instances_and_typed_columns(
    sim: SimServer, reviews: pd.DataFrame, api: str
) -> None:
    out = _run(sim, api, reviews, schema=Review)
    assert (out.status == "success").all()
    assert all(isinstance(r, Review) for r in out.response)
    assert isinstance(out["response.label"].dtype, pd.CategoricalDtype)
    assert str(out["response.stars"].dtype) == "Int64"
    assert out["response.label"].value_counts().sum() == len(reviews)
    assert out["raw_response"].map(lambda r: isinstance(r, dict)).all()


def test_json_schema_dict_gives_checked_dicts_and_typed_columns(
    sim: SimServer, reviews: pd.DataFrame
) -> None:
    schema = {
        "title": "Pick",
        "type": "object",
        "properties": {"choice": {"enum": ["a", "b"]}, "n": {"type": "integer"}},
        "required": ["choice", "n"],
        "additionalProperties": False,
    }
    out = _run(sim, "openai", reviews, schema=schema)
    assert (out.status == "success").all()
    assert set(out.response[0]) == {"choice", "n"}
    assert list(out["response.choice"].cat.categories) == ["a", "b"]


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_answer_that_never_validates_ends_invalid_with_raw_answer_and_every_try_paid(
    sim: SimServer, reviews: pd.DataFrame, api: str
) -> None:
    one = _run(sim, api, reviews.head(1), schema=Sentiment)
    sim.configure(invalid_output=1.0)
    out = _run(sim, api, reviews.head(1), schema=Sentiment, schema_attempts=3)
    row = out.iloc[0]
    assert row.status == "invalid"
    assert row.attempts == 3
    assert row.response is None
    assert isinstance(row.raw_response, dict)
    assert "does not follow schema Sentiment" in row.error
    # every try was paid for: the prompt three times, three (shorter, broken) answers
    assert row.input_tokens == 3 * one.input_tokens.iloc[0]
    paid = cost_of(MODELS[api], int(row.input_tokens), int(row.output_tokens)).usd
    assert paid is not None and math.isclose(row.cost_usd, paid, rel_tol=1e-9)
    assert row.cost_usd > one.cost_usd.iloc[0]


def test_invalid_answers_are_retried_until_they_validate(
    sim: SimServer, reviews: pd.DataFrame
) -> None:
    sim.configure(invalid_output=0.5)
    out = _run(sim, "openai", reviews, schema=Sentiment, schema_attempts=10)
    assert (out.status == "success").all()
    assert out.attempts.max() > 1


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_refusal_is_its_own_status_and_is_not_retried(
    sim: SimServer, reviews: pd.DataFrame, api: str
) -> None:
    sim.configure(refusal=1.0)
    out = _run(sim, api, reviews.head(2), schema=Sentiment)
    assert (out.status == "refused").all()
    assert (out.attempts == 1).all()
    assert out.raw_response.str.contains("can't help").all()


def test_typed_results_survive_a_resume_from_the_store(
    sim: SimServer, reviews: pd.DataFrame, tmp_path: Path
) -> None:
    store = tmp_path / "jobs.sqlite"
    sim.configure(invalid_output=0.4)
    first = _run(
        sim, "openai", reviews, schema=Sentiment, schema_attempts=1, store=store, job_name="typed"
    )
    assert set(first.status) == {"success", "invalid"}
    # a fresh process reads the job back: no class, the stored JSON schema checks the answers
    again = bb.resume(
        "typed", store=store, wait=True, progress="none", base_url=sim.openai_base_url
    )
    assert isinstance(again, pd.DataFrame)
    assert again.status.tolist() == first.status.tolist()
    ok = again.status == "success"
    assert again.response[ok].map(lambda r: isinstance(r, dict)).all()
    assert again["response.label"].tolist() == first["response.label"].tolist()
    assert isinstance(again["response.label"].dtype, pd.CategoricalDtype)
    assert again.raw_response[~ok].notna().all()
    typed = bb.resume(
        "typed",
        store=store,
        wait=True,
        progress="none",
        base_url=sim.openai_base_url,
        schema=Sentiment,
    )
    assert isinstance(typed, pd.DataFrame)
    assert typed.response[ok].map(lambda r: isinstance(r, Sentiment)).all()


def test_resume_with_another_schema_is_refused(
    sim: SimServer, reviews: pd.DataFrame, tmp_path: Path
) -> None:
    store = tmp_path / "jobs.sqlite"
    _run(sim, "openai", reviews.head(1), schema=Sentiment, store=store, job_name="typed")
    with pytest.raises(InputError, match="asks for other JSON"):
        bb.resume(
            "typed",
            store=store,
            wait=True,
            progress="none",
            base_url=sim.openai_base_url,
            schema=Review,
        )


def test_accessor_takes_schema(sim: SimServer, reviews: pd.DataFrame) -> None:
    out = reviews.bb.run(
        prompt="Classify: {text}",
        model="gpt-4o-mini",
        provider="openai",
        base_url=sim.openai_base_url,
        schema=Sentiment,
        store=False,
        progress="none",
    )
    assert out["response.label"].notna().all()

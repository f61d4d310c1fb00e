"""Cost estimates and the budget guard count a schema's tokens: OpenAI and Anthropic bill the
schema as prompt tokens, so brainbatch counts its compact JSON as one more prompt message."""

from __future__ import annotations

from typing import Any

import orjson
import pandas as pd
import pytest
from structured_models import Review

import brainbatch as bb
from brainbatch.budget import BudgetGuard, worst_case_cost
from brainbatch.models import BatchRequest
from brainbatch.pricing import cost_of
from brainbatch.sim import SimServer
from brainbatch.structured import OutputSchema
from brainbatch.tokens import estimate_tokens

MODEL = "gpt-4o-mini"
OVERHEAD = 3  # tokens per chat message (OpenAI's counting rule)


def _schema_tokens() -> int:
    schema = OutputSchema.of(Review).response_format()["json_schema"]["schema"]
    return estimate_tokens(orjson.dumps(schema).decode(), MODEL) + OVERHEAD


def _request(*, typed: bool) -> BatchRequest:
    params: dict[str, Any] = {"max_tokens": 20}
    if typed:
        params = OutputSchema.of(Review).add_to(params)
    return BatchRequest(prompt="Classify: fine blender", model=MODEL, params=params)


def test_estimate_grows_by_exactly_the_counted_schema_tokens_per_row(
    reviews: pd.DataFrame,
) -> None:
    plain = bb.estimate(reviews, prompt="Classify: {text}", model=MODEL)
    typed = bb.estimate(reviews, prompt="Classify: {text}", model=MODEL, schema=Review)
    grew = int(typed["input_tokens"].iloc[0] - plain["input_tokens"].iloc[0])
    assert grew == _schema_tokens() * len(reviews)


def test_budget_worst_case_grows_by_the_schema_tokens_price() -> None:
    plain = worst_case_cost(_request(typed=False))
    typed = worst_case_cost(_request(typed=True))
    per_input_token = cost_of(MODEL, 1_000_000, 0).usd / 1e6
    assert typed - plain == pytest.approx(_schema_tokens() * per_input_token)


def test_native_batch_check_counts_the_schema_tokens() -> None:
    guard = BudgetGuard(1.0)
    plain = guard.check_before_submit([_request(typed=False)])
    typed = guard.check_before_submit([_request(typed=True)])
    per_input_token = cost_of(MODEL, 1_000_000, 0, batch=True).usd / 1e6
    assert typed - plain == pytest.approx(_schema_tokens() * per_input_token)


def test_budget_guard_refuses_a_run_that_only_the_schema_pushes_over(
    sim: SimServer, reviews: pd.DataFrame, exchanges: list[dict[str, Any]]
) -> None:
    plain = worst_case_cost(_request(typed=False))
    typed = worst_case_cost(_request(typed=True))
    limit = (plain + typed) / 2  # the plain row fits, the typed one does not
    kw: dict[str, Any] = {
        "prompt": "Classify: {text}",
        "model": MODEL,
        "provider": "openai",
        "base_url": sim.openai_base_url,
        "params": {"max_tokens": 20},
        "max_cost_usd": limit,
        "store": False,
        "progress": "none",
    }
    df = pd.DataFrame({"text": ["fine blender"]})
    ok = bb.run(df, **kw)
    assert (ok.status == "success").all() and len(exchanges) == 1
    refused = bb.run(df, schema=Review, **kw)
    assert (refused.status != "success").all()
    assert "max_cost_usd" in str(refused.error.iloc[0])
    assert len(exchanges) == 1  # nothing was sent for the typed run

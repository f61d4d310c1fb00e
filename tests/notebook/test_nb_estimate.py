"""bb.estimate: the same rows -> requests conversion as submit, priced before anything is sent."""

from __future__ import annotations

import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.errors import InputError


def test_estimate_prices_every_row_real_time_batch_and_flex(reviews: pd.DataFrame) -> None:
    table = bb.estimate(reviews, prompt="Classify: {review}", model="gpt-4o-mini")
    assert list(table["mode"]) == ["realtime", "batch", "flex"]
    assert list(table["requests"]) == [6, 6, 6]
    realtime, batch, flex = table["cost_expected_usd"]
    assert batch == pytest.approx(realtime / 2)
    assert flex == pytest.approx(batch)  # flex processing is billed at the batch price
    assert table["price_source"].iloc[2].endswith("(flex processing: batch price)")
    assert "slower" in table["duration"].iloc[2]


def test_a_model_without_flex_gets_no_flex_row(reviews: pd.DataFrame) -> None:
    table = bb.estimate(reviews, prompt="Classify: {review}", model="claude-haiku-4-5")
    assert list(table["mode"]) == ["realtime", "batch"]


def test_a_mixed_job_gets_a_flex_total_only_when_every_model_has_flex(
    reviews: pd.DataFrame,
) -> None:
    df = reviews.assign(m=["gpt-4o-mini", "claude-haiku-4-5"] * 3)
    table = bb.estimate(df, prompt="Classify: {review}", model="col:m")
    flex = table[table["mode"] == "flex"]
    assert list(flex["model"]) == ["gpt-4o-mini"]  # no "(all)" flex row: haiku has none
    both = reviews.assign(m=["gpt-4o-mini", "gpt-4.1-mini"] * 3)
    table = bb.estimate(both, prompt="Classify: {review}", model="col:m")
    assert "(all)" in set(table.loc[table["mode"] == "flex", "model"])


def test_estimate_refuses_bad_rows_like_submit_does(reviews: pd.DataFrame) -> None:
    df = reviews.copy()
    df.loc["r3", "review"] = None
    with pytest.raises(InputError, match=r"column 'review'.*rows 'r3'"):
        bb.estimate(df, prompt="Classify: {review}", model="gpt-4o-mini")


def test_estimate_takes_the_limits_the_job_will_run_under(reviews: pd.DataFrame) -> None:
    slow = bb.estimate(reviews, prompt="{review}", model="gpt-4o-mini", max_concurrent=1)
    fast = bb.estimate(reviews, prompt="{review}", model="gpt-4o-mini", max_concurrent=6)
    assert slow["duration_s"].iloc[0] > fast["duration_s"].iloc[0]

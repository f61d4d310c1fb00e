"""bb.estimate: the same rows -> requests conversion as submit, priced before anything is sent."""

from __future__ import annotations

import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.errors import InputError


def test_estimate_prices_every_row_real_time_and_batch(reviews: pd.DataFrame) -> None:
    table = bb.estimate(reviews, prompt="Classify: {review}", model="gpt-4o-mini")
    assert list(table["mode"]) == ["realtime", "batch"]
    assert list(table["requests"]) == [6, 6]
    realtime, batch = table["cost_expected_usd"]
    assert batch == pytest.approx(realtime / 2)


def test_estimate_refuses_bad_rows_like_submit_does(reviews: pd.DataFrame) -> None:
    df = reviews.copy()
    df.loc["r3", "review"] = None
    with pytest.raises(InputError, match=r"column 'review'.*rows 'r3'"):
        bb.estimate(df, prompt="Classify: {review}", model="gpt-4o-mini")


def test_estimate_takes_the_limits_the_job_will_run_under(reviews: pd.DataFrame) -> None:
    slow = bb.estimate(reviews, prompt="{review}", model="gpt-4o-mini", max_concurrent=1)
    fast = bb.estimate(reviews, prompt="{review}", model="gpt-4o-mini", max_concurrent=6)
    assert slow["duration_s"].iloc[0] > fast["duration_s"].iloc[0]

"""Fixtures for the notebook front: a small reviews DataFrame, an isolated store file, and
progress output limited to the final summary line (as in a script or nbval run)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own default store file and summary-only progress."""
    monkeypatch.setenv("BRAINBATCH_STORE", str(tmp_path / "store" / "jobs.sqlite"))
    monkeypatch.setenv("BRAINBATCH_PROGRESS", "summary")
    yield


@pytest.fixture
def reviews() -> pd.DataFrame:
    """Six product reviews with a star rating, indexed by review id."""
    return pd.DataFrame(
        {
            "review": [
                "Great kettle, boils fast",
                "Broke after a week",
                "Does the job",
                "Too loud but cheap",
                "Lovely design",
                "Would not buy again",
            ],
            "stars": [5, 1, 3, 3, 4, 2],
        },
        index=pd.Index([f"r{i}" for i in range(6)], name="review_id"),
    )


@pytest.fixture
def prompts() -> Callable[[int], pd.DataFrame]:
    """``prompts(n)``: a DataFrame of ``n`` short prompts in column ``text``, RangeIndex."""

    def make(n: int) -> pd.DataFrame:
        return pd.DataFrame({"text": [f"prompt number {i}" for i in range(n)]})

    return make

"""Fixtures for the notebook front: a small reviews DataFrame, an isolated store file,
progress output limited to the final summary line (as in a script or nbval run), and a real
Jupyter kernel driven over jupyter_client."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from nb_kernel_helpers import Kernel


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


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    """A fresh python3 kernel (this virtualenv's ipykernel) with its own store file."""
    from jupyter_client.manager import start_new_kernel

    env = dict(os.environ)
    env["BRAINBATCH_STORE"] = str(tmp_path / "kernel-store" / "jobs.sqlite")
    env.pop("BRAINBATCH_PROGRESS", None)  # the kernel picks the widget panel itself
    km, kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(tmp_path))
    driver = Kernel(km, kc, env=env, cwd=str(tmp_path))
    try:
        yield driver
    finally:
        driver.kc.stop_channels()
        driver.km.shutdown_kernel(now=True)

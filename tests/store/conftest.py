"""Fixtures for the job store tests: a fresh store file per test and small jobs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from brainbatch import BatchJob, BatchRequest
from brainbatch.store import JobStore


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """Where this test's store lives (not created yet)."""
    return tmp_path / "store" / "jobs.sqlite"


@pytest.fixture
def store(store_path: Path) -> Iterator[JobStore]:
    """A fresh store, closed after the test."""
    with JobStore(store_path, flush_interval=0.02) as s:
        yield s


MakeJob = Callable[..., BatchJob]


@pytest.fixture
def make_job() -> MakeJob:
    """``make_job(n, **params)``: n requests with custom_ids ``row-0``... and the given params."""

    def make(n: int = 10, prefix: str = "row", **params: Any) -> BatchJob:
        return BatchJob(
            [
                BatchRequest(
                    prompt=f"Review {i}: arrived on time, works as described.",
                    model="gpt-4o-mini",
                    custom_id=f"{prefix}-{i}",
                    params=dict(params) or None,
                    metadata={"row": i},
                )
                for i in range(n)
            ]
        )

    return make

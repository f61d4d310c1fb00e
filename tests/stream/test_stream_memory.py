"""Bounded memory: four times the rows, not four times the memory (a behaviour, not a timing).

Peak Python allocations (tracemalloc) of a streamed run, journal on, through the simulated
provider: from N to 4N rows the peak stays within 1.5x, where a job held in memory (requests,
results, a results frame: about 2 KB per row) grows with the rows. The same comparison on the
in-memory ``bb.run(df)`` shows the difference the test relies on.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pandas as pd

import brainbatch as bb

N = 1_000
CHUNK = 250


def _peak(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _source(tmp_path: Path, rows: int) -> Path:
    path = tmp_path / f"in-{rows}.parquet"
    pd.DataFrame({"text": [f"review number {i}: fine" for i in range(rows)]}).to_parquet(path)
    return path


def _stream(source: Path, out: Path) -> None:
    result = bb.run(
        source,
        prompt="{text}",
        model="sim",
        latency_ms=0,
        out=out,
        chunk_size=CHUNK,
        max_concurrent=32,
        progress="none",
    )
    assert result.done == result.total


def test_peak_memory_of_a_stream_does_not_grow_with_the_rows(tmp_path: Path) -> None:
    small, large = _source(tmp_path, N), _source(tmp_path, 4 * N)
    _stream(small, tmp_path / "warm")  # imports, price tables, first-use caches
    peak_small = _peak(lambda: _stream(small, tmp_path / "small"))
    peak_large = _peak(lambda: _stream(large, tmp_path / "large"))
    assert peak_large < 1.5 * peak_small, (peak_small, peak_large)


def test_the_in_memory_run_grows_with_the_rows_which_is_what_the_stream_avoids(
    tmp_path: Path,
) -> None:
    small = pd.read_parquet(_source(tmp_path, N))
    large = pd.read_parquet(_source(tmp_path, 4 * N))

    def run(df: pd.DataFrame) -> None:
        bb.run(df, prompt="{text}", model="sim", latency_ms=0, max_concurrent=32, progress="none")

    run(small)
    peak_small, peak_large = _peak(lambda: run(small)), _peak(lambda: run(large))
    assert peak_large > 2.5 * peak_small, (peak_small, peak_large)

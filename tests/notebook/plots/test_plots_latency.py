"""bb.plot.latency: a histogram of request latency with p50 / p95 / p99 lines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import brainbatch as bb
from brainbatch.notebook.plots import latency_percentiles


def _percentile_lines(fig: Figure) -> dict[str, float]:
    ax = fig.axes[0]
    return {
        line.get_label().split(" ")[0]: float(line.get_xdata()[0])  # type: ignore[index]
        for line in ax.get_lines()
        if str(line.get_label()).startswith("p")
    }


def test_latency_returns_a_figure(results: pd.DataFrame) -> None:
    assert isinstance(bb.plot.latency(results), Figure)


def test_latency_lines_sit_at_the_percentiles_of_sent_requests(results: pd.DataFrame) -> None:
    sent = [100.0, 200.0, 300.0, 400.0]  # the cached row and the row that never ran are left out
    lines = _percentile_lines(bb.plot.latency(results))
    assert lines == pytest.approx({f"p{q}": float(np.percentile(sent, q)) for q in (50, 95, 99)})


def test_latency_lines_are_labelled_with_their_value(results: pd.DataFrame) -> None:
    labels = [str(line.get_label()) for line in bb.plot.latency(results).axes[0].get_lines()]
    assert labels == ["p50 = 250 ms", "p95 = 385 ms", "p99 = 397 ms"]


def test_latency_histogram_counts_every_sent_request(results: pd.DataFrame) -> None:
    bars = bb.plot.latency(results, bins=4).axes[0].patches
    assert sum(bar.get_height() for bar in bars) == 4


def test_latency_percentiles_match_job_stats_interpolation(results: pd.DataFrame) -> None:
    assert latency_percentiles(results)[50] == pytest.approx(250.0)


def test_latency_of_an_empty_frame_says_so(empty_results: pd.DataFrame) -> None:
    ax = bb.plot.latency(empty_results).axes[0]
    assert ax.get_lines() == []
    assert "no latency" in ax.texts[0].get_text()


def test_latency_of_all_errors_without_latency_draws_no_lines(all_errors: pd.DataFrame) -> None:
    assert bb.plot.latency(all_errors).axes[0].get_lines() == []


def test_latency_without_the_column_names_it(results: pd.DataFrame) -> None:
    with pytest.raises(bb.InputError, match="'latency_ms'"):
        bb.plot.latency(results.drop(columns="latency_ms"))


def test_latency_of_something_else_than_a_frame_is_refused() -> None:
    with pytest.raises(bb.InputError, match="expected a results DataFrame"):
        bb.plot.latency([1, 2, 3])  # type: ignore[arg-type]


def test_latency_of_a_job_handle_says_to_get_its_results_first() -> None:
    job = bb.submit(pd.DataFrame({"text": ["hi"]}), "{text}", "sim", store=False, progress="none")
    job.result(timeout=30)
    with pytest.raises(bb.InputError, match=r"await job"):
        bb.plot.latency(job)  # type: ignore[arg-type]

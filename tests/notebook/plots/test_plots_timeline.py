"""bb.plot.timeline: results per second and errors per time bucket."""

from __future__ import annotations

import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.notebook.plots import timeline_table


def test_timeline_buckets_count_every_completed_row(results: pd.DataFrame) -> None:
    table = timeline_table(results, bucket=2)
    assert table["ok"].tolist() == [2, 2, 0]
    assert table["errors"].tolist() == [0, 0, 1]


def test_timeline_throughput_is_results_per_second(results: pd.DataFrame) -> None:
    table = timeline_table(results, bucket="2s")
    assert table["per_s"].tolist() == [1.0, 1.0, 0.5]


def test_timeline_bars_show_the_table(results: pd.DataFrame) -> None:
    fig = bb.plot.timeline(results, bucket=2)
    top, bottom = fig.axes
    assert [bar.get_height() for bar in top.containers[0]] == [1.0, 1.0, 0.5]
    assert [bar.get_height() for bar in bottom.containers[0]] == [0, 0, 1]


def test_timeline_titles_the_error_count(results: pd.DataFrame) -> None:
    assert bb.plot.timeline(results).axes[1].get_title() == "Errors: 1 of 5"


def test_timeline_picks_a_round_bucket_by_default(results: pd.DataFrame) -> None:
    table = timeline_table(results)  # 4 s span / 30 -> 0.2 s buckets
    assert table["start_s"].iloc[1] == pytest.approx(0.2)


def test_timeline_of_an_empty_frame_says_so(empty_results: pd.DataFrame) -> None:
    fig = bb.plot.timeline(empty_results)
    assert all("no completed results" in ax.texts[0].get_text() for ax in fig.axes)


def test_timeline_of_all_errors_counts_them(all_errors: pd.DataFrame) -> None:
    assert timeline_table(all_errors, bucket=10)["errors"].tolist() == [3]


def test_timeline_refuses_a_bad_bucket(results: pd.DataFrame) -> None:
    with pytest.raises(bb.InputError, match="bucket"):
        bb.plot.timeline(results, bucket="soon")


def test_timeline_refuses_a_zero_bucket(results: pd.DataFrame) -> None:
    with pytest.raises(bb.InputError, match="positive"):
        bb.plot.timeline(results, bucket=0)


def test_timeline_without_status_names_it(results: pd.DataFrame) -> None:
    with pytest.raises(bb.InputError, match="'status'"):
        bb.plot.timeline(results.drop(columns="status"))


def test_timeline_error_axis_starts_at_zero_without_errors(results: pd.DataFrame) -> None:
    ok_only = results[results["status"] == "success"]
    assert bb.plot.timeline(ok_only).axes[1].get_ylim()[0] == 0

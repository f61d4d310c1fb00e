"""The DataFrame.bb accessor: summary, bound plots, and delegation to bb.submit/run/estimate."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from matplotlib.figure import Figure

import brainbatch as bb


def test_accessor_is_registered_on_import(results: pd.DataFrame) -> None:
    assert type(results.bb).__name__ == "BrainbatchAccessor"


def test_summary_is_one_row(results: pd.DataFrame) -> None:
    assert len(results.bb.summary()) == 1


def test_summary_counts_rows_by_status(results: pd.DataFrame) -> None:
    row = results.bb.summary().iloc[0]
    assert (row["rows"], row["success"], row["error"], row["not_run"]) == (6, 4, 1, 1)


def test_summary_leaves_out_statuses_that_do_not_occur(results: pd.DataFrame) -> None:
    assert "cancelled" not in results.bb.summary().columns


def test_summary_counts_cached_rows(results: pd.DataFrame) -> None:
    assert results.bb.summary().iloc[0]["cached"] == 1


def test_summary_sums_tokens(results: pd.DataFrame) -> None:
    row = results.bb.summary().iloc[0]
    assert (row["input_tokens"], row["output_tokens"]) == (1030, 560)


def test_summary_separates_cost_from_what_was_paid(results: pd.DataFrame) -> None:
    row = results.bb.summary().iloc[0]
    assert row["cost_usd"] == pytest.approx(0.10)
    assert row["paid_usd"] == pytest.approx(0.06)


def test_summary_latency_percentiles_leave_out_cached_rows(results: pd.DataFrame) -> None:
    row = results.bb.summary().iloc[0]
    assert (row["latency_p50_ms"], row["latency_p95_ms"]) == pytest.approx((250.0, 385.0))


def test_summary_wall_time_spans_first_to_last_result(results: pd.DataFrame) -> None:
    assert results.bb.summary().iloc[0]["wall_s"] == 4.0


def test_summary_of_an_empty_frame_has_zero_counts(empty_results: pd.DataFrame) -> None:
    row = empty_results.bb.summary().iloc[0]
    assert (row["rows"], row["success"], row["error"]) == (0, 0, 0)
    assert math.isnan(row["cost_usd"])


def test_summary_without_status_names_it(results: pd.DataFrame) -> None:
    with pytest.raises(bb.InputError, match="'status'"):
        results.drop(columns="status").bb.summary()


@pytest.mark.parametrize("name", ["latency", "cost", "timeline", "savings"])
def test_accessor_plots_are_the_bb_plot_functions(results: pd.DataFrame, name: str) -> None:
    fig = getattr(results.bb.plot, name)()
    direct = getattr(bb.plot, name)(results)
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == [ax.get_title() for ax in direct.axes]


@pytest.fixture
def prompts() -> pd.DataFrame:
    return pd.DataFrame({"text": ["first prompt", "second prompt", "third prompt"]})


RUN = {"prompt": "Answer: {text}", "model": "sim", "store": False, "progress": "none"}


def test_accessor_run_is_bb_run(prompts: pd.DataFrame) -> None:
    via_accessor = prompts.bb.run(**RUN, latency_ms=0)
    direct = bb.run(prompts, **RUN, latency_ms=0)
    assert via_accessor["response"].tolist() == direct["response"].tolist()


def test_accessor_submit_returns_a_job_handle(prompts: pd.DataFrame) -> None:
    job = prompts.bb.submit(**RUN, latency_ms=0)
    assert isinstance(job, bb.JobHandle)
    assert job.result(timeout=30)["status"].tolist() == ["success"] * 3


def test_accessor_estimate_is_bb_estimate(prompts: pd.DataFrame) -> None:
    via_accessor = prompts.bb.estimate(prompt="{text}", model="gpt-4o-mini")
    pd.testing.assert_frame_equal(via_accessor, bb.estimate(prompts, "{text}", "gpt-4o-mini"))


def test_accessor_run_checks_rows_before_sending(prompts: pd.DataFrame) -> None:
    with pytest.raises(bb.InputError, match="'missing'"):
        prompts.bb.run(prompt="{missing}", model="sim", store=False, progress="none")

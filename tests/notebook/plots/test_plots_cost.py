"""bb.plot.cost: cost by model (bars) and cumulative spend over time."""

from __future__ import annotations

import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.notebook.plots import cost_by_model


def test_cost_bars_are_the_cost_per_model(results: pd.DataFrame) -> None:
    ax = bb.plot.cost(results).axes[0]
    cost_bars = ax.containers[0]
    expected = results.groupby("model")["cost_usd"].sum()  # gpt-4o, gpt-4o-mini (sorted)
    assert [bar.get_height() for bar in cost_bars] == pytest.approx(list(expected))
    assert [t.get_text() for t in ax.get_xticklabels()] == list(expected.index)


def test_cost_shows_paid_bars_when_cached_answers_cost_nothing(results: pd.DataFrame) -> None:
    paid_bars = bb.plot.cost(results).axes[0].containers[1]
    expected = results.groupby("model")["paid_usd"].sum()
    assert [bar.get_height() for bar in paid_bars] == pytest.approx(list(expected))


def test_cost_has_one_bar_set_when_nothing_was_cached(results: pd.DataFrame) -> None:
    fresh = results[~results["cached"]]
    assert len(bb.plot.cost(fresh).axes[0].containers) == 1


def test_cumulative_spend_ends_at_the_total_paid(results: pd.DataFrame) -> None:
    line = bb.plot.cost(results).axes[1].get_lines()[0]
    assert line.get_ydata()[-1] == pytest.approx(results["paid_usd"].sum())  # type: ignore[index]


def test_cumulative_spend_is_in_completion_order(results: pd.DataFrame) -> None:
    shuffled = results.sample(frac=1.0, random_state=3)
    line = bb.plot.cost(shuffled).axes[1].get_lines()[0]
    assert list(line.get_xdata()) == [0.0, 1.0, 2.0, 3.0, 4.0]  # type: ignore[arg-type]
    assert list(line.get_ydata()) == pytest.approx([0.01, 0.03, 0.06, 0.06, 0.06])  # type: ignore[arg-type]


def test_cost_by_model_counts_unpriced_rows(results: pd.DataFrame) -> None:
    results.loc[0, ["cost_usd", "paid_usd", "price_source"]] = [
        float("nan"),
        float("nan"),
        "unknown",
    ]
    table = cost_by_model(results)
    assert table.loc["gpt-4o-mini", "unpriced"] == 1
    assert table.loc["gpt-4o", "unpriced"] == 0


def test_cost_of_an_empty_frame_says_so(empty_results: pd.DataFrame) -> None:
    fig = bb.plot.cost(empty_results)
    assert "no results" in fig.axes[0].texts[0].get_text()
    assert "no completed results" in fig.axes[1].texts[0].get_text()


def test_cost_of_all_errors_draws_zero_cost(all_errors: pd.DataFrame) -> None:
    bars = bb.plot.cost(all_errors).axes[0].containers[0]
    assert [bar.get_height() for bar in bars] == [0.0]


def test_cost_without_completed_at_names_it(results: pd.DataFrame) -> None:
    with pytest.raises(bb.InputError, match="'completed_at'"):
        bb.plot.cost(results.drop(columns="completed_at"))


def test_cost_without_model_names_it(results: pd.DataFrame) -> None:
    with pytest.raises(bb.InputError, match="no column 'model'"):
        bb.plot.cost(results.drop(columns="model"))

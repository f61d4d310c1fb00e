"""``bb.explore_results``: cost, tokens and latency per group of a results DataFrame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.errors import InputError
from brainbatch.notebook.explore_results import LENGTH, ResultsExplorer, group_table


def _sent(results: pd.DataFrame) -> pd.DataFrame:
    """Rows whose latency counts: really sent (success or error), not from the cache."""
    return results[results["status"].isin(["success", "error"]) & ~results["cached"]]


def _bar_heights(ex: ResultsExplorer) -> list[float]:
    return [p.get_height() for p in ex.figure.axes[0].containers[0].patches]


def test_group_by_model_sums_rows_tokens_and_cost(results):
    view = bb.explore_results(results).current_view().set_index("model")
    expected = results.groupby("model").agg(
        rows=("status", "size"),
        input_tokens=("input_tokens", "sum"),
        output_tokens=("output_tokens", "sum"),
        cost_usd=("cost_usd", "sum"),
    )
    pd.testing.assert_frame_equal(view[expected.columns], expected, check_dtype=False)
    assert view["cost_share_pct"].sum() == pytest.approx(100.0)


def test_latency_p50_and_p95_per_group_are_pandas_quantiles_of_sent_requests(results):
    view = bb.explore_results(results, by="category").current_view().set_index("category")
    by = _sent(results).groupby("category")["latency_ms"]
    assert view["latency_p50_ms"].tolist() == pytest.approx(by.quantile(0.5).tolist())
    assert view["latency_p95_ms"].tolist() == pytest.approx(by.quantile(0.95).tolist())


def test_cached_and_unsent_rows_do_not_count_toward_latency(results):
    view = bb.explore_results(results, by="status").current_view().set_index("status")
    success = results[(results["status"] == "success") & ~results["cached"]]["latency_ms"]
    assert view.loc["success", "latency_p50_ms"] == pytest.approx(success.quantile(0.5))
    assert np.isnan(view.loc["not_run", "latency_p50_ms"])


def test_status_grouping_counts_failures(results):
    view = bb.explore_results(results, by="status").current_view().set_index("status")
    assert view.loc["error", ["rows", "success", "failed"]].tolist() == [2, 0, 2]
    assert view.loc["success", "failed"] == 0


def test_users_own_columns_are_offered_and_long_text_columns_are_not(results):
    ex = bb.explore_results(results)
    options = list(ex.group_by.options)
    assert options[:3] == ["model", "status", LENGTH]
    assert "category" in options
    assert "text" not in options  # one value per row: an id, not a group
    assert "response" not in options and "latency_ms" not in options


def test_changing_the_dropdown_regroups_table_and_chart(results):
    ex = bb.explore_results(results)
    ex.group_by.value = "category"
    view = ex.current_view()
    assert view["category"].tolist() == ["a", "b", "c"]
    assert _bar_heights(ex) == pytest.approx(view["cost_usd"].tolist())
    assert ex.figure.axes[0].get_title(loc="left") == "cost (USD) by category"


def test_metric_dropdown_charts_that_column(results):
    ex = bb.explore_results(results, by="category")
    ex.metric.value = "output_tokens"
    assert _bar_heights(ex) == ex.current_view()["output_tokens"].tolist()


def test_latency_chart_shows_p50_bars_and_p95_marks(results):
    ex = bb.explore_results(results, by="model", metric="latency_ms")
    view, ax = ex.current_view(), ex.figure.axes[0]
    assert _bar_heights(ex) == pytest.approx(view["latency_p50_ms"].tolist())
    p95 = ax.collections[0].get_offsets()[:, 1]
    assert list(p95) == pytest.approx(view["latency_p95_ms"].tolist())


def test_prompt_length_buckets_cover_every_row_short_to_long(results):
    ex = bb.explore_results(results, by=LENGTH, buckets=3)
    view = ex.current_view()
    assert len(view) == 3
    assert view["rows"].sum() == len(results)
    lows = [int(label.split("–")[0].split()[0]) for label in view[LENGTH]]
    assert lows == sorted(lows) and lows[0] == min(results["input_tokens"])
    assert view[LENGTH].iloc[-1].endswith(f"{max(results['input_tokens'])} tokens")


def test_bucket_slider_shows_only_for_prompt_length_and_regroups(results):
    ex = bb.explore_results(results)
    assert ex.buckets.layout.display == "none"
    ex.group_by.value = LENGTH
    assert ex.buckets.layout.display is None
    ex.buckets.value = 5
    assert len(ex.current_view()) == 5


def test_missing_values_form_their_own_group(results):
    results.loc[["row0", "row1"], "category"] = None
    view = bb.explore_results(results, by="category").current_view()
    assert view.set_index("category").loc["(none)", "rows"] == 2


def test_export_is_the_view_shown_and_a_copy(results):
    ex = bb.explore_results(results)
    ex.group_by.value = "category"
    exported = ex.current_view()
    pd.testing.assert_frame_equal(exported, group_table(results, "category"))
    for label in exported["category"]:
        assert f"<td>{label}</td>" in ex.table.value
    exported.loc[0, "rows"] = -1
    assert ex.current_view().loc[0, "rows"] != -1


def test_unknown_grouping_names_the_choices(results):
    with pytest.raises(InputError, match="'category'"):
        bb.explore_results(results, by="colour")


def test_needs_a_results_dataframe():
    with pytest.raises(InputError, match="results DataFrame"):
        bb.explore_results([1, 2, 3])  # type: ignore[arg-type]


def test_static_output_is_deterministic_and_has_figure_and_table(results, widgets_off):
    one = bb.explore_results(results, by="category")._repr_mimebundle_()
    two = bb.explore_results(results.copy(), by="category")._repr_mimebundle_()
    assert one == two
    assert set(one) == {"text/plain", "text/html", "image/png"}
    assert "<table" in one["text/html"] and "<img" in one["text/html"]


def test_accessor_opens_the_results_explorer(results):
    ex = results.bb.explore(by="category")
    pd.testing.assert_frame_equal(ex.current_view(), group_table(results, "category"))


def test_works_on_a_real_run_on_the_simulated_provider(reviews):
    out = bb.run(
        reviews,
        prompt="Classify ({category}): {text}",
        model="sim/gpt-4o-mini",
        store=False,
        progress="none",
        latency_ms=0,
    )
    view = bb.explore_results(out, by="category").current_view().set_index("category")
    assert view["rows"].sum() == len(reviews)
    assert view["cost_usd"].sum() == pytest.approx(out["cost_usd"].sum())

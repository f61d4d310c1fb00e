"""bb.plot.savings: the same tokens priced in real time and as batch work."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.notebook.plots import savings_table


def _bars(fig: object) -> tuple[list[float], list[float]]:
    ax = fig.axes[0]  # type: ignore[attr-defined]
    realtime, batch = ax.containers
    return [b.get_height() for b in realtime], [b.get_height() for b in batch]


def test_savings_bars_are_cost_of_real_time_and_batch(results: pd.DataFrame) -> None:
    realtime, batch = _bars(bb.plot.savings(results))
    # tokens per model: gpt-4o 1000+10 in, 500+20 out; gpt-4o-mini 3 x 10 in (error: none)
    tokens = {"gpt-4o": (1010, 520), "gpt-4o-mini": (20, 40)}
    assert realtime == pytest.approx([bb.cost_of(m, i, o).usd for m, (i, o) in tokens.items()])
    assert batch == pytest.approx(
        [bb.cost_of(m, i, o, batch=True).usd for m, (i, o) in tokens.items()]
    )


def test_savings_counts_the_tokens_of_every_row(results: pd.DataFrame) -> None:
    table = savings_table(results).set_index("model")
    assert table.loc["gpt-4o", "input_tokens"] == 1010
    assert table.loc["gpt-4o-mini", "output_tokens"] == 40


def test_savings_can_price_the_same_tokens_as_other_models(results: pd.DataFrame) -> None:
    table = savings_table(results, models=["gpt-4o"])
    assert table["model"].tolist() == ["gpt-4o"]
    assert table["realtime_usd"].iloc[0] == pytest.approx(bb.cost_of("gpt-4o", 1030, 560).usd)


def test_savings_accepts_an_estimate_table() -> None:
    estimate = pd.DataFrame(
        {"model": ["gpt-4o-mini"], "est_input_tokens": [10_000], "est_output_tokens": [2_000]}
    )
    table = savings_table(estimate=estimate)
    assert table["batch_usd"].iloc[0] == pytest.approx(
        bb.cost_of("gpt-4o-mini", 10_000, 2_000, batch=True).usd
    )


def test_savings_of_results_and_estimate_labels_both(results: pd.DataFrame) -> None:
    estimate = pd.DataFrame({"model": ["gpt-4o"], "input_tokens": [5], "output_tokens": [5]})
    ax = bb.plot.savings(results, estimate=estimate).axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[-1] == "gpt-4o\n(estimate)"


def test_savings_marks_the_percentage_saved(results: pd.DataFrame) -> None:
    texts = [t.get_text() for t in bb.plot.savings(results).axes[0].texts]
    assert len(texts) == len(savings_table(results)) >= 2  # one mark per priced model
    assert all(t.startswith("-50%") for t in texts)


def test_savings_of_an_unknown_model_says_price_unknown(results: pd.DataFrame) -> None:
    results["model"] = "no-such-model-xyz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        texts = [t.get_text() for t in bb.plot.savings(results).axes[0].texts]
    assert texts == ["price unknown"]


def test_savings_of_an_empty_frame_says_so(empty_results: pd.DataFrame) -> None:
    assert "no tokens" in bb.plot.savings(empty_results).axes[0].texts[0].get_text()


def test_savings_needs_results_or_an_estimate() -> None:
    with pytest.raises(bb.InputError, match=r"results=\.\.\., estimate="):
        bb.plot.savings()


def test_savings_without_token_columns_names_them(results: pd.DataFrame) -> None:
    with pytest.raises(bb.InputError, match="'output_tokens'"):
        bb.plot.savings(results.drop(columns="output_tokens"))


def test_savings_refuses_an_empty_model_list(results: pd.DataFrame) -> None:
    with pytest.raises(bb.InputError, match="models"):
        bb.plot.savings(results, models=[])


def test_savings_of_a_bb_estimate_matches_its_expected_costs() -> None:
    prompts = pd.DataFrame({"text": ["Summarise the plot of Hamlet.", "What is 2 + 2?"] * 3})
    prompts["model"] = ["gpt-4o-mini", "gpt-4o"] * 3
    estimate = bb.estimate(prompts, prompt="{text}", model="col:model")
    table = savings_table(estimate=estimate).set_index("model")
    expected = estimate[estimate["model"] != "(all)"].pivot(
        index="model", columns="mode", values="cost_expected_usd"
    )
    assert table["realtime_usd"].to_dict() == pytest.approx(expected["realtime"].to_dict())
    assert table["batch_usd"].to_dict() == pytest.approx(expected["batch"].to_dict())

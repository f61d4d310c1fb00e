"""``bb.explore_cost``: the what-if panel, driven from code as a person drives its controls."""

from __future__ import annotations

import ast
import re
from html import escape
from typing import Any

import numpy as np
import pandas as pd
import pytest
import traitlets

import brainbatch as bb
from brainbatch.errors import InputError
from brainbatch.estimate import cost_table, token_counts
from brainbatch.frame import PromptSpec, build_requests
from brainbatch.notebook import explore_cost as explore_cost_module
from brainbatch.notebook.explore_cost import CostExplorer

PROMPT = "Classify ({category}): {text}"
MODELS = ["gpt-4o-mini", "gpt-4o"]
CAP = 40


def _explorer(df: pd.DataFrame, **kwargs: Any) -> CostExplorer:
    kwargs.setdefault("models", MODELS)
    kwargs.setdefault("max_tokens", CAP)
    kwargs.setdefault("mode", "both")  # real time and batch; flex has its own tests below
    return bb.explore_cost(df, prompt=PROMPT, **kwargs)


def _counts(df: pd.DataFrame, max_tokens: int | None = CAP) -> pd.DataFrame:
    requests = build_requests(df, PromptSpec(prompt=PROMPT, model=MODELS[0]))
    return token_counts(requests, model=MODELS[0], max_tokens=max_tokens)


def _bars(ex: CostExplorer) -> dict[str, list[float]]:
    ax = ex.figure.axes[0]
    return {c.get_label(): [p.get_height() for p in c.patches] for c in ax.containers}


def _cost(view: pd.DataFrame, mode: str) -> list[float]:
    return view.loc[view["mode"] == mode, "cost_usd"].tolist()


def test_table_is_cost_table_of_the_frames_token_counts(reviews):
    ex = _explorer(reviews, expected_output_tokens=12)
    expected = cost_table(_counts(reviews), MODELS, ("realtime", "batch"), 12)
    view = ex.current_view()
    assert view[["model", "mode", "requests", "input_tokens"]].equals(
        expected[["model", "mode", "requests", "input_tokens"]]
    )
    np.testing.assert_allclose(view["cost_usd"], expected["cost_usd"], rtol=1e-12)
    np.testing.assert_allclose(view["saving_usd"], expected["saving_usd"], rtol=1e-12)


def test_bar_heights_are_the_tables_costs(reviews):
    ex = _explorer(reviews)
    bars, view = _bars(ex), ex.current_view()
    assert bars["real time"] == pytest.approx(_cost(view, "realtime"))
    assert bars["batch"] == pytest.approx(_cost(view, "batch"))


def test_batch_saving_is_drawn_on_top_of_each_batch_bar(reviews):
    ex = _explorer(reviews)
    ax, view = ex.figure.axes[0], ex.current_view()
    saving = next(c for c in ax.containers if c.get_label() == "batch saving")
    batch = view[view["mode"] == "batch"]
    assert [p.get_height() for p in saving.patches] == pytest.approx(batch["saving_usd"].tolist())
    assert [p.get_y() for p in saving.patches] == pytest.approx(batch["cost_usd"].tolist())
    assert [t.get_text() for t in ax.texts] == ["−50%", "−50%"]


def test_mode_control_keeps_only_that_modes_rows_and_bars(reviews):
    ex = _explorer(reviews)
    ex.mode.value = "realtime"
    assert set(ex.current_view()["mode"]) == {"realtime"}
    assert set(_bars(ex)) == {"real time"}
    ex.mode.value = "batch"
    assert set(ex.current_view()["mode"]) == {"batch"}
    assert set(_bars(ex)) == {"batch", "batch saving"}


def test_answer_length_slider_reprices_with_answers_capped_at_max_tokens(reviews):
    ex = _explorer(reviews)
    before = _cost(ex.current_view(), "realtime")
    ex.output_tokens.value = 25
    view = ex.current_view()
    expected = cost_table(_counts(reviews), MODELS, ("realtime", "batch"), 25)
    assert view["output_tokens"].tolist() == [25.0 * len(reviews)] * 4
    assert _cost(view, "realtime") == pytest.approx(_cost(expected, "realtime"), rel=1e-12)
    assert _cost(view, "realtime") != pytest.approx(before)
    assert _bars(ex)["real time"] == pytest.approx(_cost(view, "realtime"))
    assert ex.output_tokens.max == CAP  # longer answers would be cut at max_tokens
    ex.output_tokens.value = CAP
    assert ex.current_view()["output_tokens"].tolist() == [float(CAP * len(reviews))] * 4


def test_worst_case_prices_every_answer_at_max_tokens(reviews):
    ex = _explorer(reviews)
    ex.from_max_tokens.value = True
    view = ex.current_view()
    expected = cost_table(_counts(reviews), MODELS, ("realtime", "batch"), "max_tokens")
    assert view["output_tokens"].tolist() == [float(CAP * len(reviews))] * 4
    assert view["cost_usd"].tolist() == pytest.approx(expected["cost_usd"].tolist(), rel=1e-12)
    assert "worst case" in ex.figure.axes[0].get_title(loc="left")
    assert ex.output_tokens.disabled  # the answer length no longer matters


def test_worst_case_is_unavailable_without_max_tokens(reviews):
    ex = _explorer(reviews, max_tokens=None)
    assert ex.from_max_tokens.disabled


def test_adding_a_model_adds_its_rows_bars_and_submit_choice(reviews):
    ex = _explorer(reviews)
    ex.models.value = [*MODELS, "claude-haiku-4-5"]
    view = ex.current_view()
    assert list(dict.fromkeys(view["model"])) == [*MODELS, "claude-haiku-4-5"]
    assert len(_bars(ex)["batch"]) == 3
    assert list(ex.submit_model.options) == [*MODELS, "claude-haiku-4-5"]


def test_model_control_offers_only_priced_models(reviews):
    ex = _explorer(reviews)
    assert "claude-sonnet-4-5" in ex.models.allowed_tags
    with pytest.raises(traitlets.TraitError):
        ex.models.value = ["no-such-model-xyz"]


def test_no_model_chosen_shows_an_empty_table_and_a_hint(reviews):
    ex = _explorer(reviews)
    ex.models.value = []
    assert ex.current_view().empty
    assert ex.submit_code() == "# pick a model above"


def test_sample_uses_the_first_counted_rows_scaled_to_the_whole_frame(reviews):
    ex = _explorer(reviews, expected_output_tokens=10, seed=3)
    ex.sample.value = 15
    view = ex.current_view()
    order = np.random.default_rng(3).permutation(len(reviews))[:15]
    sampled = cost_table(_counts(reviews.iloc[order]), MODELS, ("realtime", "batch"), 10)
    scale = len(reviews) / 15
    assert view["requests"].tolist() == [len(reviews)] * 4
    assert view["cost_usd"].tolist() == pytest.approx((sampled["cost_usd"] * scale).tolist())
    assert "sample of 15" in ex.status.value


def test_frame_is_read_and_counted_once_whatever_the_controls_do(reviews, monkeypatch):
    calls = {"build_requests": 0, "token_counts": 0}

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    for name in calls:
        monkeypatch.setattr(
            explore_cost_module, name, counting(name, getattr(explore_cost_module, name))
        )
    ex = _explorer(reviews)
    first = ex.current_view()
    for value in ("realtime", "batch", "both"):
        ex.mode.value = value
    for tokens in (5, 30, 200):
        ex.output_tokens.value = tokens
    ex.from_max_tokens.value = True
    ex.sample.value = 20
    ex.models.value = ["gpt-4o-mini", "claude-haiku-4-5"]
    ex.models.value, ex.sample.value, ex.from_max_tokens.value = MODELS, len(reviews), False
    ex.output_tokens.value = first["output_tokens"].iloc[0] / len(reviews)
    assert calls == {"build_requests": 1, "token_counts": 1}
    assert ex.updates > 10
    pd.testing.assert_frame_equal(ex.current_view(), first)


def test_controls_never_go_back_to_the_frame(reviews):
    ex = _explorer(reviews)
    first = ex.current_view()
    for column in list(reviews.columns):  # the frame's columns are gone
        del reviews[column]
    ex.mode.value = "batch"
    ex.mode.value = "both"
    pd.testing.assert_frame_equal(ex.current_view(), first)


def _submitted(code: str, df: pd.DataFrame) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    class FakeBB:
        @staticmethod
        def submit(frame, **kwargs):
            seen["frame"] = frame
            seen.update(kwargs)
            return "handle"

    exec(compile(code, "<submit code>", "exec"), {"bb": FakeBB, "reviews": df})
    return seen


def test_submit_code_is_the_exact_call_for_the_chosen_setting(reviews):
    ex = _explorer(
        reviews, df_name="reviews", system="Be brief.", provider="sim", max_concurrent=16
    )
    ex.mode.value = "realtime"
    ex.submit_model.value = "gpt-4o"
    ast.parse(ex.code.value)
    seen = _submitted(ex.code.value, reviews)
    assert seen["frame"] is reviews
    assert {k: v for k, v in seen.items() if k != "frame"} == {
        "prompt": PROMPT,
        "model": "gpt-4o",
        "system": "Be brief.",
        "params": {"max_tokens": CAP},
        "provider": "sim",
        "max_concurrent": 16,
    }


def test_batch_submit_code_never_sends_batch_mode_to_the_in_process_simulator(reviews):
    # bb.submit refuses mode="batch" with provider="sim" (no Batch API): the code must not
    # offer that call; it gives the provider's batch call and says how to try it offline
    ex = _explorer(reviews, df_name="reviews", provider="sim", latency_ms=50, max_concurrent=16)
    ex.mode.value = "batch"
    ex.submit_model.value = "gpt-4o"
    seen = _submitted(ex.code.value, reviews)
    assert seen["mode"] == "batch" and seen["model"] == "gpt-4o"
    assert "provider" not in seen and "latency_ms" not in seen
    assert "delay" not in seen  # real time only
    assert seen["max_concurrent"] == 16
    assert "SimServer" in ex.code.value


def test_submit_code_uses_real_time_when_only_real_time_is_shown(reviews):
    ex = _explorer(reviews, df_name="reviews")
    ex.mode.value = "realtime"
    seen = _submitted(ex.code.value, reviews)
    assert "mode" not in seen  # bb.submit's default is real time
    assert "real time" in ex.code.value.splitlines()[0]


def test_submit_model_defaults_to_the_cheapest_chosen_model(reviews):
    ex = _explorer(reviews, models=["gpt-4o", "gpt-4o-mini"])
    assert ex.submit_model.value == "gpt-4o-mini"
    assert 'model="gpt-4o-mini"' in ex.code.value


def test_submit_code_names_a_prompt_function_by_its_name(reviews):
    def classify(row):
        return f"Classify: {row['text']}"

    ex = bb.explore_cost(reviews, prompt=classify, models=MODELS)
    assert "prompt=classify," in ex.code.value


def test_default_models_are_the_rows_priced_models(reviews):
    ex = bb.explore_cost(reviews, prompt=PROMPT, model="sim")
    assert list(ex.models.value) == ["gpt-4o-mini"]  # "sim" is priced as gpt-4o-mini


def test_bad_row_is_reported_before_any_panel_is_built(reviews):
    reviews.loc["r7", "text"] = None
    with pytest.raises(InputError, match="r7"):
        _explorer(reviews)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"mode": "cheap"}, "mode"),
        ({"sample": 0}, "sample"),
        ({"models": [""]}, "models"),
        ({"display": "tv"}, "display"),
    ],
)
def test_bad_arguments_name_the_parameter(reviews, kwargs, named):
    with pytest.raises(InputError, match=named):
        _explorer(reviews, **kwargs)


def test_without_a_widget_front_end_the_repr_is_the_static_figure_and_table(reviews, widgets_off):
    bundle = _explorer(reviews)._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html", "image/png"}
    assert "<img src='data:image/png;base64," in bundle["text/html"]
    assert "<table" in bundle["text/html"] and "bb.submit(" in bundle["text/html"]
    assert "gpt-4o-mini" in bundle["text/plain"] and "bb.submit(" in bundle["text/plain"]


def test_static_output_is_the_same_from_run_to_run(reviews, widgets_off):
    one = _explorer(reviews)._repr_mimebundle_()
    two = _explorer(reviews.copy())._repr_mimebundle_()
    assert one == two


def test_widget_output_carries_text_and_html_fallbacks_without_widget_ids(reviews):
    ex = _explorer(reviews, display="widget")
    bundle = ex._repr_mimebundle_()
    model_id = bundle["application/vnd.jupyter.widget-view+json"]["model_id"]
    assert model_id == ex.widget.model_id
    assert model_id not in bundle["text/plain"] + bundle["text/html"]
    assert "<img" not in bundle["text/html"]  # nbval compares it: no image bytes


def test_shown_panel_image_follows_the_controls(reviews):
    ex = _explorer(reviews)
    assert ex._image.value == b""  # nothing rendered before the panel is shown
    ex.widget  # noqa: B018  (showing the panel renders the figure)
    first = bytes(ex._image.value)
    assert first.startswith(b"\x89PNG")
    ex.mode.value = "batch"
    assert bytes(ex._image.value) != first


def test_table_widget_shows_the_current_view(reviews):
    ex = _explorer(reviews)
    ex.mode.value = "batch"
    cells = re.findall(r"<td>([^<]*)</td>", ex.table.value)
    rows = [cells[i : i + 9] for i in range(0, len(cells), 9)]
    view = ex.current_view()
    assert [r[:2] for r in rows] == [["gpt-4o-mini", "batch"], ["gpt-4o", "batch"]]
    assert [r[5] for r in rows] == [f"${v:,.4f}" for v in view["cost_usd"]]


def test_accessor_opens_the_same_explorer(reviews):
    via_accessor = reviews.bb.explore_cost(prompt=PROMPT, models=MODELS, max_tokens=CAP)
    direct = bb.explore_cost(reviews, prompt=PROMPT, models=MODELS, max_tokens=CAP)
    pd.testing.assert_frame_equal(via_accessor.current_view(), direct.current_view())


def test_frames_above_max_sample_are_counted_on_a_sample_and_scaled(reviews, monkeypatch):
    seen = []
    real = explore_cost_module.token_counts
    monkeypatch.setattr(
        explore_cost_module,
        "token_counts",
        lambda reqs, **kw: seen.append(len(reqs)) or real(reqs, **kw),
    )
    ex = _explorer(reviews, max_sample=20)
    assert seen == [20]
    assert ex.sample.max == 20
    assert ex.current_view()["requests"].tolist() == [len(reviews)] * 4
    assert "a sample of 20 of 60 rows" in ex.status.value


def test_per_row_models_default_to_their_priced_names(reviews):
    reviews["model"] = ["sim/gpt-4o-mini" if i % 2 else "gpt-4o" for i in range(len(reviews))]
    ex = bb.explore_cost(reviews, prompt=PROMPT, model="col:model", mode="both")
    assert list(ex.models.value) == ["gpt-4o", "gpt-4o-mini"]
    assert ex.current_view()["requests"].tolist() == [len(reviews)] * 4


# -- flex processing beside real time and batch ------------------------------------------------

FLEX_BAR = "flex (batch price, slower)"
MIXED = [*MODELS, "claude-haiku-4-5"]  # two OpenAI models (flex) and one without flex


def _flex_explorer(df: pd.DataFrame, **kwargs: Any) -> CostExplorer:
    kwargs.setdefault("models", MIXED)
    kwargs.setdefault("max_tokens", CAP)
    return bb.explore_cost(df, prompt=PROMPT, **kwargs)


def test_default_view_prices_flex_beside_real_time_and_batch(reviews):
    ex = _flex_explorer(reviews, models=MODELS, expected_output_tokens=12)
    expected = cost_table(_counts(reviews), MODELS, ("realtime", "batch", "flex"), 12)
    view = ex.current_view()
    assert ex.mode.value == "all"
    assert view[["model", "mode"]].values.tolist() == expected[["model", "mode"]].values.tolist()
    np.testing.assert_allclose(view["cost_usd"], expected["cost_usd"], rtol=1e-12)


def test_flex_rows_are_priced_at_the_batch_price(reviews):
    view = _flex_explorer(reviews, models=MODELS).current_view()
    assert _cost(view, "flex") == pytest.approx(_cost(view, "batch"), rel=1e-12)
    assert _cost(view, "flex") == pytest.approx([c / 2 for c in _cost(view, "realtime")])


def test_models_without_flex_get_no_flex_row(reviews):
    view = _flex_explorer(reviews).current_view()
    assert view.loc[view["mode"] == "flex", "model"].tolist() == MODELS
    assert set(view.loc[view["model"] == "claude-haiku-4-5", "mode"]) == {"realtime", "batch"}


def test_flex_bars_are_drawn_only_for_models_with_flex(reviews):
    ex = _flex_explorer(reviews)
    ax, view = ex.figure.axes[0], ex.current_view()
    bars = _bars(ex)
    assert len(bars["real time"]) == len(bars["batch"]) == 3
    assert bars[FLEX_BAR] == pytest.approx(_cost(view, "flex"))
    flex = next(c for c in ax.containers if c.get_label() == FLEX_BAR)
    centres = [p.get_x() + p.get_width() / 2 for p in flex.patches]
    assert [round(c) for c in centres] == [0, 1]  # beside gpt-4o-mini and gpt-4o, not claude


def test_three_bars_of_one_model_sit_side_by_side(reviews):
    ex = _flex_explorer(reviews, models=MODELS)
    ax = ex.figure.axes[0]
    first = {c.get_label(): c.patches[0] for c in ax.containers if c.get_label() != "batch saving"}
    lefts = [first[k].get_x() for k in ("real time", "batch", FLEX_BAR)]
    widths = [first[k].get_width() for k in ("real time", "batch", FLEX_BAR)]
    assert lefts == sorted(lefts)
    assert lefts[1] == pytest.approx(lefts[0] + widths[0])  # no overlap, no gap
    assert lefts[2] == pytest.approx(lefts[1] + widths[1])


def test_flex_mode_keeps_only_flex_rows_and_bars(reviews):
    ex = _flex_explorer(reviews)
    ex.mode.value = "flex"
    view = ex.current_view()
    assert set(view["mode"]) == {"flex"} and view["model"].tolist() == MODELS
    assert set(_bars(ex)) == {FLEX_BAR}


def test_status_line_says_where_each_modes_prices_come_from(reviews):
    ex = _flex_explorer(reviews)
    view = ex.current_view()
    status = ex.status.value
    for mode, name in (("realtime", "real time"), ("batch", "batch"), ("flex", "flex")):
        source = view.loc[view["mode"] == mode, "price_source"].iloc[0]
        assert f"{name}: {escape(source)}" in status
    assert "flex processing: batch price" in status


def test_status_line_names_the_models_without_flex(reviews):
    ex = _flex_explorer(reviews)
    assert "no flex processing (OpenAI models only): claude-haiku-4-5" in ex.status.value
    ex.models.value = MODELS
    assert "no flex processing" not in ex.status.value


def test_flex_mode_submit_code_asks_for_flex_processing(reviews):
    ex = _flex_explorer(reviews, df_name="reviews", max_concurrent=16)
    ex.mode.value = "flex"
    ex.submit_model.value = "gpt-4o"
    seen = _submitted(ex.code.value, reviews)
    assert seen["mode"] == "flex" and seen["model"] == "gpt-4o"
    assert seen["max_concurrent"] == 16
    assert "flex" in ex.code.value.splitlines()[0]


def test_flex_submit_code_never_sends_flex_to_the_in_process_simulator(reviews):
    # bb.submit refuses mode="flex" with provider="sim": the code gives OpenAI's flex call
    ex = _flex_explorer(reviews, df_name="reviews", provider="sim", latency_ms=50)
    ex.mode.value = "flex"
    ex.submit_model.value = "gpt-4o-mini"
    seen = _submitted(ex.code.value, reviews)
    assert seen["mode"] == "flex"
    assert "provider" not in seen and "latency_ms" not in seen
    assert "SimServer" in ex.code.value


def test_flex_mode_with_a_model_without_flex_gives_the_batch_call(reviews):
    ex = _flex_explorer(reviews, df_name="reviews")
    ex.mode.value = "flex"
    ex.submit_model.value = "claude-haiku-4-5"
    seen = _submitted(ex.code.value, reviews)
    assert seen["mode"] == "batch" and seen["model"] == "claude-haiku-4-5"
    assert "has no flex processing" in ex.code.value.splitlines()[0]

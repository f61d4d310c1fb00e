"""DataFrame -> requests (with every bad input refused up front) and job -> results DataFrame."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

from brainbatch.errors import InputError
from brainbatch.frame import (
    RESULT_COLUMNS,
    PromptSpec,
    Row,
    build_requests,
    results_frame,
)
from brainbatch.models import BatchJob, BatchResult, BatchStatus


def build(df: pd.DataFrame, prompt: object = "{review}", model: str = "sim", **kw: object):
    return build_requests(df, PromptSpec(prompt=prompt, model=model, **kw))  # type: ignore[arg-type]


# -- prompts ---------------------------------------------------------------------------------


def test_template_fills_each_row_from_its_columns(reviews: pd.DataFrame) -> None:
    reqs = build(reviews, "Rate ({stars} stars): {review}")
    assert reqs[1].prompt == "Rate (1 stars): Broke after a week"
    assert len(reqs) == len(reviews)


def test_column_name_uses_the_column_as_prompt(reviews: pd.DataFrame) -> None:
    reqs = build(reviews, "review")
    assert [r.prompt for r in reqs] == list(reviews["review"])


def test_callable_returning_text_gets_row_by_key_attribute_and_index_label(
    reviews: pd.DataFrame,
) -> None:
    def prompt(row: Row) -> str:
        return f"{row.name}: {row['review']} / {row.stars}"

    reqs = build(reviews, prompt)
    assert reqs[0].prompt == "r0: Great kettle, boils fast / 5"


def test_callable_returning_messages_sends_a_chat(reviews: pd.DataFrame) -> None:
    def prompt(row: Row) -> list[dict[str, str]]:
        return [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": row.review},
        ]

    reqs = build(reviews, prompt)
    assert reqs[2].messages is not None
    assert reqs[2].chat_messages()[-1]["content"] == "Does the job"


def test_system_and_params_go_on_every_request(reviews: pd.DataFrame) -> None:
    reqs = build(reviews, system="Be terse.", params={"temperature": 0})
    assert {r.system for r in reqs} == {"Be terse."}
    assert all(r.params == {"temperature": 0} for r in reqs)


def test_model_column_gives_each_row_its_model(reviews: pd.DataFrame) -> None:
    df = reviews.assign(m=["sim/gpt-4o-mini", "sim/gpt-4o"] * 3)
    reqs = build(df, model="col:m")
    assert [r.model for r in reqs[:2]] == ["sim/gpt-4o-mini", "sim/gpt-4o"]


def test_custom_id_is_the_stringified_index(reviews: pd.DataFrame) -> None:
    df = reviews.reset_index(drop=True)
    assert [r.custom_id for r in build(df)] == [str(i) for i in range(6)]


def test_custom_id_can_come_from_a_column(reviews: pd.DataFrame) -> None:
    df = reviews.assign(key=[f"k-{i}" for i in range(6)])
    assert build(df, custom_id="key")[3].custom_id == "k-3"


# -- bad input: one test per case, each message names the row and/or column ---------------------


def test_missing_template_column_lists_available_columns(reviews: pd.DataFrame) -> None:
    with pytest.raises(InputError, match=r"'text'.*available columns: 'review', 'stars'"):
        build(reviews, "Classify: {text}")


def test_prompt_that_is_neither_column_nor_template_is_refused(reviews: pd.DataFrame) -> None:
    with pytest.raises(InputError, match=r"'reviw' is neither a column.*'review'"):
        build(reviews, "reviw")


def test_nan_in_template_column_names_rows_and_column(reviews: pd.DataFrame) -> None:
    df = reviews.copy()
    df.loc["r2", "review"] = None
    with pytest.raises(InputError, match=r"column 'review'.*NaN/None at rows 'r2'"):
        build(df)


def test_nan_in_prompt_column_names_the_row(reviews: pd.DataFrame) -> None:
    df = reviews.copy()
    df.loc["r4", "review"] = np.nan
    with pytest.raises(InputError, match=r"prompt column 'review' is NaN/None at rows 'r4'"):
        build(df, "review")


def test_empty_prompt_in_prompt_column_names_the_row(reviews: pd.DataFrame) -> None:
    df = reviews.copy()
    df.loc["r1", "review"] = "   "
    with pytest.raises(InputError, match=r"prompt column 'review' is empty at rows 'r1'"):
        build(df, "review")


def test_template_whose_columns_are_all_empty_is_an_empty_prompt(reviews: pd.DataFrame) -> None:
    df = reviews.copy()
    df.loc["r5", "review"] = ""
    with pytest.raises(InputError, match=r"empty prompt.*'review'.*rows 'r5'"):
        build(df, "Classify: {review}")


def test_non_string_values_in_prompt_column_are_refused(reviews: pd.DataFrame) -> None:
    with pytest.raises(InputError, match=r"prompt column 'stars' holds int.*not strings"):
        build(reviews, "stars")


def test_list_values_in_template_column_are_refused(reviews: pd.DataFrame) -> None:
    df = reviews.assign(tags=[["a"], "b", "c", "d", "e", "f"])
    with pytest.raises(InputError, match=r"column 'tags'.*holds list values.*rows 'r0'"):
        build(df, "{review} {tags}")


def test_numbers_in_template_columns_are_fine(reviews: pd.DataFrame) -> None:
    assert build(reviews, "{stars}")[0].prompt == "5"


def test_duplicate_index_values_name_the_rows(reviews: pd.DataFrame) -> None:
    df = reviews.rename(index={"r3": "r1"})
    with pytest.raises(InputError, match=r"duplicate values at rows 'r1', 'r1'"):
        build(df)


def test_index_values_equal_as_strings_are_duplicates() -> None:
    df = pd.DataFrame({"review": ["a", "b"]}, index=pd.Index([1, "1"], dtype=object))
    with pytest.raises(InputError, match=r"duplicate custom ids at rows 1, '1'"):
        build(df)


def test_custom_id_longer_than_64_characters_names_the_row(reviews: pd.DataFrame) -> None:
    df = reviews.rename(index={"r2": "x" * 65})
    with pytest.raises(InputError, match=r"longer than 64 characters at rows 'xxxx"):
        build(df)


def test_a_custom_id_of_exactly_64_characters_is_accepted(reviews: pd.DataFrame) -> None:
    df = reviews.rename(index={"r2": "x" * 64})
    assert build(df)[2].custom_id == "x" * 64


def test_a_custom_id_column_value_of_64_characters_is_accepted_and_65_refused(
    reviews: pd.DataFrame,
) -> None:
    keys = [f"k{i}" for i in range(6)]
    keys[3] = "y" * 64
    assert build(reviews.assign(key=keys), custom_id="key")[3].custom_id == "y" * 64
    keys[3] = "y" * 65
    with pytest.raises(InputError, match=r"custom_id column 'key' longer than 64.*rows 'r3'"):
        build(reviews.assign(key=keys), custom_id="key")


# -- MultiIndex ------------------------------------------------------------------------------


def _multi(reviews: pd.DataFrame) -> pd.DataFrame:
    tuples = [("north", 2), ("south", 1), ("north", 1), ("east", 3), ("south", 2), ("east", 1)]
    return reviews.set_axis(pd.MultiIndex.from_tuples(tuples, names=["region", "n"]))


def test_a_multiindex_gives_ids_joined_from_its_levels(reviews: pd.DataFrame) -> None:
    reqs = build(_multi(reviews))
    assert [r.custom_id for r in reqs][:3] == ["north|2", "south|1", "north|1"]


def test_multiindex_levels_holding_the_separator_give_distinct_ids() -> None:
    index = pd.MultiIndex.from_tuples([("a|b", "c"), ("a", "b|c"), ("a\\", "|c")])
    reqs = build(pd.DataFrame({"review": ["x", "y", "z"]}, index=index))
    ids = [r.custom_id for r in reqs]
    assert ids == ["a\\|b|c", "a|b\\|c", "a\\\\|\\|c"]
    assert len(set(ids)) == 3


def test_a_multiindex_id_over_64_characters_names_the_row(reviews: pd.DataFrame) -> None:
    df = _multi(reviews).rename(index={"east": "e" * 62}, level="region")  # "e..e|3": 64
    assert build(df.iloc[[3]])[0].custom_id == "e" * 62 + "|3"
    df = _multi(reviews).rename(index={"east": "e" * 63}, level="region")  # 65
    with pytest.raises(InputError, match=r"longer than 64 characters at rows \('eee"):
        build(df)


def test_a_multiindex_with_duplicate_tuples_names_the_rows(reviews: pd.DataFrame) -> None:
    df = _multi(reviews).rename(index={3: 1}, level="n")  # ("east", 1) twice
    with pytest.raises(InputError, match=r"duplicate values at rows \('east', 1\), \('east', 1\)"):
        build(df)


def test_results_keep_the_multiindex_in_order(reviews: pd.DataFrame) -> None:
    df = _multi(reviews)
    job = BatchJob(build(df))
    job.status = BatchStatus.COMPLETED
    out = results_frame(job, df)
    assert out.index.equals(df.index)
    assert list(out.review) == list(df.review)


def test_bb_run_on_a_multiindex_returns_the_same_index(reviews: pd.DataFrame) -> None:
    import brainbatch as bb

    df = _multi(reviews)
    out = bb.run(df, prompt="{review}", model="sim", store=False, latency_ms=0)
    assert out.index.equals(df.index)
    assert (out.status == "success").all()
    assert list(out.review) == list(df.review)


def test_custom_id_column_with_duplicates_names_the_rows(reviews: pd.DataFrame) -> None:
    df = reviews.assign(key=["a", "b", "a", "c", "d", "e"])
    with pytest.raises(InputError, match=r"custom_id column 'key'.*rows 'r0', 'r2'"):
        build(df, custom_id="key")


def test_missing_custom_id_column_lists_available_columns(reviews: pd.DataFrame) -> None:
    with pytest.raises(InputError, match=r"custom_id uses column\(s\) 'key'.*available"):
        build(reviews, custom_id="key")


def test_missing_model_column_is_named(reviews: pd.DataFrame) -> None:
    with pytest.raises(InputError, match=r"model='col:model' uses column\(s\) 'model'"):
        build(reviews, model="col:model")


def test_empty_model_in_model_column_names_the_row(reviews: pd.DataFrame) -> None:
    df = reviews.assign(m=["sim", "sim", None, "sim", "sim", "sim"])
    with pytest.raises(InputError, match=r"model column 'm'.*rows 'r2'"):
        build(df, model="col:m")


def test_prompt_callable_that_raises_names_the_row(reviews: pd.DataFrame) -> None:
    def prompt(row: Row) -> str:
        if row.stars == 1:
            raise ValueError("no one-star reviews")
        return str(row.review)

    with pytest.raises(InputError, match=r"failed on row 'r1': ValueError: no one-star"):
        build(reviews, prompt)


def test_prompt_callable_returning_nothing_names_the_row(reviews: pd.DataFrame) -> None:
    with pytest.raises(InputError, match=r"returned NoneType None at rows 'r0'"):
        build(reviews, lambda row: None)


def test_empty_dataframe_is_refused() -> None:
    with pytest.raises(InputError, match="no rows"):
        build(pd.DataFrame({"review": []}))


def test_positional_template_field_is_refused(reviews: pd.DataFrame) -> None:
    with pytest.raises(InputError, match=r"positional field '\{\}'"):
        build(reviews, "Classify: {}")


# -- lone surrogates: text no API can receive --------------------------------------------------

LONE = "cut emoji \ud83d here"


def _with_lone(reviews: pd.DataFrame, column: str, row: int) -> pd.DataFrame:
    """``reviews`` with LONE in one cell (an object column: pandas' own string dtype refuses
    such text, but object columns, e.g. from a bad decode, hold it)."""
    values = [*reviews[column]] if column in reviews.columns else [""] * len(reviews)
    values[row] = LONE
    return reviews.assign(**{column: pd.Series(values, index=reviews.index, dtype=object)})


def test_a_lone_surrogate_in_the_prompt_column_names_row_and_column(
    reviews: pd.DataFrame,
) -> None:
    df = _with_lone(reviews, "review", 3)
    with pytest.raises(InputError, match=r"prompt column 'review' at rows 'r3' holds a lone"):
        build(df, "review")


def test_a_lone_surrogate_in_a_template_column_names_row_and_column(
    reviews: pd.DataFrame,
) -> None:
    df = _with_lone(reviews, "note", 4)
    with pytest.raises(
        InputError, match=r"column 'note' \(used by the prompt template\) at rows 'r4'"
    ):
        build(df, "{review} {note}")


def test_a_lone_surrogate_in_the_template_itself_is_named(reviews: pd.DataFrame) -> None:
    with pytest.raises(InputError, match=r"the prompt template .* holds a lone surrogate"):
        build(reviews, "Rate \udc00: {review}")


def test_a_lone_surrogate_from_a_prompt_callable_names_the_row(reviews: pd.DataFrame) -> None:
    with pytest.raises(InputError, match=r"prompt function returned at rows 'r1' holds a lone"):
        build(reviews, lambda row: LONE if row.stars == 1 else row.review)


def test_a_lone_surrogate_in_returned_messages_names_the_row(reviews: pd.DataFrame) -> None:
    def prompt(row: Row) -> list[dict[str, str]]:
        text = LONE if row.name == "r5" else row.review
        return [{"role": "user", "content": text}]

    with pytest.raises(InputError, match=r"messages .* at rows 'r5' hold a lone surrogate"):
        build(reviews, prompt)


def test_a_lone_surrogate_in_the_system_prompt_names_system(reviews: pd.DataFrame) -> None:
    with pytest.raises(InputError, match=r"^system holds a lone surrogate"):
        build(reviews, system=LONE)


def test_a_lone_surrogate_in_the_index_names_the_row(reviews: pd.DataFrame) -> None:
    with pytest.raises(InputError, match=r"the index holds a lone surrogate .* at rows"):
        build(reviews.set_axis(pd.Index(["r0", "r1", LONE, "r3", "r4", "r5"], dtype=object)))


def test_a_lone_surrogate_is_refused_before_anything_is_sent_with_a_store(
    reviews: pd.DataFrame, tmp_path: object
) -> None:
    import brainbatch as bb

    df = _with_lone(reviews, "review", 3)
    with pytest.raises(InputError, match=r"rows 'r3'"):
        bb.run(df, prompt="review", model="sim", job_name="surrogate", latency_ms=0)
    assert bb.JobStore().list_jobs() == []  # no job was even stored


def test_numbered_positional_template_field_is_refused(reviews: pd.DataFrame) -> None:
    with pytest.raises(InputError, match=r"positional field '\{0\}'"):
        build(reviews, "Classify: {0}")


def test_attribute_access_in_a_template_is_refused_suggesting_a_callable(
    reviews: pd.DataFrame,
) -> None:
    with pytest.raises(InputError, match=r"'\{review\.upper\}' with attribute access.*lambda row"):
        build(reviews, "Classify: {review.upper}")


def test_index_access_in_a_template_is_refused_suggesting_a_callable(
    reviews: pd.DataFrame,
) -> None:
    with pytest.raises(InputError, match=r"'\{review\[0\]\}' with index access.*lambda row"):
        build(reviews, "First letter: {review[0]}")


def test_a_format_spec_in_a_template_still_works(reviews: pd.DataFrame) -> None:
    assert build(reviews, "{stars:03d}: {review}")[0].prompt == "005: Great kettle, boils fast"


def test_offending_rows_are_summarised_after_five(reviews: pd.DataFrame) -> None:
    df = pd.DataFrame({"review": [None] * 8})
    with pytest.raises(InputError, match=r"rows 0, 1, 2, 3, 4 and 3 more"):
        build(df)


def test_validation_of_100k_rows_takes_well_under_a_second() -> None:
    n = 100_000
    df = pd.DataFrame({"review": [f"text {i}" for i in range(n)], "stars": np.arange(n) % 5})
    df.loc[n - 1, "review"] = None
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=rf"rows {n - 1}"):
        build(df, "{review} ({stars})")
    # a generous bound, not a benchmark: the checks are column-wise
    assert time.perf_counter() - t0 < 5.0


# -- results ---------------------------------------------------------------------------------


def _job_with_results(df: pd.DataFrame, status: BatchStatus) -> BatchJob:
    reqs = build(df)
    job = BatchJob(reqs)
    job.add_result(
        BatchResult(
            request_id=reqs[0].id,
            custom_id=reqs[0].custom_id,
            status="success",
            result="positive",
            processing_time_ms=12.5,
            input_tokens=10,
            output_tokens=2,
            cost_usd=0.001,
            model="sim",
            finish_reason="stop",
            completed_at=1_700_000_000.0,
        )
    )
    job.add_result(
        BatchResult(
            request_id=reqs[1].id,
            custom_id=reqs[1].custom_id,
            status="error",
            error="simulated 500",
            attempts=3,
        )
    )
    job.status = status
    return job


def test_results_keep_index_order_and_input_columns_first(reviews: pd.DataFrame) -> None:
    out = results_frame(_job_with_results(reviews, BatchStatus.COMPLETED), reviews)
    assert list(out.index) == list(reviews.index)
    assert list(out.columns) == ["review", "stars", *RESULT_COLUMNS]


def test_results_columns_can_be_limited(reviews: pd.DataFrame) -> None:
    job = _job_with_results(reviews, BatchStatus.COMPLETED)
    out = results_frame(job, reviews, columns=["stars"])
    assert list(out.columns)[:2] == ["stars", "response"]


def test_result_values_land_in_their_row(reviews: pd.DataFrame) -> None:
    out = results_frame(_job_with_results(reviews, BatchStatus.COMPLETED), reviews)
    row = out.loc["r0"]
    assert (row.response, row.status, row.input_tokens, row.cost_usd) == (
        "positive",
        "success",
        10,
        0.001,
    )
    assert row.completed_at == pd.Timestamp(1_700_000_000, unit="s", tz="UTC")
    assert out.loc["r1", "error"] == "simulated 500"
    assert out.loc["r1", "attempts"] == 3


def test_rows_without_result_of_a_cancelled_job_say_cancelled(reviews: pd.DataFrame) -> None:
    out = results_frame(_job_with_results(reviews, BatchStatus.CANCELLED), reviews)
    assert list(out.status) == ["success", "error"] + ["cancelled"] * 4
    assert math.isnan(out.loc["r3", "cost_usd"])
    assert pd.isna(out.loc["r3", "completed_at"])


def test_rows_a_cancelled_job_never_ran_carry_the_reason_in_error(reviews: pd.DataFrame) -> None:
    job = _job_with_results(reviews, BatchStatus.CANCELLED)
    job.error = "max_cost_usd=$1.00 cannot be enforced: no price known for model 'acme'"
    out = results_frame(job, reviews)
    assert list(out.error[2:]) == [job.error] * 4
    assert out.loc["r1", "error"] == "simulated 500"  # a row that ran keeps its own error


def test_rows_without_result_of_an_expired_job_say_expired(reviews: pd.DataFrame) -> None:
    out = results_frame(_job_with_results(reviews, BatchStatus.EXPIRED), reviews)
    assert out.loc["r5", "status"] == "expired"


def test_rows_without_result_of_a_failed_job_say_not_run(reviews: pd.DataFrame) -> None:
    out = results_frame(_job_with_results(reviews, BatchStatus.FAILED), reviews)
    assert out.loc["r5", "status"] == "not_run"


def test_expand_flattens_structured_responses_into_prefixed_columns(
    reviews: pd.DataFrame,
) -> None:
    reqs = build(reviews)
    job = BatchJob(reqs)
    job.add_result(
        BatchResult(reqs[0].id, reqs[0].custom_id, "success", {"label": "pos", "score": {"p": 0.9}})
    )
    job.add_result(BatchResult(reqs[1].id, reqs[1].custom_id, "success", '{"label": "neg"}'))
    job.status = BatchStatus.CANCELLED
    out = results_frame(job, reviews, expand=True)
    assert list(out.columns[3:5]) == ["response.label", "response.score.p"]
    assert list(out["response.label"][:2]) == ["pos", "neg"]
    assert pd.isna(out.loc["r2", "response.label"])
    assert out.loc["r0", "response.score.p"] == 0.9


def test_input_columns_named_like_result_columns_are_renamed(reviews: pd.DataFrame) -> None:
    df = reviews.assign(status="draft")
    out = results_frame(_job_with_results(df, BatchStatus.COMPLETED), df)
    assert out.loc["r2", "input_status"] == "draft"
    assert out.loc["r0", "status"] == "success"


def test_conversion_of_100k_results_takes_well_under_a_second() -> None:
    n = 100_000
    df = pd.DataFrame({"review": [f"text {i}" for i in range(n)]})
    reqs = build(df)
    job = BatchJob(reqs)
    for r in reqs:
        job.add_result(BatchResult(r.id, r.custom_id, "success", "ok", 1.0, cost_usd=0.0))
    job.status = BatchStatus.COMPLETED
    t0 = time.perf_counter()
    out = results_frame(job, df)
    assert time.perf_counter() - t0 < 5.0  # generous bound; bench/ has the figure
    assert (out.status == "success").all()


def test_categorical_prompt_column_is_text(reviews: pd.DataFrame) -> None:
    df = reviews.assign(review=reviews["review"].astype("category"))
    assert build(df, "review")[0].prompt == "Great kettle, boils fast"


def test_dates_in_template_columns_are_fine(reviews: pd.DataFrame) -> None:
    import datetime as dt

    df = reviews.assign(day=[dt.date(2026, 1, i + 1) for i in range(6)])
    assert build(df, "{day}: {review}")[0].prompt == "2026-01-01: Great kettle, boils fast"

"""estimate_requests, token_counts and cost_table on small hand-computed cases."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from brainbatch import BatchRequest, InputError
from brainbatch.estimate import (
    BATCH_WINDOW_S,
    cost_table,
    estimate_requests,
    token_counts,
)

# "hello world" is 2 tokens for gpt-4o-mini (o200k_base); one user message adds 3, the
# reply primer 3: 8 prompt tokens. gpt-4o-mini: $0.15 / $0.60 per Mtok, batch $0.075 / $0.30.
HELLO_TOKENS = 8


def _hello(
    n: int = 4, max_tokens: int | None = 100, model: str = "gpt-4o-mini"
) -> list[BatchRequest]:
    params = {"max_tokens": max_tokens} if max_tokens else None
    return [
        BatchRequest(prompt="hello world", model=model, custom_id=f"r{i}", params=params)
        for i in range(n)
    ]


def _row(table, mode: str, model: str = "gpt-4o-mini"):  # type: ignore[no-untyped-def]
    return table[(table["mode"] == mode) & (table["model"] == model)].iloc[0]


def test_token_counts_gives_one_row_per_request_with_overhead_and_caps() -> None:
    counts = token_counts(_hello(3))
    assert list(counts.index) == ["r0", "r1", "r2"]
    assert counts["input_tokens"].tolist() == [HELLO_TOKENS] * 3
    assert counts["max_tokens"].tolist() == [100.0] * 3
    assert counts["exact"].all()


def test_token_counts_accepts_prompt_strings_with_a_model() -> None:
    counts = token_counts(["hello world", "hello world"], model="gpt-4o")
    assert counts["input_tokens"].tolist() == [HELLO_TOKENS, HELLO_TOKENS]
    assert counts["model"].tolist() == ["gpt-4o", "gpt-4o"]
    assert math.isnan(counts["max_tokens"].iloc[0])


def test_token_counts_names_the_position_of_a_bad_request() -> None:
    with pytest.raises(InputError, match="request 1"):
        token_counts(["fine", 42])  # type: ignore[list-item]


def test_expected_and_worst_case_costs_match_a_hand_computation() -> None:
    table = estimate_requests(_hello(4), expected_output_tokens=50, typical_latency_s=1.0)
    rt, batch = _row(table, "realtime"), _row(table, "batch")
    assert rt["input_tokens"] == 4 * HELLO_TOKENS
    assert rt["output_tokens_expected"] == 200 and rt["output_tokens_max"] == 400
    assert rt["cost_expected_usd"] == pytest.approx((32 * 0.15 + 200 * 0.60) / 1e6)
    assert rt["cost_max_usd"] == pytest.approx((32 * 0.15 + 400 * 0.60) / 1e6)
    assert batch["cost_expected_usd"] == pytest.approx((32 * 0.075 + 200 * 0.30) / 1e6)
    assert batch["saving_expected_usd"] == pytest.approx(rt["cost_expected_usd"] / 2)
    assert batch["saving_pct"] == pytest.approx(50.0)
    assert batch["price_source"] == "genai-prices batch price"


def test_expected_output_is_capped_by_max_tokens() -> None:
    table = estimate_requests(_hello(2, max_tokens=10), expected_output_tokens=50)
    assert _row(table, "realtime")["output_tokens_expected"] == 20


def test_default_expected_output_follows_the_ratio_with_a_floor() -> None:
    table = estimate_requests(_hello(2, max_tokens=None), output_ratio=0.5)
    # 8 prompt tokens x 0.5 = 4, below the 16-token floor
    assert _row(table, "realtime")["output_tokens_expected"] == 32


def test_worst_case_is_unknown_without_max_tokens() -> None:
    table = estimate_requests(_hello(2, max_tokens=None))
    assert math.isnan(_row(table, "realtime")["cost_max_usd"])


def test_realtime_duration_is_bounded_by_concurrency_and_latency() -> None:
    table = estimate_requests(_hello(4), max_concurrent=2, typical_latency_s=1.5)
    assert _row(table, "realtime")["duration_s"] == pytest.approx(3.0)


def test_realtime_duration_is_bounded_by_rpm() -> None:
    table = estimate_requests(_hello(4), max_concurrent=4, typical_latency_s=1.0, rpm=60)
    assert _row(table, "realtime")["duration_s"] == pytest.approx(4.0)


def test_realtime_duration_is_bounded_by_tpm() -> None:
    table = estimate_requests(
        _hello(4), expected_output_tokens=50, typical_latency_s=1.0, max_concurrent=4, tpm=1000
    )
    assert _row(table, "realtime")["duration_s"] == pytest.approx((32 + 200) / 1000 * 60)


def test_batch_duration_is_up_to_24_hours() -> None:
    batch = _row(estimate_requests(_hello(1)), "batch")
    assert batch["duration_s"] == BATCH_WINDOW_S
    assert batch["duration"] == "up to 24 h"


def test_per_row_models_get_their_own_rows_and_totals() -> None:
    requests = _hello(2) + _hello(1, model="claude-3-5-haiku-20241022")
    table = estimate_requests(requests, expected_output_tokens=10)
    assert set(table["model"]) == {"gpt-4o-mini", "claude-3-5-haiku-20241022", "(all)"}
    total = _row(table, "realtime", "(all)")
    parts = table[(table["mode"] == "realtime") & (table["model"] != "(all)")]
    assert total["cost_expected_usd"] == pytest.approx(parts["cost_expected_usd"].sum())
    assert _row(table, "batch", "claude-3-5-haiku-20241022")["price_source"].endswith(
        "batch = 50% of real time"
    )


def test_sim_model_is_priced_as_the_simulated_providers_default() -> None:
    table = estimate_requests(_hello(1, model="sim"), expected_output_tokens=10)
    assert _row(table, "realtime", "gpt-4o-mini")["cost_expected_usd"] > 0


def test_unknown_model_costs_nan_with_one_warning() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = estimate_requests(_hello(2, model="acme-llm"))
    assert table["cost_expected_usd"].isna().all()
    assert len(caught) == 1 and "acme-llm" in str(caught[0].message)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"max_concurrent": 0}, "max_concurrent"),
        ({"rpm": -5}, "rpm"),
        ({"tpm": "lots"}, "tpm"),
        ({"typical_latency_s": 0}, "typical_latency_s"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"expected_output_tokens": -1}, "expected_output_tokens"),
    ],
)
def test_bad_settings_are_refused_naming_the_parameter(
    kwargs: dict[str, object], named: str
) -> None:
    with pytest.raises(InputError, match=named):
        estimate_requests(_hello(1), **kwargs)  # type: ignore[arg-type]


def test_cost_table_prices_the_same_counts_for_other_models() -> None:
    counts = token_counts(_hello(4))
    table = cost_table(counts, models=["gpt-4o", "gpt-4o-mini"], output_tokens=10)
    gpt4o = table[(table["model"] == "gpt-4o") & (table["mode"] == "realtime")].iloc[0]
    assert gpt4o["cost_usd"] == pytest.approx((32 * 2.50 + 40 * 10.0) / 1e6)
    assert len(table) == 4


def test_cost_table_accepts_per_row_output_tokens() -> None:
    counts = token_counts(_hello(2))
    table = cost_table(counts, modes=["realtime"], output_tokens=np.array([10, 30]))
    assert table["output_tokens"].iloc[0] == 40
    assert table["cost_usd"].iloc[0] == pytest.approx((16 * 0.15 + 40 * 0.60) / 1e6)


def test_cost_table_refuses_an_unknown_mode() -> None:
    with pytest.raises(InputError, match="modes"):
        cost_table(token_counts(_hello(1)), modes=["overnight"])

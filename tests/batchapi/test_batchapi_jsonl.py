"""Building, validating, splitting and parsing batch files: pure functions, no network."""

from __future__ import annotations

import orjson
import pytest

from brainbatch import BatchRequest, InputError
from brainbatch.batchapi.anthropic import anthropic_outcome
from brainbatch.batchapi.jsonl import (
    ANTHROPIC_LIMITS,
    OPENAI_LIMITS,
    BatchLimits,
    custom_id_of,
    iter_jsonl,
    openai_line,
    ranges_to_rows,
    rows_to_ranges,
    split_batches,
    validate_custom_ids,
)
from brainbatch.batchapi.openai import openai_outcome


def _req(i: int, **kw: object) -> BatchRequest:
    return BatchRequest(prompt=f"q{i}", model="m", **kw)  # type: ignore[arg-type]


def _encode(cid: str, r: BatchRequest) -> bytes:
    return openai_line(cid, {"model": r.model, "messages": r.chat_messages()})


def test_request_without_custom_id_is_sent_under_its_id() -> None:
    r = _req(0, id="row-7")
    assert custom_id_of(r) == "row-7"


def test_custom_id_longer_than_64_characters_is_refused_naming_the_row() -> None:
    reqs = [_req(0, custom_id="ok"), _req(1, custom_id="x" * 65)]
    with pytest.raises(InputError, match=r"request #1: .* 65 characters; .* at most 64"):
        validate_custom_ids(reqs, OPENAI_LIMITS)


@pytest.mark.parametrize("limits", [OPENAI_LIMITS, ANTHROPIC_LIMITS], ids=["openai", "anthropic"])
def test_a_custom_id_of_exactly_64_characters_is_accepted(limits: BatchLimits) -> None:
    assert validate_custom_ids([_req(0, custom_id="x" * 64)], limits) == {"x" * 64: 0}


@pytest.mark.parametrize("limits", [OPENAI_LIMITS, ANTHROPIC_LIMITS], ids=["openai", "anthropic"])
def test_a_custom_id_of_65_characters_is_refused(limits: BatchLimits) -> None:
    with pytest.raises(InputError, match=r"request #0: .* 65 characters"):
        validate_custom_ids([_req(0, custom_id="x" * 65)], limits)


def test_custom_id_equal_to_another_requests_id_is_refused_naming_both_rows() -> None:
    reqs = [_req(0, id="a1"), _req(1, custom_id="a1")]
    with pytest.raises(InputError, match=r"requests #0 and #1 share the custom_id 'a1'"):
        validate_custom_ids(reqs, OPENAI_LIMITS)


def test_anthropic_refuses_custom_ids_with_spaces_naming_the_row() -> None:
    reqs = [_req(0, custom_id="fine_id-1"), _req(1, custom_id="has space")]
    with pytest.raises(InputError, match=r"request #1: custom_id 'has space'"):
        validate_custom_ids(reqs, ANTHROPIC_LIMITS)


def test_openai_accepts_custom_ids_anthropic_refuses() -> None:
    assert validate_custom_ids([_req(0, custom_id="a b:c")], OPENAI_LIMITS) == {"a b:c": 0}


def test_split_cuts_at_the_request_limit_and_keeps_order() -> None:
    items = [(i, _req(i, custom_id=f"c{i}")) for i in range(7)]
    chunks = split_batches(items, _encode, BatchLimits(3, 10**9))
    assert [c.rows for c in chunks] == [[0, 1, 2], [3, 4, 5], [6]]
    assert chunks[2].custom_ids == ["c6"]


def test_split_cuts_before_the_byte_limit() -> None:
    items = [(i, _req(i, custom_id=f"c{i}")) for i in range(10)]
    line = len(_encode("c0", items[0][1])) + 1
    chunks = split_batches(items, _encode, BatchLimits(1000, line * 4))
    assert [len(c) for c in chunks] == [4, 4, 2]
    assert all(len(c.jsonl()) <= line * 4 for c in chunks)


def test_a_single_request_larger_than_a_batch_is_refused_naming_the_row() -> None:
    items = [
        (0, _req(0, custom_id="small")),
        (1, BatchRequest(prompt="y" * 500, model="m", custom_id="big")),
    ]
    with pytest.raises(InputError, match=r"request #1 \(custom_id 'big'\) encodes to"):
        split_batches(items, _encode, BatchLimits(10, 300))


def test_split_by_model_gives_each_model_its_own_chunks_in_input_order() -> None:
    models = ["a", "b", "a", "b", "a"]
    items = [(i, BatchRequest(prompt=f"q{i}", model=m)) for i, m in enumerate(models)]
    chunks = split_batches(items, _encode, BatchLimits(2, 10**9), group=lambda r: r.model)
    assert [(c.model, c.rows) for c in chunks] == [("a", [0, 2]), ("b", [1, 3]), ("a", [4])]


def test_chunk_that_mixes_models_has_no_single_model() -> None:
    items = [(0, BatchRequest(prompt="x", model="a")), (1, BatchRequest(prompt="y", model="b"))]
    (chunk,) = split_batches(items, _encode, OPENAI_LIMITS)
    assert chunk.model is None


def test_split_cuts_before_a_models_token_cap_and_counts_tokens_per_model() -> None:
    items = [(i, _req(i)) for i in range(7)]
    chunks = split_batches(
        items, _encode, OPENAI_LIMITS, tokens=lambda r: 10, token_limit=lambda m: 30
    )
    assert [c.rows for c in chunks] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [c.tokens for c in chunks] == [{"m": 30}, {"m": 30}, {"m": 10}]


def test_rows_of_an_uncapped_model_are_not_cut_by_tokens() -> None:
    items = [(i, _req(i)) for i in range(5)]
    (chunk,) = split_batches(
        items, _encode, OPENAI_LIMITS, tokens=lambda r: 10, token_limit=lambda m: None
    )
    assert len(chunk) == 5


def test_a_single_request_over_the_token_cap_is_refused_naming_the_row() -> None:
    items = [(0, _req(0)), (1, _req(1, custom_id="huge"))]
    with pytest.raises(InputError, match=r"request #1 \(custom_id 'huge'\) alone is about 50"):
        split_batches(
            items,
            _encode,
            OPENAI_LIMITS,
            tokens=lambda r: 50 if r.custom_id else 1,
            token_limit=lambda m: 40,
        )


def test_halves_split_rows_lines_and_tokens() -> None:
    items = [(i, _req(i, custom_id=f"c{i}")) for i in range(5)]
    (chunk,) = split_batches(
        items, _encode, OPENAI_LIMITS, tokens=lambda r: 3, token_limit=lambda m: 100
    )
    first, second = chunk.halves()
    assert (first.rows, second.rows) == ([0, 1], [2, 3, 4])
    assert first.lines + second.lines == chunk.lines
    assert (first.tokens, second.tokens) == ({"m": 6}, {"m": 9})
    assert first.nbytes + second.nbytes == chunk.nbytes


def test_openai_jsonl_lines_have_the_batch_input_shape() -> None:
    chunk = split_batches([(0, _req(0, custom_id="a"))], _encode, OPENAI_LIMITS)[0]
    line = orjson.loads(chunk.jsonl().splitlines()[0])
    assert line == {
        "custom_id": "a",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "m", "messages": [{"role": "user", "content": "q0"}]},
    }


def test_anthropic_requests_body_is_one_json_object() -> None:
    chunk = split_batches(
        [(0, _req(0, custom_id="a")), (1, _req(1, custom_id="b"))],
        lambda cid, r: orjson.dumps({"custom_id": cid, "params": {"model": r.model}}),
        ANTHROPIC_LIMITS,
    )[0]
    body = orjson.loads(chunk.json_requests())
    assert [r["custom_id"] for r in body["requests"]] == ["a", "b"]


def test_iter_jsonl_names_the_bad_line() -> None:
    with pytest.raises(ValueError, match="output line 3 is not valid JSON"):
        list(iter_jsonl(b'{"a": 1}\n\n{oops\n', source="output"))


def test_row_ranges_round_trip_compactly() -> None:
    rows = [0, 1, 2, 5, 6, 9]
    assert rows_to_ranges(rows) == [[0, 3], [5, 7], [9, 10]]
    assert list(ranges_to_rows(rows_to_ranges(rows))) == rows


def test_openai_success_line_maps_to_success() -> None:
    out = openai_outcome(
        {"custom_id": "a", "response": {"status_code": 200, "body": {"id": "x"}}, "error": None}
    )
    assert (out.custom_id, out.kind, out.body) == ("a", "success", {"id": "x"})


def test_openai_error_response_keeps_the_providers_message() -> None:
    body = {"error": {"message": "bad temperature", "type": "invalid_request_error"}}
    out = openai_outcome(
        {"custom_id": "a", "response": {"status_code": 400, "body": body}, "error": None}
    )
    assert out.kind == "error"
    assert out.error == "HTTP 400: bad temperature"
    assert out.error_type == "invalid_request_error"


def test_openai_batch_expired_line_maps_to_expired() -> None:
    line = {"custom_id": "a", "response": None, "error": {"code": "batch_expired", "message": "m"}}
    assert openai_outcome(line).kind == "expired"


def test_openai_batch_cancelled_line_leaves_the_request_to_run_later() -> None:
    line = {
        "custom_id": "a",
        "response": None,
        "error": {"code": "batch_cancelled", "message": "m"},
    }
    assert openai_outcome(line).kind == "not_run"


@pytest.mark.parametrize(
    ("result", "kind"),
    [
        ({"type": "succeeded", "message": {"id": "m"}}, "success"),
        (
            {"type": "errored", "error": {"type": "error", "error": {"type": "x", "message": "y"}}},
            "error",
        ),
        ({"type": "canceled"}, "not_run"),
        ({"type": "expired"}, "expired"),
    ],
)
def test_anthropic_result_types_map_to_outcomes(result: dict[str, object], kind: str) -> None:
    assert anthropic_outcome({"custom_id": "a", "result": result}).kind == kind


def test_anthropic_errored_result_keeps_the_providers_message() -> None:
    out = anthropic_outcome(
        {
            "custom_id": "a",
            "result": {
                "type": "errored",
                "error": {
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": "max_tokens: too big"},
                },
            },
        }
    )
    assert (out.error, out.error_type) == ("max_tokens: too big", "invalid_request_error")

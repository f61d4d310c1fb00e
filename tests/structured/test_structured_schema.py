"""The schema itself: strict form, what is refused, Anthropic's form, checking, columns."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from pydantic import BaseModel
from structured_models import Address, Colour, Review, Sentiment

import brainbatch as bb
from brainbatch.errors import InputError
from brainbatch.models import ProviderResponse
from brainbatch.structured import (
    InvalidAnswer,
    OutputSchema,
    Refused,
    anthropic_schema,
    strict_schema,
)

GOOD = {
    "label": "positive",
    "score": 0.5,
    "stars": 4,
    "recommended": True,
    "written": "2026-03-01T10:00:00Z",
    "colour": "blue",
    "address": {"city": "Lyon", "zip_code": 69001},
    "tags": ["a", "b"],
    "note": None,
}


def _objects(node: object) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    if isinstance(node, dict):
        if node.get("type") == "object":
            found.append(node)
        for value in node.values():
            found.extend(_objects(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_objects(value))
    return found


def test_strict_form_closes_every_object_and_requires_every_property() -> None:
    strict = OutputSchema.of(Review).strict
    objects = _objects(strict)
    assert len(objects) == 2  # Review and the nested Address
    for obj in objects:
        assert obj["additionalProperties"] is False
        assert obj["required"] == list(obj["properties"])  # type: ignore[call-overload]
    assert "note" in strict["required"]  # a field with a default is answered too (null)


def test_strict_form_drops_defaults_and_titles_but_keeps_a_field_called_title() -> None:
    class Book(BaseModel):
        title: str
        pages: int = 100

    strict = OutputSchema.of(Book).strict
    assert set(strict["properties"]) == {"title", "pages"}
    assert "default" not in strict["properties"]["pages"]
    assert "title" not in strict and "title" not in strict["properties"]["pages"]


def test_response_format_is_openai_json_schema_in_strict_mode() -> None:
    fmt = OutputSchema.of(Sentiment).response_format()
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Sentiment"
    assert fmt["json_schema"]["strict"] is True


def test_free_form_dict_field_is_refused_naming_the_field() -> None:
    class Counts(BaseModel):
        per_word: dict[str, int]

    with pytest.raises(InputError, match=r"field 'per_word' is a free-form mapping"):
        OutputSchema.of(Counts)


def test_keyword_strict_mode_cannot_express_is_refused_naming_it() -> None:
    schema = {"type": "object", "properties": {"x": {"not": {"type": "string"}}}}
    with pytest.raises(InputError, match=r"field 'x' uses 'not'"):
        strict_schema(schema)


def test_top_level_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InputError, match="top level must be an object"):
        OutputSchema.of({"type": "array", "items": {"type": "string"}})


def test_schema_that_is_neither_a_model_nor_a_dict_is_refused() -> None:
    with pytest.raises(InputError, match="Pydantic model class or a JSON-schema dict"):
        OutputSchema.of("Sentiment")


def test_invalid_json_schema_dict_is_refused() -> None:
    with pytest.raises(InputError, match="not a valid JSON schema"):
        OutputSchema.of({"type": "object", "properties": {"x": {"type": "strung"}}})


def test_schema_together_with_a_response_format_param_is_refused() -> None:
    df = pd.DataFrame({"text": ["a"]})
    with pytest.raises(InputError, match=r"schema= and params\['response_format'\]"):
        bb.run(
            df,
            prompt="text",
            model="sim",
            schema=Sentiment,
            params={"response_format": {"type": "json_object"}},
            store=False,
            progress="none",
        )


def test_anthropic_form_moves_unsupported_constraints_into_the_description() -> None:
    moved = anthropic_schema(OutputSchema.of(Review).strict)
    score = moved["properties"]["score"]
    assert "minimum" not in score and "maximum" not in score
    assert score["description"] == "{maximum: 1, minimum: 0}"


def test_pydantic_answer_becomes_a_model_instance() -> None:
    checked = OutputSchema.of(Review).validate(GOOD)
    assert isinstance(checked, Review)
    assert checked.address == Address(city="Lyon", zip_code=69001)


def test_json_text_answer_is_checked_too() -> None:
    checked = OutputSchema.of(Sentiment).validate('{"label": "negative", "confidence": 0.2}')
    assert checked == Sentiment(label="negative", confidence=0.2)


def test_dict_schema_error_names_the_field() -> None:
    schema = OutputSchema.of(
        {
            "title": "Pick",
            "type": "object",
            "properties": {"n": {"type": "integer"}},
            "required": ["n"],
            "additionalProperties": False,
        }
    )
    assert schema.validate({"n": 3}) == {"n": 3}
    with pytest.raises(ValueError, match="n: 'x' is not of type 'integer'"):
        schema.validate({"n": "x"})


def test_check_refuses_an_invalid_answer_keeping_it() -> None:
    answer = ProviderResponse(result={"label": "maybe"}, input_tokens=10, cost_usd=0.01)
    with pytest.raises(InvalidAnswer) as caught:
        OutputSchema.of(Sentiment).check(answer)
    assert caught.value.response is answer
    assert caught.value.kind == "invalid_output"
    assert "label" in str(caught.value)


def test_check_reports_a_refusal_as_such() -> None:
    answer = ProviderResponse(result="I can't help with that.", finish_reason="refusal")
    with pytest.raises(Refused, match="refused"):
        OutputSchema.of(Sentiment).check(answer)


def test_columns_get_dtypes_from_the_model() -> None:
    other = {**GOOD, "label": "neutral", "colour": "red", "stars": 2, "note": "x"}
    checked, cols, errors = OutputSchema.of(Review).columns([GOOD, None, other])
    assert errors == [None, None, None]
    assert isinstance(checked[0], Review) and checked[1] is None
    frame = pd.DataFrame(cols)
    assert str(frame["response.stars"].dtype) == "Int64"
    assert frame["response.stars"].isna().tolist() == [False, True, False]
    assert frame["response.score"].dtype == "float64"
    assert str(frame["response.recommended"].dtype) == "boolean"
    assert str(frame["response.note"].dtype) == "string"
    assert str(frame["response.written"].dtype).startswith("datetime64")
    assert frame["response.written"][0] == datetime(2026, 3, 1, 10, tzinfo=UTC)
    label = frame["response.label"]
    assert isinstance(label.dtype, pd.CategoricalDtype)
    assert list(label.cat.categories) == ["positive", "negative", "neutral"]
    assert list(frame["response.colour"].cat.categories) == [c.value for c in Colour]
    assert frame["response.address"][0] == Address(city="Lyon", zip_code=69001)
    assert frame["response.tags"][2] == ["a", "b"]


def test_columns_mark_a_stored_answer_the_model_refuses() -> None:
    _, _, errors = OutputSchema.of(Sentiment).columns([{"label": "positive"}])
    assert errors[0] is not None and "confidence" in errors[0]


def test_spec_round_trip_asks_for_the_same_json() -> None:
    schema = OutputSchema.of(Review)
    back = OutputSchema.from_spec(schema.spec())
    assert back.model is None and back.same_as(schema)
    assert back.name == "Review"

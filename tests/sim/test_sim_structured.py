"""The simulated server answers structured-output requests as the real APIs do: JSON that
follows the requested schema (deterministically), or on purpose not (``invalid_output``),
or a refusal (``refusal``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import httpx
import orjson
import pytest
from pydantic import BaseModel, Field
from sim_helpers import ANTHROPIC_HEADERS, chat_body, message_body

from brainbatch.errors import InputError
from brainbatch.sim import SimConfig, SimServer
from brainbatch.structured import OutputSchema


class Part(BaseModel):
    name: str
    count: int = Field(ge=1, le=5)


class Order(BaseModel):
    status: Literal["open", "shipped"]
    placed: datetime
    parts: list[Part]
    priority: float = Field(ge=0, le=10)
    rush: bool
    comment: str | None = None


SCHEMA = OutputSchema.of(Order)


def _openai(client: httpx.Client, text: str) -> httpx.Response:
    return client.post(
        "/v1/chat/completions", json=chat_body(text, response_format=SCHEMA.response_format())
    )


def _anthropic(client: httpx.Client, text: str) -> httpx.Response:
    fmt = {"format": {"type": "json_schema", "schema": SCHEMA.strict}}
    return client.post(
        "/v1/messages", json=message_body(text, output_config=fmt), headers=ANTHROPIC_HEADERS
    )


def test_openai_answers_follow_the_schema_with_defs_enums_unions_and_dates(
    client: httpx.Client,
) -> None:
    for i in range(30):
        content = _openai(client, f"order {i}").json()["choices"][0]["message"]["content"]
        order = Order.model_validate_json(content)
        assert min(p.count for p in order.parts or [Part(name="x", count=1)]) >= 1


def test_anthropic_answers_follow_the_schema_in_output_config(client: httpx.Client) -> None:
    for i in range(30):
        data = _anthropic(client, f"order {i}").json()
        assert data["stop_reason"] == "end_turn"
        Order.model_validate_json(data["content"][0]["text"])


def test_answers_are_deterministic_per_seed(sim: SimServer, client: httpx.Client) -> None:
    first = _openai(client, "same").json()["choices"][0]["message"]["content"]
    again = _openai(client, "same").json()["choices"][0]["message"]["content"]
    sim.configure(seed=7)
    other = _openai(client, "same").json()["choices"][0]["message"]["content"]
    assert first == again != other


def test_invalid_output_breaks_the_schema(sim: SimServer, client: httpx.Client) -> None:
    sim.configure(invalid_output=1.0)
    content = _openai(client, "order").json()["choices"][0]["message"]["content"]
    with pytest.raises(ValueError):
        SCHEMA.validate(content)


def test_invalid_output_share_is_drawn_per_answer_so_asking_again_can_succeed(
    sim: SimServer, client: httpx.Client
) -> None:
    sim.configure(invalid_output=0.5)
    outcomes = set()
    for _ in range(12):
        content = _openai(client, "the same order").json()["choices"][0]["message"]["content"]
        try:
            SCHEMA.validate(content)
            outcomes.add("valid")
        except ValueError:
            outcomes.add("invalid")
    assert outcomes == {"valid", "invalid"}


def test_openai_refusal_has_null_content_and_the_refusal_text(
    sim: SimServer, client: httpx.Client
) -> None:
    sim.configure(refusal=1.0)
    message = _openai(client, "order").json()["choices"][0]["message"]
    assert message["content"] is None
    assert "can't help" in message["refusal"]


def test_anthropic_refusal_stops_with_refusal(sim: SimServer, client: httpx.Client) -> None:
    sim.configure(refusal=1.0)
    assert _anthropic(client, "order").json()["stop_reason"] == "refusal"


def test_free_text_requests_are_not_affected_by_the_knobs(
    sim: SimServer, client: httpx.Client
) -> None:
    sim.configure(invalid_output=1.0, refusal=0.0)
    text = client.post("/v1/chat/completions", json=chat_body("hi")).json()
    assert text["choices"][0]["message"]["content"].startswith("[simulated]")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"invalid_output": 1.5}, "invalid_output must be between 0 and 1"),
        ({"refusal": -0.1}, "refusal must be between 0 and 1"),
        ({"invalid_output": 0.6, "refusal": 0.6}, "invalid_output \\+ refusal must be <= 1"),
    ],
)
def test_out_of_range_knobs_are_refused(changes: dict[str, float], message: str) -> None:
    with pytest.raises(InputError, match=message):
        SimConfig(**changes)


def test_batch_line_with_a_schema_gets_a_conforming_answer() -> None:
    from brainbatch.sim.wire import complete_chat

    body = chat_body("order", response_format=SCHEMA.response_format())
    obj = complete_chat(body, SimConfig(), "chatcmpl-1")
    Order.model_validate(orjson.loads(obj["choices"][0]["message"]["content"]))

"""The simulated server speaks the OpenAI and Anthropic wire formats."""

from __future__ import annotations

import orjson
import pytest
from sim_helpers import ANTHROPIC_HEADERS, chat_body, message_body

from brainbatch import BatchRequest, SimulatedProvider


def test_chat_completion_has_the_openai_shape(client):
    r = client.post("/v1/chat/completions", json=chat_body())
    assert r.status_code == 200
    assert r.headers["x-request-id"]
    data = r.json()
    assert data["object"] == "chat.completion"
    assert data["id"].startswith("chatcmpl-")
    assert isinstance(data["created"], int)
    assert data["model"] == "gpt-4o-mini"
    choice = data["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"].startswith("[simulated]")
    assert choice["finish_reason"] == "stop"
    usage = data["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0


def test_chat_completion_capped_by_max_tokens_finishes_with_length(client):
    r = client.post("/v1/chat/completions", json=chat_body(max_tokens=1))
    data = r.json()
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"]["completion_tokens"] == 1


def test_chat_completion_with_json_schema_answers_a_json_string(client):
    schema = {"type": "object", "properties": {"label": {"enum": ["pos", "neg"]}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    r = client.post("/v1/chat/completions", json=chat_body(response_format=fmt))
    content = r.json()["choices"][0]["message"]["content"]
    assert orjson.loads(content)["label"] in ("pos", "neg")


def test_message_has_the_anthropic_shape(client):
    r = client.post("/v1/messages", json=message_body(), headers=ANTHROPIC_HEADERS)
    assert r.status_code == 200
    assert r.headers["request-id"]
    data = r.json()
    assert data["type"] == "message"
    assert data["id"].startswith("msg_")
    assert data["role"] == "assistant"
    assert data["model"] == "claude-haiku-4-5"
    assert data["content"][0]["type"] == "text"
    assert data["content"][0]["text"].startswith("[simulated]")
    assert data["stop_reason"] == "end_turn"
    assert data["usage"]["input_tokens"] > 0
    assert data["usage"]["output_tokens"] > 0
    assert data["usage"]["cache_read_input_tokens"] == 0


def test_message_capped_by_max_tokens_stops_with_max_tokens(client):
    r = client.post("/v1/messages", json=message_body(max_tokens=1), headers=ANTHROPIC_HEADERS)
    assert r.json()["stop_reason"] == "max_tokens"


def test_message_without_anthropic_version_header_is_refused(client):
    r = client.post("/v1/messages", json=message_body())
    assert r.status_code == 400
    assert r.json()["type"] == "error"
    assert "anthropic-version" in r.json()["error"]["message"]


def test_message_without_max_tokens_is_refused_naming_it(client):
    body = message_body()
    del body["max_tokens"]
    r = client.post("/v1/messages", json=body, headers=ANTHROPIC_HEADERS)
    assert r.status_code == 400
    assert r.json()["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Field required",
    }


@pytest.mark.parametrize("missing", ["model", "messages"])
def test_chat_without_a_required_field_is_refused_naming_it(client, missing):
    body = chat_body()
    del body[missing]
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["param"] == missing
    assert error["type"] == "invalid_request_error"


def test_chat_with_a_badly_typed_parameter_is_refused_naming_it(client):
    r = client.post("/v1/chat/completions", json=chat_body(temperature="hot"))
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "temperature"


def test_chat_with_an_unparsable_body_is_refused(client):
    r = client.post(
        "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_json"


def test_models_list_has_the_openai_shape(client):
    data = client.get("/v1/models").json()
    assert data["object"] == "list"
    assert {"gpt-4o-mini", "sim"} <= {m["id"] for m in data["data"]}
    assert all(m["object"] == "model" for m in data["data"])


def test_models_list_has_the_anthropic_shape_for_anthropic_clients(client):
    data = client.get("/v1/models", headers=ANTHROPIC_HEADERS).json()
    assert data["has_more"] is False
    assert all(m["type"] == "model" for m in data["data"])
    assert data["first_id"] == data["data"][0]["id"]


def test_unknown_model_is_not_found(client):
    r = client.get("/v1/models/no-such-model")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"


async def test_chat_answer_equals_the_simulated_providers(client):
    request = BatchRequest(
        prompt="Rate this pizza",
        model="gpt-4o-mini",
        system="Be brief",
        params={"temperature": 0.2, "max_tokens": 40},
    )
    expected = await SimulatedProvider(latency_ms=0).__call__(request)
    body = {
        "model": request.model,
        "messages": [{"role": "system", "content": "Be brief"}, *request.chat_messages()],
        **request.params,
    }
    data = client.post("/v1/chat/completions", json=body).json()
    assert data["choices"][0]["message"]["content"] == expected.result
    assert data["usage"]["prompt_tokens"] == expected.input_tokens
    assert data["usage"]["completion_tokens"] == expected.output_tokens


async def test_message_answer_equals_the_simulated_providers(client):
    request = BatchRequest(
        prompt="Rate this pizza",
        model="claude-haiku-4-5",
        system="Be brief",
        params={"max_tokens": 300},
    )
    expected = await SimulatedProvider(latency_ms=0).__call__(request)
    body = {
        "model": request.model,
        "system": "Be brief",
        "messages": request.chat_messages(),
        **request.params,
    }
    data = client.post("/v1/messages", json=body, headers=ANTHROPIC_HEADERS).json()
    assert data["content"][0]["text"] == expected.result
    assert data["usage"]["input_tokens"] == expected.input_tokens
    assert data["usage"]["output_tokens"] == expected.output_tokens


def test_message_with_a_parameter_anthropic_does_not_take_is_refused_naming_it(client):
    r = client.post(
        "/v1/messages",
        json=message_body(response_format={"type": "text"}),
        headers=ANTHROPIC_HEADERS,
    )
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "response_format: Extra inputs are not permitted"


def test_message_with_a_temperature_over_1_is_refused(client):
    r = client.post("/v1/messages", json=message_body(temperature=1.5), headers=ANTHROPIC_HEADERS)
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith("temperature:")

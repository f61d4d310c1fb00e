"""Request bodies and response parsing, with httpx.MockTransport test doubles (no sockets)."""

from __future__ import annotations

import math
from typing import Any

import httpx
import orjson
import pytest
from http_testutil import FAST_RETRY, KEY

from brainbatch import BatchRequest, cost_of
from brainbatch.errors import ConnectionFailed
from brainbatch.providers.anthropic import DEFAULT_MAX_TOKENS, AnthropicProvider
from brainbatch.providers.openai import OpenAIProvider

SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "verdict",
        "schema": {"type": "object", "properties": {"label": {"type": "string"}}},
    },
}


def completion(content: Any = "hello", **extra: Any) -> dict[str, Any]:
    body = {
        "id": "chatcmpl-1",
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "prompt_tokens_details": {"cached_tokens": 40},
        },
    }
    body.update(extra)
    return body


def message(blocks: list[dict[str, Any]], stop: str = "end_turn") -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "model": "claude-sonnet-4-5",
        "content": blocks,
        "stop_reason": stop,
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_read_input_tokens": 30,
            "cache_creation_input_tokens": 2,
        },
    }


def openai(**kw: Any) -> OpenAIProvider:
    return OpenAIProvider(api_key=KEY, retry=FAST_RETRY, **kw)


def anthropic(**kw: Any) -> AnthropicProvider:
    return AnthropicProvider(api_key=KEY, retry=FAST_RETRY, **kw)


# -- OpenAI bodies ---------------------------------------------------------------------------


def test_openai_body_puts_the_system_prompt_first_and_passes_params_through() -> None:
    req = BatchRequest(
        prompt="Hi",
        model="gpt-4o-mini",
        system="Be brief.",
        params={"temperature": 0.2, "response_format": SCHEMA},
    )
    assert openai().build_body(req) == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "temperature": 0.2,
        "response_format": SCHEMA,
    }


def test_openai_body_keeps_a_full_conversation_as_given() -> None:
    chat = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    assert openai().build_body(BatchRequest(messages=chat, model="m"))["messages"] == chat


# -- OpenAI parsing --------------------------------------------------------------------------


def test_openai_parse_reads_text_usage_cached_tokens_id_and_finish_reason() -> None:
    out = openai().parse_response(completion(), latency_ms=12.5)
    assert (out.result, out.input_tokens, out.output_tokens, out.cached_tokens) == (
        "hello",
        100,
        20,
        40,
    )
    assert (out.finish_reason, out.provider_request_id, out.latency_ms) == (
        "stop",
        "chatcmpl-1",
        12.5,
    )
    assert out.cost_usd is not None and out.cost_usd > 0 and out.price_source


def test_openai_parse_prices_batch_work_at_the_batch_price() -> None:
    p = openai()
    real = p.parse_response(completion()).cost_usd
    batch = p.parse_response(completion(), batch=True).cost_usd
    assert real is not None and batch is not None
    assert math.isclose(batch, cost_of("gpt-4o-mini", 100, 20, 40, batch=True).usd)
    assert batch < real


def test_openai_parse_turns_structured_output_into_a_dict() -> None:
    out = openai().parse_response(completion('{"label": "positive"}'), json_output=True)
    assert out.result == {"label": "positive"}


def test_openai_parse_keeps_json_looking_text_when_json_was_not_asked_for() -> None:
    out = openai().parse_response(completion('{"label": 1}'), json_output=False)
    assert out.result == '{"label": 1}'


def test_openai_parse_gives_tool_calls_when_there_is_no_text() -> None:
    calls = [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    body = completion(None)
    body["choices"][0]["message"]["tool_calls"] = calls
    assert openai().parse_response(body).result == {"tool_calls": calls}


def test_openai_parse_of_a_body_without_choices_is_a_malformed_response() -> None:
    with pytest.raises(ConnectionFailed) as info:
        openai().parse_response({"id": "x"})
    assert info.value.kind == "malformed_response"


# -- Anthropic bodies ------------------------------------------------------------------------


def test_anthropic_body_has_top_level_system_and_a_default_max_tokens() -> None:
    body = anthropic().build_body(BatchRequest(prompt="Hi", model="claude-x", system="S"))
    assert body == {
        "model": "claude-x",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "system": "S",
        "messages": [{"role": "user", "content": "Hi"}],
    }


def test_anthropic_body_moves_system_messages_out_of_the_conversation() -> None:
    chat = [{"role": "system", "content": "S"}, {"role": "user", "content": "u"}]
    body = anthropic().build_body(BatchRequest(messages=chat, model="claude-x"))
    assert body["system"] == "S" and body["messages"] == [{"role": "user", "content": "u"}]


def test_anthropic_body_translates_openai_style_params() -> None:
    req = BatchRequest(
        prompt="Hi",
        model="claude-x",
        params={
            "max_completion_tokens": 50,
            "stop": "END",
            "response_format": SCHEMA,
            "service_tier": "auto",
        },
    )
    body = anthropic().build_body(req)
    assert body["max_tokens"] == 50
    assert body["stop_sequences"] == ["END"]
    assert body["output_config"] == {
        "format": {"type": "json_schema", "schema": SCHEMA["json_schema"]["schema"]}
    }  # type: ignore[index]
    assert body["service_tier"] == "auto"
    assert "response_format" not in body and "stop" not in body


def test_anthropic_provider_default_max_tokens_is_configurable() -> None:
    body = anthropic(max_tokens=77).build_body(BatchRequest(prompt="Hi", model="claude-x"))
    assert body["max_tokens"] == 77


# -- Anthropic parsing -----------------------------------------------------------------------


def test_anthropic_parse_joins_text_and_counts_cached_prompt_tokens_as_input() -> None:
    out = anthropic().parse_response(
        message([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
    )
    assert out.result == "ab"
    assert (out.input_tokens, out.output_tokens, out.cached_tokens) == (42, 5, 30)
    assert out.provider_request_id == "msg_1"


def test_anthropic_cache_writes_are_priced_at_the_cache_write_rate() -> None:
    out = anthropic().parse_response(message([{"type": "text", "text": "a"}]))
    expected = cost_of("claude-sonnet-4-5", 42, 5, 30, cache_write_tokens=2)
    plain = cost_of("claude-sonnet-4-5", 42, 5, 30)
    assert out.cost_usd == pytest.approx(expected.usd)
    assert expected.usd > plain.usd  # writes cost more than ordinary input


@pytest.mark.parametrize(
    ("stop", "finish"), [("end_turn", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls")]
)
def test_anthropic_stop_reasons_are_reported_openai_style(stop: str, finish: str) -> None:
    out = anthropic().parse_response(message([{"type": "text", "text": "x"}], stop))
    assert out.finish_reason == finish


def test_anthropic_parse_gives_the_tool_input_for_json_via_a_tool() -> None:
    blocks = [{"type": "tool_use", "id": "t", "name": "f", "input": {"label": "ok"}}]
    assert anthropic().parse_response(message(blocks, "tool_use")).result == {"label": "ok"}


# -- the wire, through a MockTransport -------------------------------------------------------


async def test_openai_sends_a_bearer_key_to_chat_completions_under_base_url() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=completion())

    async with openai(
        base_url="https://llm.example/v1", transport=httpx.MockTransport(handler)
    ) as p:
        await p(BatchRequest(prompt="Hi", model="gpt-4o-mini"))
    assert str(seen[0].url) == "https://llm.example/v1/chat/completions"
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    assert orjson.loads(seen[0].content)["messages"] == [{"role": "user", "content": "Hi"}]


async def test_anthropic_sends_x_api_key_and_version_to_v1_messages() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=message([{"type": "text", "text": "x"}]))

    async with anthropic(
        base_url="https://claude.example", transport=httpx.MockTransport(handler)
    ) as p:
        await p(BatchRequest(prompt="Hi", model="claude-sonnet-4-5"))
    assert str(seen[0].url) == "https://claude.example/v1/messages"
    assert seen[0].headers["x-api-key"] == KEY
    assert seen[0].headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in seen[0].headers


async def test_a_user_client_is_used_and_left_open() -> None:
    client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json=completion()))
    )
    p = openai(client=client)
    assert p.client is client
    out = await p(BatchRequest(prompt="Hi", model="gpt-4o-mini"))
    await p.aclose()
    assert out.result == "hello" and not client.is_closed
    await client.aclose()


async def test_a_malformed_200_body_is_retried() -> None:
    answers = [
        httpx.Response(200, content=b'{"id": "trunc'),
        httpx.Response(200, json=completion()),
    ]

    async with openai(transport=httpx.MockTransport(lambda r: answers.pop(0))) as p:
        out = await p(BatchRequest(prompt="Hi", model="gpt-4o-mini"))
    assert out.result == "hello" and out.attempts == 2

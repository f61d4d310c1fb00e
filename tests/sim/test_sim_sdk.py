"""Wire compatibility: the official openai and anthropic SDKs parse the server's answers."""

from __future__ import annotations

import anthropic
import openai
import pytest

KEY = "sk-sim-sdk"


@pytest.fixture
def openai_client(sim):
    sim.configure(api_key=KEY)
    with openai.OpenAI(base_url=sim.openai_base_url, api_key=KEY, max_retries=0, timeout=5) as c:
        yield c


@pytest.fixture
def anthropic_client(sim):
    sim.configure(api_key=KEY)
    with anthropic.Anthropic(
        base_url=sim.anthropic_base_url, api_key=KEY, max_retries=0, timeout=5
    ) as c:
        yield c


def test_openai_sdk_parses_a_chat_completion(openai_client):
    completion = openai_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}],
        max_tokens=50,
    )
    assert completion.choices[0].message.content.startswith("[simulated]")
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert completion.usage.prompt_tokens_details.cached_tokens == 0
    assert completion._request_id.startswith("req_")


def test_openai_sdk_parses_structured_output(openai_client):
    schema = {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": ["a", "b"]}},
        "required": ["label"],
        "additionalProperties": False,
    }
    completion = openai_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Pick"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "pick", "schema": schema, "strict": True},
        },
    )
    assert completion.choices[0].message.content in ('{"label":"a"}', '{"label":"b"}')


def test_openai_sdk_lists_models(openai_client):
    assert "gpt-4o-mini" in {m.id for m in openai_client.models.list()}


def test_openai_sdk_raises_its_rate_limit_error_on_429(sim, openai_client):
    sim.configure(rate_limit_429=1.0)
    with pytest.raises(openai.RateLimitError):
        openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
        )


def test_openai_sdk_raises_authentication_error_on_a_wrong_key(sim):
    sim.configure(api_key=KEY)
    with (
        openai.OpenAI(base_url=sim.openai_base_url, api_key="sk-wrong", max_retries=0) as c,
        pytest.raises(openai.AuthenticationError),
    ):
        c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])


def test_anthropic_sdk_parses_a_message(anthropic_client):
    message = anthropic_client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=100,
        system="Be brief",
        messages=[{"role": "user", "content": "Hi"}],
    )
    assert message.content[0].type == "text"
    assert message.content[0].text.startswith("[simulated]")
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.cache_read_input_tokens == 0
    assert message._request_id.startswith("req_")


def test_anthropic_sdk_lists_models(anthropic_client):
    assert "claude-haiku-4-5" in {m.id for m in anthropic_client.models.list()}


def test_anthropic_sdk_raises_its_overloaded_error_class_on_503(sim, anthropic_client):
    sim.configure(http_503=1.0)
    with pytest.raises(anthropic.InternalServerError):
        anthropic_client.messages.create(
            model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
        )


async def test_async_openai_sdk_parses_a_chat_completion(sim):
    async with openai.AsyncOpenAI(base_url=sim.openai_base_url, api_key="x", max_retries=0) as c:
        completion = await c.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
        )
    assert completion.choices[0].message.content
    assert sim.count("/v1/chat/completions") == 1

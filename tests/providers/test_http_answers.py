"""HTTP 200 answers that are not completions: an error object keeps the provider's message
and its class; fields of the wrong type are a per-row error naming the field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from http_testutil import FAST_RETRY, KEY, LocalServer, script

from brainbatch import BatchJob, BatchRequest, ParallelExecutor
from brainbatch.errors import (
    AuthenticationError,
    ConnectionFailed,
    PermanentError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from brainbatch.providers.anthropic import AnthropicProvider
from brainbatch.providers.openai import OpenAIProvider

COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-1",
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hello"},
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 10,
        "completion_tokens": 2,
        "prompt_tokens_details": {"cached_tokens": 0},
    },
}
MESSAGE: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "model": "claude-sonnet-4-5",
    "content": [{"type": "text", "text": "hello"}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 10, "output_tokens": 2},
}


def changed(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``body`` with the field at dotted ``path`` set to ``value``."""
    out = copy.deepcopy(body)
    node: Any = out
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return out


def openai() -> OpenAIProvider:
    return OpenAIProvider(api_key=KEY, retry=FAST_RETRY)


def anthropic() -> AnthropicProvider:
    return AnthropicProvider(api_key=KEY, retry=FAST_RETRY)


# -- HTTP 200 with an error object ----------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "cls"),
    [
        ({"message": "Upstream exploded", "code": 502}, ServerError),
        ({"message": "Upstream exploded", "code": 429}, RateLimitError),
        ({"message": "Upstream exploded", "type": "invalid_request_error"}, PermanentError),
        ({"message": "Upstream exploded", "type": "rate_limit_exceeded"}, RateLimitError),
        ({"message": "Upstream exploded", "type": "invalid_api_key"}, AuthenticationError),
        ({"message": "Upstream exploded"}, PermanentError),
    ],
)
def test_an_openai_200_error_body_keeps_the_message_and_its_class(
    error: dict[str, Any], cls: type[ProviderError]
) -> None:
    with pytest.raises(ProviderError) as info:
        openai().parse_response({"error": error})
    assert type(info.value) is cls
    assert "HTTP 200 with an error body" in str(info.value)
    assert "Upstream exploded" in str(info.value) and info.value.status_code == 200


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("overloaded_error", ServerError),
        ("api_error", ServerError),
        ("rate_limit_error", RateLimitError),
        ("invalid_request_error", PermanentError),
        ("not_found_error", PermanentError),
        ("authentication_error", AuthenticationError),
    ],
)
def test_an_anthropic_200_error_body_keeps_the_message_and_its_class(
    kind: str, cls: type[ProviderError]
) -> None:
    body = {"type": "error", "error": {"type": kind, "message": "Overloaded"}}
    with pytest.raises(ProviderError) as info:
        anthropic().parse_response(body)
    assert type(info.value) is cls
    assert f"anthropic HTTP 200 with an error body: {kind}: Overloaded" in str(info.value)


def test_a_200_error_body_hides_an_echoed_key() -> None:
    with pytest.raises(PermanentError) as info:
        openai().parse_response({"error": {"message": f"bad key {KEY}"}})
    assert KEY not in str(info.value)


async def test_a_200_error_over_the_wire_is_retried_by_its_class_then_reported() -> None:
    upstream = {"error": {"message": "Upstream exploded", "code": 502}}
    async with (
        LocalServer(script((200, {}, upstream))) as srv,
        OpenAIProvider(base_url=srv.url + "/v1", api_key=KEY, retry=FAST_RETRY) as p,
    ):
        with pytest.raises(ServerError, match="Upstream exploded") as info:
            await p(BatchRequest(prompt="Hi", model="gpt-4o-mini"))
    assert info.value.attempts == len(srv.seen) == FAST_RETRY.max_attempts


async def test_a_200_permanent_error_over_the_wire_is_not_retried() -> None:
    refused = {"error": {"message": "model not found", "type": "invalid_request_error"}}
    async with (
        LocalServer(script((200, {}, refused))) as srv,
        OpenAIProvider(base_url=srv.url + "/v1", api_key=KEY, retry=FAST_RETRY) as p,
    ):
        with pytest.raises(PermanentError, match="model not found"):
            await p(BatchRequest(prompt="Hi", model="gpt-4o-mini"))
    assert len(srv.seen) == 1


# -- fields of the wrong type ---------------------------------------------------------------


def obj(field: str, got: str) -> str:
    return f"{field} must be an object, got {got}"


def arr(field: str, got: str) -> str:
    return f"{field} must be a list, got {got}"


def text(field: str, got: str) -> str:
    return f"{field} must be a string or null, got {got}"


def count(field: str, got: str) -> str:
    return f"{field} must be a whole number >= 0 or null, got {got}"


OPENAI_BAD = [
    ("choices", {"0": 1}, arr("choices", "object")),
    ("choices.0", "x", obj("choices[0]", "string")),
    ("choices.0.message", "hello", obj("choices[0].message", "string")),
    ("choices.0.message.content", [{"type": "text"}], text("choices[0].message.content", "list")),
    ("choices.0.message.tool_calls", "f()", arr("choices[0].message.tool_calls", "string")),
    ("choices.0.finish_reason", 3, text("choices[0].finish_reason", "integer")),
    ("usage", [10, 2], obj("usage", "list")),
    ("usage.prompt_tokens", "10", count("usage.prompt_tokens", "string")),
    ("usage.completion_tokens", True, count("usage.completion_tokens", "boolean")),
    ("usage.prompt_tokens_details", [], obj("usage.prompt_tokens_details", "list")),
    (
        "usage.prompt_tokens_details.cached_tokens",
        "0",
        count("usage.prompt_tokens_details.cached_tokens", "string"),
    ),
    ("model", ["gpt"], text("model", "list")),
    ("id", 7, text("id", "integer")),
]


@pytest.mark.parametrize(("path", "value", "problem"), OPENAI_BAD, ids=[c[0] for c in OPENAI_BAD])
def test_an_openai_field_of_the_wrong_type_is_named(path: str, value: Any, problem: str) -> None:
    with pytest.raises(ConnectionFailed) as info:
        openai().parse_response(changed(COMPLETION, path, value))
    assert str(info.value) == f"openai: malformed response: {problem}"
    assert info.value.kind == "malformed_response"


ANTHROPIC_BAD = [
    ("content", "hello", arr("content", "string")),
    ("content.0", "hello", obj("content[0]", "string")),
    ("content.0.text", 5, text("content[0].text", "integer")),
    ("content.0.type", ["text"], text("content[0].type", "list")),
    ("usage", "10/2", obj("usage", "string")),
    ("usage.input_tokens", "10", count("usage.input_tokens", "string")),
    ("usage.output_tokens", -1, count("usage.output_tokens", "integer")),
    ("stop_reason", {"x": 1}, text("stop_reason", "object")),
]


@pytest.mark.parametrize(
    ("path", "value", "problem"), ANTHROPIC_BAD, ids=[c[0] for c in ANTHROPIC_BAD]
)
def test_an_anthropic_field_of_the_wrong_type_is_named(path: str, value: Any, problem: str) -> None:
    with pytest.raises(ConnectionFailed) as info:
        anthropic().parse_response(changed(MESSAGE, path, value))
    assert str(info.value) == f"anthropic: malformed response: {problem}"


def test_an_anthropic_tool_use_input_that_is_not_an_object_is_named() -> None:
    body = changed(MESSAGE, "content", [{"type": "tool_use", "id": "t", "input": "{}"}])
    with pytest.raises(
        ConnectionFailed, match=r"content\[0\]\.input must be an object, got string"
    ):
        anthropic().parse_response(body)


@pytest.mark.parametrize("body", [[COMPLETION], "ok", None])
def test_a_body_that_is_not_an_object_is_named(body: Any) -> None:
    with pytest.raises(ConnectionFailed, match="the body must be an object"):
        openai().parse_response(body)


def test_well_typed_answers_still_parse() -> None:
    assert openai().parse_response(COMPLETION).result == "hello"
    assert anthropic().parse_response(MESSAGE).result == "hello"
    bare = {
        "model": "gpt-4o-mini",
        "choices": [{"message": {"content": None, "refusal": None}}],
        "usage": None,
    }
    assert openai().parse_response(bare).result == ""


async def test_a_malformed_field_over_the_wire_is_each_rows_error_naming_it(
    make_rows: Callable[[int], BatchJob],
) -> None:
    bad = changed(COMPLETION, "usage", [10, 2])
    async with LocalServer(script((200, {}, bad))) as srv:
        job = make_rows(2)
        async with OpenAIProvider(base_url=srv.url + "/v1", api_key=KEY, retry=FAST_RETRY) as p:
            await ParallelExecutor(max_concurrent=2).execute(job, p)
    assert [r.error for r in job.results] == [
        "openai: malformed response: usage must be an object, got list"
    ] * 2


@pytest.fixture
def make_rows() -> Callable[[int], BatchJob]:
    def make(n: int) -> BatchJob:
        return BatchJob([BatchRequest(prompt=f"q{i}", model="gpt-4o-mini") for i in range(n)])

    return make

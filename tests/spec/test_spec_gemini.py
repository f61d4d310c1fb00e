"""The check of the simulated Gemini traffic against Gemini's discovery document: what
conforms passes, a malformed request and a malformed answer are caught, and the field
lists brainbatch keeps agree with the document."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from brainbatch.providers.gemini import GENERATION_CONFIG_FIELDS, REQUEST_FIELDS
from brainbatch.sim import SimServer
from brainbatch.sim import gemini as sim_gemini
from brainbatch.sim.observe import Exchange

from .conformance import Recorder, SpecChecker
from .discovery import discovery, json_schema

PATH = "/v1beta/models/gemini-2.5-flash:generateContent"
BODY = {
    "contents": [{"role": "user", "parts": [{"text": "Say hi"}]}],
    "systemInstruction": {"parts": [{"text": "Be brief."}]},
    "generationConfig": {"temperature": 0.2, "maxOutputTokens": 20},
}


@pytest.fixture(scope="module")
def exchanges(sim_server: SimServer) -> Iterator[dict[str, Exchange]]:
    """One answered and one refused generateContent exchange, as the server saw them."""
    import httpx

    seen: list[Exchange] = []
    stop = sim_server.observe(seen.append)
    try:
        with httpx.Client(base_url=sim_server.url) as c:
            assert c.post(PATH, json=BODY).status_code == 200
            assert c.post(PATH, json={"contents": []}).status_code == 400
    finally:
        stop()
    yield {"ok": seen[0], "refused": seen[1]}


@pytest.fixture(scope="module")
def checker() -> SpecChecker:
    return SpecChecker()


def _request(x: Exchange, change: Callable[[Any], Any]) -> Exchange:
    return dataclasses.replace(x, body=orjson.dumps(change(orjson.loads(x.body))))


def _answer(x: Exchange, change: Callable[[Any], Any]) -> Exchange:
    return dataclasses.replace(x, response_body=orjson.dumps(change(orjson.loads(x.response_body))))


def _set(path: str, value: Any) -> Callable[[Any], Any]:
    def change(obj: Any) -> Any:
        node = obj
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value
        return obj

    return change


def test_conforming_gemini_traffic_passes(
    checker: SpecChecker, exchanges: dict[str, Exchange]
) -> None:
    for x in exchanges.values():
        result = checker.check(x)
        assert result.operation is not None
        assert result.operation.operation_id == "generativelanguage.models.generateContent"
        assert (x.status, result.response) in ((200, []), (400, []))
    assert checker.check(exchanges["ok"]).request == []


@pytest.mark.parametrize(
    ("change", "names"),
    [
        (_set("contents", "Say hi"), "contents"),
        (_set("generationConfig.maxOutputTokens", "twenty"), "maxOutputTokens"),
        (_set("generationConfig.max_tokens", 20), "max_tokens"),
        (_set("contents.0.role", 7), "role"),
        (lambda b: {"generationConfig": b["generationConfig"]}, "contents"),
    ],
)
def test_a_malformed_request_is_caught_naming_the_field(
    checker: SpecChecker, exchanges: dict[str, Exchange], change: Callable[[Any], Any], names: str
) -> None:
    errors = checker.check(_request(exchanges["ok"], change)).request
    assert errors and names in " ".join(errors)


@pytest.mark.parametrize(
    ("change", "names"),
    [
        (_set("candidates", {"text": "hi"}), "candidates"),
        (_set("candidates.0.finishReason", "DONE"), "finishReason"),
        (_set("usageMetadata.totalTokenCount", "5"), "totalTokenCount"),
        (_set("usageMetadata.outputTokens", 5), "outputTokens"),
        (_set("candidates.0.content.parts.0.text", None), "text"),
    ],
)
def test_a_malformed_answer_is_caught_naming_the_field(
    checker: SpecChecker, exchanges: dict[str, Exchange], change: Callable[[Any], Any], names: str
) -> None:
    errors = checker.check(_answer(exchanges["ok"], change)).response
    assert errors and names in " ".join(errors)


def test_a_malformed_error_body_is_caught(
    checker: SpecChecker, exchanges: dict[str, Exchange]
) -> None:
    refused = exchanges["refused"]
    assert checker.check(_answer(refused, _set("error.status", "BAD"))).response
    assert checker.check(_answer(refused, _set("error.code", 500))).response
    assert checker.check(_answer(refused, lambda b: b["error"])).response


def test_an_accepted_malformed_request_fails_the_test_that_sent_it(
    checker: SpecChecker, exchanges: dict[str, Exchange]
) -> None:
    recorder = Recorder(checker)
    recorder(_request(exchanges["ok"], _set("contents", "Say hi")))
    (violation,) = recorder.take()
    assert violation.part == "request" and "generateContent" in violation.where
    refused = Recorder(checker)
    refused(_request(exchanges["refused"], _set("contents", "Say hi")))
    assert refused.take() == [] and len(refused.request_findings) == 1


def test_a_path_gemini_does_not_have_is_caught(
    checker: SpecChecker, exchanges: dict[str, Exchange]
) -> None:
    x = dataclasses.replace(exchanges["ok"], path="/v1beta/models/gemini-2.5-flash:think")
    result = checker.check(x)
    assert result.operation is None and result.response


def test_the_field_lists_agree_with_the_discovery_document() -> None:
    schemas = discovery().data["schemas"]
    config = set(schemas["GenerationConfig"]["properties"])
    request = set(schemas["GenerateContentRequest"]["properties"])
    part = set(schemas["Part"]["properties"])
    assert config - {"_responseJsonSchema"} == GENERATION_CONFIG_FIELDS
    assert config == sim_gemini.GENERATION_CONFIG_FIELDS
    assert request == sim_gemini.GENERATE_CONTENT_FIELDS
    assert (
        request - {"model", "contents", "systemInstruction", "generationConfig"} == REQUEST_FIELDS
    )
    assert part == sim_gemini.PART_FIELDS


def test_required_fields_come_from_the_document_except_what_the_url_carries() -> None:
    schemas = discovery().data["schemas"]
    known = frozenset(schemas)
    request = json_schema(
        schemas["GenerateContentRequest"], owner="GenerateContentRequest", answer=False, known=known
    )
    assert request["required"] == ["contents"]  # "model" is in the URL
    assert request["additionalProperties"] is False
    stats = json_schema(schemas["BatchStats"], owner="BatchStats", answer=True, known=known)
    assert stats["properties"]["requestCount"] == {"type": "string", "pattern": "^-?[0-9]+$"}

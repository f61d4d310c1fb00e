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
        (_set("generationConfig.max_output_tokens", "20"), "max_output_tokens"),
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
    assert request["allOf"] == [{"required": ["contents"]}]  # "model" is in the URL
    assert request["additionalProperties"] is False
    stats = json_schema(schemas["BatchStats"], owner="BatchStats", answer=True, known=known)
    assert stats["properties"]["requestCount"] == {"type": "string", "pattern": "^-?[0-9]+$"}


@pytest.fixture(scope="module")
def batch_exchanges(sim_server: SimServer) -> Iterator[dict[str, Exchange]]:
    """The first 2xx exchange of each Gemini batch and file method, from a real batch run
    (inline and through a file)."""
    import asyncio

    from brainbatch import BatchAPIExecutor, BatchJob, BatchRequest
    from brainbatch.providers.gemini import GeminiProvider
    from brainbatch.sim.batches import SIM_BATCHES

    store = sim_server.app[SIM_BATCHES]
    store.reset()
    store.configure(validating_s=0.01, in_progress_s=0.05, finalizing_s=0.01)
    seen: list[Exchange] = []
    stop = sim_server.observe(seen.append)

    async def run() -> None:
        provider = GeminiProvider(base_url=sim_server.gemini_base_url, api_key="k")
        for inline_max in (None, 10):
            job = BatchJob(
                [
                    BatchRequest(prompt=f"q{i}", model="gemini-2.5-flash", custom_id=f"r{i}")
                    for i in range(3)
                ]
            )
            ex = BatchAPIExecutor(provider, poll_interval=0.02, max_poll_interval=0.05)
            if inline_max:
                ex.backend.inline_max_bytes = inline_max  # type: ignore[attr-defined]
            await ex.execute(job)
            assert job.n_success == 3
        await ex.backend.call_json("GET", "/v1beta/batches", what="list")
        await provider.aclose()

    try:
        asyncio.run(run())
    finally:
        stop()
        store.reset()
    checker = SpecChecker()
    by_op: dict[str, Exchange] = {}
    for x in seen:
        result = checker.check(x)
        assert result.operation is not None and not result.request and not result.response
        key = result.operation.operation_id.removeprefix("generativelanguage.")
        if key == "media.upload":
            key += (
                ".start" if "start" in x.headers.get("x-goog-upload-command", "") else ".finalize"
            )
        if key == "batches.get" and b'"done":true' not in x.response_body:
            continue
        if key == "batches.get" and b"inlinedResponses" not in x.response_body:
            key += ".file"
        by_op.setdefault(key, x)
    yield by_op


def test_a_batch_run_touches_every_method_it_needs_and_conforms(
    batch_exchanges: dict[str, Exchange],
) -> None:
    assert set(batch_exchanges) == {
        "models.generateContent",  # each request a batch ran, as the batch answered it
        "models.batchGenerateContent",
        "batches.get",
        "batches.get.file",
        "batches.list",
        "media.upload.start",
        "media.upload.finalize",
        "files.download",
    }


def _header(name: str, value: str | None) -> Callable[[Exchange], Exchange]:
    def change(x: Exchange) -> Exchange:
        headers = {k: v for k, v in x.response_headers.items() if k != name}
        if value is not None:
            headers[name] = value
        return dataclasses.replace(x, response_headers=headers)

    return change


def _lines(change: Callable[[Any], Any], which: str) -> Callable[[Exchange], Exchange]:
    def apply(x: Exchange) -> Exchange:
        raw = x.body if which == "request" else x.response_body
        lines = [orjson.loads(r) for r in raw.splitlines() if r.strip()]
        lines[0] = change(lines[0])
        out = b"\n".join(orjson.dumps(line) for line in lines)
        if which == "request":
            return dataclasses.replace(x, body=out)
        return dataclasses.replace(x, response_body=out)

    return apply


BATCH_MALFORMED: list[tuple[str, Callable[[Exchange], Exchange], str, str]] = [
    (
        "models.batchGenerateContent",
        lambda x: _request(x, _set("batch.displayName", 5)),
        "request",
        "displayName",
    ),
    (
        "models.batchGenerateContent",
        lambda x: _request(x, _set("batch.inputConfig.requests.requests.0.request.contents", "x")),
        "request",
        "contents",
    ),
    ("batches.get", lambda x: _answer(x, _set("metadata.state", "DONE")), "response", "state"),
    (
        "batches.get",
        lambda x: _answer(x, _set("metadata.batchStats.requestCount", 3)),
        "response",
        "requestCount",
    ),
    ("batches.get", lambda x: _answer(x, _set("metadata.@type", "x")), "response", "metadata"),
    (
        "batches.get",
        lambda x: _answer(x, _set("metadata.output.inlinedResponses.inlinedResponses.0.answer", 1)),
        "response",
        "answer",
    ),
    ("batches.list", lambda x: _answer(x, _set("operations.0.done", "yes")), "response", "done"),
    (
        "files.download",
        _lines(lambda line: {"response": line["response"]}, "response"),
        "response",
        "key",
    ),
    (
        "media.upload.finalize",
        _lines(lambda line: {**line, "request": {"contents": "x"}}, "request"),
        "request_lines",
        "contents",
    ),
    ("media.upload.start", _header("x-goog-upload-url", None), "response", "x-goog-upload-url"),
    (
        "media.upload.finalize",
        lambda x: _answer(x, _set("file.sizeBytes", 3)),
        "response",
        "sizeBytes",
    ),
]


@pytest.mark.parametrize(("method", "change", "part", "names"), BATCH_MALFORMED)
def test_a_malformed_batch_exchange_is_caught_naming_the_field(
    checker: SpecChecker,
    batch_exchanges: dict[str, Exchange],
    method: str,
    change: Callable[[Exchange], Exchange],
    part: str,
    names: str,
) -> None:
    result = checker.check(change(batch_exchanges[method]))
    errors = getattr(result, part)
    assert errors and names in " ".join(errors)

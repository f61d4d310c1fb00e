"""The OpenAPI check of the simulated traffic: it knows every operation the simulator serves,
passes what conforms and catches a malformed request and a malformed response of each."""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import orjson
import pytest

from brainbatch.sim import SimServer
from brainbatch.sim.batches import SIM_BATCHES
from brainbatch.sim.observe import Exchange
from brainbatch.sim.wire import ANTHROPIC_PARAMS, openai_error

from .conformance import Recorder, SpecChecker
from .documents import document

AV = {"anthropic-version": "2023-06-01"}
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
MESSAGE = {
    "model": "claude-haiku-4-5",
    "max_tokens": 20,
    "messages": [{"role": "user", "content": "hi"}],
}

#: Every operation the simulated server serves, by the documents' operationId.
SERVED = (
    "createChatCompletion",
    "listModels",
    "retrieveModel",
    "createFile",
    "retrieveFile",
    "downloadFile",
    "deleteFile",
    "createBatch",
    "listBatches",
    "retrieveBatch",
    "cancelBatch",
    "messages_post",
    "models_list",
    "models_get",
    "message_batches_post",
    "message_batches_list",
    "message_batches_retrieve",
    "message_batches_cancel",
    "message_batches_results",
    "message_batches_delete",
)


def _wait(get: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool]) -> None:
    deadline = time.monotonic() + 10
    while not done(get()) and time.monotonic() < deadline:
        time.sleep(0.02)


def _traffic(sim: SimServer) -> None:
    """One conforming call of every served operation (mostly through the official SDKs)."""
    oa = openai.OpenAI(base_url=sim.openai_base_url, api_key="sk-x", max_retries=0)
    an = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="k", max_retries=0)
    oa.chat.completions.create(**CHAT)
    oa.models.list()
    oa.models.retrieve("gpt-4o-mini")
    line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": CHAT}
    f = oa.files.create(file=("in.jsonl", io.BytesIO(orjson.dumps(line) + b"\n")), purpose="batch")
    oa.files.retrieve(f.id)
    batch = oa.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    oa.batches.list(limit=5)
    _wait(lambda: oa.batches.retrieve(batch.id).model_dump(), lambda b: b["status"] == "completed")
    out = oa.batches.retrieve(batch.id).output_file_id
    assert out is not None
    oa.files.content(out)
    other = oa.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    oa.batches.cancel(other.id)
    oa.files.delete(f.id)
    an.messages.create(**MESSAGE)
    an.models.list()
    an.models.retrieve("claude-haiku-4-5")
    mb = an.messages.batches.create(requests=[{"custom_id": "a", "params": MESSAGE}])
    an.messages.batches.list(limit=5)
    _wait(
        lambda: an.messages.batches.retrieve(mb.id).model_dump(),
        lambda b: b["processing_status"] == "ended",
    )
    list(an.messages.batches.results(mb.id))
    an.messages.batches.delete(mb.id)
    running = an.messages.batches.create(requests=[{"custom_id": "b", "params": MESSAGE}])
    an.messages.batches.cancel(running.id)


@pytest.fixture(scope="module")
def recorded(sim_server: SimServer) -> Iterator[dict[str, Exchange]]:
    """The first 2xx exchange of each operation in :func:`_traffic`."""
    checker = SpecChecker()
    seen: list[Exchange] = []
    stop = sim_server.observe(seen.append)
    store = sim_server.app[SIM_BATCHES]
    store.reset()
    store.configure(validating_s=0.01, in_progress_s=0.05, finalizing_s=0.01, cancelling_s=5)
    try:
        _traffic(sim_server)
    finally:
        stop()
        store.reset()
    by_op: dict[str, Exchange] = {}
    for x in seen:
        op = checker.operation(x.method, x.path, "anthropic-version" in x.headers)
        if x.source == "http" and op is not None and 200 <= x.status < 300:
            by_op.setdefault(op.operation_id, x)
    yield by_op


@pytest.fixture(scope="module")
def checker() -> SpecChecker:
    return SpecChecker()


def _json_body(x: Exchange, change: Callable[[Any], Any]) -> Exchange:
    return dataclasses.replace(x, body=orjson.dumps(change(orjson.loads(x.body))))


def _json_answer(x: Exchange, change: Callable[[Any], Any]) -> Exchange:
    return dataclasses.replace(x, response_body=orjson.dumps(change(orjson.loads(x.response_body))))


def _lines_answer(x: Exchange, change: Callable[[Any], Any]) -> Exchange:
    lines = [orjson.loads(raw) for raw in x.response_body.splitlines() if raw.strip()]
    lines[0] = change(lines[0])
    return dataclasses.replace(x, response_body=b"\n".join(orjson.dumps(x) for x in lines))


def _without(key: str) -> Callable[[Any], Any]:
    def change(obj: Any) -> Any:
        del obj[key]
        return obj

    return change


def _with(key: str, value: Any) -> Callable[[Any], Any]:
    def change(obj: Any) -> Any:
        obj[key] = value
        return obj

    return change


def _upload_purpose(x: Exchange) -> Exchange:
    return dataclasses.replace(
        x, body=x.body.replace(b'name="purpose"\r\n\r\nbatch', b'name="purpose"\r\n\r\nbogus')
    )


def _query(**changes: str) -> Callable[[Exchange], Exchange]:
    return lambda x: dataclasses.replace(x, query={**x.query, **changes})


#: operation -> (a malformed version of its recorded request, what the error names)
MALFORMED_REQUESTS: dict[str, tuple[Callable[[Exchange], Exchange], str]] = {
    "createChatCompletion": (lambda x: _json_body(x, _with("messages", "hi")), "messages"),
    "createFile": (_upload_purpose, "purpose"),
    "createBatch": (lambda x: _json_body(x, _with("completion_window", "1h")), "completion_window"),
    "listBatches": (_query(limit="many"), "limit"),
    "messages_post": (lambda x: _json_body(x, _without("max_tokens")), "max_tokens"),
    "message_batches_post": (lambda x: _json_body(x, _with("requests", [])), "requests"),
    "message_batches_list": (_query(limit="0"), "limit"),
    "models_list": (_query(limit="5000"), "limit"),
}

#: operations whose document admits every request the simulator can receive: no body and
#: only untyped string parameters (checked by test_these_operations_constrain_no_request)
UNCONSTRAINED = sorted(set(SERVED) - set(MALFORMED_REQUESTS))

#: operation -> a malformed version of its recorded response
MALFORMED_RESPONSES: dict[str, Callable[[Exchange], Exchange]] = {
    "createChatCompletion": lambda x: _json_answer(x, _without("choices")),
    "listModels": lambda x: _json_answer(x, _with("object", "models")),
    "retrieveModel": lambda x: _json_answer(x, _without("owned_by")),
    "createFile": lambda x: _json_answer(x, _with("bytes", "12")),
    "retrieveFile": lambda x: _json_answer(x, _without("filename")),
    "downloadFile": lambda x: _lines_answer(x, _without("custom_id")),
    "deleteFile": lambda x: _json_answer(x, _with("deleted", "yes")),
    "createBatch": lambda x: _json_answer(x, _with("status", "queued")),
    "listBatches": lambda x: _json_answer(x, _without("has_more")),
    "retrieveBatch": lambda x: _json_answer(x, _with("request_counts", {"total": 1})),
    "cancelBatch": lambda x: _json_answer(x, _with("created_at", "today")),
    "messages_post": lambda x: _json_answer(x, _with("role", "user")),
    "models_list": lambda x: _json_answer(x, _without("has_more")),
    "models_get": lambda x: _json_answer(x, _without("display_name")),
    "message_batches_post": lambda x: _json_answer(x, _with("processing_status", "done")),
    "message_batches_list": lambda x: _json_answer(x, _with("data", {})),
    "message_batches_retrieve": lambda x: _json_answer(x, _without("request_counts")),
    "message_batches_cancel": lambda x: _json_answer(x, _with("type", "batch")),
    "message_batches_results": lambda x: _lines_answer(x, _with("result", {"type": "bogus"})),
    "message_batches_delete": lambda x: _json_answer(x, _without("id")),
}


def test_the_traffic_covers_every_operation_the_simulator_serves(recorded):
    assert sorted(recorded) == sorted(SERVED)


@pytest.mark.parametrize("op", SERVED)
def test_a_conforming_exchange_passes(recorded, checker, op):
    result = checker.check(recorded[op])
    assert (result.operation and result.operation.operation_id) == op
    assert (result.request, result.response, result.request_lines) == ([], [], [])


@pytest.mark.parametrize("op", sorted(MALFORMED_REQUESTS))
def test_a_malformed_request_is_caught_naming_the_parameter(recorded, checker, op):
    malform, name = MALFORMED_REQUESTS[op]
    result = checker.check(malform(recorded[op]))
    assert result.request, f"{op}: the malformed request passed"
    assert name in " ".join(result.request)
    assert result.response == []


@pytest.mark.parametrize("op", UNCONSTRAINED)
def test_these_operations_constrain_no_request(checker, op):
    operation = checker.find(op)
    assert "requestBody" not in operation.data
    for param, _ in operation.parameters():
        assert param.get("schema", {}).get("type") == "string"
        assert not set(param.get("schema", {})) & {"enum", "pattern", "minLength", "maxLength"}


@pytest.mark.parametrize("op", sorted(MALFORMED_RESPONSES))
def test_a_malformed_response_is_caught(recorded, checker, op):
    result = checker.check(MALFORMED_RESPONSES[op](recorded[op]))
    assert result.response, f"{op}: the malformed response passed"
    assert result.request == []


def test_every_served_operation_has_a_malformed_response_case():
    assert sorted(MALFORMED_RESPONSES) == sorted(SERVED)


def test_an_accepted_malformed_request_is_a_violation_naming_the_operation(recorded):
    recorder = Recorder(SpecChecker())
    malform, _ = MALFORMED_REQUESTS["createChatCompletion"]
    recorder(malform(recorded["createChatCompletion"]))
    (violation,) = recorder.take()
    assert "createChatCompletion (POST /v1/chat/completions) request [HTTP 200]" in str(violation)
    assert "at messages" in str(violation)


def test_a_refused_malformed_request_is_only_recorded(recorded):
    recorder = Recorder(SpecChecker())
    malform, _ = MALFORMED_REQUESTS["createChatCompletion"]
    recorder(
        dataclasses.replace(
            malform(recorded["createChatCompletion"]),
            status=400,
            response_body=openai_error(400, "Invalid type for 'messages'.", "messages"),
        )
    )
    assert recorder.take() == []
    assert len(recorder.request_findings) == 1


def test_a_malformed_response_is_a_violation_naming_the_operation_and_the_field(recorded):
    recorder = Recorder(SpecChecker())
    recorder(MALFORMED_RESPONSES["retrieveBatch"](recorded["retrieveBatch"]))
    (violation,) = recorder.take()
    assert str(violation).startswith("retrieveBatch (GET /v1/batches/{batch_id}) response")
    assert "request_counts" in str(violation)


def test_an_answer_that_is_malformed_on_purpose_is_not_checked(recorded, checker):
    x = recorded["createChatCompletion"]
    result = checker.check(
        dataclasses.replace(x, response_body=x.response_body[:10], fault="malformed")
    )
    assert result.response == []


def test_an_undocumented_error_status_is_checked_against_the_error_schema(recorded, checker):
    x = dataclasses.replace(
        recorded["retrieveBatch"], status=404, response_body=b'{"error": "gone"}'
    )
    assert checker.check(x).response


def test_nullable_fields_of_the_documents_accept_null(checker, recorded):
    assert document("openai").nullable_rewritten > 0
    x = _json_body(recorded["createChatCompletion"], _with("prediction", None))
    assert checker.check(x).request == []


def test_the_lines_of_an_uploaded_batch_file_are_checked_against_their_endpoint(checker):
    bad = orjson.dumps(
        {
            "custom_id": "a",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": "no"},
        }
    )
    assert checker.input_lines(bad + b"\n") and "input line 1 body" in checker.input_lines(bad)[0]


@pytest.mark.spec_violations_expected
def test_a_nonconforming_answer_fails_the_test_that_caused_it(pytester, request, monkeypatch):
    # a child process: an in-process run would leave re-imported modules behind
    monkeypatch.setenv("PYTHONPATH", str(request.config.rootpath / "tests"))
    pytester.makeconftest((request.config.rootpath / "tests" / "conftest.py").read_text())
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import httpx
        import brainbatch.sim.server as server

        def test_broken_answer(sim, monkeypatch):
            monkeypatch.setattr(server, "chat_completion", lambda cid, *rest: {"id": cid})
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
            assert httpx.post(sim.url + "/v1/chat/completions", json=body).status_code == 200
        """
    )
    outcome = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    outcome.assert_outcomes(passed=1, errors=1)
    text = outcome.stdout.str()
    assert "createChatCompletion (POST /v1/chat/completions) response [HTTP 200]" in text
    assert '"choices" is a required property' in text


def test_a_request_without_a_document_operation_answered_2xx_is_a_violation(checker):
    x = Exchange("http", "GET", "/v1/nowhere", {}, {}, b"", 200, {}, b"{}")
    assert checker.check(x).response


def test_the_simulator_takes_the_anthropic_parameters_the_document_takes():
    schema = document("anthropic").data["components"]["schemas"]["CreateMessageParams"]
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == ANTHROPIC_PARAMS

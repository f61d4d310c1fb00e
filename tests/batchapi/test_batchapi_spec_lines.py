"""brainbatch's per-line parsers read every result line the documents allow.

Lines are generated from the schemas (``tests/spec/generate.py``; each one checked valid
against them): Anthropic results-file lines from ``MessageBatchIndividualResponse`` of
Anthropic's document (one variant per result type), OpenAI output/error-file lines from the
Batch API's output-line shape whose bodies are the document's ``CreateChatCompletionResponse``
/ ``ErrorResponse`` (``tests/spec/conformance.py``: OpenAI's document has no schema for the
line itself). Each line must parse to an ``Outcome`` without raising, of the kind the line
says.
"""

from __future__ import annotations

from typing import Any

import pytest
from spec.conformance import OPENAI_OUTPUT_LINE
from spec.documents import document, pointer
from spec.generate import instances

from brainbatch.batchapi.anthropic import anthropic_outcome
from brainbatch.batchapi.base import Outcome
from brainbatch.batchapi.openai import openai_outcome

N = 120  # lines per variant

_OA = "urn:brainbatch-spec:openai"


def _oa(name: str) -> dict[str, str]:
    return {"$ref": _OA + pointer("components", "schemas", name)}


def _openai_line(response: Any, error: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["id", "custom_id", "response", "error"],
        "properties": {
            "id": {"type": "string"},
            "custom_id": {"type": "string"},
            "response": response,
            "error": error,
        },
    }


def _response(status: dict[str, Any], body: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["status_code", "request_id", "body"],
        "properties": {"status_code": status, "request_id": {"type": "string"}, "body": body},
    }


def _error(code: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": code, "message": {"type": "string"}},
    }


#: variant -> the schema its lines are drawn from (each line also valid as a whole line)
OPENAI_VARIANTS: dict[str, dict[str, Any]] = {
    "success": _openai_line(
        _response({"const": 200}, _oa("CreateChatCompletionResponse")), {"type": "null"}
    ),
    "http_error": _openai_line(
        _response({"enum": [400, 401, 403, 404, 409, 422, 429, 500, 503]}, _oa("ErrorResponse")),
        {"type": "null"},
    ),
    "expired": _openai_line({"type": "null"}, _error({"const": "batch_expired"})),
    "cancelled": _openai_line({"type": "null"}, _error({"const": "batch_cancelled"})),
    "not_run_error": _openai_line({"type": "null"}, _error({"type": "string"})),
}

ANTHROPIC_RESULTS = ("SucceededResult", "ErroredResult", "CanceledResult", "ExpiredResult")


def _openai_expected(line: dict[str, Any]) -> tuple[str, Any]:
    """What the line says: the kind of Outcome and the body (success) or error type."""
    resp, err = line["response"], line["error"]
    if resp is not None and resp["status_code"] == 200:
        return "success", resp["body"]
    if resp is not None:
        detail = resp["body"]["error"]
        return "error", detail["type"] or detail["code"] or f"http_{resp['status_code']}"
    if err["code"] == "batch_expired":
        return "expired", "expired"
    if err["code"] == "batch_cancelled":
        return "not_run", "cancelled"
    return "error", err["code"] or ("error" if err["message"] else "malformed")


def _anthropic_expected(line: dict[str, Any]) -> tuple[str, Any]:
    result = line["result"]
    kind = result["type"]
    if kind == "succeeded":
        return "success", result["message"]
    if kind == "canceled":
        return "not_run", "cancelled"
    if kind == "expired":
        return "expired", "expired"
    return "error", result["error"]["error"]["type"]


def _check(parse: Any, expected: Any, lines: list[dict[str, Any]]) -> list[str]:
    """Every line that does not parse to the Outcome it says, with why."""
    wrong: list[str] = []
    for line in lines:
        try:
            got: Outcome = parse(line)
        except Exception as e:
            wrong.append(f"{line!r} raised {e!r}")
            continue
        kind, detail = expected(line)
        ok = got.custom_id == line["custom_id"] and got.kind == kind
        ok = ok and (got.body == detail if kind == "success" else got.error_type == detail)
        ok = ok and (kind == "success" or isinstance(got.error, str))
        if not ok:
            wrong.append(f"{line!r} parsed to {got!r}; the line says {kind} ({detail!r})")
    return wrong


@pytest.mark.parametrize("variant", sorted(OPENAI_VARIANTS))
def test_every_spec_valid_openai_output_line_parses_to_its_outcome(variant):
    doc = document("openai")
    lines = instances(doc, OPENAI_VARIANTS[variant], N, f"openai-line-{variant}")
    whole = doc.compile(OPENAI_OUTPUT_LINE, "brainbatch:openai-output-line")
    assert all(whole.is_valid(line) for line in lines)
    assert _check(openai_outcome, _openai_expected, lines) == []


@pytest.mark.parametrize("result", ANTHROPIC_RESULTS)
def test_every_spec_valid_anthropic_result_line_parses_to_its_outcome(result):
    doc = document("anthropic")
    schema = {
        "type": "object",
        "required": ["custom_id", "result"],
        "properties": {
            "custom_id": {"type": "string"},
            "result": {"$ref": doc.uri + pointer("components", "schemas", result)},
        },
    }
    lines = instances(doc, schema, N, f"anthropic-line-{result}")
    whole = doc.validator(pointer("components", "schemas", "MessageBatchIndividualResponse"))
    assert all(whole.is_valid(line) for line in lines)
    assert _check(anthropic_outcome, _anthropic_expected, lines) == []


def test_the_generated_lines_vary():
    doc = document("anthropic")
    schema = {"$ref": doc.uri + pointer("components", "schemas", "MessageBatchIndividualResponse")}
    lines = instances(doc, schema, 60, "anthropic-line-any")
    assert {line["result"]["type"] for line in lines} == {
        "succeeded",
        "errored",
        "canceled",
        "expired",
    }
    assert len({repr(line) for line in lines}) >= 40

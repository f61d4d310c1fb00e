"""One status-to-error map for real-time requests and Batch API calls, over real sockets to a
hand-written local server."""

from __future__ import annotations

import pytest
from http_testutil import KEY, LocalServer, script

from brainbatch import BatchRequest
from brainbatch.batchapi import OpenAIBatchBackend
from brainbatch.errors import (
    AuthenticationError,
    PermanentError,
    ProviderError,
    RateLimitError,
    ServerError,
    TransientError,
)
from brainbatch.limits import RetryPolicy
from brainbatch.providers.openai import OpenAIProvider

ONCE = RetryPolicy(max_attempts=1)

EXPECTED: dict[int, tuple[type[ProviderError], str]] = {
    400: (PermanentError, "invalid_request"),
    401: (AuthenticationError, "authentication"),
    403: (AuthenticationError, "authentication"),
    404: (PermanentError, "invalid_request"),
    408: (TransientError, "timeout"),
    409: (TransientError, "conflict"),
    422: (PermanentError, "invalid_request"),
    429: (RateLimitError, "rate_limit"),
    500: (ServerError, "server_error"),
    503: (ServerError, "server_error"),
    529: (ServerError, "server_error"),
}


def error_body(message: str = "it went wrong", kind: str = "some_error") -> dict[str, object]:
    return {"error": {"message": message, "type": kind}}


def at(srv: LocalServer, **kw: object) -> OpenAIProvider:
    kw.setdefault("retry", ONCE)
    return OpenAIProvider(base_url=srv.url + "/v1", api_key=KEY, **kw)  # type: ignore[arg-type]


async def request_error(srv: LocalServer) -> ProviderError:
    async with at(srv) as p:
        with pytest.raises(ProviderError) as info:
            await p(BatchRequest(prompt="Hi", model="gpt-4o-mini"))
    return info.value


async def poll_error(srv: LocalServer) -> ProviderError:
    async with at(srv) as p:
        backend = OpenAIBatchBackend(p, retry=ONCE)
        with pytest.raises(ProviderError) as info:
            await backend.call_json("GET", "/batches/b1", what="status of batch b1")
    return info.value


@pytest.mark.parametrize("status", sorted(EXPECTED))
async def test_a_status_means_the_same_error_for_requests_and_batch_calls(status: int) -> None:
    async with LocalServer(script((status, {}, error_body()))) as srv:
        realtime, batch = await request_error(srv), await poll_error(srv)
    cls, kind = EXPECTED[status]
    for error in (realtime, batch):
        assert type(error) is cls and error.kind == kind and error.status_code == status


@pytest.mark.parametrize("status", [408, 409])
async def test_408_and_409_on_a_batch_poll_are_retried(status: int) -> None:
    answers = script((status, {}, error_body()), (200, {}, {"id": "b1", "status": "completed"}))
    async with LocalServer(answers) as srv, at(srv) as p:
        backend = OpenAIBatchBackend(p, retry=RetryPolicy(base_delay_s=0.001, max_delay_s=0.01))
        body = await backend.call_json("GET", "/batches/b1", what="status of batch b1")
    assert body["status"] == "completed" and len(srv.seen) == 2


async def test_a_401_message_ends_the_providers_sentence_once() -> None:
    refused = error_body("Incorrect API key provided.", "invalid_request_error")
    async with LocalServer(script((401, {}, refused))) as srv:
        text = str(await request_error(srv))
    assert "provided. The provider refused the API key" in text and ".." not in text


async def test_a_batch_401_says_which_key_was_refused() -> None:
    async with LocalServer(script((401, {}, error_body("bad key")))) as srv:
        error = await poll_error(srv)
    assert isinstance(error, AuthenticationError)
    assert "OPENAI_API_KEY" in str(error) and "status of batch b1" in str(error)


async def test_a_batch_call_error_hides_a_key_the_provider_echoes() -> None:
    echo = error_body(f"key {KEY} is not allowed here")
    async with LocalServer(script((400, {}, echo))) as srv:
        error = await poll_error(srv)
    assert KEY not in str(error) and "is not allowed here" in str(error)


async def test_a_retry_after_on_a_503_is_kept_on_the_error() -> None:
    async with LocalServer(script((503, {"Retry-After": "7"}, error_body()))) as srv:
        realtime, batch = await request_error(srv), await poll_error(srv)
    assert realtime.retry_after == batch.retry_after == 7.0


async def test_the_providers_error_type_and_request_id_are_in_the_error() -> None:
    body = error_body("Unknown parameter: 'foo'.", "invalid_request_error")
    async with LocalServer(script((400, {"x-request-id": "req_42"}, body))) as srv:
        error = await request_error(srv)
    assert str(error) == "openai HTTP 400: invalid_request_error: Unknown parameter: 'foo'."
    assert error.provider_request_id == "req_42"

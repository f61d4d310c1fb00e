"""The one retry rule (RetryPolicy): for real-time requests and every Batch API call.

The rule itself is checked directly; its use by Batch API calls over real sockets to
hand-written local servers (a poll that gets a 429 with Retry-After, a create that gets a
503...). Times are the server's own arrival times.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from http_testutil import KEY, LocalServer, Seen, free_port, script

from brainbatch import BatchRequest
from brainbatch.batchapi import OpenAIBatchBackend
from brainbatch.errors import (
    ConnectionFailed,
    PermanentError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from brainbatch.limits import RetryPolicy, retry_allowed
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim import SimServer

FAST = RetryPolicy(max_attempts=4, base_delay_s=0.001, max_delay_s=0.005)
BATCH = {"id": "batch_1", "status": "validating", "input_file_id": "file-1"}
OVERLOADED = {"error": {"message": "overloaded", "type": "server_error"}}


def backend_at(url: str, retry: RetryPolicy = FAST, **kw: object) -> OpenAIBatchBackend:
    provider = OpenAIProvider(base_url=url + "/v1", api_key=KEY, **kw)  # type: ignore[arg-type]
    return OpenAIBatchBackend(provider, retry=retry)


async def create(backend: OpenAIBatchBackend) -> dict[str, object]:
    return await backend.call_json(
        "POST",
        "/batches",
        what="creation of the batch",
        idempotent=False,
        json={"input_file_id": "file-1", "endpoint": "/v1/chat/completions"},
    )


# -- the rule ---------------------------------------------------------------------------------


def test_settings_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        RetryPolicy(3)  # type: ignore[misc]


def test_no_retry_after_the_last_attempt() -> None:
    policy = RetryPolicy(max_attempts=3)
    error = ServerError("503")
    assert policy.retry_in(error, 2) is not None and policy.retry_in(error, 3) is None


def test_a_permanent_error_is_never_retried() -> None:
    assert RetryPolicy().retry_in(PermanentError("400"), 1) is None


def test_the_providers_hint_sets_the_wait() -> None:
    wait = RetryPolicy().retry_in(ServerError("503", retry_after=2.0), 1)
    assert wait is not None and 2.0 <= wait <= 2.2


def test_no_retry_when_the_wait_would_pass_the_total_bound() -> None:
    policy = RetryPolicy(max_total_wait_s=1.0)
    error = RateLimitError("429", retry_after=0.6)
    assert policy.retry_in(error, 1, waited=0.0) is not None
    assert policy.retry_in(error, 2, waited=0.6) is None


@pytest.mark.parametrize(
    ("error", "allowed"),
    [
        (ConnectionFailed("refused", maybe_sent=False), True),
        (ConnectionFailed("connect timeout", kind="timeout", maybe_sent=False), True),
        (RateLimitError("429"), True),
        (ConnectionFailed("read timeout", kind="timeout"), False),
        (ConnectionFailed("reset mid-answer"), False),
        (ServerError("503"), False),
        (PermanentError("400"), False),
    ],
)
def test_a_call_that_must_not_run_twice_is_retried_only_if_the_provider_did_not_act(
    error: ProviderError, allowed: bool
) -> None:
    assert retry_allowed(error, idempotent=False) is allowed


async def test_attempts_go_round_until_the_call_succeeds() -> None:
    outcomes: list[Exception | str] = [ServerError("a"), ServerError("b"), "ok"]
    got = None
    async for attempt in FAST.attempts():
        with attempt:
            out = outcomes.pop(0)
            if isinstance(out, Exception):
                raise out
            got = (out, attempt.number)
    assert got == ("ok", 3)


async def test_attempts_raise_a_permanent_error_at_once_with_its_count() -> None:
    with pytest.raises(PermanentError) as info:
        async for attempt in FAST.attempts():
            with attempt:
                raise PermanentError("400")
    assert info.value.attempts == 1


async def test_attempts_raise_the_last_transient_error_with_its_count() -> None:
    with pytest.raises(ServerError) as info:
        async for attempt in FAST.attempts():
            with attempt:
                raise ServerError("503")
    assert info.value.attempts == FAST.max_attempts


async def test_attempts_let_other_exceptions_through_untouched() -> None:
    tries = 0
    with pytest.raises(KeyError):
        async for attempt in FAST.attempts():
            with attempt:
                tries += 1
                raise KeyError("bug")
    assert tries == 1


# -- real-time requests -----------------------------------------------------------------------


async def test_a_request_stops_retrying_at_the_total_wait_bound(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider]
) -> None:
    sim.configure(fail_first_n=100, fail_status=429, retry_after=0.2)
    policy = RetryPolicy(max_attempts=10, max_total_wait_s=0.5)
    with pytest.raises(RateLimitError) as info:
        await openai_at(retry=policy)(BatchRequest(prompt="Hi", model="gpt-4o-mini"))
    # two waits of 0.2-0.22 s fit in 0.5 s, a third does not
    assert info.value.attempts == 3 and sim.count("/v1/chat/completions") == 3


# -- Batch API calls --------------------------------------------------------------------------


async def test_a_batch_poll_honours_retry_after_then_succeeds() -> None:
    answers = script(
        (429, {"Retry-After": "1"}, {"error": {"message": "slow down", "type": "rate_limit"}}),
        (200, {}, BATCH),
    )
    async with LocalServer(answers) as srv:
        backend = backend_at(srv.url)
        body = await backend.call_json("GET", "/batches/batch_1", what="status of batch_1")
        await backend.provider.aclose()  # type: ignore[attr-defined]
    first, second = srv.seen
    assert body["id"] == "batch_1"
    assert second.t - first.t >= 1.0


async def test_a_503_on_batch_create_is_not_sent_again() -> None:
    async with LocalServer(script((503, {}, OVERLOADED))) as srv:
        backend = backend_at(srv.url)
        with pytest.raises(ServerError) as info:
            await create(backend)
        await backend.provider.aclose()  # type: ignore[attr-defined]
    assert len(srv.seen) == 1
    assert "not sent again" in str(info.value) and "batch list" in str(info.value)


async def test_a_read_timeout_on_batch_create_is_not_sent_again() -> None:
    async def slow(seen: Seen) -> tuple[int, dict[str, str], object]:
        await asyncio.sleep(1.0)
        return 200, {}, BATCH

    async with LocalServer(slow) as srv:
        backend = backend_at(srv.url, timeout=0.2)
        with pytest.raises(ConnectionFailed) as info:
            await create(backend)
        await backend.provider.aclose()  # type: ignore[attr-defined]
    assert info.value.kind == "timeout" and len(srv.seen) == 1


async def test_a_429_on_batch_create_is_sent_again_after_the_hint() -> None:
    limited = {"error": {"message": "too many batches", "type": "rate_limit_error"}}
    answers = script((429, {"retry-after-ms": "200"}, limited), (200, {}, BATCH))
    async with LocalServer(answers) as srv:
        backend = backend_at(srv.url)
        body = await create(backend)
        await backend.provider.aclose()  # type: ignore[attr-defined]
    assert body["id"] == "batch_1" and [s.method for s in srv.seen] == ["POST", "POST"]
    assert srv.seen[1].t - srv.seen[0].t >= 0.2


async def test_a_refused_connection_on_batch_create_is_tried_again() -> None:
    backend = backend_at(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ConnectionFailed) as info:
        await create(backend)
    await backend.provider.aclose()  # type: ignore[attr-defined]
    assert info.value.maybe_sent is False and info.value.attempts == FAST.max_attempts


async def test_a_batch_download_that_fails_to_open_is_tried_again() -> None:
    answers = script((503, {}, OVERLOADED), (200, {}, b'{"a": 1}\n{"b": 2}\n'))
    async with LocalServer(answers) as srv:
        backend = backend_at(srv.url)
        lines = [x async for x in backend.stream_lines("/files/f1/content", what="download")]
        await backend.provider.aclose()  # type: ignore[attr-defined]
    assert lines == [b'{"a": 1}', b'{"b": 2}'] and len(srv.seen) == 2


async def test_a_batch_poll_that_keeps_failing_raises_after_max_attempts() -> None:
    async with LocalServer(script((502, {}, OVERLOADED))) as srv:
        backend = backend_at(srv.url)
        with pytest.raises(ServerError) as info:
            await backend.call_json("GET", "/batches/batch_1", what="status of batch_1")
        await backend.provider.aclose()  # type: ignore[attr-defined]
    assert info.value.attempts == len(srv.seen) == FAST.max_attempts

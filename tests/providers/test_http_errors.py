"""Each error class, over real loopback sockets against the SimServer."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from brainbatch import BatchRequest
from brainbatch.errors import (
    AuthenticationError,
    ConnectionFailed,
    PermanentError,
    RateLimitError,
    ServerError,
    TransientError,
)
from brainbatch.providers.anthropic import AnthropicProvider
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim import SimServer

CHAT = "/v1/chat/completions"


def req(text: str = "Hello there") -> BatchRequest:
    return BatchRequest(prompt=text, model="gpt-4o-mini")


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_client_errors_are_permanent_and_not_retried(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider], status: int
) -> None:
    sim.configure(fail_first_n=3, fail_status=status)
    with pytest.raises(PermanentError) as info:
        await openai_at()(req())
    assert info.value.status_code == status
    assert info.value.attempts == 1  # type: ignore[attr-defined]
    assert sim.count(CHAT) == 1


async def test_an_invalid_parameter_is_a_permanent_error_naming_it(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider]
) -> None:
    bad = BatchRequest(prompt="Hi", model="gpt-4o-mini", params={"temperature": 7})
    with pytest.raises(PermanentError, match="temperature"):
        await openai_at()(bad)
    assert sim.count(CHAT) == 1


async def test_a_refused_key_is_an_authentication_error_that_stops_the_job(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider]
) -> None:
    sim.configure(api_key="the-right-key")
    with pytest.raises(AuthenticationError) as info:
        await openai_at()(req())
    assert info.value.status_code == 401 and sim.count(CHAT) == 1


@pytest.mark.parametrize(
    ("status", "kind"),
    [(500, ServerError), (503, ServerError), (408, TransientError), (409, TransientError)],
)
async def test_transient_statuses_are_retried_until_success(
    sim: SimServer,
    openai_at: Callable[..., OpenAIProvider],
    status: int,
    kind: type[Exception],
) -> None:
    sim.configure(fail_first_n=2, fail_status=status)
    out = await openai_at()(req())
    assert out.attempts == 3
    assert [r.status for r in sim.log] == [status, status, 200]


async def test_the_final_error_after_max_attempts_carries_the_attempt_count(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider]
) -> None:
    sim.configure(fail_first_n=10, fail_status=502)
    with pytest.raises(ServerError) as info:
        await openai_at()(req())
    assert info.value.attempts == 4  # type: ignore[attr-defined]
    assert sim.count(CHAT) == 4


async def test_retry_after_ms_is_honoured_between_attempts(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider]
) -> None:
    sim.configure(fail_first_n=1, fail_status=429, retry_after=0.3)
    out = await openai_at()(req())
    first, second = sim.log
    assert (first.status, second.status, out.attempts) == (429, 200, 2)
    assert second.t - first.t >= 0.3  # the server's own arrival times


async def test_a_429_that_never_clears_is_a_rate_limit_error_with_the_hint(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider]
) -> None:
    from brainbatch.limits import RetryPolicy

    sim.configure(fail_first_n=5, fail_status=429, retry_after=0.05)
    with pytest.raises(RateLimitError) as info:
        await openai_at(retry=RetryPolicy(max_attempts=2))(req())
    assert info.value.retry_after == pytest.approx(0.05)
    assert info.value.attempts == 2  # type: ignore[attr-defined]


async def test_a_hanging_server_is_a_timeout_retried_then_reported(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider]
) -> None:
    sim.configure(hang=1.0, max_hang_s=2.0)
    with pytest.raises(ConnectionFailed) as info:
        await openai_at(timeout=0.2)(req())
    assert info.value.kind == "timeout"
    assert info.value.attempts == 4  # type: ignore[attr-defined]


async def test_a_dropped_connection_is_a_connection_failure(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider]
) -> None:
    sim.configure(drop=1.0)
    with pytest.raises(ConnectionFailed) as info:
        await openai_at()(req())
    assert info.value.kind == "connection" and sim.count(CHAT) == 4


async def test_a_malformed_json_body_is_retried_and_then_reported(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider]
) -> None:
    sim.configure(malformed=1.0)
    with pytest.raises(ConnectionFailed) as info:
        await openai_at()(req())
    assert info.value.kind == "malformed_response" and sim.count(CHAT) == 4


async def test_a_refused_connection_is_a_connection_failure() -> None:
    import socket

    from http_testutil import FAST_RETRY, KEY

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with OpenAIProvider(
        base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, retry=FAST_RETRY
    ) as p:
        with pytest.raises(ConnectionFailed) as info:
            await p(req())
    assert info.value.kind == "connection"


async def test_anthropic_refused_key_is_an_authentication_error(
    sim: SimServer, anthropic_at: Callable[..., AnthropicProvider]
) -> None:
    sim.configure(api_key="the-right-key")
    with pytest.raises(AuthenticationError) as info:
        await anthropic_at()(BatchRequest(prompt="Hi", model="claude-sonnet-4-5"))
    assert info.value.status_code == 401 and "invalid x-api-key" in str(info.value)


async def test_anthropic_overload_is_retried_until_success(
    sim: SimServer, anthropic_at: Callable[..., AnthropicProvider]
) -> None:
    sim.configure(fail_first_n=2, fail_status=529)
    out = await anthropic_at()(BatchRequest(prompt="Hi", model="claude-sonnet-4-5"))
    assert out.attempts == 3 and [r.status for r in sim.log] == [529, 529, 200]


async def test_retries_are_logged_at_debug_level_without_the_key(
    sim: SimServer, openai_at: Callable[..., OpenAIProvider], caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from http_testutil import KEY

    caplog.set_level(logging.DEBUG, logger="brainbatch.http")
    sim.configure(fail_first_n=1, fail_status=503)
    await openai_at()(req())
    assert "attempt 1 failed (server_error" in caplog.text and KEY not in caplog.text

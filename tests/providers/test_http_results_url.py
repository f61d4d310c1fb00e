"""Where a Batch API download goes: ``results_url`` values resolved against ``base_url`` (urljoin
semantics), and the key never sent to another origin. Over real sockets to hand-written local
servers."""

from __future__ import annotations

import pytest
from http_testutil import KEY, LocalServer, script

from brainbatch.batchapi import AnthropicBatchBackend, OpenAIBatchBackend
from brainbatch.batchapi.base import Outcome
from brainbatch.batchapi.records import ProviderBatch
from brainbatch.errors import PermanentError
from brainbatch.limits import RetryPolicy
from brainbatch.providers.anthropic import AnthropicProvider
from brainbatch.providers.openai import OpenAIProvider

ONCE = RetryPolicy(max_attempts=1)
RESULTS = (
    b'{"custom_id": "r0", "result": {"type": "succeeded", "message": {"id": "m"}}}\n'
    b'{"custom_id": "r1", "result": {"type": "canceled"}}\n'
)


async def outcomes(base_url: str, results_url: str | None) -> list[Outcome]:
    async with AnthropicProvider(base_url=base_url, api_key=KEY) as provider:
        backend = AnthropicBatchBackend(provider, retry=ONCE)
        record = ProviderBatch(provider="anthropic", batch_id="msgbatch_1", results_url=results_url)
        return [out async for out in backend.outcomes(record)]


async def refused(base_url: str, results_url: str) -> PermanentError:
    with pytest.raises(PermanentError) as info:
        await outcomes(base_url, results_url)
    return info.value


DOCUMENTED = "/v1/messages/batches/msgbatch_1/results"


@pytest.mark.parametrize(
    ("prefix", "results_url", "path"),
    [
        ("", "msgbatch_1/results", "/msgbatch_1/results"),
        ("/anthropic", "msgbatch_1/results", "/anthropic/msgbatch_1/results"),
        ("", DOCUMENTED, DOCUMENTED),
        ("/gw", "/gw" + DOCUMENTED, "/gw" + DOCUMENTED),
        ("", "results?page=2", "/results?page=2"),
        ("", "{origin}" + DOCUMENTED, DOCUMENTED),
    ],
)
async def test_a_results_url_is_resolved_against_base_url(
    prefix: str, results_url: str, path: str
) -> None:
    async with LocalServer(script((200, {}, RESULTS))) as srv:
        base = srv.url + prefix
        got = await outcomes(base, results_url.replace("{origin}", srv.url))
    assert [s.path for s in srv.seen] == [path]
    assert srv.seen[0].headers["x-api-key"] == KEY
    assert [(o.custom_id, o.kind) for o in got] == [("r0", "success"), ("r1", "not_run")]


async def test_without_a_results_url_the_documented_path_is_used() -> None:
    async with LocalServer(script((200, {}, RESULTS))) as srv:
        await outcomes(srv.url, None)
    assert [s.path for s in srv.seen] == [DOCUMENTED]


@pytest.mark.parametrize("form", ["{other}/x", "//127.0.0.1:{port}/x", "https://{host}/x"])
async def test_a_results_url_on_another_origin_is_refused_and_gets_no_key(form: str) -> None:
    async with (
        LocalServer(script((200, {}, RESULTS))) as srv,
        LocalServer(script((200, {}, RESULTS))) as other,
    ):
        port = other.url.rsplit(":", 1)[1]
        results_url = form.format(other=other.url, port=port, host=srv.url.split("//")[1])
        error = await refused(srv.url, results_url)
    assert srv.seen == [] and other.seen == []
    assert error.kind == "bad_url" and repr(results_url) in str(error)
    assert "not on the origin of base_url" in str(error)


@pytest.mark.parametrize(
    ("results_url", "why"),
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("ftp://127.0.0.1/results", "its scheme is 'ftp'"),
        ("file:///etc/passwd", "its scheme is 'file'"),
        ("javascript:alert(1)", "its scheme is 'javascript'"),
        ("http://", "it has no host"),
        ("http://[::1/results", "it is not a valid URL"),
        ("http://127.0.0.1:99999/results", "it is not a valid URL"),
        ("msgbatch 1/results", "spaces or control characters"),
        ("http://user:pw@127.0.0.1/results", "a user name or password"),
    ],
)
async def test_an_unusable_results_url_is_a_clear_error(results_url: str, why: str) -> None:
    async with (
        LocalServer(script((200, {}, RESULTS))) as srv,
        AnthropicProvider(base_url=srv.url, api_key=KEY) as provider,
    ):
        backend = AnthropicBatchBackend(provider, retry=ONCE)
        with pytest.raises(PermanentError) as info:
            async for _ in backend.stream_lines(results_url, what="results of batch b1"):
                pass
    assert srv.seen == []
    text = str(info.value)
    assert text.startswith(f"results of batch b1: anthropic: unusable URL {results_url!r}")
    assert why in text and info.value.kind == "bad_url"


async def test_a_key_in_a_refused_results_url_is_not_repeated() -> None:
    error = await refused("http://127.0.0.1:9", "https://elsewhere.example/r?key=TOPSECRET99")
    assert "TOPSECRET99" not in str(error) and "elsewhere.example" in str(error)


@pytest.mark.parametrize("path", ["/files/f1/content", "/v1/files/f1/content"])
async def test_api_paths_under_a_versioned_base_url(path: str) -> None:
    async with (
        LocalServer(script((200, {}, b'{"a": 1}\n'))) as srv,
        OpenAIProvider(base_url=srv.url + "/v1", api_key=KEY) as provider,
    ):
        backend = OpenAIBatchBackend(provider, retry=ONCE)
        lines = [x async for x in backend.stream_lines(path, what="download")]
    assert lines == [b'{"a": 1}'] and [s.path for s in srv.seen] == ["/v1/files/f1/content"]

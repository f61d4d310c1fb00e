"""Replica pools (``base_url=[url1, url2]``, brainbatch/providers/pool.py): requests spread over
two real simulated servers on 127.0.0.1 by outstanding counts; a replica that fails is left
out, the failed attempt goes to the other, and a replica that recovers gets traffic again."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pandas as pd
import pytest
from http_testutil import FAST_RETRY, KEY, LocalServer, free_port, script

import brainbatch as bb
from brainbatch import BatchRequest
from brainbatch.errors import InputError, PermanentError
from brainbatch.limits import RetryPolicy
from brainbatch.providers.http import HttpSession
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.providers.pool import Replica, ReplicaPool
from brainbatch.runner import RunSettings
from brainbatch.sim import SimServer
from brainbatch.store import JobStore

CHAT = "/v1/chat/completions"


@pytest.fixture
def pair() -> Iterator[tuple[SimServer, SimServer]]:
    """Two simulated servers that both want the test key."""
    with SimServer(api_key=KEY) as a, SimServer(api_key=KEY) as b:
        yield a, b


@pytest.fixture
async def pool_of(
    pair: tuple[SimServer, SimServer],
) -> AsyncIterator[OpenAIProvider]:
    a, b = pair
    provider = OpenAIProvider(
        base_url=[a.openai_base_url, b.openai_base_url],
        api_key=KEY,
        retry=FAST_RETRY,
        max_concurrent=8,
    )
    yield provider
    await provider.aclose()


def requests(n: int, tag: str = "row") -> list[BatchRequest]:
    return [BatchRequest(prompt=f"{tag} {i}", model="gpt-4o-mini") for i in range(n)]


async def send_all(provider: OpenAIProvider, reqs: list[BatchRequest]) -> list[str]:
    outs = await asyncio.gather(*(provider(r) for r in reqs))
    return [str(o.result) for o in outs]


def answered(*servers: SimServer) -> Counter[str]:
    """Requests answered with 200 per body, over all ``servers``."""
    total: Counter[str] = Counter()
    for s in servers:
        total.update(s.received_bodies_count_by_hash(status=200))
    return total


# -- checks before anything is sent ----------------------------------------------------------


@pytest.mark.parametrize(
    ("urls", "says"),
    [
        ([], "base_url is an empty list"),
        (["http://127.0.0.1:1/v1", "ftp://127.0.0.1:2/v1"], "base_url[1] must start with http"),
        (["http://127.0.0.1:1/v1", "http://127.0.0.1:1/v1/"], "base_url[1] 'http://127.0.0.1:1"),
        (["http://u:pw@127.0.0.1:1/v1", "http://127.0.0.1:2/v1"], "base_url[0] carries cred"),
        ([7, "http://127.0.0.1:2/v1"], "base_url[0] must be a URL string"),
    ],
    ids=["empty", "not-http", "duplicate", "credentials", "not-a-string"],
)
def test_a_bad_base_url_list_is_an_input_error_naming_it(urls: list[object], says: str) -> None:
    with pytest.raises(InputError, match=r"^" + re.escape(says)):
        OpenAIProvider(base_url=urls, api_key=KEY)  # type: ignore[arg-type]


def test_run_settings_refuse_a_bad_base_url_list_before_the_run() -> None:
    with pytest.raises(InputError, match=r"base_url\[1\] .* is given twice"):
        RunSettings(
            model="gpt-4o-mini",
            provider="openai",
            provider_kwargs={"base_url": ["http://127.0.0.1:1/v1", "http://127.0.0.1:1/v1"]},
        )


def test_batch_mode_refuses_several_replicas() -> None:
    with pytest.raises(InputError, match="give one base_url for mode='batch'"):
        RunSettings(
            model="gpt-4o-mini",
            provider="openai",
            mode="batch",
            provider_kwargs={"base_url": ["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"]},
        )


def test_the_key_is_not_in_the_pool_providers_repr() -> None:
    p = OpenAIProvider(base_url=["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"], api_key=KEY)
    assert KEY not in repr(p) and "'http://127.0.0.1:2/v1'" in repr(p)


# -- the choice ------------------------------------------------------------------------------


def _pool(n: int) -> ReplicaPool:
    return ReplicaPool(
        [
            Replica(f"http://127.0.0.1:{i}", HttpSession(f"http://127.0.0.1:{i}", {}))
            for i in range(1, n + 1)
        ],
        RetryPolicy(base_delay_s=1.0),
    )


def test_the_replica_with_fewest_outstanding_requests_is_chosen() -> None:
    pool = _pool(3)
    pool.replicas[0].outstanding, pool.replicas[1].outstanding = 5, 1
    pool.replicas[2].outstanding = 3
    assert [pool.choose(now=0.0) for _ in range(3)] == [pool.replicas[1]] * 3


def test_a_failed_replica_is_left_out_until_its_back_off_ends() -> None:
    pool = _pool(2)
    pool.replicas[0].failures, pool.replicas[0].retry_at = 1, 10.0
    pool.replicas[1].outstanding = 50
    assert pool.choose(now=9.0) is pool.replicas[1]
    assert pool.choose(now=10.0) is pool.replicas[0]


def test_a_replica_being_probed_gets_no_other_request() -> None:
    pool = _pool(2)
    pool.replicas[0].failures, pool.replicas[0].probing = 1, True
    pool.replicas[1].outstanding = 50
    assert pool.choose(now=100.0) is pool.replicas[1]


# -- over real sockets -----------------------------------------------------------------------


async def test_both_replicas_receive_requests_and_the_key(
    pool_of: OpenAIProvider, pair: tuple[SimServer, SimServer]
) -> None:
    a, b = pair
    await send_all(pool_of, requests(40))
    assert a.count(CHAT) > 0 and b.count(CHAT) > 0  # both want KEY: 401 otherwise
    assert a.count(CHAT) + b.count(CHAT) == 40
    assert answered(a, b) == Counter({h: 1 for h in answered(a, b)}) and len(answered(a, b)) == 40


async def test_a_slow_replica_gets_fewer_requests(pair: tuple[SimServer, SimServer]) -> None:
    fast, slow = pair
    slow.configure(latency_ms=200)
    async with OpenAIProvider(
        base_url=[fast.openai_base_url, slow.openai_base_url],
        api_key=KEY,
        retry=FAST_RETRY,
        max_concurrent=8,
    ) as p:
        await send_all(p, requests(120))
    assert slow.count(CHAT) >= 1
    assert slow.count(CHAT) * 4 < fast.count(CHAT)


async def test_a_replica_answering_5xx_is_left_out_and_its_rows_answered_by_the_other(
    pool_of: OpenAIProvider, pair: tuple[SimServer, SimServer]
) -> None:
    a, b = pair
    b.configure(http_503=1.0)
    results = await send_all(pool_of, requests(30))
    assert len(results) == 30
    assert a.count(CHAT) == 30 and answered(a) == Counter({h: 1 for h in answered(a)})
    assert 1 <= b.count(CHAT) < 30  # probed after back-offs, never the bulk


async def test_when_no_replica_is_up_the_error_names_base_url_and_nothing_was_sent() -> None:
    urls = [f"http://127.0.0.1:{free_port()}/v1", f"http://127.0.0.1:{free_port()}/v1"]
    async with OpenAIProvider(base_url=urls, api_key=KEY, retry=FAST_RETRY) as p:
        assert p.pool is not None
        p.pool.retry = RetryPolicy(base_delay_s=60.0)  # replicas' back-off: longer than the test
        with pytest.raises(bb.errors.ConnectionFailed) as info:
            await p(BatchRequest(prompt="hi", model="gpt-4o-mini"))
    assert p.pool is not None and [r.sent for r in p.pool.replicas] == [1, 1]
    assert "no replica of base_url is up" in str(info.value)
    assert info.value.maybe_sent is False and info.value.attempts == FAST_RETRY.max_attempts


async def test_a_stopped_replica_is_skipped_and_every_row_is_answered_once(
    pair: tuple[SimServer, SimServer],
) -> None:
    a, b = pair
    a.configure(latency_ms=20)
    b.configure(latency_ms=20)
    async with OpenAIProvider(
        base_url=[a.openai_base_url, b.openai_base_url],
        api_key=KEY,
        retry=FAST_RETRY,
        max_concurrent=8,
    ) as p:
        run = asyncio.ensure_future(send_all(p, requests(200)))
        while b.count(CHAT) < 10:
            await asyncio.sleep(0.005)
        await asyncio.to_thread(b.stop)  # mid-run: its requests in flight are dropped
        results = await run
    assert len(results) == 200
    done = answered(a, b)
    assert len(done) == 200
    twice = {h for h, n in done.items() if n > 1}
    in_flight_at_b = {r.body_hash for r in b.log if r.status == 200}
    assert max(done.values()) <= 2 and twice <= in_flight_at_b  # only retried attempts twice
    assert a.count(CHAT) > 100


async def test_a_restarted_replica_receives_traffic_again(
    pair: tuple[SimServer, SimServer],
) -> None:
    a, b = pair
    port = b.port
    async with OpenAIProvider(
        base_url=[a.openai_base_url, b.openai_base_url],
        api_key=KEY,
        retry=FAST_RETRY,
        max_concurrent=4,
    ) as p:
        await send_all(p, requests(10, "before"))
        await asyncio.to_thread(b.stop)
        await send_all(p, requests(20, "down"))  # b refuses: taken out, rows go to a
        assert p.pool is not None and p.pool.replicas[1].failures >= 1
        with SimServer(port=port, api_key=KEY) as again:
            results = await send_all(p, requests(60, "after"))
        assert len(results) == 60
        assert again.count(CHAT) > 0 and p.pool.replicas[1].failures == 0


async def test_a_redirecting_replica_sends_the_key_nowhere_else(
    sim: SimServer,
) -> None:
    async with LocalServer(script((200, {}, {}))) as target:
        answer = script((307, {"Location": target.url + "/v1/chat/completions"}, b""))
        async with (
            LocalServer(answer) as redirecting,
            OpenAIProvider(
                base_url=[redirecting.url + "/v1", sim.openai_base_url],
                api_key=KEY,
                retry=FAST_RETRY,
            ) as p,
        ):
            with pytest.raises(PermanentError, match="redirected"):
                for r in requests(4):
                    await p(r)
        assert redirecting.seen and target.seen == []


# -- through bb.run --------------------------------------------------------------------------


def test_bb_run_spreads_rows_over_the_replicas_and_journals_the_list(
    pair: tuple[SimServer, SimServer], tmp_path: Path
) -> None:
    a, b = pair
    urls = [a.openai_base_url, b.openai_base_url]
    df = pd.DataFrame({"text": [f"t{i}" for i in range(30)]})
    path = tmp_path / "jobs.sqlite"
    out = bb.run(
        df,
        prompt="Say: {text}",
        model="gpt-4o-mini",
        provider="openai",
        base_url=urls,
        api_key=KEY,
        job_name="pool",
        store=path,
        progress="none",
    )
    assert (out["status"] == "success").all()
    assert a.count(CHAT) > 0 and b.count(CHAT) > 0 and a.count(CHAT) + b.count(CHAT) == 30
    store = JobStore(path)
    try:
        assert store.job_spec("pool")["provider_kwargs"]["base_url"] == urls
    finally:
        store.close()
    assert KEY.encode() not in path.read_bytes()

"""The response cache: identical requests answered from the store, not paid twice."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

from brainbatch import BatchJob, BatchRequest, SimulatedProvider
from brainbatch.errors import ServerError
from brainbatch.models import ProviderResponse
from brainbatch.runner import JobRunner, RunSettings
from brainbatch.store import JobStore, ResponseCache, cache_namespace


class Counting:
    """A simulated provider that counts what it is asked, by custom_id."""

    name = "counting"

    def __init__(self, fail: set[str] | None = None, base_url: str = "") -> None:
        self.inner = SimulatedProvider(latency_ms=0)
        self.base_url = base_url
        self.calls: list[str | None] = []
        self.fail = fail or set()

    async def __call__(self, request: BatchRequest) -> ProviderResponse:
        self.calls.append(request.custom_id)
        if request.custom_id in self.fail:
            raise ServerError("simulated 500", status_code=500)
        return await self.inner(request)


def _run(store: JobStore, job: BatchJob, provider: Counting, cache: bool | None = True) -> None:
    settings = RunSettings(provider=provider, max_concurrent=4, cache=cache)
    asyncio.run(JobRunner(job, settings, store).run())


def test_second_identical_job_is_answered_from_the_cache(store: JobStore, make_job) -> None:
    provider = Counting()
    first = make_job(8, temperature=0)
    _run(store, first, provider)
    assert len(provider.calls) == 8
    second = make_job(8, temperature=0)
    _run(store, second, provider)
    assert len(provider.calls) == 8  # nothing sent again
    assert second.n_cached == 8
    assert [second.get_result(f"row-{i}").result for i in range(8)] == [  # type: ignore[union-attr]
        first.get_result(f"row-{i}").result  # type: ignore[union-attr]
        for i in range(8)
    ]


def test_cached_rows_keep_their_original_cost_but_paid_is_zero(store: JobStore, make_job) -> None:
    provider = Counting()
    first = make_job(3, temperature=0)
    _run(store, first, provider)
    second = make_job(3, temperature=0)
    _run(store, second, provider)
    row = second.get_result("row-1")
    assert row is not None and row.cached
    assert row.cost_usd == first.get_result("row-1").cost_usd  # type: ignore[union-attr]
    assert row.paid_usd == 0.0
    assert second.paid_usd == 0.0
    assert math.isclose(second.cost_usd, first.cost_usd)


def test_cache_survives_a_new_session(store_path: Path, make_job) -> None:
    provider = Counting()
    with JobStore(store_path) as first:
        _run(first, make_job(4, temperature=0), provider)
    with JobStore(store_path) as later:
        job = make_job(4, temperature=0)
        _run(later, job, provider)
    assert len(provider.calls) == 4
    assert job.n_cached == 4


def test_nothing_is_cached_by_default_even_at_temperature_zero(store: JobStore, make_job) -> None:
    provider = Counting()
    _run(store, make_job(3, temperature=0), provider, cache=None)
    again = make_job(3, temperature=0)
    _run(store, again, provider, cache=None)
    assert len(provider.calls) == 6
    assert again.n_cached == 0
    assert store._read("SELECT count(*) FROM cache", ())[0][0] == 0  # nothing stored either


def test_cache_true_caches_requests_without_any_sampling_parameter(
    store: JobStore, make_job
) -> None:
    provider = Counting()
    _run(store, make_job(3), provider)  # no temperature at all (newer models take none)
    again = make_job(3)
    _run(store, again, provider)
    assert len(provider.calls) == 3
    assert again.n_cached == 3


def test_cache_true_caches_sampled_requests_too(store: JobStore, make_job) -> None:
    provider = Counting()
    _run(store, make_job(3, temperature=0.7), provider, cache=True)
    again = make_job(3, temperature=0.7)
    _run(store, again, provider, cache=True)
    assert len(provider.calls) == 3
    assert again.n_cached == 3


def test_cache_false_sends_everything(store: JobStore, make_job) -> None:
    provider = Counting()
    _run(store, make_job(3, temperature=0), provider)
    again = make_job(3, temperature=0)
    _run(store, again, provider, cache=False)
    assert len(provider.calls) == 6
    assert again.n_cached == 0


def test_changing_one_rows_parameters_misses_only_that_row(store: JobStore, make_job) -> None:
    provider = Counting()
    _run(store, make_job(6, temperature=0), provider)
    provider.calls.clear()
    changed = make_job(6, temperature=0)
    changed.requests[2].params = {"temperature": 0, "max_tokens": 5}
    _run(store, changed, provider)
    assert provider.calls == ["row-2"]
    assert changed.n_cached == 5


def test_a_different_endpoint_does_not_share_answers(store: JobStore, make_job) -> None:
    one, two = Counting(base_url="http://one"), Counting(base_url="http://two")
    _run(store, make_job(2, temperature=0), one)
    _run(store, make_job(2, temperature=0), two)
    assert (len(one.calls), len(two.calls)) == (2, 2)


def test_errors_are_not_cached(store: JobStore, make_job) -> None:
    provider = Counting(fail={"row-1"})
    _run(store, make_job(3, temperature=0), provider)
    provider.fail.clear()
    provider.calls.clear()
    again = make_job(3, temperature=0)
    _run(store, again, provider)
    assert provider.calls == ["row-1"]
    assert again.get_result("row-1").ok  # type: ignore[union-attr]


def test_identical_requests_in_flight_together_are_sent_once(store: JobStore) -> None:
    provider = Counting()
    job = BatchJob(
        [
            BatchRequest(
                prompt="same", model="gpt-4o-mini", custom_id=f"r{i}", params={"temperature": 0}
            )
            for i in range(5)
        ]
    )
    _run(store, job, provider)
    assert len(provider.calls) == 1
    assert job.n_cached == 4


def test_wrap_marks_hits_cached_and_stores_misses(store: JobStore) -> None:
    cache = ResponseCache(store, enabled=True)
    provider = Counting()
    fn = cache.wrap(provider, "unit|test")
    req = BatchRequest(prompt="hello", model="gpt-4o-mini", params={"temperature": 0})
    first = asyncio.run(fn(req))
    second = asyncio.run(fn(req))
    assert isinstance(first, ProviderResponse) and not first.cached
    assert isinstance(second, ProviderResponse) and second.cached
    assert (cache.hits, cache.misses) == (1, 1)
    store.flush()
    fresh = ResponseCache(store, enabled=True)
    assert fresh.lookup(req, "unit|test") is not None
    assert fresh.prefetch([req], "unit|test") == 1


def test_namespace_names_provider_and_endpoint() -> None:
    class Http:
        name = "openai"
        base_url = "http://127.0.0.1:1234/v1"

    assert cache_namespace(Http()) == "openai|http://127.0.0.1:1234/v1"
    assert cache_namespace(SimulatedProvider(seed=1)) != cache_namespace(SimulatedProvider(seed=2))

"""Places under a concurrency-only limit change hands inside a partition (RemoteLimiter):
fewer round trips to the coordinator, and still never more requests in flight than
``max_concurrent`` across the cluster; with an rpm window every request asks the coordinator."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.sim import SimServer
from brainbatch.sim.observe import Exchange

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

ROWS = 48


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=2, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def submit(sim: SimServer, **kwargs: object) -> bb.cluster.ClusterJob:
    pdf = pd.DataFrame({"text": [f"row {i}" for i in range(ROWS)]})
    return bb.submit(
        dd.from_pandas(pdf, npartitions=4),
        prompt="Say: {text}",
        model="gpt-4o-mini",
        provider="openai",
        base_url=sim.openai_base_url,
        store=False,
        progress="none",
        **kwargs,
    )


def test_places_change_hands_inside_a_partition_without_asking_the_coordinator(
    client: object, sim: SimServer
) -> None:
    sim.configure(latency_ms=20)
    job = submit(sim, max_concurrent=4)
    assert (job.result(timeout=60).compute()["status"] == "success").all()
    assert job.coordinator.acquired_count().result() < ROWS


def test_with_an_rpm_window_every_request_asks_the_coordinator(
    client: object, sim: SimServer
) -> None:
    sim.configure(latency_ms=20)
    job = submit(sim, max_concurrent=4, rpm=100_000)
    assert (job.result(timeout=60).compute()["status"] == "success").all()
    assert job.coordinator.acquired_count().result() == ROWS


def test_requests_in_flight_never_pass_max_concurrent_across_the_cluster(
    client: object, sim: SimServer
) -> None:
    sim.configure(latency_ms=20)
    answered: list[float] = []

    def seen(exchange: Exchange) -> None:
        answered.append(time.monotonic())

    stop = sim.observe(seen)
    try:
        assert (
            submit(sim, max_concurrent=4).result(timeout=60).compute()["status"] == "success"
        ).all()
    finally:
        stop()
    events = sorted([(r.t, 1) for r in sim.log] + [(t, -1) for t in answered])
    in_flight = peak = 0
    for _, step in events:
        in_flight += step
        peak = max(peak, in_flight)
    assert len(answered) == ROWS and peak <= 4

"""A dask DataFrame run on a real ``distributed.LocalCluster`` (2 worker processes) against
the simulated server over loopback sockets: the pandas path's results, the limits, budget and
cancel held for the whole cluster, and the journal (brainbatch/cluster.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.errors import InputError
from brainbatch.sim import SimServer

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

WINDOW_S = 1.0
TIMING = ["latency_ms", "completed_at"]  # differ from run to run


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


@pytest.fixture
def short_window(monkeypatch: pytest.MonkeyPatch) -> float:
    """The in-thread SimServer counts rpm/tpm over 1 s instead of 60 s (fast limit tests)."""
    import brainbatch.sim.state as sim_state

    monkeypatch.setattr(sim_state, "WINDOW_S", WINDOW_S)
    return WINDOW_S


def frame(n: int, partitions: int, **extra: object) -> object:
    pdf = pd.DataFrame(
        {"text": [f"review number {i}" for i in range(n)], **extra},
        index=pd.Index([f"r{i:03d}" for i in range(n)], name="rid"),
    )
    return dd.from_pandas(pdf, npartitions=partitions, sort=True)


def on(sim: SimServer, **kwargs: object) -> dict[str, object]:
    return {
        "prompt": "Classify: {text}",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "base_url": sim.openai_base_url,
        "progress": "none",
        **kwargs,
    }


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_a_dask_frame_gives_the_pandas_results_with_its_partitions_and_index(
    client: object, sim: SimServer
) -> None:
    ddf = frame(12, 3)
    out = bb.run(ddf, **on(sim))
    assert isinstance(out, dd.DataFrame)
    assert out.npartitions == 3
    assert out.divisions == ddf.divisions
    got = out.compute()
    want = bb.run(ddf.compute(), **on(sim), store=False)
    assert list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(got.drop(columns=TIMING), want.drop(columns=TIMING))
    assert (got["status"] == "success").all()
    assert sim.count("/v1/chat/completions") == 24


def test_the_rpm_holds_for_the_whole_cluster_not_per_worker(
    client: object, sim: SimServer, short_window: float
) -> None:
    # two windows' worth: 6 now, 6 a window later (each of the 3 partitions alone would
    # send its 4 at once: 12 in the first window)
    sim.configure(rpm=6)
    out = bb.run(
        frame(12, 3), **on(sim), rpm=6, rate_window_s=short_window, adapt_to_headers=False
    ).compute()
    assert (out["status"] == "success").all()
    assert [r for r in sim.log if r.status == 429] == []
    assert max_in_window([r.t for r in sim.log], short_window) <= 6


@pytest.mark.spec_violations_expected
def test_a_429_seen_by_one_worker_pauses_every_worker(client: object, sim: SimServer) -> None:
    # seed 46 draws one 429 only, for the 9th request to arrive (the server's draws are in
    # arrival order): one pause of 1 s, while the other partitions still have rows to send
    sim.configure(rate_limit_429=0.05, retry_after=1.0, latency_ms=100, seed=46)
    out = bb.run(frame(45, 3), **on(sim), max_concurrent=4).compute()
    assert (out["status"] == "success").all()
    log = sim.log
    assert [i for i, r in enumerate(log) if r.status == 429] == [8]
    first_429 = log[8].t
    # requests already on their way may land just after; then nothing anywhere until the
    # server's Retry-After has passed (without the shared cool-down the other partitions,
    # on the other worker process too, would go on sending)
    quiet = [r for r in log if first_429 + 0.4 < r.t < first_429 + 1.0]
    assert quiet == []


def test_running_again_with_the_same_job_name_sends_nothing_new(
    client: object, sim: SimServer
) -> None:
    ddf = frame(20, 2)
    first = bb.run(ddf, **on(sim), job_name="twice").compute()
    sent = sim.count()
    assert sent == 20
    again = bb.run(ddf, **on(sim), job_name="twice").compute()
    assert sim.count() == sent  # every row has its journaled result: zero new requests
    cols = ["response", "status", "cost_usd", "input_tokens", "output_tokens"]
    pd.testing.assert_frame_equal(again[cols], first[cols])


def test_max_cost_usd_holds_for_the_whole_cluster(client: object, sim: SimServer) -> None:
    # each row costs at most ~$0.00003 (11 prompt + at most 50 answer tokens): the budget
    # covers about a third of the 30 rows, less than one partition's worth
    budget = 0.0003
    out = bb.run(frame(30, 3), **on(sim), params={"max_tokens": 50}, max_cost_usd=budget).compute()
    assert out["paid_usd"].sum() <= budget
    assert (out["status"] == "success").sum() >= 5
    stopped = out[out["status"] == "cancelled"]
    assert len(stopped) > 0
    assert stopped["error"].str.contains("budget reached").all()


def test_cancel_stops_every_partition_at_once_and_keeps_the_results(
    client: object, sim: SimServer
) -> None:
    # rpm=4 spaces the requests 15 s apart: the first goes at once, the others wait at the
    # coordinator for their turn, and the cancel wakes them (the job ends long before)
    job = bb.submit(frame(16, 4), **on(sim), rpm=4)
    deadline = time.monotonic() + 60
    while sim.count() < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.cancel()
    out = job.result(timeout=30).compute()
    sent = sim.count()
    time.sleep(0.2)
    assert sim.count() == sent  # nothing is sent after the cancel took effect
    assert job.status is bb.BatchStatus.CANCELLED
    by_part = [p.compute() for p in job.result().partitions]
    assert all((p["status"] == "cancelled").any() for p in by_part)  # every partition stopped
    assert (out["status"] == "success").sum() == sent
    assert len(out) == 16


def test_an_api_key_is_refused_before_anything_is_sent(client: object, sim: SimServer) -> None:
    with pytest.raises(InputError, match="environment") as err:
        bb.run(frame(4, 2), **on(sim), api_key="sk-test-not-for-the-graph")
    assert "sk-test" not in str(err.value)
    assert sim.count() == 0


def test_a_bad_row_in_a_later_partition_is_refused_before_anything_is_sent(
    client: object, sim: SimServer
) -> None:
    ddf = frame(12, 3, text2=["x"] * 11 + [None])
    with pytest.raises(InputError, match="r011"):
        bb.run(ddf, **on(sim, prompt="{text} {text2}"))
    assert sim.count() == 0


def test_a_pandas_run_never_imports_dask() -> None:
    code = (
        "import sys, pandas as pd, brainbatch as bb\n"
        "bb.run(pd.DataFrame({'t': ['a', 'b']}), 'Say {t}', store=False, progress='none')\n"
        "assert not any(m == 'dask' or m.startswith(('dask.', 'distributed')) "
        "for m in sys.modules), sorted(m for m in sys.modules if 'dask' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)

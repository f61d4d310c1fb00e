"""A dask frame on a LocalCluster (1 and 2 worker processes) vs the pandas path, same run,
against a replica pool of two simulated servers.

Every variant sends the same rows to ``base_url=[replica 1, replica 2]`` (two simulated
servers, each in its own process, 100 ms latency by default) at the same total concurrency
(``max_concurrent``, which the cluster path holds for the whole cluster through its
coordinator Actor), without a journal (``store=False``), so what is compared is the cluster
path's overhead: checking the partitions on the workers, the coordinator, partition tasks,
the round trips for places, results frames moved back to the client.

Each cluster variant starts its LocalCluster (timed apart, not in rows/s: it is paid once
per session, not per job) and warms its workers up with one partition first. Each round
runs every variant once, in rotating order (bench/_rounds.py); ratios are taken within a
round against the pandas path of that round; rows/s and ratios are shown as min-median-max
over the rounds. Each cluster run is also broken down by phase (client side: checks,
coordinator start, partitions running, results back), and peak RSS is printed for the
client and for each worker.

This file is named ``dask.py``, so it takes its own folder off
the front of ``sys.path`` before importing dask (a script's folder comes first there).

    python bench/dask.py [--rows 2000] [--latency-ms 100] [--concurrency 64]
                         [--partitions 8] [--threads 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

# this file is named dask.py: its folder must not come first on sys.path when dask is imported
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
import dask.dataframe as dd  # noqa: E402
import pandas as pd  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

sys.path.append(_HERE)
from _rounds import machine_note, ratios, run_rounds, spread  # noqa: E402

import brainbatch as bb  # noqa: E402
from brainbatch import cluster as bb_cluster  # noqa: E402
from brainbatch.sim import SimProcess  # noqa: E402


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def _phase_timer(times: dict[str, float]) -> Iterator[None]:
    """Time the client-side phases of a cluster job (wraps ClusterJob's steps)."""
    job_cls = bb_cluster.ClusterJob
    originals = {name: getattr(job_cls, name) for name in ("_check", "_start_coordinator")}

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, *a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(self, *a, **kw)
            finally:
                times[name] = time.perf_counter() - t0

        return wrapper

    for name, fn in originals.items():
        setattr(job_cls, name, timed(name, fn))
    try:
        yield
    finally:
        for name, fn in originals.items():
            setattr(job_cls, name, fn)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument(
        "--threads",
        type=int,
        default=4,
        help="threads per worker: partitions one worker runs at once (they share the "
        "cluster-wide concurrency through the coordinator)",
    )
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    pdf = pd.DataFrame({"text": [f"bench row {i}" for i in range(args.rows)]})
    ddf = dd.from_pandas(pdf, npartitions=args.partitions)
    with ExitStack() as stack:
        replicas = [stack.enter_context(SimProcess(latency_ms=args.latency_ms)) for _ in "ab"]
        kw: dict[str, Any] = {
            "prompt": "Summarise: {text}",
            "model": "gpt-4o-mini",
            "provider": "openai",
            "base_url": [r.openai_base_url for r in replicas],
            "max_concurrent": args.concurrency,
            "store": False,
            "progress": "none",
        }
        bb.run(pdf.head(50), **kw)  # warm up the client and the servers
        ideal = args.concurrency / args.latency_ms * 1000
        phases: dict[int, list[dict[str, float]]] = {1: [], 2: []}
        worker_rss: dict[int, list[float]] = {1: [], 2: []}

        def pandas_path() -> float:
            t0 = time.perf_counter()
            out = bb.run(pdf, **kw)
            rate = args.rows / (time.perf_counter() - t0)
            assert (out["status"] == "success").all()
            return rate

        def on_cluster(workers: int) -> Callable[[], float]:
            def variant() -> float:
                times: dict[str, float] = {}
                t0 = time.perf_counter()
                with (
                    LocalCluster(
                        n_workers=workers,
                        threads_per_worker=args.threads,
                        processes=True,
                        dashboard_address=":0",
                    ) as cluster,
                    Client(cluster) as client,
                ):
                    times["cluster start"] = time.perf_counter() - t0
                    bb.run(ddf.partitions[0], **kw).compute()  # warm up the workers
                    with _phase_timer(times):
                        t0 = time.perf_counter()
                        lazy = bb.run(ddf, **kw)
                        t1 = time.perf_counter()
                        out = lazy.compute()
                        t2 = time.perf_counter()
                    worker_rss[workers] = list(client.run(_peak_rss_mib).values())
                assert (out["status"] == "success").all() and len(out) == args.rows
                check, coord = times.get("_check", 0.0), times.get("_start_coordinator", 0.0)
                times["sending"] = (t1 - t0) - check - coord
                times["results back"] = t2 - t1
                phases[workers].append(times)
                return args.rows / (t2 - t0)

            return variant

        names = {
            "pandas": "pandas path (one process)",
            "w1": "LocalCluster, 1 worker process",
            "w2": "LocalCluster, 2 worker processes",
        }
        values = run_rounds(
            {"pandas": pandas_path, "w1": on_cluster(1), "w2": on_cluster(2)}, args.rounds
        )
        print(
            f"{args.rows} rows, 2 replicas at {args.latency_ms:g} ms latency, "
            f"{args.concurrency} in flight in all, {args.partitions} partitions, "
            f"{args.threads} threads per worker; ideal {ideal:,.0f} rows/s; "
            f"{args.rounds} rounds ({machine_note()})"
        )
        for key, label in names.items():
            ratio = spread(ratios(values, key, "pandas"), ".2f", "x")
            print(f"  {label:34s} {spread(values[key]):>17s} rows/s  {ratio}")
        print(
            "cluster jobs by phase, seconds (client side; ideal sending "
            f"{args.rows / ideal:.2f} s):"
        )
        for workers, runs in phases.items():
            parts = []
            for name, label in (
                ("cluster start", "cluster start (not timed)"),
                ("_check", "check partitions"),
                ("_start_coordinator", "start coordinator"),
                ("sending", "partitions running"),
                ("results back", "results to the client"),
            ):
                parts.append(f"{label} {spread([r.get(name, 0.0) for r in runs], '.2f')}")
            print(f"  {workers} worker(s): " + ", ".join(parts))
        for workers, rss in worker_rss.items():
            each = ", ".join(f"{v:,.0f}" for v in rss)
            print(f"  peak RSS of the {workers}-worker cluster's workers: {each} MiB")
    print(f"  peak RSS of the client: {_peak_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()

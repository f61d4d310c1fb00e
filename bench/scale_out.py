"""A dask DataFrame on a LocalCluster (1 and 2 worker processes) vs the pandas path, same run.

Every variant sends the same rows to the simulated server in its own process (100 ms latency
by default) at the same concurrency (``max_concurrent``, which the cluster path holds for the
whole cluster through its coordinator Actor), without a journal (``store=False``), so what is
compared is the cluster path's overhead: partition tasks, one round trip to the coordinator
per request, results frames moved back. Prints rows/s, ratios against the pandas path of the
same run and the client's peak RSS.

    python bench/scale_out.py [--rows 2000] [--latency-ms 100] [--concurrency 64] [--partitions 8]
"""

from __future__ import annotations

import argparse
import resource
import time

import dask.dataframe as dd
import pandas as pd
from distributed import Client, LocalCluster

import brainbatch as bb
from brainbatch.sim import SimProcess


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--partitions", type=int, default=8)
    args = ap.parse_args()
    pdf = pd.DataFrame({"text": [f"bench row {i}" for i in range(args.rows)]})
    ddf = dd.from_pandas(pdf, npartitions=args.partitions)
    with SimProcess(latency_ms=args.latency_ms) as sim:
        kw = {
            "prompt": "Summarise: {text}",
            "model": "gpt-4o-mini",
            "provider": "openai",
            "base_url": sim.openai_base_url,
            "max_concurrent": args.concurrency,
            "store": False,
            "progress": "none",
        }
        bb.run(pdf.head(50), **kw)  # warm up the server and the client
        t0 = time.perf_counter()
        ref = bb.run(pdf, **kw)
        base = args.rows / (time.perf_counter() - t0)
        assert (ref["status"] == "success").all()
        print(
            f"{args.rows} rows, {args.latency_ms:g} ms latency, {args.concurrency} in flight, "
            f"{args.partitions} partitions; ideal {args.concurrency / args.latency_ms * 1000:,.0f}"
            " rows/s"
        )
        print(f"{'pandas path (one process)':34s} {base:8,.0f} rows/s  1.00x")
        for workers in (1, 2):
            with (
                LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
                ) as cluster,
                Client(cluster),
            ):
                bb.run(ddf.partitions[0], **kw).compute()  # warm up the workers
                t0 = time.perf_counter()
                out = bb.run(ddf, **kw).compute()
                rate = args.rows / (time.perf_counter() - t0)
            assert (out["status"] == "success").all() and len(out) == args.rows
            label = f"LocalCluster, {workers} worker process{'es' if workers > 1 else ''}"
            print(f"{label:34s} {rate:8,.0f} rows/s  {rate / base:.2f}x")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"client peak RSS {rss:,.0f} MiB (workers are separate processes)")


if __name__ == "__main__":
    main()

"""Streaming a table larger than memory: peak RSS flat in the number of rows.

Each measurement runs in a fresh process (peak RSS is the process's ``ru_maxrss``), on a
zero-latency simulated provider with short answers (``mean_output_tokens=4``) so the run is
CPU-bound and finishes, with the default journal on (a store file in a temporary folder):

1. the baseline, in the same run: the in-memory ``bb.run(df)`` on ``--baseline-rows`` rows
   (the whole job held as objects), and the stream on the same rows;
2. ``bb.run("big.parquet", ..., out="results/")`` on each of ``--sizes`` rows.

It prints, per run: rows, wall time, rows/s, peak RSS, RSS bytes per row, and the peak RSS as
a ratio to the smallest stream's (flat means ~1.0x). The input Parquet files are written
with pyarrow in row groups (never the whole table in memory).

    .venv/bin/python bench/stream.py [--sizes 1000000,2000000,4000000] [--chunk-size 10000]
        [--concurrency 256] [--baseline-rows 200000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPT = "{text}"
SETTINGS = {"model": "sim", "latency_ms": 0, "mean_output_tokens": 4, "progress": "none"}


def write_input(path: Path, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("text", pa.string())])
    step = 100_000
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, step):
            stop = min(rows, start + step)
            texts = [f"Classify review {i}: fine value" for i in range(start, stop)]
            writer.write_table(pa.table({"text": texts}, schema=schema))


def child(kind: str, source: str, work: str, chunk_size: int, concurrency: int) -> None:
    import brainbatch as bb

    store = str(Path(work) / "jobs.sqlite")
    t0 = time.perf_counter()
    if kind == "memory":
        import pandas as pd

        df = pd.read_parquet(source)
        results = bb.run(df, prompt=PROMPT, store=store, max_concurrent=concurrency, **SETTINGS)  # type: ignore[arg-type]
        done = int((results["status"] == "success").sum())
    else:
        result = bb.run(
            source,
            prompt=PROMPT,
            store=store,
            out=str(Path(work) / "results"),
            chunk_size=chunk_size,
            max_concurrent=concurrency,
            **SETTINGS,  # type: ignore[arg-type]
        )
        done = result.succeeded
    seconds = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"done": done, "seconds": seconds, "peak_rss": peak_kib * 1024}))


def measure(kind: str, source: Path, rows: int, args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as work:
        cmd = [sys.executable, __file__, "--child", kind, str(source), work]
        cmd += [str(args.chunk_size), str(args.concurrency)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    data: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    if data["done"] != rows:
        raise SystemExit(f"{kind} run on {rows:,} rows finished {data['done']:,}")
    return data


def show(label: str, rows: int, data: dict[str, float], base_rss: float | None) -> None:
    mib = data["peak_rss"] / 2**20
    ratio = "" if base_rss is None else f"{data['peak_rss'] / base_rss:6.2f}x"
    print(
        f"{label:<22} {rows:>11,} rows {data['seconds']:8.1f} s {rows / data['seconds']:>8,.0f}"
        f" rows/s  peak RSS {mib:7.0f} MiB  {data['peak_rss'] / rows:8.0f} B/row  {ratio}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,2000000,4000000")
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--baseline-rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--child", nargs=5, metavar=("KIND", "SRC", "WORK", "CHUNK", "C"))
    args = parser.parse_args()
    if args.child:
        kind, source, work, chunk, conc = args.child
        child(kind, source, work, int(chunk), int(conc))
        return
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    print(
        f"chunk_size={args.chunk_size:,}  max_concurrent={args.concurrency}  "
        f"simulated provider, 0 ms, journal on; {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory(prefix="bench-stream-in-") as tmp:
        base = Path(tmp) / f"in-{args.baseline_rows}.parquet"
        write_input(base, args.baseline_rows)
        for r in range(args.rounds):
            print(f"-- round {r + 1}: baseline, {args.baseline_rows:,} rows")
            memory = measure("memory", base, args.baseline_rows, args)
            show("bb.run(df) in memory", args.baseline_rows, memory, None)
            small = measure("stream", base, args.baseline_rows, args)
            show("bb.run(path, out=)", args.baseline_rows, small, memory["peak_rss"])
            print(f"-- round {r + 1}: streamed, ratio to the first size's peak RSS")
            first: float | None = None
            for rows in sizes:
                path = Path(tmp) / f"in-{rows}.parquet"
                if not path.exists():
                    write_input(path, rows)
                data = measure("stream", path, rows, args)
                first = first or data["peak_rss"]
                show("bb.run(path, out=)", rows, data, first)
                path.unlink()


if __name__ == "__main__":
    main()

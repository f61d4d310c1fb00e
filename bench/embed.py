"""What journaling costs ``bb.embed``, and what a stored vector weighs.

Offline embeddings (``model="sim/text-embedding-3-small"``: in process, no network, so the
journal's share is as large as it gets), ``N`` rows of a few words, ``dimensions=D``:

* ``store=False``: nothing journaled (the baseline of each round);
* ``journaled``: a new job in a fresh store file (every pack's rows committed before the
  next pack is sent, vectors as float32 bytes);
* ``same call``: that call again: the job is found, nothing is sent, vectors from the store.

Rounds alternate the variants (rotating order); figures are min-median-max over the rounds,
ratios are taken within a round. Also printed: the store file's bytes per row, against the
bytes of the same vector as a JSON list of numbers, and this process's peak RSS.

    .venv/bin/python bench/embed.py [--n 20000] [--dimensions 256] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from _rounds import machine_note, ratios, run_rounds, spread

os.environ.setdefault("BRAINBATCH_PROGRESS", "none")

import orjson
import pandas as pd

import brainbatch as bb

MODEL = "sim/text-embedding-3-small"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dimensions", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    n, dims = args.n, args.dimensions
    df = pd.DataFrame({"text": [f"review {i} of green pears and a fast car" for i in range(n)]})
    tmp = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    k = 0
    sizes: list[float] = []

    def plain() -> float:
        t = time.perf_counter()
        bb.embed(df, "text", MODEL, dimensions=dims, store=False)
        return time.perf_counter() - t

    def journaled() -> float:
        nonlocal k
        k += 1
        path = tmp / f"r{k}.sqlite"
        t = time.perf_counter()
        bb.embed(df, "text", MODEL, dimensions=dims, store=path, name="bench")
        took = time.perf_counter() - t
        same_call_paths.append(path)
        return took

    same_call_paths: list[Path] = []

    def same_call() -> float:
        path = same_call_paths[-1] if same_call_paths else tmp / "first.sqlite"
        if not same_call_paths:
            bb.embed(df, "text", MODEL, dimensions=dims, store=path, name="bench")
            same_call_paths.append(path)
        t = time.perf_counter()
        out = bb.embed(df, "text", MODEL, dimensions=dims, store=path, name="bench")
        took = time.perf_counter() - t
        assert (out.status == "success").all()
        sizes.append(sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / n)
        return took

    values = run_rounds(
        {"store=False": plain, "journaled": journaled, "same call": same_call}, args.rounds
    )
    out = bb.embed(df.head(1), "text", MODEL, dimensions=dims, store=False)
    as_json = len(orjson.dumps(out.embedding[0].tolist()))
    print(f"bb.embed offline, {n:,} rows, dimensions={dims}, {args.rounds} rounds")
    print(f"  {machine_note()}")
    for name, secs in values.items():
        rate = [n / s for s in secs]
        print(f"  {name:12s} {spread(secs, '.2f', ' s')}  ({spread(rate)} rows/s)")
    for name in ("journaled", "same call"):
        print(f"  {name} / store=False: {spread(ratios(values, name, 'store=False'), '.2f', 'x')}")
    print(
        f"  store file: {spread(sizes, ',.0f')} bytes per row; one vector is {dims * 4:,} "
        f"float32 bytes, {as_json:,} bytes as a JSON list"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS {rss:,.0f} MB")


if __name__ == "__main__":
    main()

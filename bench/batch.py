"""Native batch files: build + validate the input JSONL, and parse the output, for 50,000
requests, against the least a client must do with the same JSON library (orjson), measured in
the same run: the ratio is what brainbatch's own code adds, not the choice of JSON library.

* build: brainbatch validates every custom_id (unique, <= 64 chars), builds each request body
  with the provider's ``build_body``, encodes the lines and splits them under the provider's
  limits. Baseline: ``orjson.dumps`` of the same line dicts, joined with newlines (no checks,
  no limits).
* parse: brainbatch splits the output file into lines, decodes them and maps each to an
  outcome by custom_id. Baseline: ``orjson.loads`` of every line.
* map back (extra, no baseline): parse + price each answer at the batch price + record it
  in the job, i.e. all the client-side work of collecting a finished batch.

``--repeat`` rounds (5 by default), brainbatch and its baseline alternating; times and the
per-round ratios are shown as min-median-max. Target: under 1 s each for 50,000.

    .venv/bin/python bench/batch.py [--n 50000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson

from brainbatch import BatchJob, BatchRequest
from brainbatch.batchapi import BatchAPIExecutor
from brainbatch.batchapi.jsonl import OPENAI_LIMITS, split_batches, validate_custom_ids
from brainbatch.batchapi.openai import OpenAIBatchBackend, openai_outcome
from brainbatch.executors import make_result
from brainbatch.providers.anthropic import AnthropicProvider
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.providers.simulated import simulate_answer
from brainbatch.sim.wire import chat_completion


def seconds(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def spread(values: list[float], fmt: str = ".3f") -> str:
    return f"{min(values):{fmt}}-{statistics.median(values):{fmt}}-{max(values):{fmt}}"


def pair(
    ours: Callable[[], Any], base: Callable[[], Any] | None, repeat: int
) -> tuple[list[float], list[float] | None]:
    """``repeat`` rounds of (ours, baseline), alternating which runs first."""
    mine: list[float] = []
    theirs: list[float] = []
    for k in range(repeat):
        if base is not None and k % 2:
            theirs.append(seconds(base))
        mine.append(seconds(ours))
        if base is not None and not k % 2:
            theirs.append(seconds(base))
    return mine, (theirs if base is not None else None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    n, repeat = args.n, args.repeat

    requests = [
        BatchRequest(
            prompt=f"Classify the sentiment of review {i}: the delivery was late but the "
            "product itself works well.",
            model="gpt-4o-mini",
            custom_id=f"row-{i}",
            system="Answer with one word.",
        )
        for i in range(n)
    ]
    oa = OpenAIProvider(base_url="http://127.0.0.1:9/v1", api_key="unused")
    an = AnthropicProvider(base_url="http://127.0.0.1:9", api_key="unused")
    oa_backend = OpenAIBatchBackend(oa)
    an_executor = BatchAPIExecutor(an)

    def build_ours() -> bytes:
        validate_custom_ids(requests, OPENAI_LIMITS)
        chunks = split_batches(enumerate(requests), oa_backend.encode, OPENAI_LIMITS)
        return b"".join(c.jsonl() for c in chunks)

    def build_anthropic() -> None:
        job = BatchJob(requests)
        an_executor.prepare(job)

    def build_baseline() -> bytes:
        lines = []
        for r in requests:
            body = {
                "model": r.model,
                "messages": [
                    {"role": "system", "content": r.system},
                    {"role": "user", "content": r.prompt},
                ],
            }
            lines.append(
                orjson.dumps(
                    {
                        "custom_id": r.key,
                        "method": "POST",
                        "url": "/v1/chat/completions",
                        "body": body,
                    }
                )
            )
        return b"\n".join(lines) + b"\n"

    assert len(build_ours().splitlines()) == n

    # a realistic output file (not timed): the simulated server's answers, shuffled
    out_lines = []
    for i, r in enumerate(requests):
        answer = simulate_answer(r.model, r.chat_messages(), r.system)
        out_lines.append(
            orjson.dumps(
                {
                    "id": f"batch_req_{i}",
                    "custom_id": r.key,
                    "response": {
                        "status_code": 200,
                        "request_id": f"req_{i}",
                        "body": chat_completion(f"chatcmpl-{i}", r.model, answer),
                    },
                    "error": None,
                }
            )
        )
    out_lines.reverse()
    output = b"\n".join(out_lines) + b"\n"

    def parse_ours() -> int:
        keys = {r.key for r in requests}
        found = 0
        for line in output.split(b"\n"):
            if line:
                out = openai_outcome(orjson.loads(line))
                found += out.custom_id in keys
        return found

    def parse_baseline() -> int:
        return sum(1 for line in output.split(b"\n") if line and orjson.loads(line))

    def map_back() -> None:
        job = BatchJob(requests)
        keymap = {r.key: r for r in requests}
        for line in output.split(b"\n"):
            if line:
                out = openai_outcome(orjson.loads(line))
                req = keymap[out.custom_id]
                assert out.body is not None
                resp = oa.parse_response(out.body, batch=True, json_output=False)
                job.add_result(make_result(req, resp, 0.0))
        assert job.n_success == n

    oa.parse_response(orjson.loads(out_lines[0])["response"]["body"], batch=True)  # warm prices
    rows = [
        ("build + validate OpenAI JSONL", *pair(build_ours, build_baseline, repeat)),
        ("build + validate Anthropic requests", *pair(build_anthropic, None, repeat)),
        ("parse output lines", *pair(parse_ours, parse_baseline, repeat)),
        ("parse + price + record (map back)", *pair(map_back, None, repeat)),
    ]
    print(
        f"{n:,} requests, input file {len(build_ours()) / 1e6:.1f} MB, output file "
        f"{len(output) / 1e6:.1f} MB, {repeat} rounds, min-median-max"
    )
    print(f"{'step':<38} {'brainbatch s':>20} {'orjson alone s':>20} {'ratio':>18} {'<1 s':>5}")
    for label, ours, base in rows:
        ratio = (
            spread([a / b for a, b in zip(ours, base, strict=True)], ".2f") + "x" if base else "-"
        )
        base_s = spread(base) if base else "-"
        ok = "ok" if statistics.median(ours) < 1.0 else "OVER"
        print(f"{label:<38} {spread(ours):>20} {base_s:>20} {ratio:>18} {ok:>5}")


if __name__ == "__main__":
    main()

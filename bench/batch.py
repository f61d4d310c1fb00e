"""Native batch files: build + validate the input JSONL, and parse the output, for 50,000
requests, next to plain ``json`` line by line measured in the same run (the baseline).

* build: brainbatch validates every custom_id (unique, <= 64 chars), builds each request body
  with the provider's ``build_body``, encodes the lines and splits them under the provider's
  limits. Baseline: ``json.dumps`` of the same line dicts, joined with newlines (no checks).
* parse: brainbatch splits the output file into lines, decodes them and maps each to an
  outcome by custom_id. Baseline: ``json.loads`` of every line.
* map back (extra, no baseline): parse + price each answer at the batch price + record it
  in the job, i.e. all the client-side work of collecting a finished batch.

Median of ``--repeat`` runs; target: under 1 s each for 50,000.

    .venv/bin/python bench/batch.py [--n 50000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
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


def median_s(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


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

    def build_baseline() -> str:
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
                json.dumps(
                    {
                        "custom_id": r.key,
                        "method": "POST",
                        "url": "/v1/chat/completions",
                        "body": body,
                    }
                )
            )
        return "\n".join(lines) + "\n"

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
    output_text = output.decode()

    def parse_ours() -> int:
        keys = {r.key for r in requests}
        found = 0
        for line in output.split(b"\n"):
            if line:
                out = openai_outcome(orjson.loads(line))
                found += out.custom_id in keys
        return found

    def parse_baseline() -> int:
        return sum(1 for line in output_text.splitlines() if line and json.loads(line))

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
        (
            "build + validate OpenAI JSONL",
            median_s(build_ours, repeat),
            median_s(build_baseline, repeat),
        ),
        ("build + validate Anthropic requests", median_s(build_anthropic, repeat), None),
        ("parse output lines", median_s(parse_ours, repeat), median_s(parse_baseline, repeat)),
        ("parse + price + record (map back)", median_s(map_back, repeat), None),
    ]
    print(
        f"{n:,} requests, input file {len(build_ours()) / 1e6:.1f} MB, output file "
        f"{len(output) / 1e6:.1f} MB, median of {repeat}"
    )
    print(f"{'step':<38} {'brainbatch':>11} {'plain json':>11} {'ratio':>7} {'target':>8}")
    for label, ours, base in rows:
        ratio = f"{ours / base:6.2f}x" if base else "      -"
        base_s = f"{base:9.3f} s" if base else "          -"
        ok = "ok" if ours < 1.0 else "OVER"
        print(f"{label:<38} {ours:9.3f} s {base_s} {ratio} {'<1 s ' + ok:>8}")


if __name__ == "__main__":
    main()

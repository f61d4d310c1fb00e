"""A streamed run in its own process, for the kill test (test_stream_kill.py).

python stream_worker.py <input.parquet> <out folder> <store> <openai_base_url> <chunk> <conc> [name]
    ``bb.run`` the file into the folder through OpenAIProvider against the simulated server,
    journaled in <store>; each start after a kill continues the stream. Prints
    ``finished <status> <done>/<total>`` at the end.
"""

from __future__ import annotations

import sys

import brainbatch as bb

FAKE_KEY = "sk-stream-test-FAKE-0123456789"


def main(argv: list[str]) -> None:
    source, out, store, base_url, chunk, conc = argv[:6]
    name = argv[6] if len(argv) > 6 else None
    result = bb.run(
        source,
        prompt="{text}",
        model="gpt-4o-mini",
        provider="openai",
        base_url=base_url,
        api_key=FAKE_KEY,
        out=out,
        store=store,
        chunk_size=int(chunk),
        max_concurrent=int(conc),
        progress="none",
        job_name=name,
    )
    print(f"finished {result.status.value} {result.done}/{result.total}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

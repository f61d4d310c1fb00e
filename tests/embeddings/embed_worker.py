"""Runs one ``bb.embed`` job in its own process (for the kill test): ``python embed_worker.py
STORE BASE_URL``. The rows are :func:`rows`; the job is named ``kill``."""

from __future__ import annotations

import sys

import pandas as pd

ROWS = 120
BATCH_SIZE = 4
CONCURRENCY = 2
FAKE_KEY = "sk-embed-worker-FAKE-0000"


def rows() -> pd.DataFrame:
    return pd.DataFrame({"text": [f"row {i} green pears and a fast car" for i in range(ROWS)]})


def run(store: str, base_url: str) -> pd.DataFrame:
    import brainbatch as bb

    return bb.embed(
        rows(),
        "text",
        base_url=base_url,
        api_key=FAKE_KEY,
        store=store,
        name="kill",
        batch_size=BATCH_SIZE,
        max_concurrent=CONCURRENCY,
        dimensions=16,
    )


if __name__ == "__main__":
    out = run(sys.argv[1], sys.argv[2])
    print("finished", int((out.status == "success").sum()), flush=True)

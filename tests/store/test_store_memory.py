"""Memory of storing and journaling a job stays bounded per row (measured with tracemalloc).

These check behaviour, not time: how many bytes Python allocates, at the peak, per request,
while a job is stored and while it is journaled. Storing a job used to hold every request's
row (id, hash, body: about 400 bytes) in one list before inserting; journaling used to copy
the job's id -> position index (about 100 bytes per request).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from brainbatch import BatchJob, BatchRequest
from brainbatch.store import JobStore, body_hash

ROWS = 20_000


# Measured in a fresh process: tracemalloc counts every thread's allocations, and the test
# session's own background work (loading the API documents) would be counted too.
_MEASURE = """
import sys, tracemalloc
from pathlib import Path
from brainbatch import BatchJob, BatchRequest
from brainbatch.store import JobStore

def job(n):
    return BatchJob([
        BatchRequest(prompt=f"Review {i}: arrived on time, works as described, would buy again.",
                     model="gpt-4o-mini", custom_id=f"row-{i}")
        for i in range(n)
    ])

rows, what, path = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
big = job(rows)
with JobStore(path) as store:
    store.create_job(job(10))  # the file, the schema, the statements: not per row
    if what == "journal":
        store.create_job(big)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    if what == "create":
        store.create_job(big)
    else:
        journal = store.journal(big)
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    if what == "journal":
        journal.close()
    assert store.load_job(big.job_id).total == rows
print(peak)
"""


def _peak_bytes_per_row(what: str, tmp_path: Path) -> float:
    """Peak bytes Python allocated per request while storing / journaling a job."""
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(ROWS), what, str(tmp_path / "jobs.sqlite")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[-1]) / ROWS


def test_storing_a_job_allocates_a_bounded_amount_per_request(tmp_path: Path) -> None:
    per_row = _peak_bytes_per_row("create", tmp_path)
    assert per_row < 60, f"{per_row:.0f} bytes per request at the peak"


def test_journaling_a_job_does_not_copy_its_index(tmp_path: Path) -> None:
    per_row = _peak_bytes_per_row("journal", tmp_path)
    assert per_row < 10, f"{per_row:.0f} bytes per request at the peak"


@pytest.mark.parametrize(
    "request_",
    [
        BatchRequest(prompt="plain", model="gpt-4o-mini"),
        BatchRequest(prompt='Zürich \u2013 "quoted" \\ {braces}', model="m", system="Be brief."),
        BatchRequest(
            prompt="p",
            model="gpt-4o-mini",
            params={"temperature": 0.1, "seed": 2**53 + 1, "b": [1, {"z": 1, "a": None}]},
        ),
        BatchRequest(prompt="p", model="gpt-4o-mini", params={}),
    ],
)
def test_a_prompt_hashes_as_the_canonical_json_of_its_one_message_body(
    request_: BatchRequest,
) -> None:
    body = {
        "model": request_.model,
        "system": request_.system,
        "messages": [{"role": "user", "content": request_.prompt}],
        "params": request_.params or {},
    }
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    assert body_hash(request_) == hashlib.sha256(canonical).hexdigest()
    as_messages = BatchRequest(
        messages=[{"role": "user", "content": request_.prompt}],
        model=request_.model,
        system=request_.system,
        params=request_.params,
    )
    assert body_hash(as_messages) == body_hash(request_)


def test_request_fields_left_empty_come_back_empty(store_path: Path) -> None:
    job = BatchJob(
        [
            BatchRequest(prompt="only a prompt", model="gpt-4o-mini", custom_id="a"),
            BatchRequest(
                prompt="all of it",
                model="gpt-4o-mini",
                custom_id="b",
                system="sys",
                params={"max_tokens": 5},
                metadata={"k": 1},
            ),
            BatchRequest(messages=[{"role": "user", "content": "hi"}], model="m", custom_id="c"),
        ]
    )
    with JobStore(store_path) as store:
        store.create_job(job)
        loaded = store.load_job(job.job_id)
    assert loaded.requests == job.requests

"""``bb.embed`` runs are jobs in the store: journaled as each packed request completes,
resumed by the same call (only rows without a vector are sent), vectors stored as float32
bytes and returned byte for byte; over real sockets to the simulated server."""

from __future__ import annotations

import base64
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.errors import StoreError
from brainbatch.sim import SimServer
from brainbatch.store import JobStore

WORKER = Path(__file__).with_name("embed_worker.py")
sys.path.insert(0, str(WORKER.parent))
import embed_worker  # noqa: E402


def _stored_results(path: Path) -> list[Any]:
    conn = sqlite3.connect(path)
    try:
        return [orjson.loads(r[0]) for r in conn.execute("SELECT data FROM results")]
    finally:
        conn.close()


def _bytes(out: pd.DataFrame) -> list[bytes]:
    return [v.tobytes() for v in out.embedding]


def test_an_embed_run_is_a_job_in_the_default_store(sim: SimServer, texts: pd.DataFrame) -> None:
    bb.embed(texts, "text", base_url=sim.openai_base_url, api_key="k", name="mine")
    store = JobStore(bb.store.default_store_path())
    job = store.load_job("mine")
    assert job.total == len(texts) and job.n_success == len(texts)


def test_vectors_are_stored_as_float32_bytes_not_json_numbers(
    sim: SimServer, texts: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "s.sqlite"
    out = bb.embed(texts, "text", base_url=sim.openai_base_url, api_key="k", store=path)
    stored = [data[0] for data in _stored_results(path)]  # the "result" field
    assert all(isinstance(s, str) for s in stored)
    assert sorted(base64.b64decode(s) for s in stored) == sorted(_bytes(out))


def test_the_same_call_again_sends_nothing_and_gives_the_same_bytes(
    sim: SimServer, texts: pd.DataFrame, sent: list[dict[str, Any]]
) -> None:
    first = bb.embed(texts, "text", base_url=sim.openai_base_url, api_key="k", dimensions=32)
    n = len(sent)
    again = bb.embed(texts, "text", base_url=sim.openai_base_url, api_key="k", dimensions=32)
    assert len(sent) == n
    assert _bytes(again) == _bytes(first)
    assert again.input_tokens.tolist() == first.input_tokens.tolist()


def test_other_dimensions_are_another_job(
    sim: SimServer, texts: pd.DataFrame, sent: list[dict[str, Any]]
) -> None:
    bb.embed(texts, "text", base_url=sim.openai_base_url, api_key="k", dimensions=32)
    out = bb.embed(texts, "text", base_url=sim.openai_base_url, api_key="k", dimensions=8)
    assert len(sent) == 2 and out.embedding[0].shape == (8,)


def test_store_false_journals_nothing(
    sim: SimServer, texts: pd.DataFrame, sent: list[dict[str, Any]]
) -> None:
    bb.embed(texts, "text", base_url=sim.openai_base_url, api_key="k", store=False)
    bb.embed(texts, "text", base_url=sim.openai_base_url, api_key="k", store=False)
    assert len(sent) == 2
    assert not bb.store.default_store_path().exists()


def test_a_changed_row_under_the_same_name_is_refused_naming_it(
    sim: SimServer, texts: pd.DataFrame, sent: list[dict[str, Any]]
) -> None:
    bb.embed(texts, "text", base_url=sim.openai_base_url, api_key="k", name="docs")
    changed = texts.copy()
    changed.loc[2, "text"] = "a slow car"
    with pytest.raises(StoreError, match="row 2 differs"):
        bb.embed(changed, "text", base_url=sim.openai_base_url, api_key="k", name="docs")
    assert len(sent) == 1


@pytest.fixture
def inputs_seen(sim: SimServer) -> Iterator[list[list[str]]]:
    """The inputs of every embeddings request the server answered, as it answered them."""
    seen: list[list[str]] = []
    lock = threading.Lock()

    def keep(exchange: Any) -> None:
        if exchange.path == "/v1/embeddings" and exchange.status == 200:
            with lock:
                seen.append(list(orjson.loads(exchange.body)["input"]))

    stop = sim.observe(keep)
    yield seen
    stop()


def test_a_killed_run_resumes_sending_only_rows_without_a_vector(
    sim: SimServer, tmp_path: Path, inputs_seen: list[list[str]]
) -> None:
    sim.configure(latency_ms=20)
    path = tmp_path / "kill.sqlite"
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(path), sim.openai_base_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while len(inputs_seen) < 6 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the worker ended before the kill"
    time.sleep(0.1)  # let the server finish answering what was in flight
    first = {t for pack in inputs_seen for t in pack}
    committed = {
        embed_worker.rows().text[i]
        for i, r in enumerate(JobStore(path).load_job("kill").requests)
        if JobStore(path).load_job("kill").has_result(r.id)
    }
    assert 0 < len(committed) < embed_worker.ROWS
    n_first = len(inputs_seen)

    out = embed_worker.run(str(path), sim.openai_base_url)

    second = [t for pack in inputs_seen[n_first:] for t in pack]
    assert len(second) == len(set(second))
    assert not committed & set(second), "a row with a stored vector was paid again"
    twice = first & set(second)
    assert len(twice) <= embed_worker.CONCURRENCY * embed_worker.BATCH_SIZE  # in flight
    assert first | set(second) == set(embed_worker.rows().text)
    assert (out.status == "success").all()
    reference = bb.embed(
        embed_worker.rows(),
        "text",
        base_url=sim.openai_base_url,
        api_key="k",
        store=False,
        dimensions=16,
    )
    assert _bytes(out) == _bytes(reference)
    assert all(np.asarray(v).dtype == np.float32 for v in out.embedding)


def test_ctrl_c_cancels_the_run_and_the_same_call_sends_only_the_rest(
    sim: SimServer, tmp_path: Path, inputs_seen: list[list[str]]
) -> None:
    sim.configure(latency_ms=30)
    df = pd.DataFrame({"text": [f"text {i} about roads" for i in range(40)]})
    path = tmp_path / "c.sqlite"
    interrupted = threading.Event()

    def ctrl_c(exchange: Any) -> None:
        if len(inputs_seen) >= 3 and not interrupted.is_set():
            interrupted.set()
            signal.raise_signal(signal.SIGINT)  # as a Ctrl-C (a kernel interrupt) does

    stop = sim.observe(ctrl_c)
    kw: dict[str, Any] = dict(
        base_url=sim.openai_base_url, api_key="k", store=path, batch_size=2, max_concurrent=1
    )
    try:
        with pytest.raises(KeyboardInterrupt):
            bb.embed(df, "text", **kw)
    finally:
        stop()
    first = [t for pack in inputs_seen for t in pack]
    assert len(first) < len(df)  # it stopped sending
    n_first = len(inputs_seen)
    out = bb.embed(df, "text", **kw)
    second = [t for pack in inputs_seen[n_first:] for t in pack]
    assert sorted(first + second) == sorted(df.text)  # nothing twice: nothing was in flight
    assert (out.status == "success").all()

"""Two processes writing the same store at the same time do not corrupt it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from brainbatch.store import JobStore

WORKER = Path(__file__).with_name("store_worker.py")


def test_two_processes_writing_one_store_keep_it_whole(store_path: Path) -> None:
    with JobStore(store_path):
        pass  # created once; both writers open the existing file
    jobs, rows = 6, 60
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "writer", str(store_path), tag, str(jobs), str(rows)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("left", "right")
    ]
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    conn = sqlite3.connect(store_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    with JobStore(store_path) as store:
        listed = store.list_jobs()
    assert sorted(r["name"] for r in listed) == sorted(
        f"{tag}-{k}" for tag in ("left", "right") for k in range(jobs)
    )
    unfinished = [
        (r["name"], r["status"], r["done"])
        for r in listed
        if r["status"] != "completed" or r["done"] != rows
    ]
    assert unfinished == []


def test_two_processes_creating_a_new_store_at_once_both_succeed(store_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "writer", str(store_path), tag, "1", "5"],
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with JobStore(store_path) as store:
        assert sorted(r["name"] for r in store.list_jobs()) == ["a-0", "b-0"]

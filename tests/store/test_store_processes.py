"""Two processes writing the same store at the same time do not corrupt it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
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


def test_processes_opening_a_new_store_at_the_same_instant_all_get_a_whole_store(
    tmp_path: Path,
) -> None:
    # 4 processes open each of 40 new stores at one instant. The losers of the creation race
    # once read "tables but no brainbatch marker" (two snapshots) and refused the store as
    # another program's, or failed the switch to WAL as locked (about 1 round in 9).
    rounds, start = 40, time.time() + 3.0
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "open_new", str(tmp_path), str(rounds), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        assert out.strip() == "opened"
    for i in range(rounds):
        with JobStore(tmp_path / f"s{i}.sqlite") as store:
            assert store.list_jobs() == []

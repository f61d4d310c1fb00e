"""The store file: where it lives, who may read it, and which files are refused untouched."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from brainbatch.errors import StoreError
from brainbatch.store import APPLICATION_ID, SCHEMA_VERSION, JobStore


def test_default_location_is_dot_brainbatch_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BRAINBATCH_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    with JobStore() as store:
        assert store.path == tmp_path / ".brainbatch" / "jobs.sqlite"
    assert store.path.is_file()


def test_environment_variable_chooses_the_default_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRAINBATCH_STORE", str(tmp_path / "elsewhere" / "mine.sqlite"))
    monkeypatch.chdir(tmp_path)
    with JobStore() as store:
        assert store.path == tmp_path / "elsewhere" / "mine.sqlite"
    assert not (tmp_path / ".brainbatch").exists()


def test_path_argument_overrides_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRAINBATCH_STORE", str(tmp_path / "env.sqlite"))
    with JobStore(tmp_path / "arg.sqlite") as store:
        assert store.path == tmp_path / "arg.sqlite"
    assert not (tmp_path / "env.sqlite").exists()


def test_folder_and_file_are_owner_only(store_path: Path) -> None:
    with JobStore(store_path):
        pass
    assert stat.S_IMODE(store_path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(store_path.stat().st_mode) == 0o600


def test_store_is_sqlite_in_wal_mode_with_our_markers(store_path: Path) -> None:
    with JobStore(store_path):
        pass
    conn = sqlite3.connect(store_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        marker = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0]
        assert marker == "brainbatch-store"
    finally:
        conn.close()


def test_reopening_an_existing_store_keeps_its_jobs(store_path: Path, make_job) -> None:
    with JobStore(store_path) as store:
        store.create_job(make_job(3), name="kept")
    with JobStore(store_path) as again:
        assert again.find_job("kept") is not None


def _refused_untouched(path: Path, *needles: str) -> None:
    before = path.read_bytes()
    with pytest.raises(StoreError) as info:
        JobStore(path)
    message = str(info.value)
    assert str(path) in message
    for needle in needles:
        assert needle in message
    assert path.read_bytes() == before
    assert not Path(str(path) + "-wal").exists()


def test_file_that_is_not_sqlite_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"my precious notes, not a database\n" * 20)
    _refused_untouched(path, "not a SQLite database")


def test_damaged_sqlite_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "damaged.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 16)
    _refused_untouched(path, "damaged")


def test_store_with_overwritten_pages_is_refused_and_left_untouched(
    store_path: Path, make_job
) -> None:
    with JobStore(store_path) as store:
        store.create_job(make_job(50), name="x")
    conn = sqlite3.connect(store_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    raw = bytearray(store_path.read_bytes())
    raw[100:4096] = b"\xff" * (4096 - 100)  # the schema page, after the header
    store_path.write_bytes(bytes(raw))
    _refused_untouched(store_path, "damaged")


def test_another_programs_sqlite_database_is_refused_and_left_untouched(
    tmp_path: Path,
) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers(name) VALUES ('Ada')")
    conn.commit()
    conn.close()
    _refused_untouched(path, "another program", "customers")


def test_store_from_a_newer_brainbatch_is_refused(store_path: Path) -> None:
    with JobStore(store_path):
        pass
    conn = sqlite3.connect(store_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    _refused_untouched(store_path, "newer brainbatch")


def test_empty_file_becomes_a_store(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    path.touch()
    with JobStore(path) as store:
        assert store.list_jobs() == []


def test_directory_given_as_the_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="directory"):
        JobStore(tmp_path)

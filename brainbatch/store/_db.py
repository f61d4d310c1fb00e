"""Opening a store file safely: location, permissions, schema marker and version.

A brainbatch store is a SQLite database in WAL mode that carries two markers: the SQLite
header's ``application_id`` (:data:`APPLICATION_ID`, "bbJS") and ``user_version``
(:data:`SCHEMA_VERSION`), plus a ``meta`` table naming the schema. A file is used only when it
is ours or is empty (a new database); anything else (not SQLite, a damaged header, another
program's SQLite database, a newer schema) is refused with a :class:`~brainbatch.errors.StoreError`
naming the path, and left exactly as it was: nothing is written before the checks pass.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ..errors import StoreError
from ._codec import RESULT_FIELDS

__all__ = ["APPLICATION_ID", "ENV_VAR", "SCHEMA_VERSION", "connect", "default_store_path"]

ENV_VAR = "BRAINBATCH_STORE"
"""Environment variable naming the store file used when no path is given."""

APPLICATION_ID = 0x62624A53  # b"bbJS"
SCHEMA_VERSION = 1
_MARKER = "brainbatch-store"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE jobs (
    num          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    name         TEXT UNIQUE,
    status       TEXT NOT NULL,
    error        TEXT,
    total        INTEGER NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    started_at   TEXT,
    completed_at TEXT,
    spec         TEXT NOT NULL,
    metadata     TEXT NOT NULL
);
CREATE TABLE requests (
    job        INTEGER NOT NULL REFERENCES jobs(num) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    custom_id  TEXT,
    body_hash  TEXT NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (job, seq)
);
CREATE TABLE results (
    id       INTEGER PRIMARY KEY,
    status   TEXT NOT NULL,
    cached   INTEGER NOT NULL,
    cost_usd REAL,
    data     TEXT NOT NULL
);
CREATE TABLE provider_batches (
    job            INTEGER NOT NULL REFERENCES jobs(num) ON DELETE CASCADE,
    position       INTEGER NOT NULL,
    batch_id       TEXT NOT NULL,
    provider       TEXT,
    status         TEXT,
    input_file_id  TEXT,
    output_file_id TEXT,
    error_file_id  TEXT,
    data           TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (job, position)
);
CREATE TABLE cache (
    key        TEXT PRIMARY KEY,
    namespace  TEXT NOT NULL,
    body_hash  TEXT NOT NULL,
    response   TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""


RESULT_ID_SHIFT = 32
"""``results.id`` is ``(jobs.num << 32) | requests.seq``: one B-tree for the journal's inserts
(no second index to update), and a job's results are one ``id`` range."""


def result_id_range(job_num: int) -> tuple[int, int]:
    """The first and last ``results.id`` a job can have."""
    lo = job_num << RESULT_ID_SHIFT
    return lo, lo + (1 << RESULT_ID_SHIFT) - 1


def default_store_path() -> Path:
    """``$BRAINBATCH_STORE`` if set, else ``./.brainbatch/jobs.sqlite`` (beside the notebook)."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.cwd() / ".brainbatch" / "jobs.sqlite"


def _refuse(path: Path, why: str) -> StoreError:
    return StoreError(
        f"{path} cannot be used as a brainbatch store: {why}. The file was not modified; "
        f"pass another path (store=...) or set {ENV_VAR}."
    )


def _prepare_file(path: Path) -> None:
    """Create the folder (0700, if we make it) and the file (0600) when missing."""
    if path.is_dir():
        raise _refuse(path, "it is a directory")
    parent = path.parent
    if not parent.exists():
        try:
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store folder {parent}: {exc}") from exc
    if path.exists():
        # No open()/read() of the file here: closing any descriptor of a database file drops
        # every POSIX lock this process holds on it, including those of SQLite connections
        # already open on it (then another process may think it is the last user and
        # delete the WAL under us). SQLite itself recognises foreign files (_inspect).
        return
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:  # another process created it just now: check it like any file
        _prepare_file(path)
        return
    except OSError as exc:
        raise StoreError(f"cannot create the store file {path}: {exc}") from exc
    os.close(fd)


def _inspect(conn: sqlite3.Connection, path: Path) -> str:
    """``"ours"``, ``"empty"``; raises for anything else. Reads only."""
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
    except sqlite3.DatabaseError as exc:
        raise _refuse(path, f"it is not a SQLite database, or a damaged one ({exc})") from exc
    if app_id == APPLICATION_ID:
        if version > SCHEMA_VERSION:
            raise _refuse(
                path,
                f"it was written by a newer brainbatch (schema {version}, this one reads "
                f"up to {SCHEMA_VERSION}); upgrade brainbatch",
            )
        if "meta" not in tables or "jobs" not in tables:
            raise _refuse(path, "it carries the brainbatch marker but its tables are missing")
        return "ours"
    if app_id == 0 and not tables:
        return "empty"
    shown = ", ".join(sorted(tables)[:5]) or "none"
    raise _refuse(
        path, f"it is another program's SQLite database (application_id {app_id}, tables: {shown})"
    )


def connect(path: Path, busy_timeout_s: float = 30.0) -> sqlite3.Connection:
    """Open (creating if needed) the store at ``path``; check it is ours before any write.

    The connection is in autocommit mode (``isolation_level=None``): callers group writes with
    explicit ``BEGIN IMMEDIATE`` / ``COMMIT``. ``synchronous=NORMAL`` in WAL mode keeps every
    committed transaction through a process crash (a kill, a dead kernel); only a power loss
    can take back the last commits.

    Raises:
        StoreError: naming ``path``, for a foreign, damaged or newer file (left untouched).
    """
    path = Path(path)
    _prepare_file(path)
    try:
        conn = sqlite3.connect(
            str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise _refuse(path, str(exc)) from exc
    try:
        state = _inspect(conn, path)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        if state == "empty":
            _create_schema(conn, path)
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{path}: SQLite refused WAL mode (journal_mode={mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def _create_schema(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        if _inspect(conn, path) == "ours":  # another process won the race
            conn.execute("ROLLBACK")
            return
        for stmt in _SCHEMA.split(";"):
            if stmt.strip():
                conn.execute(stmt)
        conn.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?)",
            [
                ("schema", _MARKER),
                ("version", str(SCHEMA_VERSION)),
                ("result_fields", ",".join(RESULT_FIELDS)),
            ],
        )
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise

"""Opening a store file safely, and saying clearly why a store cannot be used.

A brainbatch store is a SQLite database in WAL mode that carries two markers: the SQLite
header's ``application_id`` (:data:`APPLICATION_ID`, "bbJS") and ``user_version``
(:data:`SCHEMA_VERSION`), plus a ``meta`` table naming the schema. A file is used only when it
is ours or is empty (a new database); anything else (not SQLite, another program's SQLite
database, a newer schema) is refused with a :class:`~brainbatch.errors.StoreError` naming the
path, and left exactly as it was: nothing is written before the checks pass.

What can go wrong with a store, and what brainbatch says (every one a ``StoreError``):

* **the disk is full** (:class:`StoreFull`): "the disk holding the store X is full: free space
  and run `brainbatch resume NAME`; the rows done so far are kept". A running job stops at
  once (a store that cannot write must not let more requests be paid for) and stays resumable;
* **it cannot be written** (:class:`StoreReadOnly`): "permission denied: cannot write the store
  at X (read-only file)" or "(read-only folder)". Such a store is opened read-only
  (``mode=ro``), so ``brainbatch jobs``, :meth:`~brainbatch.store.JobStore.list_jobs` and
  :meth:`~brainbatch.store.JobStore.load_job` still work; only writes are refused;
* **it is damaged** (:class:`StoreDamaged`): "the store X is damaged (SQLite: ...); recover
  what can be read with `python -m brainbatch.store.recover X` ...", whether the damage is
  found when the file is opened or later, in a page a query reads.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import orjson

from ..errors import StopJob, StoreError
from ._codec import RESULT_FIELDS

__all__ = [
    "APPLICATION_ID",
    "ENV_VAR",
    "MAX_PAGES_ENV_VAR",
    "SCHEMA_VERSION",
    "StoreDamaged",
    "StoreFull",
    "StoreReadOnly",
    "connect",
    "default_store_path",
    "store_error",
]

ENV_VAR = "BRAINBATCH_STORE"
"""Environment variable naming the store file used when no path is given."""

MAX_PAGES_ENV_VAR = "BRAINBATCH_STORE_MAX_PAGES"
"""For testing only: caps every store connection at this many pages (``PRAGMA
max_page_count``), so that SQLite raises its real "database or disk is full" error once the
file would grow past it. Lets tests fill "the disk" without filling a disk."""

APPLICATION_ID = 0x62624A53  # b"bbJS"
SCHEMA_VERSION = 2
"""1: jobs, requests, results, provider batches, cache. 2: adds ``leases`` (who runs a job)."""
_MARKER = "brainbatch-store"

_LEASES = """
CREATE TABLE IF NOT EXISTS leases (
    job          INTEGER PRIMARY KEY REFERENCES jobs(num) ON DELETE CASCADE,
    host         TEXT NOT NULL,
    host_id      TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    token        TEXT NOT NULL,
    ttl_s        REAL NOT NULL,
    acquired_at  REAL NOT NULL,
    heartbeat_at REAL NOT NULL
)
"""

_SCHEMA = f"""
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
{_LEASES};
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


# -- the errors -----------------------------------------------------------------------------------


class StoreFull(StoreError, StopJob):
    """The disk holding the store is full (SQLite's ``SQLITE_FULL``).

    A running job stops at once (no request is sent that could not be recorded), keeps every
    row committed so far and stays resumable.
    """

    job_status: ClassVar[str] = "failed"
    request_sent = False


class StoreReadOnly(StoreError):
    """The store cannot be written (read-only file or folder); it can still be read."""


class StoreDamaged(StoreError):
    """The store file is damaged (SQLite found a malformed page)."""


def _q(path: Path | str) -> str:
    return shlex.quote(str(path))


def _resume_hint(job: str | None) -> str:
    if job:
        return f"free space and run `brainbatch resume {job}` (or bb.resume({job!r}))"
    return "free space and run the job again with the same job_name (or `brainbatch resume`)"


def store_full(path: Path, job: str | None = None) -> StoreFull:
    """The error for a full disk; ``job`` names the job to resume."""
    return StoreFull(
        f"the disk holding the store {path} is full: {_resume_hint(job)}; the rows done so far "
        "are kept"
    )


def _read_only_reason(path: Path) -> str:
    if path.exists() and not os.access(path, os.W_OK):
        return "read-only file"
    folder = path.parent
    if not os.access(folder, os.W_OK):
        return (
            f"read-only folder: SQLite needs to create {path.name}-wal and {path.name}-shm "
            "beside it"
        )
    return "read-only file system or file"


def store_read_only(path: Path, why: str | None = None) -> StoreReadOnly:
    """The error for a store that cannot be written."""
    return StoreReadOnly(
        f"permission denied: cannot write the store at {path} ({why or _read_only_reason(path)})"
        f"; it can still be read (brainbatch jobs). Make it writable (chmod u+w), or use "
        f"another store (--store PATH, store=..., or ${ENV_VAR})"
    )


def store_damaged(path: Path, detail: str) -> StoreDamaged:
    """The error for a damaged store, with the command that recovers what can be read
    (:mod:`brainbatch.store.recover`; ``sqlite3 .recover`` fails with many builds of the
    sqlite3 tool)."""
    out = _q(str(path) + ".recovered")
    return StoreDamaged(
        f"the store {path} is damaged (SQLite: {detail}); recover what can be read with "
        f"`python -m brainbatch.store.recover {_q(path)}` (it writes {out} and lists what was "
        f"lost), check it with `brainbatch jobs --store {out}`, then use that file (keep the "
        "damaged one until you are sure)"
    )


_READ_ONLY_CODES = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")
_DAMAGED_CODES = ("SQLITE_CORRUPT", "SQLITE_NOTADB")


def store_error(exc: BaseException, path: Path, job: str | None = None) -> StoreError:
    """``exc`` (raised by SQLite, the file system or the JSON decoder while using the store
    at ``path``) as the :class:`StoreError` that says what happened; ``job`` names the job
    for a "disk full: resume it" message."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, sqlite3.Error):
        name = str(getattr(exc, "sqlite_errorname", "") or "")
        text = str(exc)
        if name.startswith("SQLITE_FULL"):
            return store_full(path, job)
        if name.startswith(_READ_ONLY_CODES):
            return store_read_only(path)
        if name.startswith(_DAMAGED_CODES):
            return store_damaged(path, text)
        if "could not decode" in text.lower():
            return store_damaged(path, f"a text value is not valid UTF-8: {text[:80]}")
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return StoreError(
                f"the store {path} stayed locked by another process longer than its busy "
                f"timeout ({text}); try again, or raise busy_timeout"
            )
        return StoreError(f"the store {path} could not be used (SQLite: {text})")
    if isinstance(exc, UnicodeDecodeError | orjson.JSONDecodeError):
        return store_damaged(path, f"a stored value cannot be decoded: {exc}")
    if isinstance(exc, PermissionError):
        return store_read_only(path)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return store_full(path, job)
    return StoreError(f"the store {path} could not be used: {exc}")


@contextlib.contextmanager
def translated(path: Path, job: str | None = None) -> Iterator[None]:
    """Raise any SQLite / decoding error inside the block as the :func:`store_error` for it."""
    try:
        yield
    except (sqlite3.Error, UnicodeDecodeError, orjson.JSONDecodeError, OSError) as exc:
        if isinstance(exc, StoreError):
            raise
        raise store_error(exc, path, job) from exc


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already done so.

    After some errors (``SQLITE_FULL``, I/O errors) SQLite rolls the transaction back itself; a
    ROLLBACK then fails with "cannot rollback - no transaction is active", which would hide
    the error that matters.
    """
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


# -- opening --------------------------------------------------------------------------------------


def _refuse(path: Path, why: str) -> StoreError:
    return StoreError(
        f"{path} cannot be used as a brainbatch store: {why}. The file was not modified; "
        f"pass another path (store=...) or set {ENV_VAR}."
    )


_OPEN: Counter[str] = Counter()
"""Connections this process holds open, per store file (see :func:`_looks_like_sqlite`)."""
_OPEN_LOCK = threading.Lock()


def _looks_like_sqlite(path: Path) -> bool | None:
    """Whether the file starts with SQLite's header; None when that cannot be checked safely.

    Reading the file from Python is only safe when this process holds no SQLite connection
    on it: closing any descriptor of a database file drops every POSIX lock this process
    holds on it, including those of SQLite connections already open on it (then another
    process may think it is the last user and delete the WAL under us).
    """
    with _OPEN_LOCK:
        if _OPEN[str(path)]:
            return None
        try:
            with open(path, "rb") as f:
                return f.read(16) == b"SQLite format 3\x00"
        except OSError:
            return None


def _prepare_file(path: Path) -> bool:
    """Create the folder (0700, if we make it) and the file (0600) when missing.

    Returns whether the store can be written (else it is opened read-only).
    """
    if path.is_dir():
        raise _refuse(path, "it is a directory")
    parent = path.parent
    if not parent.exists():
        try:
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except PermissionError as exc:
            raise StoreReadOnly(
                f"permission denied: cannot create the store folder {parent} ({exc.strerror}); "
                f"use another store (--store PATH, store=..., or ${ENV_VAR})"
            ) from exc
        except OSError as exc:
            raise StoreError(f"cannot create the store folder {parent}: {exc}") from exc
    if path.exists():
        # No open()/read() of the file here (see _looks_like_sqlite); SQLite itself
        # recognises foreign files (_inspect).
        return os.access(path, os.W_OK) and os.access(parent, os.W_OK | os.X_OK)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:  # another process created it just now: check it like any file
        return _prepare_file(path)
    except PermissionError as exc:
        raise StoreReadOnly(
            f"permission denied: cannot create the store file {path} (read-only folder); "
            f"use another store (--store PATH, store=..., or ${ENV_VAR})"
        ) from exc
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise store_full(path) from exc
        raise StoreError(f"cannot create the store file {path}: {exc}") from exc
    os.close(fd)
    return True


def _inspect(conn: sqlite3.Connection, path: Path) -> tuple[str, int]:
    """(``"ours"`` or ``"empty"``, schema version); raises for anything else. Reads only.

    The three reads are one snapshot: outside a transaction each statement would be its own,
    and a process creating the store between them looks like "tables, but no marker" (another
    program's database). Every statement is read to its end (``fetchall``), so none keeps a
    read lock open that would make a later ``BEGIN IMMEDIATE`` fail at once as a deadlock.
    """
    own = not conn.in_transaction
    try:
        if own:
            conn.execute("BEGIN")
        try:
            app_id = conn.execute("PRAGMA application_id").fetchall()[0][0]
            version = conn.execute("PRAGMA user_version").fetchall()[0][0]
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
                ).fetchall()
            ]
        finally:
            if own and conn.in_transaction:
                conn.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        name = str(getattr(exc, "sqlite_errorname", "") or "")
        if name.startswith(_READ_ONLY_CODES):
            raise
        if name.startswith("SQLITE_NOTADB") and _looks_like_sqlite(path) is False:
            raise _refuse(path, "it is not a SQLite database") from exc
        raise store_damaged(path, str(exc)) from exc
    if app_id == APPLICATION_ID:
        if version > SCHEMA_VERSION:
            raise _refuse(
                path,
                f"it was written by a newer brainbatch (schema {version}, this one reads "
                f"up to {SCHEMA_VERSION}); upgrade brainbatch",
            )
        if "meta" not in tables or "jobs" not in tables:
            raise _refuse(path, "it carries the brainbatch marker but its tables are missing")
        return "ours", int(version)
    if app_id == 0 and not tables:
        return "empty", 0
    shown = ", ".join(sorted(tables)[:5]) or "none"
    raise _refuse(
        path, f"it is another program's SQLite database (application_id {app_id}, tables: {shown})"
    )


def _max_pages() -> int | None:
    raw = os.environ.get(MAX_PAGES_ENV_VAR, "").strip()
    return int(raw) if raw else None


def _open(path: Path, busy_timeout_s: float, read_only: bool) -> sqlite3.Connection:
    if read_only:
        # mode=ro needs the -wal and -shm files to exist or to be creatable; in a read-only
        # folder without them (the store was closed cleanly, its WAL merged) only
        # immutable=1 can open it, and that is safe there: nobody can write the file then.
        wal = Path(str(path) + "-wal")
        flags = "mode=ro"
        shm = Path(str(path) + "-shm")
        no_wal = not (wal.exists() and wal.stat().st_size)
        if not os.access(path.parent, os.W_OK) and no_wal and not shm.exists():
            flags = "immutable=1"
        uri = f"{path.absolute().as_uri()}?{flags}"
        return sqlite3.connect(
            uri, uri=True, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
    return sqlite3.connect(
        str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
    )


def connect(
    path: Path, busy_timeout_s: float = 30.0, *, read_only: bool | None = None
) -> sqlite3.Connection:
    """Open (creating if needed) the store at ``path``; check it is ours before any write.

    The connection is in autocommit mode (``isolation_level=None``): callers group writes with
    explicit ``BEGIN IMMEDIATE`` / ``COMMIT``. ``synchronous=NORMAL`` in WAL mode keeps every
    committed transaction through a process crash (a kill, a dead kernel); only a power loss
    can take back the last commits.

    ``read_only``: True opens the store for reading only; None (default) does so when the file
    or its folder cannot be written (``PRAGMA query_only`` is then on: :func:`is_read_only`).

    Raises:
        StoreError: naming ``path``, for a foreign or newer file (left untouched);
            :class:`StoreDamaged` for a damaged one; :class:`StoreReadOnly` when a read-only
            store would have to be created or upgraded.
    """
    path = Path(path)
    writable = _prepare_file(path)
    ro = bool(read_only) or not writable
    try:
        conn = _open(path, busy_timeout_s, ro)
    except sqlite3.Error as exc:
        raise store_error(exc, path) from exc
    try:
        try:
            state, version = _inspect(conn, path)
        except sqlite3.DatabaseError as exc:  # read-only in fact (e.g. a read-only mount)
            if ro:
                raise store_error(exc, path) from exc
            conn.close()
            return connect(path, busy_timeout_s, read_only=True)
    except BaseException:
        conn.close()
        raise
    with _OPEN_LOCK:
        _OPEN[str(path)] += 1
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        if ro:
            if state == "empty":
                raise store_read_only(path, "read-only, and it is not a store yet")
            conn.execute("PRAGMA query_only = ON")
            return conn
        try:
            if state == "empty":
                _create_schema(conn, path)
            elif version < SCHEMA_VERSION:
                _upgrade(conn, path)
            mode = _set_wal(conn, busy_timeout_s)
        except sqlite3.Error as exc:
            raise store_error(exc, path) from exc
        if str(mode).lower() != "wal":
            raise StoreError(f"{path}: SQLite refused WAL mode (journal_mode={mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        pages = _max_pages()
        if pages is not None:
            conn.execute(f"PRAGMA max_page_count = {int(pages)}")
    except BaseException:
        close(conn, path)
        raise
    return conn


def _set_wal(conn: sqlite3.Connection, busy_timeout_s: float) -> str:
    """Switch to WAL (a no-op once the file is WAL); the journal mode it ends in.

    The first switch needs the file to itself, and SQLite answers SQLITE_BUSY at once, without
    its busy handler, while another process that opened the new store at the same moment still
    reads it: try again for up to the busy timeout.
    """
    deadline = time.monotonic() + busy_timeout_s
    delay = 0.005
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchall()[0][0])
        except sqlite3.OperationalError as exc:
            name = str(getattr(exc, "sqlite_errorname", "") or "")
            if not name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def is_read_only(conn: sqlite3.Connection) -> bool:
    """Whether :func:`connect` opened ``conn`` for reading only."""
    return bool(conn.execute("PRAGMA query_only").fetchone()[0])


def close(conn: sqlite3.Connection, path: Path) -> None:
    """Close a connection made by :func:`connect` (every one must be closed through here)."""
    conn.close()
    key = str(Path(path))
    with _OPEN_LOCK:
        _OPEN[key] -= 1
        if _OPEN[key] <= 0:
            del _OPEN[key]


def _create_schema(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        if _inspect(conn, path)[0] == "ours":  # another process won the race
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
        rollback(conn)
        raise


def _upgrade(conn: sqlite3.Connection, path: Path) -> None:
    """Bring a store of an older schema up to :data:`SCHEMA_VERSION` (one transaction)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if _inspect(conn, path)[1] >= SCHEMA_VERSION:  # another process did it
            conn.execute("ROLLBACK")
            return
        conn.execute(_LEASES)
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('version', ?)", ("2",))
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the store has table ``name`` (a read-only store of an older schema may not)."""
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)
    ).fetchone()
    return row is not None


def loads(text: Any) -> Any:
    """JSON from a stored column."""
    return orjson.loads(text)

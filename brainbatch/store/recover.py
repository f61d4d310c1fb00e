"""Recover what can still be read from a damaged store into a new store file.

    python -m brainbatch.store.recover STORE [OUT]

writes ``OUT`` (default ``STORE.recovered``, which must not exist yet) and prints what was
recovered and what was lost. The damaged file is only read (``mode=ro``). Then check the new
file (``brainbatch jobs --store OUT``) and use it in place of the old one.

Why not ``sqlite3 STORE .recover``: many builds of the ``sqlite3`` tool lack the
``sqlite_dbpage`` table it needs (Debian's 3.40 fails with "SQL logic error" even on a sound
file), and ``.dump`` ends a damaged file's dump with ``ROLLBACK``, which loads nothing.

How: every table is read by ``rowid`` ranges, not through its indexes; a range that hits a
damaged page is halved until the damaged rows are isolated and skipped. Rows whose text is not
valid UTF-8 or whose JSON does not parse are skipped too. A job that lost any of its request
rows is left out (its rows could no longer be matched to its input; run the input again),
and so are its results. Results and cached answers on damaged pages are lost: those rows are
sent (and paid) again when the job is resumed. Leases and cancel flags are not copied.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..errors import StoreError
from ._db import RESULT_ID_SHIFT, close, connect

__all__ = ["Recovery", "recover"]

_TABLES = ("meta", "jobs", "requests", "results", "provider_batches", "cache")
_JSON_COLUMNS = {
    "jobs": ("spec", "metadata"),
    "requests": ("body",),
    "results": ("data",),
    "provider_batches": ("data",),
    "cache": ("response",),
}
_CHUNK = 2000
_NEW_META = ("schema", "version")  # written by the new store itself


@dataclass
class Recovery:
    """What :func:`recover` copied and what it could not."""

    path: Path
    copied: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    """Rows read but unusable (bad text or JSON), per table."""
    damaged: dict[str, int] = field(default_factory=dict)
    """Damaged spans skipped, per table (the rows on a damaged page, one span or more)."""
    jobs_left_out: list[str] = field(default_factory=list)
    """Jobs that lost request rows: ``"name (id): k of n requests lost"``."""
    problems: list[str] = field(default_factory=list)
    """The first problems SQLite's integrity check finds in the damaged file (some damage,
    such as a garbled index page, loses rows without any read failing)."""

    def summary(self) -> str:
        lines = [f"recovered into {self.path}:"]
        for table in _TABLES:
            note = ""
            if self.damaged.get(table):
                note += f", {self.damaged[table]} damaged span(s) skipped"
            if self.skipped.get(table):
                note += f", {self.skipped[table]} unreadable rows skipped"
            lines.append(f"  {table}: {self.copied.get(table, 0)} rows{note}")
        for job in self.jobs_left_out:
            lines.append(f"  left out job {job}: run its input again")
        if self.problems:
            lines.append(
                "the damaged file fails SQLite's integrity check (rows on the damaged pages "
                f"are lost; resuming sends them again): {'; '.join(self.problems)[:300]}"
            )
        return "\n".join(lines)


def _open_damaged(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, isolation_level=None)
    conn.text_factory = bytes
    return conn


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    names = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def _rows(
    conn: sqlite3.Connection, table: str, columns: Sequence[str], report: Recovery
) -> Iterator[tuple[Any, ...]]:
    """``(rowid, *columns)`` of every readable row, in rowid order.

    Reads forward in chunks; a chunk that fails is retried smaller until the failing row is
    the next one, and then the damaged span is skipped: the first rowid past it is found by
    bisection (a probe inside a damaged page fails, one past it reads the next page).
    """
    cols = ", ".join(columns)
    query = (
        f"SELECT rowid, {cols} FROM {table} WHERE rowid >= ? AND rowid <= ? ORDER BY rowid LIMIT ?"
    )
    try:
        lo, hi = conn.execute(f"SELECT min(rowid), max(rowid) FROM {table}").fetchone()
    except sqlite3.DatabaseError:
        lo, hi = -(2**63), 2**63 - 1
    if lo is None:
        return
    pos, hi, limit = int(lo), int(hi), _CHUNK
    while pos <= hi:
        try:
            rows = conn.execute(query, (pos, hi, limit)).fetchall()
        except sqlite3.DatabaseError:
            if limit > 1:
                limit = max(1, limit // 8)
                continue
            report.damaged[table] = report.damaged.get(table, 0) + 1
            pos, limit = _past_damage(conn, table, pos, hi), _CHUNK
            continue
        yield from rows
        if len(rows) < limit:
            return
        pos, limit = int(rows[-1][0]) + 1, min(_CHUNK, limit * 8)


def _past_damage(conn: sqlite3.Connection, table: str, bad: int, hi: int) -> int:
    """The smallest rowid after ``bad`` from which reading works again (``hi + 1``: none)."""

    def readable(pos: int) -> bool:
        try:
            conn.execute(
                f"SELECT rowid FROM {table} WHERE rowid >= ? AND rowid <= ? ORDER BY rowid LIMIT 1",
                (pos, hi),
            ).fetchall()
        except sqlite3.DatabaseError:
            return False
        return True

    fail, ok = bad, hi + 1
    while ok - fail > 1:
        mid = fail + (ok - fail) // 2
        if readable(mid):
            ok = mid
        else:
            fail = mid
    return ok


def _decoded(table: str, columns: Sequence[str], row: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The row with text decoded, or None when its text or JSON is damaged."""
    out = []
    try:
        for value in row:
            out.append(value.decode("utf-8") if isinstance(value, bytes) else value)
        for name in _JSON_COLUMNS.get(table, ()):
            orjson.loads(out[columns.index(name) + 1])
    except (UnicodeDecodeError, orjson.JSONDecodeError, TypeError):
        return None
    return tuple(out)


def recover(path: str | Path, out: str | Path | None = None) -> Recovery:
    """Copy every readable row of the store at ``path`` into a new store ``out``.

    Raises:
        StoreError: ``out`` exists already, or not even the table list of ``path`` can be read.
    """
    src_path = Path(path)
    dst_path = Path(out) if out is not None else Path(str(src_path) + ".recovered")
    if dst_path.exists():
        raise StoreError(f"{dst_path} exists already: pass another output file")
    if not src_path.is_file():
        raise StoreError(f"no store file at {src_path}")
    report = Recovery(dst_path)
    src = _open_damaged(src_path)
    try:
        try:
            tables = {
                r[0].decode()
                for r in src.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot read the table list of {src_path} (SQLite: {exc}): nothing can be "
                "recovered from it"
            ) from exc
        report.problems = _problems(src)
        dst = connect(dst_path)
        try:
            dst.execute("PRAGMA foreign_keys = OFF")  # rows of a lost job row: removed below
            dst.execute("BEGIN IMMEDIATE")
            for table in _TABLES:
                if table in tables:
                    _copy(src, dst, table, report)
            _drop_incomplete_jobs(dst, report)
            dst.execute("COMMIT")
        except BaseException:
            if dst.in_transaction:
                dst.execute("ROLLBACK")
            raise
        finally:
            close(dst, dst_path)
    finally:
        src.close()
    return report


def _problems(conn: sqlite3.Connection) -> list[str]:
    try:
        rows = conn.execute("PRAGMA integrity_check(5)").fetchall()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    found = [r[0].decode(errors="replace") if isinstance(r[0], bytes) else str(r[0]) for r in rows]
    lines = [line for text in found for line in text.splitlines() if line.strip()]
    return [] if lines == ["ok"] else [ln for ln in lines if not ln.startswith("***")][:5]


def _copy(src: sqlite3.Connection, dst: sqlite3.Connection, table: str, report: Recovery) -> None:
    columns = [c for c in _columns(dst, table) if c in set(_columns(src, table))]
    marks = ",".join("?" * len(columns))
    insert = f"INSERT OR IGNORE INTO {table}({', '.join(columns)}) VALUES ({marks})"
    if table == "meta":
        insert = f"INSERT OR REPLACE INTO {table}({', '.join(columns)}) VALUES ({marks})"
    copied = skipped = 0
    for raw in _rows(src, table, columns, report):
        row = _decoded(table, columns, raw)
        if row is None:
            skipped += 1
            continue
        values = row[1:]
        if table == "meta" and (values[0] in _NEW_META or str(values[0]).startswith("cancel:")):
            continue
        dst.execute(insert, values)
        copied += 1
    report.copied[table] = copied
    if skipped:
        report.skipped[table] = skipped


def _drop_incomplete_jobs(dst: sqlite3.Connection, report: Recovery) -> None:
    """Leave out the jobs that lost request rows, and the rows of jobs no longer there."""
    orphans = dst.execute(
        "SELECT DISTINCT job FROM requests WHERE job NOT IN (SELECT num FROM jobs)"
    ).fetchall()
    for (num,) in orphans:
        report.jobs_left_out.append(f"#{num} (its own row was lost)")
    for table in ("requests", "provider_batches"):
        dst.execute(f"DELETE FROM {table} WHERE job NOT IN (SELECT num FROM jobs)")
    jobs = dst.execute(
        "SELECT j.num, j.id, coalesce(j.name, j.id), j.total,"
        " (SELECT count(*) FROM requests q WHERE q.job = j.num) FROM jobs j"
    ).fetchall()
    for num, job_id, label, total, have in jobs:
        if have != total:
            report.jobs_left_out.append(f"{label!r} (id {job_id}): {total - have} of {total} lost")
            lo = num << RESULT_ID_SHIFT
            dst.execute("DELETE FROM results WHERE id BETWEEN ? AND ?", (lo, lo + (1 << 32) - 1))
            for table in ("requests", "provider_batches"):
                dst.execute(f"DELETE FROM {table} WHERE job=?", (num,))
            dst.execute("DELETE FROM jobs WHERE num=?", (num,))
    dst.execute(
        "DELETE FROM results WHERE NOT EXISTS (SELECT 1 FROM requests q"
        " WHERE q.job = results.id >> 32 AND q.seq = results.id & 4294967295)"
    )
    report.copied["results"] = dst.execute("SELECT count(*) FROM results").fetchone()[0]
    report.copied["jobs"] = dst.execute("SELECT count(*) FROM jobs").fetchone()[0]
    report.copied["requests"] = dst.execute("SELECT count(*) FROM requests").fetchone()[0]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) not in (1, 2) or args[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        report = recover(*args)
    except StoreError as exc:
        print(f"brainbatch.store.recover: error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    print(f"check it with `brainbatch jobs --store {report.path}`, then use it instead")
    return 0


if __name__ == "__main__":
    sys.exit(main())

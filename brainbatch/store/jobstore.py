"""JobStore: jobs, their requests and results in a SQLite file, reloadable from any process."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import orjson

from ..errors import InputError, StoreError
from ..models import BatchJob, BatchResult, BatchStatus
from . import _codec
from ._db import connect, default_store_path, result_id_range
from .journal import Journal, Writer, cancel_key

if TYPE_CHECKING:
    from ..executors import Executor, ProcessFn

__all__ = ["JobNotFound", "JobStore"]

_CHUNK = 500


class JobNotFound(StoreError, KeyError):
    """No job with this id or name in the store."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "job not found"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat()


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _batch_id(batch: Mapping[str, Any], position: int) -> str:
    for key in ("batch_id", "id", "provider_batch_id"):
        value = batch.get(key)
        if value:
            return str(value)
    return f"#{position}"


def batch_record_dict(batch: Any) -> Any:
    """A provider batch record at rest: its ``to_dict()`` (a typed ``ProviderBatch``), else
    the value itself (a dict stored by an earlier version, or by hand)."""
    to_dict = getattr(batch, "to_dict", None)
    return to_dict() if callable(to_dict) else batch


def write_metadata(conn: sqlite3.Connection, job_num: int, metadata: Mapping[str, Any]) -> None:
    """Store a job's metadata; ``provider_batches`` (records or dicts) goes to its own table."""
    meta = dict(metadata)
    batches = [batch_record_dict(b) for b in meta.pop("provider_batches", None) or []]
    conn.execute(
        "UPDATE jobs SET metadata=?, updated_at=? WHERE num=?",
        (_codec.dumps(_codec.scrub(meta)), _now(), job_num),
    )
    conn.execute("DELETE FROM provider_batches WHERE job=?", (job_num,))
    rows = []
    for pos, raw in enumerate(batches):
        b = _codec.scrub(dict(raw)) if isinstance(raw, Mapping) else {"value": str(raw)}
        rows.append(
            (
                job_num,
                pos,
                _batch_id(b, pos),
                b.get("provider"),
                b.get("status"),
                b.get("input_file_id"),
                b.get("output_file_id"),
                b.get("error_file_id"),
                _codec.dumps(b),
                _now(),
            )
        )
    conn.executemany(
        "INSERT INTO provider_batches(job, position, batch_id, provider, status, input_file_id,"
        " output_file_id, error_file_id, data, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        rows,
    )


_OPEN_STORES: weakref.WeakSet[JobStore] = weakref.WeakSet()


@atexit.register
def _close_open_stores() -> None:  # commit the last group on a normal interpreter exit
    for store in list(_OPEN_STORES):
        with contextlib.suppress(Exception):  # best effort at exit
            store.close()


class JobStore:
    """Jobs, requests, results, native batch ids and cached responses in one SQLite file.

    Args:
        path: the store file. Default: ``$BRAINBATCH_STORE``, else
            ``./.brainbatch/jobs.sqlite`` in the working directory (beside the notebook).
            The folder is created 0700 and the file 0600.
        flush_interval: longest time (s) a journaled result waits before being committed.
        flush_size: commit as soon as this many writes are waiting.
        busy_timeout: seconds to wait for another process holding the write lock.

    Raises:
        StoreError: naming the path, for a file that is not a brainbatch store (another
            program's database, not SQLite, damaged, newer schema); the file is left as is.

    Safe to share between threads; several processes may open the same file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        flush_interval: float = 0.1,
        flush_size: int = 64,
        busy_timeout: float = 30.0,
    ) -> None:
        if flush_interval <= 0:
            raise InputError(f"flush_interval must be > 0 seconds, got {flush_interval!r}")
        if flush_size < 1:
            raise InputError(f"flush_size must be >= 1, got {flush_size!r}")
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self.path = self.path.absolute()
        self._conn = connect(self.path, busy_timeout)
        self._lock = threading.RLock()
        self._writer = Writer(self.path, busy_timeout, flush_interval, flush_size)
        self._journals: weakref.WeakValueDictionary[str, Journal] = weakref.WeakValueDictionary()
        self._closed = False
        _OPEN_STORES.add(self)

    def __repr__(self) -> str:
        return f"JobStore({str(self.path)!r})"

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Commit everything queued, stop the journal thread, close the file. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._writer.close()
        finally:
            with self._lock:
                self._conn.close()
            _OPEN_STORES.discard(self)

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def flush(self) -> None:
        """Block until every queued result and cache entry is committed."""
        self._writer.flush()

    def _sql(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"the store {self.path} is closed")
        return self._conn

    def _write(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(conn, *args)`` in one short write transaction."""
        with self._lock:
            conn = self._sql()
            conn.execute("BEGIN IMMEDIATE")
            try:
                out = fn(conn, *args)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return out

    # -- jobs ------------------------------------------------------------------------------

    def create_job(
        self, job: BatchJob, name: str | None = None, spec: Mapping[str, Any] | None = None
    ) -> BatchJob:
        """Store ``job`` (its requests, any results it has, its metadata); returns it.

        ``name`` is unique in the store (re-running a cell uses it to find the job again).
        ``spec`` is what a resume needs to rebuild the run (provider name, base_url, model,
        params, limits, mode); anything key-like in it is scrubbed: keys are never stored.

        Raises:
            StoreError: the id or the name is already in the store.
        """
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise InputError(f"job name must be a non-empty string, got {name!r}")
        now = _now()
        reqs = [
            (i, r.id, r.custom_id, _codec.body_hash(r), _codec.request_row_body(r))
            for i, r in enumerate(job.requests)
        ]

        def insert(conn: sqlite3.Connection) -> None:
            if name is not None:
                row = conn.execute("SELECT id FROM jobs WHERE name=?", (name,)).fetchone()
                if row is not None:
                    raise StoreError(
                        f"a job named {name!r} already exists in {self.path} (id {row[0]}); "
                        f"load it with load_job({name!r}) or pick another name"
                    )
            if conn.execute("SELECT 1 FROM jobs WHERE id=?", (job.job_id,)).fetchone():
                raise StoreError(f"job {job.job_id} is already in {self.path}")
            num = conn.execute(
                "INSERT INTO jobs(id, name, status, error, total, created_at, updated_at,"
                " started_at, completed_at, spec, metadata) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    job.job_id,
                    name,
                    BatchStatus(job.status).value,
                    _codec.scrub(job.error),
                    job.total,
                    _iso(job.created_at) or now,
                    now,
                    _iso(job.started_at),
                    _iso(job.completed_at),
                    _codec.dumps(_codec.scrub(dict(spec or {}))),
                    "{}",
                ),
            ).lastrowid
            conn.executemany(
                "INSERT INTO requests(job, seq, request_id, custom_id, body_hash, body)"
                f" VALUES ({int(num or 0)},?,?,?,?,?)",
                reqs,
            )
            seq_of = seq_index(job)
            _codec.insert_results(
                conn, int(num or 0), [(seq_of[r.request_id], r) for r in job.results]
            )
            write_metadata(conn, int(num or 0), job.metadata)

        self._write(insert)
        return job

    def get_or_create_job(
        self, job: BatchJob, name: str, spec: Mapping[str, Any] | None = None
    ) -> BatchJob:
        """The stored job called ``name`` if there is one, else ``job`` stored under it.

        This is what re-running a notebook cell with the same ``job_name=`` does: the stored job
        (with its results) comes back and resuming it sends only the rows without a result.

        Raises:
            StoreError: a job with that name exists but its requests differ from ``job``'s,
                naming the first differing row.
        """
        found = self.find_job(name)
        if found is None:
            try:
                return self.create_job(job, name=name, spec=spec)
            except StoreError:  # another process created it in between
                if self.find_job(name) is None:
                    raise
        num, _ = self._resolve(name)
        stored_rows = self._read(
            "SELECT custom_id, body_hash FROM requests WHERE job=? ORDER BY seq", (num,)
        )
        _check_same_requests(stored_rows, job, name)
        return self.load_job(name)

    def find_job(self, name: str) -> str | None:
        """The id of the job called ``name``, or None."""
        with self._lock:
            row = self._sql().execute("SELECT id FROM jobs WHERE name=?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def has_job(self, job_id_or_name: str) -> bool:
        """True if a job with this id or name is stored."""
        return self._resolve(job_id_or_name, missing_ok=True) is not None

    @overload
    def _resolve(self, job_id_or_name: str) -> tuple[int, str]: ...
    @overload
    def _resolve(self, job_id_or_name: str, missing_ok: bool) -> tuple[int, str] | None: ...

    def _resolve(self, job_id_or_name: str, missing_ok: bool = False) -> tuple[int, str] | None:
        """(row number, job id) of a job given by id or name."""
        with self._lock:
            row = (
                self._sql()
                .execute(
                    "SELECT num, id FROM jobs WHERE id=? UNION ALL"
                    " SELECT num, id FROM jobs WHERE name=? LIMIT 1",
                    (job_id_or_name, job_id_or_name),
                )
                .fetchone()
            )
        if row is None:
            if missing_ok:
                return None
            raise JobNotFound(f"no job with id or name {job_id_or_name!r} in {self.path}")
        return int(row[0]), str(row[1])

    def load_job(self, job_id_or_name: str) -> BatchJob:
        """Rebuild a stored job: requests in order, results, status, metadata.

        ``metadata["provider_batches"]`` holds the native batches recorded for it (so a batch
        executor can re-attach instead of resubmitting). Running an executor on the returned
        job sends only the requests without a result.

        Raises:
            JobNotFound: (a :class:`StoreError` and ``KeyError``) for an unknown id or name.
        """
        num, job_id = self._resolve(job_id_or_name)
        with self._lock:
            conn = self._sql()
            conn.execute("BEGIN")
            try:
                row = conn.execute(
                    "SELECT status, error, created_at, started_at, completed_at, metadata, name"
                    " FROM jobs WHERE num=?",
                    (num,),
                ).fetchone()
                reqs = conn.execute(
                    "SELECT request_id, custom_id, body FROM requests WHERE job=? ORDER BY seq",
                    (num,),
                ).fetchall()
                results = conn.execute(
                    "SELECT id & 4294967295, status, cached, cost_usd, data FROM results"
                    " WHERE id BETWEEN ? AND ?",
                    result_id_range(num),
                ).fetchall()
                batches = conn.execute(
                    "SELECT data FROM provider_batches WHERE job=? ORDER BY position", (num,)
                ).fetchall()
            finally:
                conn.execute("COMMIT")
        status, error, created, started, completed, meta_json, name = row
        metadata = orjson.loads(meta_json)
        if batches:
            metadata["provider_batches"] = [orjson.loads(b[0]) for b in batches]
        if name is not None:
            metadata.setdefault("job_name", name)
        requests = [_codec.request_from_row(*r) for r in reqs]
        fields = self._result_fields()
        loaded = [
            _codec.result_from_row(requests[seq], st, cached, cost, data, fields)
            for seq, st, cached, cost, data in results
        ]
        loaded.sort(key=lambda r: r.completed_at)
        return BatchJob(
            requests,
            job_id=job_id,
            status=BatchStatus(status),
            results=loaded,
            created_at=_dt(created) or datetime.now(UTC),
            started_at=_dt(started),
            completed_at=_dt(completed),
            metadata=metadata,
            error=error,
        )

    def _result_fields(self) -> tuple[str, ...]:
        rows = self._read("SELECT value FROM meta WHERE key='result_fields'", ())
        return tuple(rows[0][0].split(",")) if rows else _codec.RESULT_FIELDS

    def job_spec(self, job_id_or_name: str) -> dict[str, Any]:
        """The (scrubbed) settings stored with the job by :meth:`create_job`."""
        num, _ = self._resolve(job_id_or_name)
        with self._lock:
            row = self._sql().execute("SELECT spec FROM jobs WHERE num=?", (num,)).fetchone()
        spec: dict[str, Any] = orjson.loads(row[0])
        return spec

    def list_jobs(self) -> list[dict[str, Any]]:
        """One dict per stored job, oldest first.

        Keys: ``job_id``, ``name``, ``status``, ``total``, ``done``, ``succeeded``, ``failed``,
        ``cached``, ``pending``, ``cost_usd`` (all answers, cached included), ``paid_usd``
        (what was paid: cached rows excluded), ``created_at``, ``updated_at``, ``error``,
        ``provider_batches`` (how many native batches were recorded).
        """
        with self._lock:
            conn = self._sql()
            conn.execute("BEGIN")
            try:
                jobs = conn.execute(
                    "SELECT num, id, name, status, total, created_at, updated_at, error FROM jobs"
                    " ORDER BY created_at, num"
                ).fetchall()
                counts = {
                    r[0]: r[1:]
                    for r in conn.execute(
                        "SELECT id >> 32, count(*), total(status='success'), total(cached),"
                        " total(CASE WHEN cost_usd = cost_usd THEN cost_usd END),"
                        " total(CASE WHEN cached = 0 AND cost_usd = cost_usd THEN cost_usd END)"
                        " FROM results GROUP BY id >> 32"
                    )
                }
                nbatches = dict(
                    conn.execute(
                        "SELECT job, count(*) FROM provider_batches GROUP BY job"
                    ).fetchall()
                )
            finally:
                conn.execute("COMMIT")
        out = []
        for num, job_id, name, status, total, created, updated, error in jobs:
            done, ok, cached, cost, paid = counts.get(num, (0, 0.0, 0.0, 0.0, 0.0))
            out.append(
                {
                    "job_id": job_id,
                    "name": name,
                    "status": status,
                    "total": total,
                    "done": done,
                    "succeeded": int(ok),
                    "failed": done - int(ok),
                    "cached": int(cached),
                    "pending": total - done,
                    "cost_usd": float(cost),
                    "paid_usd": float(paid),
                    "created_at": _dt(created),
                    "updated_at": _dt(updated),
                    "error": error,
                    "provider_batches": nbatches.get(num, 0),
                }
            )
        return out

    def update_status(self, job: BatchJob) -> None:
        """Store the job's status, error, start/end times and metadata now."""

        def update(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE jobs SET status=?, error=?, started_at=?, completed_at=?, updated_at=?"
                " WHERE id=?",
                (
                    BatchStatus(job.status).value,
                    _codec.scrub(job.error),
                    _iso(job.started_at),
                    _iso(job.completed_at),
                    _now(),
                    job.job_id,
                ),
            )
            if cur.rowcount == 0:
                raise JobNotFound(f"job {job.job_id} is not in {self.path}; create_job() first")
            num = conn.execute("SELECT num FROM jobs WHERE id=?", (job.job_id,)).fetchone()[0]
            write_metadata(conn, num, job.metadata)

        self._write(update)

    def save_metadata(self, job: BatchJob) -> None:
        """Store ``job.metadata`` (incl. ``provider_batches``) now. Same as update_status."""
        self.update_status(job)

    def record_provider_batch(self, job: BatchJob, batch: Any) -> None:
        """Add (or update, by its ``id``/``batch_id``) a native batch in
        ``job.metadata["provider_batches"]`` and commit it at once.

        ``batch`` is a ``ProviderBatch`` record (kept as it is, stored by its ``to_dict()``)
        or a dict. A record already in the list (the same object: the batch executor puts
        it there first) is only committed. Call it before submitting (the intent) and as soon
        as the provider accepted the batch: a crash after that point re-attaches to the
        batch instead of paying for a second one.
        """
        batches = job.metadata.setdefault("provider_batches", [])
        if not any(b is batch for b in batches):
            new_id = _batch_id(batch_record_dict(batch), len(batches))
            keep = batch if not isinstance(batch, Mapping) else dict(batch)
            for i, b in enumerate(batches):
                old = batch_record_dict(b)
                if isinstance(old, Mapping) and _batch_id(old, i) == new_id:
                    batches[i] = keep
                    break
            else:
                batches.append(keep)
        self.update_status(job)

    def provider_batches(self, job_id_or_name: str) -> list[dict[str, Any]]:
        """The native batches recorded for a job, in the order they were recorded."""
        num, _ = self._resolve(job_id_or_name)
        rows = self._read("SELECT data FROM provider_batches WHERE job=? ORDER BY position", (num,))
        return [orjson.loads(r[0]) for r in rows]

    def delete_job(self, job_id_or_name: str) -> None:
        """Remove a job with its requests, results and batch records (the cache stays)."""
        num, _ = self._resolve(job_id_or_name)

        def delete(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM results WHERE id BETWEEN ? AND ?", result_id_range(num))
            conn.execute("DELETE FROM jobs WHERE num=?", (num,))

        self._write(delete)

    def forget_results(self, job: BatchJob, request_ids: Iterable[str]) -> int:
        """Delete the stored results of these requests of ``job`` (so a resume sends them
        again, e.g. rows refused for a wrong key); returns how many rows were deleted."""
        num, _ = self._resolve(job.job_id)
        seq_of = seq_index(job)
        base = num << 32
        ids = [(base | seq_of[r],) for r in request_ids if r in seq_of]
        self.flush()

        def delete(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany("DELETE FROM results WHERE id=?", ids)
            return conn.total_changes - before

        return int(self._write(delete))

    # -- cancelling from another process ---------------------------------------------------

    def request_cancel(self, job_id_or_name: str) -> str:
        """Ask whichever process runs this job to cancel it; returns the job's id.

        Sets a flag in the store that a running job's journal polls (every
        ``CANCEL_POLL_S``): the job stops starting requests and ends ``cancelled`` with its
        results kept (``brainbatch cancel`` uses this). Journaling the job again (a resume)
        clears the flag.

        Raises:
            JobNotFound: for an unknown id or name.
        """
        _, job_id = self._resolve(job_id_or_name)
        self._write(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                (cancel_key(job_id), _now()),
            )
        )
        return job_id

    def cancel_requested(self, job_id_or_name: str) -> bool:
        """True while the job carries a cancel flag (see :meth:`request_cancel`)."""
        _, job_id = self._resolve(job_id_or_name)
        return bool(self._read("SELECT 1 FROM meta WHERE key=?", (cancel_key(job_id),)))

    def clear_cancel(self, job_id_or_name: str) -> None:
        """Remove the job's cancel flag, if any."""
        _, job_id = self._resolve(job_id_or_name)
        self._write(
            lambda conn: conn.execute("DELETE FROM meta WHERE key=?", (cancel_key(job_id),))
        )

    # -- journaling ------------------------------------------------------------------------

    def journal(self, job: BatchJob) -> Journal:
        """Start journaling ``job``: every result it records from now on is committed in
        small groups, and its status and metadata changes follow. Stores the job first if it
        is not in the store yet. Close the journal (or use ``with``) when the job ends.

        Journaling a job that already has an open journal in this store returns that journal
        (each result is written once); each caller closes it once.
        """
        with self._lock:
            active = self._journals.get(job.job_id)
            if active is not None and active.job is job and not active.closed:
                active._refs += 1
                return active
        found = self._resolve(job.job_id, missing_ok=True)
        if found is None:
            self.create_job(job)
            found = self._resolve(job.job_id)
        self.clear_cancel(job.job_id)  # a flag left from an earlier run must not stop this one
        journal = Journal(self._writer, job, found[0])
        with self._lock:
            self._journals[job.job_id] = journal
        return journal

    async def execute(
        self,
        job: BatchJob,
        executor: Executor,
        process_fn: ProcessFn,
        *,
        cache: bool | None = None,
        namespace: str | None = None,
        strict: bool = True,
    ) -> list[BatchResult]:
        """Run (or resume) ``job`` with ``executor`` and ``process_fn``, journaled and cached.

        Stores the job if needed, answers cacheable requests from the response cache (see
        :class:`ResponseCache`; ``cache=None`` caches only ``temperature == 0`` requests,
        ``True`` all, ``False`` none), journals every result and commits the final status.
        Returns the job's results.

        ``strict=True`` (default): a slot sends its next request only once its previous result
        is committed, so a kill loses only the requests in flight (at most one per slot).
        ``strict=False``: results are committed at the end of the loop iteration they arrive
        in, without holding the slot back; a kill can lose up to two per slot (slightly less
        CPU per request; see :mod:`brainbatch.store.journal`).
        """
        from .cache import ResponseCache, cache_namespace

        fn = process_fn
        if cache is not False:
            rc = ResponseCache(self, enabled=cache)
            ns = namespace or cache_namespace(process_fn)
            rc.prefetch(job.iter_pending(), ns)
            fn = rc.wrap(process_fn, ns)
        journal = self.journal(job)
        try:
            return await executor.execute(job, journal.wrap(fn) if strict else fn)
        finally:
            await asyncio.to_thread(journal.close)

    # -- used by the cache -----------------------------------------------------------------

    def _queue(self, item: tuple[Any, ...]) -> None:
        self._writer.put(item)

    def _read(self, sql: str, params: Iterable[Any]) -> list[Any]:
        with self._lock:
            return self._sql().execute(sql, tuple(params)).fetchall()


def _check_same_requests(stored: list[Any], job: BatchJob, name: str) -> None:
    if len(stored) != job.total:
        raise StoreError(
            f"job {name!r} is stored with {len(stored)} requests but this one has {job.total}; "
            f"use another job_name or delete the stored job"
        )
    for i, ((cid, bhash), req) in enumerate(zip(stored, job.requests, strict=True)):
        if cid != req.custom_id or bhash != _codec.body_hash(req):
            what = "custom_id" if cid != req.custom_id else "prompt, system, model or params"
            raise StoreError(
                f"job {name!r} is stored with different requests: row {i} differs in {what} "
                f"(stored custom_id {cid!r}, given {req.custom_id!r}); use another job_name "
                f"or delete the stored job"
            )


def seq_index(job: BatchJob) -> dict[str, int]:
    """Request id -> position in the job (the ``seq`` its rows are stored under)."""
    return {r.id: i for i, r in enumerate(job.requests)}

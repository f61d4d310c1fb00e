"""The journal: results written to the store in small groups as they arrive.

Every result recorded on an event loop schedules (once per loop iteration) a group commit with
``loop.call_soon``: it runs on the loop at the end of the iteration and writes every result
that arrived in it in one transaction (about 20 us per commit plus 3-5 us per result here;
``bench/journal.py``). Committing on the loop rather than on a thread avoids waiting for the
GIL, which a busy loop holds for up to 5 ms at a time. Results recorded outside an event loop,
and anything the loop could not commit (the thread was mid-commit), are committed by the
store's background thread (:class:`Writer`, its own connection) within ``flush_interval``.

The thread also writes, every ``flush_interval`` (0.1 s by default), any change of a journaled
job's status, error, times and metadata (which is how native batch ids in
``job.metadata["provider_batches"]`` reach the disk), refreshes ``updated_at`` while the job
makes progress, and runs the WAL checkpoints.

What a hard kill (SIGKILL, a dead kernel) can lose
--------------------------------------------------
* **Strict** (:meth:`Journal.wrap` around the ``process_fn``; what
  :class:`brainbatch.runner.JobRunner` uses): a slot sends its next request only once its
  previous result is committed (it yields one loop iteration, by when the group commit has
  run). So each slot
  holds at most one request that is not on disk: the one it is working on. A kill loses at
  most ``max_concurrent`` answers, exactly the requests in flight, and only those are sent
  again on resume. ``tests/store/test_store_crash.py`` checks this with SIGKILLs and the
  simulated server's request log.
* **Listener only** (``store.journal(job)`` without ``wrap``): the requests in flight plus the
  results that arrived in the loop iteration running at the kill (their slots may already
  have sent their next request): at most two per slot.
* Native batches (no ``process_fn``): batch ids are committed within ``flush_interval`` of
  appearing in ``job.metadata["provider_batches"]``; :meth:`JobStore.record_provider_batch`
  commits one at once.

A full disk (:class:`~brainbatch.store.StoreFull`) or any other failed commit stops the job
at once: each slot waits for its previous result to be committed before sending, so no
request is sent that the store could not record. The rows committed so far stay; the job
stays resumable.

Committed transactions survive a process crash (WAL mode, ``synchronous=NORMAL``); only a power
loss or an OS crash can take back the last commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Generator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import StopJob, StoreError
from ..models import BatchJob, BatchRequest, BatchResult, BatchStatus, ProviderResponse
from . import _codec
from ._db import close, connect, rollback, store_error
from .lease import this_host

if TYPE_CHECKING:
    from ..executors import ProcessFn

__all__ = ["CANCEL_POLL_S", "Journal", "JournalError", "Writer", "cancel_key"]

log = logging.getLogger("brainbatch.store")

CHECKPOINT_S = 1.0
"""How often the journal thread copies committed pages from the WAL into the database."""

CANCEL_POLL_S = 0.25
"""How often the journal thread looks for cancel flags (``JobStore.request_cancel``)."""


def cancel_key(job_id: str) -> str:
    """The ``meta`` table key of a job's cancel flag (set by ``brainbatch cancel``)."""
    return f"cancel:{job_id}"


class JournalError(StoreError, StopJob):
    """The journal cannot write: the job stops (nothing more is sent) and keeps its results.

    A full disk raises :class:`~brainbatch.store.StoreFull` (also a ``StopJob``) instead.
    """

    job_status = "failed"
    request_sent = False


def _stop_error(exc: BaseException, path: Path, job: str | None) -> StoreError:
    """What a failed commit means for the jobs waiting on it: an error that stops them."""
    err = store_error(exc, path, job)
    if isinstance(err, StopJob):
        return err
    return JournalError(f"journal {path}: {err}")


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat()


def _now() -> str:
    return datetime.now(UTC).isoformat()


# One queued write: ("result", job_id, BatchResult) or ("cache", key, namespace, hash, response)
_Item = tuple[Any, ...]
# A journaled job's change: (status fields or None, metadata JSON or None)
_Change = tuple[tuple[Any, ...] | None, bytes | None]

# records in metadata (a native batch's ProviderBatch) are stored by their to_dict()
_META_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS


def _jsonable(obj: Any) -> Any:
    to_dict = getattr(obj, "to_dict", None)
    return to_dict() if callable(to_dict) else str(obj)


class _OneIteration:
    """``await _ONE_ITERATION`` gives the loop one turn (as ``asyncio.sleep(0)`` does, without
    making a coroutine each time: every journaled request awaits it once)."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        yield None


_ONE_ITERATION = _OneIteration()


class Writer:
    """The store's background committer. Thread-safe; started lazily, stopped by ``close``."""

    def __init__(
        self,
        path: Path,
        busy_timeout_s: float,
        flush_interval: float,
        flush_size: int,
        write_metadata: Callable[[sqlite3.Connection, int, Mapping[str, Any]], None],
    ):
        self.path = path
        self.write_metadata = write_metadata
        """How a job's metadata is written (``jobstore.write_metadata``), given by the store."""
        self.flush_interval = flush_interval
        self.flush_size = flush_size
        self._busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queue: list[_Item] = []
        self._seq = 0  # items ever queued
        self._committed = 0  # items known to be on disk
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._journals: list[Journal] = []
        self._wake = threading.Event()
        self._stopping = False
        self._error: BaseException | None = None
        self._logged: str | None = None
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._commit_lock = threading.Lock()
        self.inline = True
        self.eager = True
        self._take_next = False
        self._scheduled: set[asyncio.AbstractEventLoop] = set()
        self.commits = 0
        self._passes_started = 0
        self._passes_ended = 0
        self._oldest = 0.0

    # -- producer side (any thread, usually the event loop) --------------------------------

    def put(self, item: _Item) -> None:
        """Queue one write; wakes the thread once a group is full."""
        with self._lock:
            if not self._queue:
                self._oldest = time.monotonic()
            self._queue.append(item)
            self._seq += 1
            full = len(self._queue) >= self.flush_size
        if self._thread is None:
            self._start()
        if self.eager:
            try:
                loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is not None:
                if loop not in self._scheduled:
                    self._scheduled.add(loop)
                    loop.call_soon(self._commit_on_loop, loop)
                return
        if full and not self._wake.is_set():
            self._wake.set()

    def _commit_on_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """End of a loop iteration: commit what its results queued (one commit for all)."""
        self._scheduled.discard(loop)
        if not self.commit_inline():  # the thread is committing: it takes these next
            with self._lock:
                self._take_next = True
            self._wake.set()

    def commit_inline(self) -> bool:
        """Commit what is queued now on the calling thread, unless a commit is running.

        Returns False (and does nothing) when the journal thread is committing right now.
        """
        if self._conn is None or not self._commit_lock.acquire(blocking=False):
            return False
        try:
            self._commit_once(self._conn, full=False)
        finally:
            self._commit_lock.release()
        return True

    async def wait_durable(self) -> None:
        """Return once everything queued so far is committed.

        Raises:
            JournalError: the last commit failed (disk full, store locked for too long).
        """
        target = self._seq
        if self._committed >= target:
            return
        if self.inline:
            # Yield one loop iteration: the group commit put() scheduled runs first and covers
            # every result of this iteration (the first slot to resume commits if it did not).
            await _ONE_ITERATION
            if self._committed >= target or (self.commit_inline() and self._committed >= target):
                return
        while self._committed < target:  # the thread is committing (or failing): wait for it
            if self._error is not None:
                raise self._stop_error(self._error)
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[None] = loop.create_future()
            with self._lock:
                if self._committed >= target:
                    return
                self._waiters.append((target, loop, fut))
            self._wake.set()
            await fut

    @property
    def uncommitted(self) -> bool:
        """True while something queued is not known to be committed yet."""
        return self._committed < self._seq

    def flush(self, timeout: float = 60.0) -> None:
        """Block until everything queued so far (and the jobs' status) is committed."""
        if self._thread is None:
            self._start()
        with self._cond:
            goal = self._passes_started + 1  # a pass that starts after this call
            target = self._seq
            self._take_next = True
            self._wake.set()
            deadline = time.monotonic() + timeout
            while self._passes_ended < goal:
                if not self._cond.wait(max(0.0, deadline - time.monotonic())):
                    raise StoreError(f"journal {self.path}: flush timed out after {timeout}s")
            error = self._error
            if error is None and self._committed < target:  # pragma: no cover - defensive
                error = StoreError("queued results are not committed yet")
        if error is not None:
            raise self._stop_error(error)

    def _stop_error(self, exc: BaseException) -> StoreError:
        """The error that stops the journaled jobs (call without holding ``_lock``)."""
        with self._lock:
            labels = [j.label for j in self._journals]
        return _stop_error(exc, self.path, labels[0] if len(labels) == 1 else None)

    def register(self, journal: Journal) -> None:
        with self._lock:
            self._journals.append(journal)
        if self._thread is None:
            self._start()

    def unregister(self, journal: Journal) -> None:
        with self._lock:
            if journal in self._journals:
                self._journals.remove(journal)

    def close(self) -> None:
        """Commit what is queued and stop the thread."""
        thread = self._thread
        if thread is None:
            return
        if thread.is_alive():
            with contextlib.suppress(StoreError):
                self.flush()
        self._stopping = True
        self._wake.set()
        thread.join(timeout=30)
        self._thread = None

    # -- the thread ------------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            conn = connect(self.path, self._busy_timeout_s)
            # Checkpoints (copying the WAL into the database, with an fsync) would otherwise
            # run inside whichever commit crosses 1,000 pages: on the event loop. The thread
            # runs them instead (see _run).
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            self._conn = conn
            self._stopping = False
            self._thread = threading.Thread(
                target=self._run,
                args=(conn,),
                name=f"brainbatch-journal:{self.path.name}",
                daemon=True,
            )
            self._thread.start()

    def _run(self, conn: sqlite3.Connection) -> None:
        next_poll = 0.0
        next_checkpoint = 0.0
        checkpointed_at = 0
        poll_conn = connect(self.path, self._busy_timeout_s)
        try:
            while True:
                self._wake.wait(self.flush_interval)
                self._wake.clear()
                with self._commit_lock:
                    self._commit_once(conn, full=True, take_items=None)
                if time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + CANCEL_POLL_S
                    self._poll_cancels(poll_conn)
                if self.commits != checkpointed_at and time.monotonic() >= next_checkpoint:
                    next_checkpoint = time.monotonic() + CHECKPOINT_S
                    checkpointed_at = self.commits
                    try:  # PASSIVE: never blocks the loop's commits
                        poll_conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    except sqlite3.Error as exc:  # busy or locked: the next one will do
                        log.debug("journal %s: checkpoint skipped: %s", self.path, exc)
                if self._stopping:
                    return
        finally:
            close(poll_conn, self.path)
            with self._commit_lock:
                self._conn = None
                close(conn, self.path)

    def _poll_cancels(self, conn: sqlite3.Connection) -> None:
        """Cancel the journaled jobs another process flagged (``JobStore.request_cancel``)."""
        with self._lock:
            jobs = [j.job for j in self._journals if not j.job.cancel_requested]
        if not jobs:
            return
        keys = [cancel_key(job.job_id) for job in jobs]
        try:
            marks = ",".join("?" * len(keys))
            rows = conn.execute(f"SELECT key FROM meta WHERE key IN ({marks})", keys).fetchall()
        except sqlite3.Error:  # busy or closing: the next poll tries again
            return
        flagged = {r[0] for r in rows}
        for job, key in zip(jobs, keys, strict=True):
            if key in flagged:
                log.info("job %s: cancel requested through the store", job.job_id)
                job.request_cancel()

    def _commit_once(
        self, conn: sqlite3.Connection, *, full: bool, take_items: bool | None = True
    ) -> None:
        """Commit the queued items (if ``take_items``) in one transaction; a ``full`` pass
        (the thread's) also writes the journaled jobs' status and metadata changes.

        ``take_items=None`` (the thread): results the event loop commits itself are left to it;
        the thread takes them only when asked to (flush, a waiter, the loop could not commit),
        when a group is full, or when they waited half an interval. Holding the commit lock
        while a busy event loop keeps the GIL would make the loop's own commits wait.
        """
        with self._lock:
            if take_items is None:
                take_items = bool(self._queue) and (
                    self._take_next
                    or self._stopping
                    or bool(self._waiters)
                    or len(self._queue) >= self.flush_size
                    or time.monotonic() - self._oldest >= self.flush_interval / 2
                )
            if take_items:
                self._take_next = False
                items, self._queue = self._queue, []
                upto = self._seq
            else:
                items, upto = [], self._committed
            journals = list(self._journals) if full else []
            if full:
                self._passes_started += 1
            this_pass = self._passes_started
        try:
            changes = [j._snapshot() for j in journals]
            results: dict[int, list[tuple[int, BatchResult]]] = {}
            cache = []
            for item in items:
                if item[0] == "result":
                    results.setdefault(item[1], []).append((item[2], item[3]))
                else:
                    cache.append((*item[1:], time.time()))
            if results or cache or any(c is not None for c in changes):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for job_num, rows in results.items():
                        _codec.insert_results(conn, job_num, rows, one_statement=full)
                    _codec.insert_cache(conn, cache)
                    for journal, change in zip(journals, changes, strict=True):
                        if change is not None:
                            journal._write(conn, change)
                    conn.execute("COMMIT")
                except BaseException:
                    rollback(conn)
                    raise
                for journal, change in zip(journals, changes, strict=True):
                    if change is not None:
                        journal._written(change)
        except Exception as exc:  # keep the items and retry on the next pass
            if str(exc) != self._logged:  # once per distinct error, not on every retry
                self._logged = str(exc)
                log.warning("journal %s: commit failed, will retry: %s", self.path, exc)
            if items and full:
                # the status alone may still fit (it rewrites a page, adds none): then the job
                # is not left "processing" by a run that stopped
                self._commit_changes_only(conn, journals, changes)
            with self._cond:
                self._queue[:0] = items
                self._error = exc
                if full:
                    self._passes_ended = this_pass
                failed = self._waiters
                self._waiters = []
                self._cond.notify_all()
            _release(failed, JournalError(f"journal {self.path}: {exc}"))
            return
        with self._cond:
            if take_items or not self._queue:  # a pass that left failed items keeps the error
                self._error = None
                self._logged = None
            self._committed = max(self._committed, upto)
            self.commits += 1
            if full:
                self._passes_ended = this_pass
            ready = [w for w in self._waiters if w[0] <= upto]
            self._waiters = [w for w in self._waiters if w[0] > upto]
            self._cond.notify_all()
        _release(ready, None)

    def _commit_changes_only(
        self, conn: sqlite3.Connection, journals: list[Journal], changes: list[_Change | None]
    ) -> None:
        if not any(c is not None for c in changes):
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for journal, change in zip(journals, changes, strict=True):
                    if change is not None:
                        journal._write(conn, change)
                conn.execute("COMMIT")
            except BaseException:
                rollback(conn)
                raise
        except sqlite3.Error:
            return
        for journal, change in zip(journals, changes, strict=True):
            if change is not None:
                journal._written(change)


def _release(
    waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]],
    error: BaseException | None,
) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for _, loop, fut in waiters:
        by_loop.setdefault(loop, []).append(fut)
    try:
        here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        here = None
    for loop, futs in by_loop.items():
        if loop is here:  # committed on the loop itself: no need to wake it up
            loop.call_soon(_settle, futs, error)
            continue
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, futs, error)


def _settle(futs: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for fut in futs:
        if not fut.done():
            if error is None:
                fut.set_result(None)
            else:
                fut.set_exception(error)


class Journal:
    """Writes one job's results, status and metadata to its store as they change.

    Made by :meth:`JobStore.journal`; use it as a context manager (or call :meth:`close`) so
    the last group and the final status are committed when the job ends::

        with store.journal(job) as journal:
            await executor.execute(job, journal.wrap(provider))
    """

    def __init__(self, writer: Writer, job: BatchJob, job_num: int) -> None:
        self.job = job
        self.label = str(job.metadata.get("job_name") or job.job_id)
        """The job's name (or id), for messages."""
        self._num = job_num
        self._host_id = this_host()[1]
        self._seq_of = _codec.seq_index(job).__getitem__
        self._writer = writer
        self._last_state: tuple[Any, ...] | None = None
        self._last_meta: bytes | None = None
        self._closed = False
        self._refs = 1
        job.add_listener(self._on_result)
        writer.register(self)

    def __repr__(self) -> str:
        return f"Journal(job_id={self.job.job_id!r}, store={str(self._writer.path)!r})"

    def _on_result(self, result: BatchResult) -> None:
        self._writer.put(("result", self._num, self._seq_of(result.request_id), result))

    def wrap(self, process_fn: ProcessFn) -> ProcessFn:
        """``process_fn`` that first waits until every result recorded so far is committed.

        This is what bounds a crash's loss to the requests in flight (see the module doc).
        Waiting costs at most one group commit, shared by every request waiting on it.
        """
        writer = self._writer

        @functools.wraps(process_fn)
        async def journaled(request: BatchRequest) -> str | dict[str, Any] | ProviderResponse:
            if writer.uncommitted:  # else nothing to wait for (and no coroutine to make)
                await writer.wait_durable()
            return await process_fn(request)

        return journaled

    async def wait_durable(self) -> None:
        """Return once every result recorded so far is committed."""
        await self._writer.wait_durable()

    def flush(self) -> None:
        """Commit what is queued and the job's current status now (blocking)."""
        self._writer.flush()

    @property
    def closed(self) -> bool:
        """True once every user of this journal closed it."""
        return self._closed

    def close(self) -> None:
        """Commit the rest and the job's current status; stop listening once every user of
        this journal (see :meth:`JobStore.journal`) closed it. Idempotent."""
        if self._closed:
            return
        self._refs -= 1
        if self._refs > 0:
            self._writer.flush()
            return
        self._closed = True
        self.job.remove_listener(self._on_result)
        try:
            self._writer.flush()
        finally:
            self._writer.unregister(self)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- called on the writer thread -------------------------------------------------------

    def _snapshot(self) -> _Change | None:
        """What changed since the last commit (status fields, metadata JSON), or None."""
        job = self.job
        state = (
            BatchStatus(job.status).value,
            job.error,
            _iso(job.started_at),
            _iso(job.completed_at),
            job.done,  # progress alone refreshes updated_at (a heartbeat), once per pass
        )
        meta: bytes | None
        try:  # orjson holds the GIL while it serialises: a consistent snapshot (but for a
            # record's to_dict, which runs in Python: the next pass has it whole)
            meta = orjson.dumps(job.metadata, option=_META_OPTS, default=_jsonable)
        except (TypeError, RuntimeError, orjson.JSONEncodeError):
            meta = self._last_meta
        new_state = state if state != self._last_state else None
        new_meta = meta if meta != self._last_meta else None
        if new_state is None and new_meta is None:
            return None
        return new_state, new_meta

    def _write(
        self, conn: sqlite3.Connection, change: tuple[tuple[Any, ...] | None, bytes | None]
    ) -> None:
        """Write a status / metadata change, unless another process now holds the job's
        lease (it took it by force: the job is its to describe)."""
        if self._held_elsewhere(conn):
            return
        state, meta = change
        if state is not None:
            conn.execute(
                "UPDATE jobs SET status=?, error=?, started_at=?, completed_at=?, updated_at=?"
                " WHERE num=?",
                (state[0], _codec.redact_text(state[1]), state[2], state[3], _now(), self._num),
            )
        if meta is not None:
            fresh = orjson.loads(meta)
            batches = self.job.metadata.get("provider_batches")
            if isinstance(batches, list) and batches:
                # read again under the write lock: a batch record committed directly since the
                # snapshot (JobStore.record_provider_batch) must not be overwritten by it
                with contextlib.suppress(TypeError, RuntimeError, orjson.JSONEncodeError):
                    fresh["provider_batches"] = orjson.loads(
                        orjson.dumps(list(batches), option=_META_OPTS, default=_jsonable)
                    )
            self._writer.write_metadata(conn, self._num, fresh)

    def _held_elsewhere(self, conn: sqlite3.Connection) -> bool:
        row = conn.execute(
            "SELECT 1 FROM leases WHERE job=? AND heartbeat_at + ttl_s >= ?"
            " AND NOT (host_id=? AND pid=?)",
            (self._num, time.time(), self._host_id, os.getpid()),
        ).fetchone()
        return row is not None

    def _written(self, change: _Change) -> None:
        state, meta = change
        if state is not None:
            self._last_state = state
        if meta is not None:
            self._last_meta = meta

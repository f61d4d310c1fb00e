"""Leases: one process at a time runs a job, so that no row is ever paid for twice.

Before a process sends a job's requests it takes the job's lease
(:meth:`brainbatch.store.JobStore.claim`; :class:`brainbatch.runner.JobRunner` does it for
every run with a store). The lease is one row of the store's ``leases`` table: the job, the
holder (host, pid, a random token), when it was taken and its last heartbeat. It is taken in
one SQLite transaction (``BEGIN IMMEDIATE``: look for a live holder, then write ours), so of
two processes starting the same job at the same moment exactly one gets it; the other gets
:class:`JobBusy`, whose message names the holder::

    job 'reviews' is being run by pid 1234 on host lab-3 since 12:00:03 (last heartbeat 2 s
    ago); wait for it, cancel it with `brainbatch cancel reviews`, or if that process is gone
    pass force=True / --force

While held, a daemon thread renews the heartbeat every ``ttl_s / 6`` seconds (5 s for the
default 30 s). A holder that died stops counting:

* at once when it ran on this host and its pid is gone (a SIGKILL, a dead kernel);
* otherwise once its heartbeat is older than its ``ttl_s`` (another host, a frozen process).

``steal=True`` (``force=True`` / ``--force``) takes the lease whatever the holder's state. A
holder whose lease was taken from it notices at its next heartbeat (:attr:`Lease.lost`, and
its ``on_lost`` callback: a runner cancels its job then).

While another process holds a job's lease, this store refuses to journal the job, overwrite
its status or delete it (:class:`JobBusy`). Cancelling is not a lease: ``brainbatch cancel``
sets a flag that the holder's journal polls.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets as _random
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import StoreError

__all__ = ["DEFAULT_TTL_S", "Holder", "JobBusy", "Lease", "this_host"]

log = logging.getLogger("brainbatch.store")

DEFAULT_TTL_S = 30.0
"""A lease whose heartbeat is older than this (seconds) is free; heartbeats every ttl / 6."""


def this_host() -> tuple[str, str]:
    """(host name, host identity). The identity adds the pid namespace, so two containers
    with one host name do not take each other's pids for their own."""
    name = socket.gethostname()
    try:
        ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        ns = ""
    return name, f"{name}|{ns}"


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host (a zombie does not count)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in (b"Z", b"X")


@dataclass(frozen=True)
class Holder:
    """Who holds a job's lease, as stored."""

    host: str
    host_id: str
    pid: int
    token: str
    ttl_s: float
    acquired_at: float
    heartbeat_at: float

    def is_this_process(self) -> bool:
        return self.host_id == this_host()[1] and self.pid == os.getpid()

    def alive(self, now: float | None = None) -> bool:
        """Still running the job: a fresh heartbeat and, on this host, a live pid."""
        now = time.time() if now is None else now
        if now - self.heartbeat_at > self.ttl_s:
            return False
        return not (self.host_id == this_host()[1] and not pid_alive(self.pid))

    def describe(self, now: float | None = None) -> str:
        """``pid 1234 on host h since 12:00:03 (last heartbeat 2 s ago)``."""
        now = time.time() if now is None else now
        since = datetime.fromtimestamp(self.acquired_at)
        when = since.strftime("%H:%M:%S")
        if since.date() != datetime.fromtimestamp(now).date():
            when = since.strftime("%Y-%m-%d %H:%M:%S")
        age = max(0.0, now - self.heartbeat_at)
        who = "this process (pid" if self.is_this_process() else "pid"
        end = ")" if self.is_this_process() else ""
        return (
            f"{who} {self.pid}{end} on host {self.host} since {when} "
            f"(last heartbeat {age:.0f} s ago)"
        )


class JobBusy(StoreError):
    """Another process (or another run in this one) holds the job's lease.

    Attributes:
        job: the job's name or id, as given.
        holder: the :class:`Holder` of the lease.
    """

    def __init__(self, job: str, holder: Holder) -> None:
        self.job = job
        self.holder = holder
        super().__init__(
            f"job {job!r} is being run by {holder.describe()}; wait for it, cancel it with "
            f"`brainbatch cancel {job}`, or if that process is gone pass force=True / --force"
        )


_COLUMNS = "host, host_id, pid, token, ttl_s, acquired_at, heartbeat_at"


def read_holder(conn: sqlite3.Connection, job_num: int) -> Holder | None:
    """The job's lease holder as stored (alive or not), or None."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM leases WHERE job=?", (job_num,)).fetchone()
    return None if row is None else Holder(*row)


def refuse_if_held_elsewhere(conn: sqlite3.Connection, job_num: int, label: str) -> None:
    """Raise :class:`JobBusy` when a live holder other than this process holds the job."""
    holder = read_holder(conn, job_num)
    if holder is not None and not holder.is_this_process() and holder.alive():
        raise JobBusy(label, holder)


def take(
    conn: sqlite3.Connection, job_num: int, label: str, ttl_s: float, steal: bool
) -> tuple[str, float]:
    """Take the lease inside the caller's ``BEGIN IMMEDIATE`` transaction; (token, now).

    Raises:
        JobBusy: a live holder has it (and not ``steal``).
    """
    now = time.time()
    holder = read_holder(conn, job_num)
    if holder is not None and not steal and holder.alive(now):
        raise JobBusy(label, holder)
    if holder is not None and steal:
        log.warning("job %s: lease taken by force from %s", label, holder.describe(now))
    host, host_id = this_host()
    token = _random.token_hex(16)
    conn.execute(
        f"INSERT OR REPLACE INTO leases(job, {_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
        (job_num, host, host_id, os.getpid(), token, float(ttl_s), now, now),
    )
    return token, now


Write = Callable[..., Any]
"""``write(fn, *args)``: run ``fn(conn, *args)`` in one short write transaction."""


class Lease:
    """A job's lease, held by this process until :meth:`release` (or the end of ``with``).

    Made by :meth:`brainbatch.store.JobStore.claim`. A daemon thread renews the heartbeat
    every :attr:`heartbeat_s`; :meth:`heartbeat` does it at once.

    Attributes:
        job_id: the job's id. ``label``: its name (or id), for messages.
        ttl_s: others may take the lease once the heartbeat is this old.
        lost: True once the lease was found taken by another process (``steal=True``).
    """

    def __init__(
        self,
        write: Write,
        job_num: int,
        job_id: str,
        label: str,
        token: str,
        ttl_s: float,
        on_lost: Callable[[Lease], Any] | None = None,
        on_release: Callable[[Lease], Any] | None = None,
    ) -> None:
        self._write = write
        self._num = job_num
        self.job_id = job_id
        self.label = label
        self.token = token
        self.ttl_s = ttl_s
        self.heartbeat_s = ttl_s / 6.0
        self.lost = False
        self._released = False
        self._on_lost = on_lost
        self._on_release = on_release
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"brainbatch-lease:{label}", daemon=True
        )
        self._thread.start()

    def __repr__(self) -> str:
        state = "released" if self._released else "lost" if self.lost else "held"
        return f"Lease(job={self.label!r}, {state})"

    @property
    def held(self) -> bool:
        """True until released or lost."""
        return not self._released and not self.lost

    def heartbeat(self) -> bool:
        """Renew the heartbeat now; False (and :attr:`lost` set) if another process took it.

        Raises:
            StoreError: the store could not be written (the next heartbeat tries again).
        """
        if not self.held:
            return False

        def beat(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE leases SET heartbeat_at=? WHERE job=? AND token=?",
                (time.time(), self._num, self.token),
            )
            return int(cur.rowcount)

        if self._write(beat) == 0:
            self._mark_lost()
            return False
        return True

    def _mark_lost(self) -> None:
        if self.lost or self._released:
            return
        self.lost = True
        self._stop.set()
        log.warning("job %s: another process took its lease (force)", self.label)
        if self._on_lost is not None:
            try:
                self._on_lost(self)
            except Exception:  # a callback must not kill the heartbeat thread silently
                log.exception("job %s: on_lost callback failed", self.label)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                if not self.heartbeat():
                    return
            except StoreError as exc:
                if "closed" in str(exc):
                    return
                log.warning("job %s: lease heartbeat failed, will retry: %s", self.label, exc)

    def release(self) -> None:
        """Give the lease back (others may run the job at once). Idempotent; a lease that
        was taken by another process is left to it."""
        if self._released:
            return
        self._released = True
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        try:
            self._write(
                lambda conn: conn.execute(
                    "DELETE FROM leases WHERE job=? AND token=?", (self._num, self.token)
                )
            )
        finally:
            if self._on_release is not None:
                with contextlib.suppress(Exception):
                    self._on_release(self)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

"""Streamed jobs in the notebook: ``bb.run(path, ..., out=...)`` and ``bb.submit(path, ...)``.

The work is :mod:`brainbatch.stream`'s (UI-free); this module only runs it where the notebook
runs jobs (a task on the kernel's loop for :func:`submit_stream`, a worker thread for
:func:`run_stream`) and shows it in the same panel as a DataFrame job (the counts of every
chunk so far, Cancel). The result is a :class:`~brainbatch.stream.StreamResult` (the output
folder and the counts), not a DataFrame: the table may not fit in memory.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import sys
import threading
import time
from typing import Any

import pandas as pd

from ..monitor import (
    JobMonitor,
    details_text,
    errors_frame,
    latest_frame,
    models_frame,
    timeline_frame,
)
from ..progress import Snapshot, TextProgress, View, Views, describe, snapshot
from ..stream import StreamJob, StreamResult, StreamRun
from .widget import JobPanel

__all__ = ["StreamHandle", "run_stream", "start_stream"]

_ACTIVE: set[StreamHandle] = set()
"""Handles whose stream is running: kept alive even if the caller drops its reference."""


class StreamHandle:
    """A streamed job started by ``bb.submit(path, ..., out=...)``: status, panel, result.

    Display it in a notebook for the live panel. ``await job`` / ``job.result()`` give the
    :class:`~brainbatch.stream.StreamResult`; ``job.cancel()`` stops it (the chunk that runs
    writes its finished rows; running it again continues).

    Attributes:
        job: the :class:`~brainbatch.stream.StreamJob` (counts over every chunk).
        name: the stream's name.
        out: the output folder.
    """

    def __init__(self, run: StreamRun, *, progress: str, cancellable: bool) -> None:
        self.stream = run
        self.job: StreamJob = run.job
        self.name = run.name
        self.out = run.out
        self._progress = progress
        self._cancellable = cancellable
        self._future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._future.set_running_or_notify_cancel()
        self._error: BaseException | None = None
        self._result: StreamResult | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._views = Views()
        self._panel: JobPanel | None = None
        self._detail = describe(run.settings) + f" · streamed to {run.out}"
        self.monitor = JobMonitor(self.job)
        """Latest answers, grouped errors, timeline and per-model figures of every chunk, as
        for a DataFrame job (the panel's cockpit draws them)."""

    def _start(self, *, thread: bool = False) -> None:
        if self._progress in ("text", "summary"):
            self._add_view(
                TextProgress(
                    live=self._progress == "text", details=lambda: details_text(self.monitor)
                )
            )
        loop: asyncio.AbstractEventLoop | None = None
        if not thread:
            with contextlib.suppress(RuntimeError):
                loop = asyncio.get_running_loop()
        _ACTIVE.add(self)
        if loop is not None:
            self._loop, self._loop_thread = loop, threading.get_ident()
            self._task = loop.create_task(self._drive(), name=f"brainbatch-{self.name}")
            return
        started = threading.Event()

        def main() -> None:
            async def go() -> None:
                self._loop = asyncio.get_running_loop()
                self._loop_thread = threading.get_ident()
                self._task = asyncio.current_task()
                started.set()
                await self._drive()

            try:
                asyncio.run(go())
            finally:
                started.set()

        threading.Thread(target=main, name=f"brainbatch-{self.name}", daemon=True).start()
        started.wait()

    async def _drive(self) -> None:
        ticker = asyncio.ensure_future(self._tick())
        self.monitor.start()
        try:
            self._result = await self.stream.run()
        except asyncio.CancelledError:
            self.stream.release()
        except BaseException as exc:
            self._error = exc
        finally:
            ticker.cancel()
            self.monitor.sample()
            self._render()
            self._future.set_result(None)
            _ACTIVE.discard(self)

    async def _tick(self) -> None:
        from ..progress import MAX_UPDATES_PER_S

        last = None
        while True:
            await asyncio.sleep(1.0 / MAX_UPDATES_PER_S)
            job = self.job
            self.monitor.sample()
            state = (
                job.done,
                job.status,
                job.cancel_requested,
                int(job.elapsed_s),
                self.monitor.version,
            )
            if state != last:
                last = state
                self._render()

    def _render(self) -> None:
        self._views.update(self._snapshot)

    def _snapshot(self) -> Snapshot:
        return snapshot(
            self.job,
            self.name,
            self.job.done_before,
            self._detail,
            limits=self.stream.limits_in_force,
        )

    def _add_view(self, view: View) -> None:
        self._views.add(view, self._snapshot() if self.done() else None)

    def panel(self) -> JobPanel:
        """The live panel (made on first use)."""
        if self._panel is None:
            self._panel = JobPanel(
                self._cancel_clicked,
                cancellable=self._cancellable,
                monitor=self.monitor,
                budget_usd=self.stream.settings.max_cost_usd,
                batch=self.stream.settings.mode == "batch",
            )
            self._panel.update(self._snapshot())
            self._add_view(self._panel)
        return self._panel

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        text = repr(self)
        if self._progress != "widget":
            return {"text/plain": text}
        bundle = self.panel().mimebundle()
        bundle["text/plain"] = text
        return bundle

    def __repr__(self) -> str:
        total = self.job.known_total
        rows = "? rows" if total is None else f"{total:,} rows"
        return f"<brainbatch stream {self.name!r}: {rows} -> {self.out}>"

    @property
    def status(self) -> Any:
        return self.job.status

    @property
    def progress(self) -> float:
        return self.job.progress

    def done(self) -> bool:
        return self._future.done()

    # -- what is arriving (as on a DataFrame job's handle) -------------------------------------

    def latest(self, n: int = 10, *, width: int = 60) -> pd.DataFrame:
        """The last ``n`` results of the stream, newest first (see ``JobHandle.latest``)."""
        return latest_frame(self.monitor.latest(n, width))

    def errors(self) -> pd.DataFrame:
        """One row per kind of error over every chunk so far (see ``JobHandle.errors``)."""
        return errors_frame(self.monitor.errors())

    def timeline(self) -> pd.DataFrame:
        """Cumulative ``done, errors, cost_usd`` over time (see ``JobHandle.timeline``)."""
        return timeline_frame(self.monitor.timeline())

    def models(self) -> pd.DataFrame:
        """Per model: rows, ok, failed, cost and latency (see ``JobHandle.models``)."""
        return models_frame(self.monitor.models())

    def _cancel_clicked(self) -> None:
        self.cancel()

    def cancel(self) -> bool:
        """Stop the stream (from any thread); False when it had already ended."""
        if self.done():
            return False
        self.job.request_cancel()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the stream ended or ``timeout`` passed; True if it ended."""
        if not self.done() and self._loop_thread == threading.get_ident():
            raise RuntimeError(
                f"stream {self.name!r} is still running on this thread's event loop: use "
                "`await job` instead"
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done():
            left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if left <= 0:
                return False
            with contextlib.suppress(concurrent.futures.TimeoutError):
                self._future.exception(timeout=left)
        return True

    def _outcome(self) -> StreamResult:
        if self._error is not None:
            raise self._error
        return self._result if self._result is not None else self.stream.result()

    def result(self, timeout: float | None = None) -> StreamResult:
        """Wait for the stream and return its :class:`~brainbatch.stream.StreamResult`."""
        if not self.wait(timeout):
            raise TimeoutError(f"stream {self.name!r} still running after {timeout} s")
        return self._outcome()

    def __await__(self) -> Any:
        return self._wait_async().__await__()

    async def _wait_async(self) -> StreamResult:
        if not self.done():
            await asyncio.shield(asyncio.wrap_future(self._future))
        return self._outcome()


def start_stream(run: StreamRun, *, progress: str) -> StreamHandle:
    """``bb.submit`` for a streamed input: start it and return its handle at once."""
    handle = StreamHandle(run, progress=progress, cancellable=True)
    handle._start()
    return handle


def run_stream(run: StreamRun, *, progress: str) -> StreamResult:
    """``bb.run`` for a streamed input: run it on a worker thread, show it, wait. Ctrl-C
    cancels cleanly (the chunk running writes its finished rows) and returns the result."""
    handle = StreamHandle(run, progress=progress, cancellable=False)
    if progress == "widget":
        from IPython.display import display

        display(handle)  # type: ignore[no-untyped-call]
    handle._start(thread=True)
    try:
        handle.wait()
    except KeyboardInterrupt:
        handle.cancel()
        try:
            handle.wait()
        except KeyboardInterrupt:
            loop, task = handle._loop, handle._task
            if loop is not None and task is not None:
                loop.call_soon_threadsafe(task.cancel)
            handle.wait(timeout=5.0)
        print(
            f"brainbatch: interrupted; stream {handle.name!r} cancelled with "
            f"{handle.job.done:,} of {handle.job.total:,} rows done (in {handle.out})",
            file=sys.stderr,
        )
    return handle._outcome()

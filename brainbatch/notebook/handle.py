"""Jobs from DataFrames: :func:`submit` (returns at once), :func:`run` (blocks) and the handle.

Where the job runs (the notebook execution model):

* :func:`submit` inside a running event loop (a Jupyter cell, an ``async def``) starts the job
  as a background task on that loop (``loop.create_task``) and returns. The kernel stays free,
  so the panel's Cancel button can be clicked while the job runs. Outside any loop (a script,
  a plain test) the job runs on a private loop in a daemon worker thread.
* :func:`run` always runs the job on a private loop in a worker thread and waits for it, so it
  works in scripts, in pytest and inside a notebook cell alike (no "asyncio.run() cannot be
  called from a running event loop"), without nest_asyncio. Ctrl-C or the kernel's interrupt
  button while it waits cancels the job cleanly and returns the partial results.

Getting results from a :class:`JobHandle`: ``await job`` anywhere, or ``job.result()`` from any
thread except the loop the job runs on (in a notebook, ``job.result()`` in a later cell works
once the job ended; while it still runs there, it raises and tells you to ``await job``,
because blocking the kernel's loop would stop the job itself). Awaiting does not own the job:
interrupting a cell that waits in ``await job`` (or a ``wait_for`` timeout) stops the waiting,
not the job; stop the job with the panel's Cancel button or ``job.cancel()``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal, overload

import pandas as pd

from ..cluster import is_dask_frame
from ..errors import InputError
from ..estimate import recall_estimate
from ..frame import MODEL_COLUMN_PREFIX, PromptFn, PromptSpec, build_requests, results_frame
from ..manager import job_stats
from ..models import BatchStatus
from ..monitor import (
    JobMonitor,
    details_text,
    errors_frame,
    latest_frame,
    models_frame,
    timeline_frame,
)
from ..progress import (
    MAX_UPDATES_PER_S,
    Snapshot,
    TextProgress,
    View,
    Views,
    describe,
    snapshot,
    summary_line,
)
from ..runner import DEFAULT_MAX_CONCURRENT, Mode, RunSettings
from ..session import Session, new_session
from ..stream import (
    Check,
    StreamResult,
    StreamRun,
    StreamSource,
    is_stream_source,
    prepare_stream,
)
from ..structured import DEFAULT_SCHEMA_ATTEMPTS
from .stream import StreamHandle, run_stream, start_stream
from .widget import JobPanel

__all__ = ["PROGRESS_ENV", "JobHandle", "run", "submit"]

PROGRESS_ENV = "BRAINBATCH_PROGRESS"
"""Environment variable forcing the progress display: ``widget``, ``text``, ``summary``
(only the final line) or ``none``."""

Progress = Literal["auto", "widget", "text", "summary", "none"]
_PROGRESS_MODES = ("auto", "widget", "text", "summary", "none")


def _progress_mode(progress: str | bool | None) -> str:
    if progress is None or progress is True:
        progress = "auto"
    if progress is False:
        progress = "none"
    if progress not in _PROGRESS_MODES:
        raise InputError(f"progress must be one of {_PROGRESS_MODES}, got {progress!r}")
    if progress == "auto":
        env = os.environ.get(PROGRESS_ENV, "").strip().lower()
        if env in _PROGRESS_MODES and env != "auto":
            return env
        from .widget import widgets_available

        if widgets_available():
            return "widget"
        isatty = getattr(sys.stderr, "isatty", None)
        return "text" if isatty and isatty() else "summary"
    return str(progress)


_ACTIVE: set[JobHandle] = set()
"""Handles whose job is running: kept alive even if the caller drops its reference."""


class JobHandle:
    """A job started by :func:`submit` or :func:`run`: its status, results and panel.

    Display it in a notebook (last expression of a cell) to see the live panel.

    Attributes:
        job: the underlying :class:`~brainbatch.models.BatchJob`.
        name: the job's name (``job_name`` or its id).
    """

    def __init__(
        self,
        session: Session,
        *,
        inputs: pd.DataFrame | None,
        keys: Sequence[str] | None,
        columns: Sequence[str] | None = None,
        expand: bool = False,
        progress: str = "auto",
        cancellable: bool = True,
    ) -> None:
        self.session = session
        self.job = job = session.job
        self.runner = session.runner
        self._named = session.named
        self.name = session.name
        self._inputs = inputs
        self._keys = list(keys) if keys is not None else None
        self._columns = list(columns) if columns is not None else None
        self._expand = expand
        self._progress = progress
        self._cancellable = cancellable
        self._future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._future.set_running_or_notify_cancel()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._views = Views()
        self._done_at_start = job.done
        self._panel: JobPanel | None = None
        self._detail = describe(session.settings)
        self.monitor = JobMonitor(job)
        """Latest answers, grouped errors, timeline and per-model figures as they arrive."""
        self._pausable = session.settings.mode != "batch"
        # the estimate made before the run, when bb.estimate priced exactly these requests
        self._estimate_usd: float | None = recall_estimate(job.requests, session.settings.mode)

    # -- starting ----------------------------------------------------------------------------

    def _start(self, *, thread: bool = False) -> None:
        """Run the job: on the running loop (a task) unless ``thread`` or no loop runs."""
        if self._progress in ("text", "summary"):
            self._add_view(
                TextProgress(
                    live=self._progress == "text", details=lambda: details_text(self.monitor)
                )
            )
        loop: asyncio.AbstractEventLoop | None = None
        if not thread:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
        _ACTIVE.add(self)  # the loop keeps only weak references to tasks
        if loop is not None:
            self._loop = loop
            self._loop_thread = threading.get_ident()
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

        self._thread = threading.Thread(target=main, name=f"brainbatch-{self.name}", daemon=True)
        self._thread.start()
        started.wait()

    async def _drive(self) -> None:
        ticker = asyncio.ensure_future(self._tick())
        self.monitor.start()  # the chart's time axis starts when the job does
        try:
            await self.runner.run()
        except asyncio.CancelledError:
            # our own task was cancelled (hard abort): the executor marked the job already
            if not self.job.status.is_terminal:
                self.job.status = BatchStatus.CANCELLED
                self.job.error = self.job.error or "cancelled"
        except BaseException as exc:
            self._error = exc
            if not self.job.status.is_terminal:
                self.job.status = BatchStatus.FAILED
                self.job.error = f"{type(exc).__name__}: {exc}"
            if self.job.completed_at is None:
                from datetime import UTC, datetime

                self.job.completed_at = datetime.now(UTC)
        finally:
            ticker.cancel()
            self.job.request_resume()  # a job cancelled while paused is not left paused
            self.monitor.sample()
            self._render()
            self._future.set_result(None)
            _ACTIVE.discard(self)

    async def _tick(self) -> None:
        """Refresh the views at most MAX_UPDATES_PER_S times a second while the job runs."""
        period = 1.0 / MAX_UPDATES_PER_S
        last = None
        while True:
            await asyncio.sleep(period)
            job = self.job
            self.monitor.sample()
            state = (
                job.done,
                job.status,
                job.cancel_requested,
                job.paused,
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
            self._done_at_start,
            self._detail,
            limits=self.runner.limits_in_force,
        )

    def _add_view(self, view: View) -> None:
        self._views.add(view, self._snapshot() if self.done() else None)

    # -- display -----------------------------------------------------------------------------

    def panel(self) -> JobPanel:
        """The live ipywidgets panel of this job (made on first use)."""
        if self._panel is None:
            self._panel = JobPanel(
                self._cancel_clicked,
                cancellable=self._cancellable,
                monitor=self.monitor,
                on_pause=self._pause_clicked if self._pausable and self._cancellable else None,
                budget_usd=self.session.settings.max_cost_usd,
                estimate_usd=self._estimate_usd,
                batch=not self._pausable,
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
        # no job id here: notebook outputs stay the same from run to run (nbval compares them)
        named = f" {self.name!r}" if self._named else ""
        return f"<brainbatch job{named}: {self.job.total:,} rows>"

    # -- state -------------------------------------------------------------------------------

    @property
    def status(self) -> BatchStatus:
        """The job's status (pending, processing, completed, failed, cancelled, expired)."""
        return self.job.status

    @property
    def progress(self) -> float:
        """Share of rows with a result, 0.0 to 1.0."""
        return self.job.progress

    def stats(self) -> dict[str, Any]:
        """Counts, cost, latency percentiles and throughput (see ``brainbatch.job_stats``)."""
        return job_stats(self.job)

    def done(self) -> bool:
        """True once the job ended (whatever its status) and its results are final."""
        return self._future.done()

    def _cancel_clicked(self) -> None:
        self.cancel()

    def _pause_clicked(self, pause: bool) -> None:
        if pause:
            self.pause()
        else:
            self.resume()

    def pause(self) -> bool:
        """Stop starting requests (those in flight finish); :meth:`resume` continues the same
        job where it stopped. Real-time jobs only. Safe from any thread. Returns False when
        the job had already ended."""
        if not self._pausable:
            raise InputError(
                "pause() is for real-time jobs; a native batch runs at the provider "
                "(cancel() stops it)"
            )
        if self.done():
            return False
        self.job.request_pause()
        return True

    def resume(self) -> bool:
        """Start requests again after :meth:`pause`. Returns False when the job had ended."""
        self.job.request_resume()
        return not self.done()

    @property
    def paused(self) -> bool:
        """True while the job is paused."""
        return self.job.paused and not self.done()

    def set_estimate(self, estimate: float | pd.DataFrame) -> float:
        """Draw the cost estimated before the run on the panel's cost chart (a dotted line).

        ``estimate``: USD, or the DataFrame of :func:`brainbatch.estimate` for this job (its
        expected cost in the job's mode is used: the ``(all)`` row when it mixes models).
        Returns the USD figure drawn.
        """
        if isinstance(estimate, pd.DataFrame):
            mode = self.session.settings.mode
            rows = estimate[estimate["mode"] == mode]
            if "(all)" in set(rows["model"]):
                rows = rows[rows["model"] == "(all)"]
            if rows.empty:
                raise InputError(f"the estimate has no row for mode {mode!r}")
            usd = float(rows["cost_expected_usd"].sum())
        elif isinstance(estimate, int | float) and not isinstance(estimate, bool):
            usd = float(estimate)
        else:
            raise InputError(
                "set_estimate() takes a cost in USD or the DataFrame of bb.estimate(...), "
                f"got {type(estimate).__name__}"
            )
        self._estimate_usd = usd
        if self._panel is not None:
            self._panel.set_estimate(usd)
        return usd

    # -- what is arriving --------------------------------------------------------------------

    def latest(self, n: int = 10, *, width: int = 60) -> pd.DataFrame:
        """The last ``n`` results, newest first: ``row, input, answer, status, latency_ms,
        cost_usd, model, cached`` (input and answer cut to ``width`` characters)."""
        return latest_frame(self.monitor.latest(n, width))

    def errors(self) -> pd.DataFrame:
        """One row per kind of error, most frequent first: ``kind, error_type, count,
        message`` (one full example, the provider's words), ``row`` (where that example came
        from), ``model``, ``first_at_s``."""
        return errors_frame(self.monitor.errors())

    def timeline(self) -> pd.DataFrame:
        """Cumulative ``done, errors, cost_usd`` at ``t_s`` seconds, with ``rows_per_s`` and
        ``errors_per_s`` over each interval (sampled, at most 240 points)."""
        return timeline_frame(self.monitor.timeline())

    def models(self) -> pd.DataFrame:
        """Per model: ``rows, ok, failed, cost_usd`` and latency mean/p50/p95 in ms."""
        return models_frame(self.monitor.models())

    def cancel(self) -> bool:
        """Stop the job: no new request starts; in-flight ones may finish; results are kept.

        Safe from any thread. Returns False when the job had already ended.
        """
        if self.done():
            return False
        self.job.request_cancel()  # the panel shows "cancelling…" at its next refresh
        return True

    # -- results -----------------------------------------------------------------------------

    def to_frame(self, *, expand: bool | None = None) -> pd.DataFrame:
        """The results DataFrame now, finished or not (rows still running are ``"pending"``)."""
        return results_frame(
            self.job,
            self._inputs,
            self._keys,
            columns=self._columns,
            expand=self._expand if expand is None else expand,
            schema=self.session.settings.schema,
        )

    def _outcome(self) -> pd.DataFrame:
        if self._error is not None:
            raise self._error
        return self.to_frame()

    def _on_job_loop(self) -> bool:
        return self._loop_thread == threading.get_ident()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ended or ``timeout`` seconds passed; True if it ended."""
        if not self.done() and self._on_job_loop():
            raise RuntimeError(
                f"job {self.name!r} is still running on this thread's event loop (the "
                "notebook's): blocking here would stop it. Use `await job` (or `results = "
                "await job`) instead, or call job.result() in a later cell once it is done."
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done():
            left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if left <= 0:
                return False
            with contextlib.suppress(concurrent.futures.TimeoutError):
                self._future.exception(timeout=left)
        return True

    def result(self, timeout: float | None = None) -> pd.DataFrame:
        """Wait for the job and return its results DataFrame.

        Raises:
            TimeoutError: the job was still running after ``timeout`` seconds.
            RuntimeError: called on the event loop the job runs on while it runs (in a
                notebook: the cell that submitted it): use ``await job`` there.
            Exception: whatever stopped the job from running at all (e.g. a
                :class:`~brainbatch.errors.ConfigurationError` for a missing API key).
        """
        if not self.wait(timeout):
            raise TimeoutError(
                f"job {self.name!r} still running after {timeout} s "
                f"({self.job.done:,}/{self.job.total:,} done); job.to_frame() gives the "
                "results so far"
            )
        return self._outcome()

    def __await__(self) -> Any:
        return self._wait_async().__await__()

    async def _wait_async(self) -> pd.DataFrame:
        if not self.done():
            await asyncio.shield(asyncio.wrap_future(self._future))
        return self._outcome()


# -- starting jobs --------------------------------------------------------------------------------


def _prepare(
    df: Any,
    spec: PromptSpec,
    settings: RunSettings,
    *,
    job_name: str | None,
    store: Any,
    columns: Sequence[str] | None,
    expand: bool,
    progress: str | bool | None,
    cancellable: bool,
) -> JobHandle:
    """Check the frame, make the requests, open the session (store, job, running rule)."""
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(df).__name__}")
    progress_mode = _progress_mode(progress)
    if columns is not None:
        if isinstance(columns, str):
            columns = [columns]
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise InputError(
                f"columns= names {missing} that the DataFrame does not have; available "
                f"columns: {[str(c) for c in df.columns]}"
            )
    if settings.schema is not None:  # the provider-native form goes with every request
        spec = dataclasses.replace(spec, params=settings.schema.add_to(spec.params))
    requests = build_requests(df, spec)
    if spec.model.startswith(MODEL_COLUMN_PREFIX):
        settings = settings.with_overrides(model=requests[0].model)
    keys = [r.key for r in requests]
    session = new_session(requests, settings, store=store, job_name=job_name)
    return JobHandle(
        session,
        inputs=df.copy(deep=False),
        keys=keys,
        columns=columns,
        expand=expand,
        progress=progress_mode,
        cancellable=cancellable,
    )


def _prepare_stream(
    source: Any,
    spec: PromptSpec,
    settings: RunSettings,
    out: str | os.PathLike[str] | None,
    job_name: str | None,
    store: Any,
    columns: Sequence[str] | None,
    chunk_size: int | None,
    expand: bool,
    progress: str | bool | None,
    check: Check = "all",
    open_chunks: int | None = None,
) -> StreamRun:
    """A file, dataset or iterator of frames (or ``out=``): stream it (see brainbatch.stream)."""
    if out is None:
        raise InputError(
            f"a streamed input ({type(source).__name__}) needs out=: the folder its results "
            "are written to as a Parquet dataset (e.g. out='results/')"
        )
    if expand:
        raise InputError(
            "expand=True is not available for streamed input (out=): each chunk's answers may "
            "have other keys, so the part files would not form one dataset; the response "
            "column holds each JSON answer as text: read the output and expand it there "
            "(pd.json_normalize(frame.response.map(json.loads))), or pass schema= for "
            "typed response.<field> columns"
        )
    if settings.schema is not None:  # the provider-native form goes with every request
        spec = dataclasses.replace(spec, params=settings.schema.add_to(spec.params))
    _progress_mode(progress)
    return prepare_stream(
        source,
        spec,
        settings,
        out=out,
        store=store,
        job_name=job_name,
        columns=columns,
        chunk_size=chunk_size,
        check=check,
        open_chunks=open_chunks,
    )


def _settings(
    model: str,
    provider: Any,
    mode: Mode,
    max_concurrent: int,
    delay: float | None,
    poll_interval: float | None,
    rpm: float | Literal["auto"] | None,
    tpm: float | Literal["auto"] | None,
    max_cost_usd: float | None,
    cache: bool | None,
    provider_kwargs: Mapping[str, Any],
    schema: Any = None,
    schema_attempts: int = DEFAULT_SCHEMA_ATTEMPTS,
) -> RunSettings:
    return RunSettings(
        model=model,
        provider=provider,
        mode=mode,
        max_concurrent=max_concurrent,
        delay=delay,
        poll_interval=poll_interval,
        rpm=rpm,
        tpm=tpm,
        max_cost_usd=max_cost_usd,
        cache=cache,
        provider_kwargs=dict(provider_kwargs),
        schema=schema,
        schema_attempts=schema_attempts,
    )


@overload
def submit(
    df: pd.DataFrame,
    prompt: str | PromptFn,
    model: str = "sim",
    provider: Any = None,
    mode: Mode = "realtime",
    job_name: str | None = None,
    store: Any = None,
    system: str | None = None,
    params: Mapping[str, Any] | None = None,
    custom_id: str | None = None,
    columns: Sequence[str] | None = None,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    rpm: float | Literal["auto"] | None = None,
    tpm: float | Literal["auto"] | None = None,
    max_cost_usd: float | None = None,
    cache: bool | None = None,
    *,
    delay: float | None = None,
    poll_interval: float | None = None,
    expand: bool = False,
    progress: Progress | bool | None = "auto",
    schema: Any = None,
    schema_attempts: int = DEFAULT_SCHEMA_ATTEMPTS,
    images: str | None = None,
    documents: str | None = None,
    detail: str | None = None,
    out: None = None,
    chunk_size: None = None,
    **provider_kwargs: Any,
) -> JobHandle: ...


@overload
def submit(
    df: StreamSource,
    prompt: str | PromptFn,
    model: str = "sim",
    provider: Any = None,
    mode: Mode = "realtime",
    job_name: str | None = None,
    store: Any = None,
    system: str | None = None,
    params: Mapping[str, Any] | None = None,
    custom_id: str | None = None,
    columns: Sequence[str] | None = None,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    rpm: float | Literal["auto"] | None = None,
    tpm: float | Literal["auto"] | None = None,
    max_cost_usd: float | None = None,
    cache: bool | None = None,
    *,
    delay: float | None = None,
    poll_interval: float | None = None,
    expand: bool = False,
    progress: Progress | bool | None = "auto",
    schema: Any = None,
    schema_attempts: int = DEFAULT_SCHEMA_ATTEMPTS,
    images: str | None = None,
    documents: str | None = None,
    detail: str | None = None,
    out: str | os.PathLike[str],
    chunk_size: int | None = None,
    check: Check = "all",
    open_chunks: int | None = None,
    **provider_kwargs: Any,
) -> StreamHandle: ...


def submit(
    df: StreamSource,
    prompt: str | PromptFn,
    model: str = "sim",
    provider: Any = None,
    mode: Mode = "realtime",
    job_name: str | None = None,
    store: Any = None,
    system: str | None = None,
    params: Mapping[str, Any] | None = None,
    custom_id: str | None = None,
    columns: Sequence[str] | None = None,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    rpm: float | Literal["auto"] | None = None,
    tpm: float | Literal["auto"] | None = None,
    max_cost_usd: float | None = None,
    cache: bool | None = None,
    *,
    delay: float | None = None,
    poll_interval: float | None = None,
    expand: bool = False,
    progress: Progress | bool | None = "auto",
    schema: Any = None,
    schema_attempts: int = DEFAULT_SCHEMA_ATTEMPTS,
    images: str | None = None,
    documents: str | None = None,
    detail: str | None = None,
    out: str | os.PathLike[str] | None = None,
    chunk_size: int | None = None,
    check: Check = "all",
    open_chunks: int | None = None,
    **provider_kwargs: Any,
) -> JobHandle | StreamHandle:
    """Start a job from a DataFrame and return its :class:`JobHandle` at once.

    Every row is checked first: a bad row raises :class:`~brainbatch.errors.InputError`
    naming it before anything is sent. In a notebook the job then runs as a background task
    on the kernel's loop (display the handle for the live panel; ``await job`` or, once it
    ended, ``job.result()`` for the results DataFrame); elsewhere on a worker thread.

    Args:
        df: one row per request.
        prompt: a column name, a template such as ``"Classify: {review}"``, or a callable
            ``row -> str`` / ``row -> [{"role", "content"}, ...]`` (see
            :mod:`brainbatch.notebook.frame`).
        model: the model; ``"col:<column>"`` takes each row's model from a column;
            ``"sim"`` (default) is the offline simulator.
        provider: ``"sim"``, ``"openai"``, ``"anthropic"``, a Provider object, or None to
            choose from the model name.
        mode: ``"realtime"``, ``"batch"`` (native Batch API, half price) or ``"flex"``
            (OpenAI's flex processing: real time at batch prices, slower answers).
        job_name: names the job in the store; running again with the same name continues it
            (only rows without a result are sent).
        store: a JobStore or a path; None uses the default store (``$BRAINBATCH_STORE`` or
            ``./.brainbatch/jobs.sqlite``); False keeps results in memory only.
        system, params: system prompt and provider parameters for every row.
        custom_id: a column holding each row's id (default: the index).
        columns: input columns to keep in the results (default: all).
        max_concurrent, delay, rpm, tpm, max_cost_usd, cache: see
            :class:`brainbatch.runner.RunSettings`.
        expand: flatten structured (dict) responses into ``response.<key>`` columns.
        schema: typed answers: a Pydantic model class or a JSON-schema dict. Each provider
            gets its native structured-output form, every answer is validated, and the
            results have ``response`` (the model instance), typed ``response.<field>``
            columns and ``raw_response``; rows whose answers never validated are
            ``invalid``, refusals ``refused`` (see :mod:`brainbatch.structured`).
        schema_attempts: real time: tries per row while answers fail validation (3).
        images: a column of images (a file path, an http(s) URL, bytes, a PIL image, or a
            list of them; None/NaN for none), sent as each provider's image parts after
            checking format, size and count (see :mod:`brainbatch.images`).
        documents: a column of PDF documents (same forms as ``images``).
        detail: OpenAI image detail (``"low"``, ``"high"``, ``"auto"``).
        progress: ``"auto"``, ``"widget"``, ``"text"``, ``"summary"`` or ``"none"``
            (``$BRAINBATCH_PROGRESS`` overrides ``"auto"``).
        out: a folder: stream ``df`` into it as a Parquet dataset (see
            :mod:`brainbatch.stream`); needed when ``df`` is a path (.parquet, .csv, .jsonl,
            a folder of Parquet files), a pyarrow dataset or an iterable of DataFrames, which
            are read in chunks and never held in memory. Returns a
            :class:`~brainbatch.notebook.stream.StreamHandle` then.
        chunk_size: rows per chunk of a streamed input (default 10,000).
        check: streamed input: ``"all"`` reads it once to check every row before the first
            send; ``"chunk"`` checks each chunk just before it is sent.
        open_chunks: streamed input, mode="batch": provider batches open at once (default 4).
        provider_kwargs: passed to the provider (``api_key=``, ``base_url=``, ``latency_ms=``).

    A ``dask.dataframe.DataFrame`` runs on the current Dask cluster instead and gives a
    :class:`brainbatch.cluster.ClusterJob` (see :mod:`brainbatch.cluster`).
    """
    spec = PromptSpec(
        prompt=prompt,
        model=model,
        system=system,
        params=params,
        custom_id=custom_id,
        images=images,
        documents=documents,
        detail=detail,
    )
    settings = _settings(
        model,
        provider,
        mode,
        max_concurrent,
        delay,
        poll_interval,
        rpm,
        tpm,
        max_cost_usd,
        cache,
        provider_kwargs,
        schema,
        schema_attempts,
    )
    launched: JobHandle | StreamHandle = _launch(  # a dask frame gives its own kind
        df,
        spec,
        settings,
        blocking=False,
        job_name=job_name,
        store=store,
        columns=columns,
        expand=expand,
        progress=progress,
        out=out,
        chunk_size=chunk_size,
        check=check,
        open_chunks=open_chunks,
    )
    return launched


@overload
def run(
    df: pd.DataFrame,
    prompt: str | PromptFn,
    model: str = "sim",
    provider: Any = None,
    mode: Mode = "realtime",
    job_name: str | None = None,
    store: Any = None,
    system: str | None = None,
    params: Mapping[str, Any] | None = None,
    custom_id: str | None = None,
    columns: Sequence[str] | None = None,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    rpm: float | Literal["auto"] | None = None,
    tpm: float | Literal["auto"] | None = None,
    max_cost_usd: float | None = None,
    cache: bool | None = None,
    *,
    delay: float | None = None,
    poll_interval: float | None = None,
    expand: bool = False,
    progress: Progress | bool | None = "auto",
    schema: Any = None,
    schema_attempts: int = DEFAULT_SCHEMA_ATTEMPTS,
    images: str | None = None,
    documents: str | None = None,
    detail: str | None = None,
    out: None = None,
    chunk_size: None = None,
    **provider_kwargs: Any,
) -> pd.DataFrame: ...


@overload
def run(
    df: StreamSource,
    prompt: str | PromptFn,
    model: str = "sim",
    provider: Any = None,
    mode: Mode = "realtime",
    job_name: str | None = None,
    store: Any = None,
    system: str | None = None,
    params: Mapping[str, Any] | None = None,
    custom_id: str | None = None,
    columns: Sequence[str] | None = None,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    rpm: float | Literal["auto"] | None = None,
    tpm: float | Literal["auto"] | None = None,
    max_cost_usd: float | None = None,
    cache: bool | None = None,
    *,
    delay: float | None = None,
    poll_interval: float | None = None,
    expand: bool = False,
    progress: Progress | bool | None = "auto",
    schema: Any = None,
    schema_attempts: int = DEFAULT_SCHEMA_ATTEMPTS,
    images: str | None = None,
    documents: str | None = None,
    detail: str | None = None,
    out: str | os.PathLike[str],
    chunk_size: int | None = None,
    check: Check = "all",
    open_chunks: int | None = None,
    **provider_kwargs: Any,
) -> StreamResult: ...


def run(
    df: StreamSource,
    prompt: str | PromptFn,
    model: str = "sim",
    provider: Any = None,
    mode: Mode = "realtime",
    job_name: str | None = None,
    store: Any = None,
    system: str | None = None,
    params: Mapping[str, Any] | None = None,
    custom_id: str | None = None,
    columns: Sequence[str] | None = None,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    rpm: float | Literal["auto"] | None = None,
    tpm: float | Literal["auto"] | None = None,
    max_cost_usd: float | None = None,
    cache: bool | None = None,
    *,
    delay: float | None = None,
    poll_interval: float | None = None,
    expand: bool = False,
    progress: Progress | bool | None = "auto",
    schema: Any = None,
    schema_attempts: int = DEFAULT_SCHEMA_ATTEMPTS,
    images: str | None = None,
    documents: str | None = None,
    detail: str | None = None,
    out: str | os.PathLike[str] | None = None,
    chunk_size: int | None = None,
    check: Check = "all",
    open_chunks: int | None = None,
    **provider_kwargs: Any,
) -> pd.DataFrame | StreamResult:
    """Run a job from a DataFrame and return the results DataFrame (blocking).

    Takes the same arguments as :func:`submit`; with ``out=`` (a streamed input) it returns a
    :class:`~brainbatch.stream.StreamResult` instead of a DataFrame. The job runs on its own
    event loop in a worker thread, so this works in scripts, tests and notebook cells alike. In
    a notebook the live panel is shown (without a Cancel button: the cell blocks the kernel, so
    a click could not arrive). Ctrl-C, or the kernel's interrupt button, cancels the job
    cleanly: the requests in flight may finish, a short note is printed, and the partial results
    come back (rows not run have status ``"cancelled"``). A second interrupt abandons the
    requests still in flight at once.

    A ``dask.dataframe.DataFrame`` runs on the current Dask cluster, one sub-job per
    partition, and its results come back as a dask DataFrame (see :mod:`brainbatch.cluster`).
    """
    spec = PromptSpec(
        prompt=prompt,
        model=model,
        system=system,
        params=params,
        custom_id=custom_id,
        images=images,
        documents=documents,
        detail=detail,
    )
    settings = _settings(
        model,
        provider,
        mode,
        max_concurrent,
        delay,
        poll_interval,
        rpm,
        tpm,
        max_cost_usd,
        cache,
        provider_kwargs,
        schema,
        schema_attempts,
    )
    launched: pd.DataFrame | StreamResult = _launch(  # a dask frame gives its own kind
        df,
        spec,
        settings,
        blocking=True,
        job_name=job_name,
        store=store,
        columns=columns,
        expand=expand,
        progress=progress,
        out=out,
        chunk_size=chunk_size,
        check=check,
        open_chunks=open_chunks,
    )
    return launched


def _launch(
    df: Any,
    spec: PromptSpec,
    settings: RunSettings,
    *,
    blocking: bool,
    job_name: str | None,
    store: Any,
    columns: Sequence[str] | None,
    expand: bool,
    progress: Progress | bool | None,
    out: str | os.PathLike[str] | None,
    chunk_size: int | None,
    check: Check,
    open_chunks: int | None,
) -> Any:
    """The one dispatch under :func:`submit` and :func:`run`: a dask DataFrame goes to the
    cluster, a streamed input (or ``out=``) to :mod:`brainbatch.stream`, a DataFrame to a
    :class:`JobHandle`; ``blocking`` waits for the end (``run``) or returns a handle."""
    if is_dask_frame(df):
        if settings.schema is not None:
            raise InputError("schema= is not available for a dask DataFrame yet")
        from ..cluster import run_frame, submit_frame

        on_cluster = run_frame if blocking else submit_frame
        return on_cluster(
            df,
            spec,
            settings,
            job_name=job_name,
            store=store,
            columns=columns,
            expand=expand,
        )
    if out is not None or is_stream_source(df):
        stream = _prepare_stream(
            df,
            spec,
            settings,
            out,
            job_name,
            store,
            columns,
            chunk_size,
            expand,
            progress,
            check,
            open_chunks,
        )
        mode = _progress_mode(progress)
        return (
            run_stream(stream, progress=mode) if blocking else start_stream(stream, progress=mode)
        )
    handle = _prepare(
        df,
        spec,
        settings,
        job_name=job_name,
        store=store,
        columns=columns,
        expand=expand,
        progress=progress,
        cancellable=not blocking,
    )
    if blocking:
        return _run_blocking(handle)
    handle._start()
    return handle


def _run_blocking(handle: JobHandle) -> pd.DataFrame:
    """Start ``handle`` on a worker thread, show its progress, wait; Ctrl-C cancels."""
    if handle._progress == "widget":
        from IPython.display import display

        display(handle)  # type: ignore[no-untyped-call]
    handle._start(thread=True)
    try:
        handle.wait()
    except KeyboardInterrupt:
        _interrupted(handle)
    return handle._outcome()


def _interrupted(handle: JobHandle) -> None:
    """First Ctrl-C: cancel and wait for in-flight requests; second: abandon them."""
    handle.cancel()
    try:
        handle.wait()
    except KeyboardInterrupt:
        loop, task = handle._loop, handle._task
        if loop is not None and task is not None:
            loop.call_soon_threadsafe(task.cancel)
        handle.wait(timeout=5.0)
    snap = handle._snapshot()
    print(
        f"brainbatch: interrupted; job {handle.name!r} cancelled with {snap.done:,} of "
        f"{snap.total:,} rows done; returning the partial results",
        file=sys.stderr,
    )


def summary(handle: JobHandle) -> str:
    """The one-line summary of a job (as the panel shows it at the end)."""
    return summary_line(handle._snapshot())

"""A job's progress as data and as text, for every front (panel, terminal, logs).

:func:`snapshot` reads a :class:`~brainbatch.models.BatchJob` in O(1) into a frozen
:class:`Snapshot`; :func:`progress_text`, :func:`batch_text` and :func:`summary_line` format it
(like tqdm's ``format_meter``: one neutral formatter, thin fronts). The notebook's
:class:`~brainbatch.notebook.widget.JobPanel`, :class:`TextProgress` (stderr) and the command
line's terminal view only decide how to *show* these strings.

Native batch jobs (``mode="batch"``) have no meaningful per-row progress while the provider
works: :func:`batch_text` shows the provider's state, its request counts when it reports them,
and the time used of the completion window (``job.metadata["batch_progress"]``), not a made-up
percentage.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Protocol

from .models import BatchJob, BatchStatus

if TYPE_CHECKING:
    from .runner import RunSettings

__all__ = [
    "MAX_UPDATES_PER_S",
    "BatchRow",
    "Snapshot",
    "TextProgress",
    "View",
    "Views",
    "batch_rows",
    "batch_text",
    "batches_text",
    "describe",
    "format_duration",
    "format_money",
    "format_rate",
    "limits_text",
    "progress_text",
    "snapshot",
    "summary_line",
]

MAX_UPDATES_PER_S = 10.0
"""Most display updates a view gets per second."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a view shows, computed from the job in O(1)."""

    name: str
    status: str
    total: int
    done: int
    succeeded: int
    failed: int
    cached: int
    cost_usd: float
    elapsed_s: float
    rate: float  # rows per second in this run
    eta_s: float  # NaN when unknown
    error: str | None
    batch: Mapping[str, Any] | None
    cancelling: bool = False  # cancel requested, requests in flight still finishing
    detail: str = ""  # model, provider, mode, limits: shown beside the name
    paused: bool = False  # no new request starts until resumed (requests in flight finish)
    limits: str = ""  # the rate limits in force and where they came from (Limiter.limits_in_force)

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def finished(self) -> bool:
        return BatchStatus(self.status).is_terminal


def snapshot(
    job: BatchJob, name: str, done_at_start: int = 0, detail: str = "", limits: str = ""
) -> Snapshot:
    """The job's state now. ``done_at_start`` is the results it had before this run;
    ``detail`` a short description of how it runs (model, mode); ``limits`` the rate limits
    in force (:attr:`brainbatch.runner.JobRunner.limits_in_force`)."""
    elapsed = job.elapsed_s
    new = job.done - done_at_start
    rate = new / elapsed if elapsed > 0 and new > 0 else math.nan
    remaining = job.total - job.done
    eta = remaining / rate if rate == rate and rate > 0 else math.nan
    if job.status.is_terminal:
        eta = 0.0
    batch = job.metadata.get("batch_progress")
    return Snapshot(
        name=name,
        status=job.status.value,
        total=job.total,
        done=job.done,
        succeeded=job.n_success,
        failed=job.n_error,
        cached=job.n_cached,
        cost_usd=job.cost_usd,
        elapsed_s=elapsed,
        rate=rate,
        eta_s=eta,
        error=job.error,
        batch=batch if isinstance(batch, Mapping) else None,
        cancelling=job.cancel_requested and not job.status.is_terminal,
        detail=detail,
        paused=job.paused and not job.status.is_terminal,
        limits=limits,
    )


def format_duration(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``3:05``, ``1:02:03``; ``?`` when unknown."""
    if seconds != seconds or math.isinf(seconds):
        return "?"
    if seconds < 10:
        return f"{seconds:.1f} s"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def format_money(usd: float) -> str:
    if usd != usd:
        return "$?"
    return f"${usd:,.4f}" if usd < 100 else f"${usd:,.2f}"


def format_rate(rate: float) -> str:
    return "? rows/s" if rate != rate else f"{rate:,.1f} rows/s"


def batch_text(s: Snapshot) -> str:
    """Provider state, counts (when the provider reports them live) and the time used of the
    completion window, for a native batch job (``job.metadata["batch_progress"]``)."""
    b = s.batch or {}
    statuses = b.get("statuses")
    if isinstance(statuses, Mapping) and statuses:
        state = ", ".join(
            f"{k}" if v == 1 else f"{k} ×{v}" for k, v in statuses.items() if k != "None"
        )
    else:
        state = str(b.get("state") or s.status)
    parts = [f"provider: {state or 'submitting'}"]
    submitted = b.get("submitted")
    if b.get("counts_live") and isinstance(submitted, int) and submitted:
        parts.append(
            f"{int(b.get('completed') or 0):,}/{submitted:,} done at the provider, "
            f"{int(b.get('failed') or 0):,} failed"
        )
    elif isinstance(submitted, int) and submitted:
        parts.append(f"{submitted:,} requests submitted (counts arrive when the batch ends)")
    if s.done:
        parts.append(f"{s.done:,}/{s.total:,} results collected")
    window = b.get("window_s")
    elapsed = b.get("elapsed_s")
    elapsed_s = float(elapsed) if isinstance(elapsed, int | float) else s.elapsed_s
    if isinstance(window, int | float) and window > 0:
        text = f"{format_duration(elapsed_s)} of the {format_duration(window)} window"
        expires = b.get("expires_at")
        if isinstance(expires, str) and expires:
            text += f" (expires {expires[:16].replace('T', ' ')} UTC)"
        parts.append(text)
    else:
        parts.append(f"elapsed {format_duration(elapsed_s)}")
    return " · ".join(parts)


@dataclass(frozen=True, slots=True)
class BatchRow:
    """One provider batch of a native batch job, as a display shows it."""

    part: str
    batch_id: str
    model: str
    status: str
    requests: int
    completed: int
    failed: int
    counts_live: bool  # OpenAI: counts move while it runs; Anthropic: only at the end
    elapsed_s: float
    window_s: float  # NaN when the provider gave no expiry
    expires_at: str
    collected: bool

    @property
    def window_text(self) -> str:
        """``10:00 of the 24:00:00 window`` (or the elapsed time alone)."""
        if self.window_s == self.window_s and self.window_s > 0:
            return (
                f"{format_duration(self.elapsed_s)} of the {format_duration(self.window_s)} window"
            )
        return f"elapsed {format_duration(self.elapsed_s)}"

    @property
    def counts_text(self) -> str:
        """``120/500 done, 2 failed`` (live counts), or ``500 requests`` until they arrive."""
        if self.counts_live or self.completed or self.failed or self.collected:
            return f"{self.completed:,}/{self.requests:,} done, {self.failed:,} failed"
        return f"{self.requests:,} requests"


def _num(v: Any, default: float = math.nan) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else default


def batch_rows(s: Snapshot) -> list[BatchRow]:
    """Each provider batch of a native batch job (from ``batch_progress["per_batch"]``)."""
    per = (s.batch or {}).get("per_batch")
    if not isinstance(per, list):
        return []
    rows = []
    for b in per:
        if not isinstance(b, Mapping):
            continue
        rows.append(
            BatchRow(
                part=str(b.get("part") or ""),
                batch_id=str(b.get("batch_id") or ""),
                model=str(b.get("model") or "mixed"),
                status=str(b.get("status") or ""),
                requests=int(_num(b.get("requests"), 0)),
                completed=int(_num(b.get("completed"), 0)),
                failed=int(_num(b.get("failed"), 0)),
                counts_live=bool(b.get("counts_live")),
                elapsed_s=_num(b.get("elapsed_s"), 0.0),
                window_s=_num(b.get("window_s")),
                expires_at=str(b.get("expires_at") or ""),
                collected=bool(b.get("collected")),
            )
        )
    return rows


def batches_text(rows: Sequence[BatchRow]) -> str:
    """One line per provider batch: part, model, status, counts, time against the window."""
    return "\n".join(
        f"  batch {r.part or '?'} {r.batch_id} ({r.model}): {r.status} · {r.counts_text} · "
        f"{r.window_text}"
        for r in rows
    )


def progress_text(s: Snapshot) -> str:
    """One line: done/total, counts, cost, elapsed, ETA, throughput."""
    pct = 100.0 * s.fraction
    head = f"{s.done:,}/{s.total:,} ({pct:.1f}%)"
    counts = f"{s.succeeded:,} ok, {s.failed:,} failed, {s.cached:,} cached"
    times = f"elapsed {format_duration(s.elapsed_s)}"
    if s.paused:
        times += ", paused"
    elif not s.finished:
        times += f", ETA {format_duration(s.eta_s)}"
    return f"{head} · {counts} · {format_money(s.cost_usd)} · {times} · {format_rate(s.rate)}"


def limits_text(s: Snapshot) -> str:
    """``limits: rpm 4,500 (90% of 5,000 learned from x-ratelimit-limit-requests)``; "" when
    the run has no rate limits to show (native batch, not started, no limiter)."""
    return f"limits: {s.limits}" if s.limits else ""


def summary_line(s: Snapshot) -> str:
    """The final one-line summary, e.g.
    ``brainbatch: job 'reviews' completed: 2,000/2,000 rows, 1,990 ok, 10 failed, 0 cached,
    $0.0123, 3.2 s, 625.0 rows/s``."""
    line = (
        f"brainbatch: job {s.name!r} {s.status}: {s.done:,}/{s.total:,} rows, "
        f"{s.succeeded:,} ok, {s.failed:,} failed, {s.cached:,} cached, "
        f"{format_money(s.cost_usd)}, "
        f"{format_duration(s.elapsed_s)}, {format_rate(s.rate)}"
    )
    if (
        s.error
        and s.status != "completed"
        and s.error != s.status
        and not s.error.endswith("requests failed")
    ):
        line += f" ({s.error})"
    return line


class View(Protocol):
    """Something that shows a job's progress."""

    def update(self, s: Snapshot) -> None: ...


class Views:
    """The views one running job is shown in (panel, text, ...), safe from any thread: each
    refresh gives every view the same snapshot, and a view that fails is logged, never
    allowed to break the job."""

    def __init__(self) -> None:
        self._views: list[View] = []
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._views)

    def add(self, view: View, now: Snapshot | None = None) -> None:
        """Show the job in ``view`` too; ``now``: a snapshot to show at once (a job that
        already ended gets no more refreshes)."""
        with self._lock:
            self._views.append(view)
        if now is not None:
            view.update(now)

    def update(self, make: Callable[[], Snapshot]) -> None:
        """Give every view the snapshot ``make()`` returns (made only when there are views)."""
        with self._lock:
            views = list(self._views)
        if not views:
            return
        snap = make()
        for view in views:
            try:
                view.update(snap)
            except Exception:  # a broken display must never break the job
                logging.getLogger("brainbatch").exception("progress view failed")


class TextProgress:
    """Progress as text on ``stream`` (stderr by default).

    Args:
        live: rewrite one line in place as the job runs (for terminals); when False only the
            final summary line is printed (scripts, nbconvert, nbval: easy to sanitise).
        details: called once at the end; what it returns (the grouped errors and per-model
            lines of :func:`brainbatch.monitor.details_text`) is printed under the summary.
    """

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        live: bool | None = None,
        details: Callable[[], str] | None = None,
    ) -> None:
        self.details = details
        self.stream = stream if stream is not None else sys.stderr
        if live is None:
            isatty = getattr(self.stream, "isatty", None)
            live = bool(isatty and isatty())
        self.live = live
        self.updates = 0
        self._finished = False
        self._width = 0

    def update(self, s: Snapshot) -> None:
        if self._finished:
            return
        self.updates += 1
        if s.finished:
            self._finished = True
            end = "\r" + " " * self._width + "\r" if self.live and self._width else ""
            self.stream.write(end + summary_line(s) + "\n")
            extra = self.details() if self.details is not None else ""
            if extra:
                self.stream.write(extra + "\n")
        elif self.live:
            line = f"brainbatch {s.name}: " + (
                batch_text(s) if s.batch is not None else progress_text(s)
            )
            if s.limits and s.batch is None:
                line += " · " + limits_text(s)
            pad = max(0, self._width - len(line))
            self._width = len(line)
            self.stream.write("\r" + line + " " * pad)
        self.stream.flush()


def describe(s: RunSettings) -> str:
    """``gpt-4o-mini via openai · realtime, 16 in flight`` (how a job runs, in one line)."""
    via = s.provider_name
    model = s.model if via in (s.model, s.model.split("/", 1)[0]) else f"{s.model} via {via}"
    if s.mode == "batch":
        return f"{model} · native batch"
    how = (
        f"one at a time, {s.delay:g} s apart"
        if s.delay is not None
        else (f"{s.max_concurrent} in flight")
    )
    limits = "".join(
        f", {v} {k}" if isinstance(v, str) else f", {v:,g} {k}"
        for k, v in (("rpm", s.rpm), ("tpm", s.tpm))
        if v is not None
    )
    budget = f", max ${s.max_cost_usd:,.2f}" if s.max_cost_usd is not None else ""
    return f"{model} · realtime, {how}{limits}{budget}"

"""The live panel of a running job, and its text fallback.

:class:`JobPanel` (ipywidgets; the only module that imports it, and only when a panel is made)
shows a progress bar, done/total, succeeded/failed/cached counts, running cost, elapsed time,
ETA, throughput and a Cancel button, coloured by status, with a one-line summary at the end.
:class:`TextProgress` prints a throttled progress line to stderr when there is no widget front
end, or, when stderr is not a terminal (scripts, nbconvert, nbval), only the final summary.

Views do not poll the job themselves: the job's handle calls :meth:`update` from the job's
event loop at most :data:`MAX_UPDATES_PER_S` times a second (and once more at the end), so a
100,000-row job sends the front end no more messages than a 100-row one. Widget updates from a
worker thread are fine: ipywidgets sends them over the kernel's iopub channel at once.

Native batch jobs (``mode="batch"``) have no meaningful per-row progress while the provider
works: the panel shows the provider's state, its request counts when it reports them, and the
time used of the completion window (``job.metadata["batch_progress"]``), not a made-up
percentage.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from html import escape
from typing import IO, Any, Protocol

from ..models import BatchJob, BatchStatus

__all__ = [
    "MAX_UPDATES_PER_S",
    "JobPanel",
    "Snapshot",
    "TextProgress",
    "View",
    "format_duration",
    "snapshot",
    "summary_line",
]

MAX_UPDATES_PER_S = 10.0
"""Most display updates a view gets per second."""

_COLOURS = {
    "pending": "#6c757d",
    "processing": "#0d6efd",
    "completed": "#198754",
    "failed": "#dc3545",
    "cancelled": "#fd7e14",
    "expired": "#fd7e14",
}
_BAR_STYLES = {
    "pending": "info",
    "processing": "info",
    "completed": "success",
    "failed": "danger",
    "cancelled": "warning",
    "expired": "warning",
}


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

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def finished(self) -> bool:
        return BatchStatus(self.status).is_terminal


def snapshot(job: BatchJob, name: str, done_at_start: int = 0, detail: str = "") -> Snapshot:
    """The job's state now. ``done_at_start`` is the results it had before this run;
    ``detail`` a short description of how it runs (model, mode, limits)."""
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


def _money(usd: float) -> str:
    if usd != usd:
        return "$?"
    return f"${usd:,.4f}" if usd < 100 else f"${usd:,.2f}"


def _rate(rate: float) -> str:
    return "? rows/s" if rate != rate else f"{rate:,.1f} rows/s"


def _batch_text(s: Snapshot) -> str:
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


def progress_text(s: Snapshot) -> str:
    """One line: done/total, counts, cost, elapsed, ETA, throughput."""
    pct = 100.0 * s.fraction
    head = f"{s.done:,}/{s.total:,} ({pct:.1f}%)"
    counts = f"{s.succeeded:,} ok, {s.failed:,} failed, {s.cached:,} cached"
    times = f"elapsed {format_duration(s.elapsed_s)}"
    if not s.finished:
        times += f", ETA {format_duration(s.eta_s)}"
    return f"{head} · {counts} · {_money(s.cost_usd)} · {times} · {_rate(s.rate)}"


def summary_line(s: Snapshot) -> str:
    """The final one-line summary, e.g.
    ``brainbatch: job 'reviews' completed: 2,000/2,000 rows, 1,990 ok, 10 failed, 0 cached,
    $0.0123, 3.2 s, 625.0 rows/s``."""
    line = (
        f"brainbatch: job {s.name!r} {s.status}: {s.done:,}/{s.total:,} rows, "
        f"{s.succeeded:,} ok, {s.failed:,} failed, {s.cached:,} cached, {_money(s.cost_usd)}, "
        f"{format_duration(s.elapsed_s)}, {_rate(s.rate)}"
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


class TextProgress:
    """Progress as text on ``stream`` (stderr by default).

    Args:
        live: rewrite one line in place as the job runs (for terminals); when False only the
            final summary line is printed (scripts, nbconvert, nbval: easy to sanitise).
    """

    def __init__(self, stream: IO[str] | None = None, *, live: bool | None = None) -> None:
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
        elif self.live:
            line = f"brainbatch {s.name}: " + (
                _batch_text(s) if s.batch is not None else progress_text(s)
            )
            pad = max(0, self._width - len(line))
            self._width = len(line)
            self.stream.write("\r" + line + " " * pad)
        self.stream.flush()


class JobPanel:
    """The ipywidgets panel. Build it with :meth:`create`; show ``panel.widget``.

    Args:
        on_cancel: called (on the kernel's thread) when Cancel is clicked.
        cancellable: show the Cancel button. ``bb.run`` hides it: its cell blocks the kernel, so
            a click would only arrive after the job ended; interrupt the kernel instead.
    """

    def __init__(self, on_cancel: Callable[[], None] | None, *, cancellable: bool = True) -> None:
        import ipywidgets as w

        self._on_cancel = on_cancel
        self.updates = 0
        self.title = w.HTML()
        self.bar = w.FloatProgress(
            value=0.0, min=0.0, max=1.0, bar_style="info", layout=w.Layout(width="320px")
        )
        self.counts = w.HTML()
        self.stats = w.HTML()
        self.button = w.Button(
            description="Cancel",
            icon="stop",
            button_style="warning",
            tooltip="Stop starting requests; results so far are kept",
            layout=w.Layout(width="110px"),
        )
        self.button.on_click(self._clicked)
        self.hint = w.HTML(
            "<small>interrupt the kernel (■) to stop: results so far are kept</small>"
        )
        self.button.layout.display = None if cancellable else "none"
        self.hint.layout.display = "none" if cancellable else None
        self.widget = w.VBox(
            [self.title, w.HBox([self.bar, self.counts]), self.stats, w.HBox([self.button])]
            + ([] if cancellable else [self.hint])
        )

    def _clicked(self, _button: Any) -> None:
        self.button.disabled = True
        self.button.description = "Cancelling…"
        if self._on_cancel is not None:
            self._on_cancel()

    def update(self, s: Snapshot) -> None:
        self.updates += 1
        shown = "cancelling…" if s.cancelling else s.status
        colour = _COLOURS.get("cancelled" if s.cancelling else s.status, "#6c757d")
        status = f"<b style='color:{colour}'>{escape(shown)}</b>"
        detail = f" · <span style='color:#6c757d'>{escape(s.detail)}</span>" if s.detail else ""
        self.title.value = f"<b>brainbatch</b> · {escape(s.name)}{detail} · {status}"
        if s.batch is not None and not s.finished:
            b = s.batch
            submitted = b.get("submitted")
            total = submitted if isinstance(submitted, int) and submitted > 0 else 0
            live = bool(b.get("counts_live")) and total > 0
            self.bar.layout.visibility = "visible" if live else "hidden"
            if live:
                self.bar.value = min(1.0, int(b.get("completed") or 0) / total)
            self.counts.value = ""
            self.stats.value = escape(_batch_text(s))
        else:
            self.bar.layout.visibility = "visible"
            self.bar.value = s.fraction
            self.bar.bar_style = _BAR_STYLES.get(s.status, "info")
            self.counts.value = (
                f"&nbsp;{s.done:,}/{s.total:,} ({100.0 * s.fraction:.1f}%) · "
                f"<span style='color:{_COLOURS['completed']}'>{s.succeeded:,} ok</span> · "
                f"<span style='color:{_COLOURS['failed']}'>{s.failed:,} failed</span> · "
                f"{s.cached:,} cached"
            )
            if s.finished:
                self.stats.value = escape(summary_line(s))
            else:
                self.stats.value = (
                    f"{_money(s.cost_usd)} · elapsed {format_duration(s.elapsed_s)} · "
                    f"ETA {format_duration(s.eta_s)} · {_rate(s.rate)}"
                )
        if s.finished:
            self.button.disabled = True
            self.button.description = "Cancel"
            self.button.layout.display = "none"
            self.hint.layout.display = "none"

    def mimebundle(self, **kwargs: Any) -> dict[str, Any]:
        """The widget's display data (what ``display(panel.widget)`` would send)."""
        bundle: dict[str, Any] = self.widget._repr_mimebundle_(**kwargs)
        return bundle


def widgets_available() -> bool:
    """True when ipywidgets can be imported and we run inside a Jupyter kernel."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    if ip is None or getattr(ip, "kernel", None) is None:
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True

"""The live panel of a running job.

:class:`JobPanel` (ipywidgets; the only module that imports it, and only when a panel is made)
shows a progress bar, done/total, succeeded/failed/cached counts, running cost, elapsed time,
ETA, throughput and a Cancel button, coloured by status, with a one-line summary at the end.
What it shows comes from :mod:`brainbatch.progress` (the same text the terminal prints); this
module only decides how it looks. The text fallback is :class:`brainbatch.progress.TextProgress`.

Views do not poll the job themselves: the job's handle calls :meth:`update` from the job's
event loop at most :data:`MAX_UPDATES_PER_S` times a second (and once more at the end), so a
100,000-row job sends the front end no more messages than a 100-row one. Widget updates from a
worker thread are fine: ipywidgets sends them over the kernel's iopub channel at once.

Native batch jobs show the provider's state and counts (:func:`brainbatch.progress.batch_text`),
not a made-up percentage.

With a :class:`~brainbatch.monitor.JobMonitor` the panel is also the job's cockpit: a small live
chart (rows/s and errors/s; cumulative cost against the ``max_cost_usd`` budget line and the
estimate), a one-line error headline, a Pause/Resume button (real-time jobs), and collapsed
details: the latest answers, the grouped errors with one full example each, and the per-model
breakdown. It stays cheap at 10 refreshes a second: the chart is an SVG string of at most 240
points (no matplotlib), redrawn only when a result arrived since the last refresh; a details
section is built only while it is open; and a widget is only sent a value that changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from ..monitor import (
    ErrorGroup,
    JobMonitor,
    LatestRow,
    ModelStats,
    TimelinePoint,
    rates,
)
from ..progress import (
    BatchRow,
    Snapshot,
    batch_rows,
    batch_text,
    format_duration,
    format_money,
    format_rate,
    limits_text,
    summary_line,
)

__all__ = [
    "JobPanel",
    "batches_html",
    "chart_svg",
    "errors_html",
    "latest_html",
    "models_html",
    "widgets_available",
]

_COLOURS = {
    "pending": "#6c757d",
    "processing": "#0d6efd",
    "completed": "#198754",
    "failed": "#dc3545",
    "cancelled": "#fd7e14",
    "expired": "#fd7e14",
    "paused": "#6f42c1",
}
_BAR_STYLES = {
    "pending": "info",
    "processing": "info",
    "completed": "success",
    "failed": "danger",
    "cancelled": "warning",
    "expired": "warning",
}


class JobPanel:
    """The ipywidgets panel. Build it with :meth:`create`; show ``panel.widget``.

    Args:
        on_cancel: called (on the kernel's thread) when Cancel is clicked.
        cancellable: show the Cancel button. ``bb.run`` hides it: its cell blocks the kernel, so
            a click would only arrive after the job ended; interrupt the kernel instead.
        monitor: the job's monitor; with one the panel shows the chart, the error headline
            and the details (latest answers, grouped errors, per model).
        on_pause: called with True (Pause clicked) or False (Resume); None hides the button.
        budget_usd: ``max_cost_usd``, drawn as a line on the cost chart.
        estimate_usd: the cost estimated before the run, drawn as a dotted line.
        latest_rows: how many recent answers the details table shows.
        batch: a native batch job: the details start with each provider batch's state and
            counts (open by default).
    """

    def __init__(
        self,
        on_cancel: Callable[[], None] | None,
        *,
        cancellable: bool = True,
        monitor: JobMonitor | None = None,
        on_pause: Callable[[bool], None] | None = None,
        budget_usd: float | None = None,
        estimate_usd: float | None = None,
        latest_rows: int = 8,
        batch: bool = False,
    ) -> None:
        import ipywidgets as w

        self._on_cancel = on_cancel
        self._on_pause = on_pause
        self.monitor = monitor
        self.budget_usd = budget_usd
        self.estimate_usd = estimate_usd
        self.latest_rows = latest_rows
        self.updates = 0
        self._chart_version = -1
        self._paused = False
        self.title = w.HTML()
        self.bar = w.FloatProgress(
            value=0.0, min=0.0, max=1.0, bar_style="info", layout=w.Layout(width="320px")
        )
        self.counts = w.HTML()
        self.stats = w.HTML()
        self.limits = w.HTML()
        """The rate limits in force and where they came from (hidden when there are none)."""
        self.limits.layout.display = "none"
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
        self.pause_button = w.Button(
            description="Pause",
            icon="pause",
            tooltip="Start no new requests (those in flight finish); Resume continues the job",
            layout=w.Layout(width="110px"),
        )
        self.pause_button.on_click(self._pause_clicked)
        self.pause_button.layout.display = None if on_pause is not None else "none"
        self.chart = w.HTML()
        self.error_line = w.HTML()
        self.latest = w.HTML()
        self.errors = w.HTML()
        self.models = w.HTML()
        self.batches = w.HTML()
        self._sections = ["latest", "errors", "models"]
        if batch:
            self._sections.insert(0, "batches")
        self.details = w.Accordion(
            children=[getattr(self, name) for name in self._sections],
            titles=tuple(self._titles_for(0, 0, 0)),
        )
        # collapsed (the default view stays small); a batch job opens its provider batches
        self.details.selected_index = 0 if batch else None
        self.details.observe(self._opened, names="selected_index")
        cockpit: list[Any] = [] if monitor is None else [self.chart, self.error_line]
        self.chart.layout.display = "none"
        self.error_line.layout.display = "none"
        self.widget = w.VBox(
            [self.title, w.HBox([self.bar, self.counts]), self.stats, self.limits]
            + cockpit
            + [w.HBox([self.button, self.pause_button])]
            + ([] if cancellable else [self.hint])
            + ([] if monitor is None else [self.details])
        )
        self._last: Any = None

    def _clicked(self, _button: Any) -> None:
        self.button.disabled = True
        self.button.description = "Cancelling…"
        self.pause_button.disabled = True
        if self._on_cancel is not None:
            self._on_cancel()

    def _pause_clicked(self, _button: Any) -> None:
        self._paused = not self._paused
        self._show_paused(self._paused)
        if self._on_pause is not None:
            self._on_pause(self._paused)

    def _show_paused(self, paused: bool) -> None:
        _set(self.pause_button, "description", "Resume" if paused else "Pause")
        _set(self.pause_button, "icon", "play" if paused else "pause")
        _set(self.pause_button, "button_style", "info" if paused else "")

    def set_estimate(self, usd: float | None) -> None:
        """Draw ``usd`` (the cost estimated before the run) on the cost chart."""
        self.estimate_usd = usd
        self._chart_version = -1  # redraw at the next refresh
        if self._last is not None and self.monitor is not None:
            self._draw_cockpit(self._last)

    def _opened(self, _change: Any) -> None:
        if self._last is not None:
            self._draw_details(self._last)

    def update(self, s: Snapshot) -> None:
        self.updates += 1
        self._last = s
        shown = "cancelling…" if s.cancelling else "paused" if s.paused else s.status
        key = "cancelled" if s.cancelling else "paused" if s.paused else s.status
        colour = _COLOURS.get(key, "#6c757d")
        status = f"<b style='color:{colour}'>{escape(shown)}</b>"
        detail = f" · <span style='color:#6c757d'>{escape(s.detail)}</span>" if s.detail else ""
        self.title.value = f"<b>brainbatch</b> · {escape(s.name)}{detail} · {status}"
        shown_limits = limits_text(s) if s.batch is None else ""
        self.limits.layout.display = None if shown_limits else "none"
        self.limits.value = f"<small style='color:#6c757d'>{escape(shown_limits)}</small>"
        if s.batch is not None and not s.finished:
            b = s.batch
            submitted = b.get("submitted")
            total = submitted if isinstance(submitted, int) and submitted > 0 else 0
            live = bool(b.get("counts_live")) and total > 0
            self.bar.layout.visibility = "visible" if live else "hidden"
            if live:
                self.bar.value = min(1.0, int(b.get("completed") or 0) / total)
            self.counts.value = ""
            self.stats.value = escape(batch_text(s))
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
                eta = "paused" if s.paused else f"ETA {format_duration(s.eta_s)}"
                self.stats.value = (
                    f"{format_money(s.cost_usd)} · elapsed {format_duration(s.elapsed_s)} · "
                    f"{eta} · {format_rate(s.rate)}"
                )
        if s.paused != self._paused and not s.finished:  # paused from code (job.pause())
            self._paused = s.paused
            self._show_paused(s.paused)
        if s.finished:
            self.button.disabled = True
            self.button.description = "Cancel"
            self.button.layout.display = "none"
            self.pause_button.layout.display = "none"
            self.hint.layout.display = "none"
        if self.monitor is not None:
            self._draw_cockpit(s)

    # -- the cockpit -------------------------------------------------------------------------

    def _draw_cockpit(self, s: Snapshot) -> None:
        monitor = self.monitor
        assert monitor is not None
        if monitor.version != self._chart_version and (s.batch is None or s.finished):
            self._chart_version = monitor.version
            points = monitor.timeline()
            if len(points) >= 2:
                _set(self.chart.layout, "display", None)
                _set(self.chart, "value", chart_svg(points, self.budget_usd, self.estimate_usd))
        groups = monitor.errors()
        if groups:
            _set(self.error_line.layout, "display", None)
            _set(self.error_line, "value", error_headline(groups))
        titles = self._titles_for(
            sum(g.count for g in groups), len(groups), monitor.n_models, len(batch_rows(s))
        )
        if tuple(self.details.titles) != titles:
            self.details.titles = titles
        self._draw_details(s)

    def _titles_for(
        self, errors: int, kinds: int, models: int, batches: int = 0
    ) -> tuple[str, ...]:
        names = {
            "batches": f"Provider batches ({batches})",
            "latest": "Latest answers",
            "errors": (
                f"Errors ({errors:,} in {kinds} kind{'s' if kinds != 1 else ''})"
                if kinds
                else "Errors (none)"
            ),
            "models": f"Per model ({models})",
        }
        return tuple(names[n] for n in self._sections)

    def _draw_details(self, s: Snapshot) -> None:
        """Build only the open section (a closed one costs nothing per refresh)."""
        monitor = self.monitor
        i = self.details.selected_index
        if monitor is None or i is None:
            return
        name = self._sections[i]
        if name == "latest":
            _set(self.latest, "value", latest_html(monitor.latest(self.latest_rows)))
        elif name == "errors":
            _set(self.errors, "value", errors_html(monitor.errors()))
        elif name == "models":
            _set(self.models, "value", models_html(monitor.models()))
        else:
            _set(self.batches, "value", batches_html(batch_rows(s)))

    def mimebundle(self, **kwargs: Any) -> dict[str, Any]:
        """The widget's display data (what ``display(panel.widget)`` would send)."""
        bundle: dict[str, Any] = self.widget._repr_mimebundle_(**kwargs)
        return bundle


def _set(obj: Any, name: str, value: Any) -> None:
    """Set a widget trait only when it changes (each change is a message to the browser)."""
    if getattr(obj, name) != value:
        setattr(obj, name, value)


_CELL = "padding:1px 6px;text-align:left;vertical-align:top"
_TABLE = "border-collapse:collapse;font-size:12px;line-height:1.3"


def _ms(v: float) -> str:
    return "" if v != v else f"{v:,.0f} ms"


def latest_html(rows: Sequence[LatestRow]) -> str:
    """The latest answers as a small HTML table (newest first)."""
    if not rows:
        return "<i>no answers yet</i>"
    head = "".join(
        f"<th style='{_CELL}'>{h}</th>"
        for h in ("row", "status", "latency", "cost", "model", "input", "answer")
    )
    body = []
    for r in rows:
        ok = r.status == "success"
        colour = _COLOURS["completed"] if ok else _COLOURS["failed"]
        status = ("cached" if r.cached else "ok") if ok else "error"
        cells = (
            escape(r.row),
            f"<span style='color:{colour}'>{status}</span>",
            _ms(r.latency_ms),
            _small_money(r.cost_usd),
            escape(r.model),
            escape(r.input),
            escape(r.answer),
        )
        body.append("<tr>" + "".join(f"<td style='{_CELL}'>{c}</td>" for c in cells) + "</tr>")
    return (
        f"<table class='bb-latest' style='{_TABLE}'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _small_money(usd: float) -> str:
    """A row's cost: ``$0.000042`` (a cheap row's cost would read $0.0000 at four places)."""
    if usd != usd:
        return ""
    return f"${usd:.6f}" if usd < 0.01 else escape(format_money(usd))


def error_headline(groups: Sequence[ErrorGroup]) -> str:
    """One line: ``⚠ 12 errors: server_error ×8 · timeout ×4`` (the three largest kinds)."""
    total = sum(g.count for g in groups)
    kinds = " · ".join(f"{escape(g.error_type)} ×{g.count:,}" for g in groups[:3])
    more = f" · {len(groups) - 3} more kinds" if len(groups) > 3 else ""
    top = groups[0]
    return (
        f"<div class='bb-errors-headline'><span style='color:{_COLOURS['failed']}'>⚠ {total:,} "
        f"error{'s' if total != 1 else ''}</span>: {kinds}{more}"
        f"<br><small>e.g. row {escape(top.row)}: {escape(_cut(top.message, 160))}</small></div>"
    )


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def errors_html(groups: Sequence[ErrorGroup]) -> str:
    """Each error kind with its count, the row and model of one example and its full
    message (as the provider wrote it; at most 2,000 characters)."""
    if not groups:
        return "<i>no errors</i>"
    items = []
    for g in groups:
        items.append(
            f"<div class='bb-error' style='margin:2px 0 6px 0'>"
            f"<b style='color:{_COLOURS['failed']}'>{g.count:,} ×</b> "
            f"<b>{escape(g.error_type)}</b> · first at {format_duration(g.first_at_s)} · "
            f"e.g. row <code>{escape(g.row)}</code> ({escape(g.model)})"
            f"<pre style='white-space:pre-wrap;margin:2px 0 0 12px;font-size:12px'>"
            f"{escape(_cut(g.message, 2000))}</pre></div>"
        )
    return "".join(items)


def models_html(stats: Sequence[ModelStats]) -> str:
    """Per model: rows, ok, failed, cost, latency p50/p95, as a small HTML table."""
    if not stats:
        return "<i>no answers yet</i>"
    head = "".join(
        f"<th style='{_CELL}'>{h}</th>"
        for h in ("model", "rows", "ok", "failed", "cost", "p50", "p95")
    )
    body = []
    for m in stats:
        cells = (
            escape(m.model),
            f"{m.rows:,}",
            f"{m.ok:,}",
            f"{m.failed:,}",
            escape(format_money(m.cost_usd)),
            _ms(m.latency_p50_ms),
            _ms(m.latency_p95_ms),
        )
        body.append("<tr>" + "".join(f"<td style='{_CELL}'>{c}</td>" for c in cells) + "</tr>")
    return (
        f"<table class='bb-models' style='{_TABLE}'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def batches_html(rows: Sequence[BatchRow]) -> str:
    """Each provider batch: part, id, model, state, counts and time against its window."""
    if not rows:
        return "<i>no provider batch yet</i>"
    head = "".join(
        f"<th style='{_CELL}'>{h}</th>"
        for h in ("part", "batch", "model", "state", "counts", "time")
    )
    body = []
    for r in rows:
        cells = (
            escape(r.part),
            f"<code>{escape(r.batch_id)}</code>",
            escape(r.model),
            escape(r.status),
            escape(r.counts_text),
            escape(r.window_text),
        )
        body.append("<tr>" + "".join(f"<td style='{_CELL}'>{c}</td>" for c in cells) + "</tr>")
    return (
        f"<table class='bb-batches' style='{_TABLE}'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _polyline(xy: Sequence[tuple[float, float]], colour: str, *, dash: str = "") -> str:
    if not xy:
        return ""
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    style = f" stroke-dasharray='{dash}'" if dash else ""
    return f"<polyline fill='none' stroke='{colour}' stroke-width='1.5'{style} points='{pts}'/>"


def chart_svg(
    points: Sequence[TimelinePoint],
    budget_usd: float | None = None,
    estimate_usd: float | None = None,
    *,
    width: int = 300,
    height: int = 90,
) -> str:
    """Two small SVG charts side by side: rows/s (blue) and errors/s (red) over time, and the
    cumulative cost (green) against the budget (red dashes) and the estimate (grey dots).

    A few kilobytes of text; building it costs well under a millisecond for the 240 points a
    timeline keeps at most.
    """
    pad_l, pad_b, pad_t = 4, 14, 14
    w, h = width - pad_l - 4, height - pad_b - pad_t
    t_end = max(points[-1].t_s, 1e-9)

    def x(t: float) -> float:
        return pad_l + w * t / t_end

    def y(v: float, top: float) -> float:
        return pad_t + h - (h * v / top if top > 0 else 0.0)

    r = rates(points)
    top_rate = max([v for _, v, _ in r] + [e for _, _, e in r] + [1e-9])
    rate_line = _polyline([(x(t), y(v, top_rate)) for t, v, _ in r], "#0d6efd")
    err_line = _polyline([(x(t), y(e, top_rate)) for t, _, e in r if True], _COLOURS["failed"])
    last_rate = r[-1][1] if r else 0.0
    left = (
        f"<svg class='bb-chart-rate' width='{width}' height='{height}' "
        f"xmlns='http://www.w3.org/2000/svg' style='font:10px sans-serif'>"
        f"<rect x='{pad_l}' y='{pad_t}' width='{w}' height='{h}' fill='none' stroke='#ddd'/>"
        f"<text x='{pad_l}' y='10' fill='#0d6efd'>rows/s (now {last_rate:,.1f}, top "
        f"{top_rate:,.1f})</text><text x='{pad_l + w}' y='10' text-anchor='end' "
        f"fill='{_COLOURS['failed']}'>errors/s</text>"
        f"{rate_line}{err_line}"
        f"<text x='{pad_l}' y='{height - 2}' fill='#6c757d'>0</text>"
        f"<text x='{pad_l + w}' y='{height - 2}' text-anchor='end' fill='#6c757d'>"
        f"{format_duration(points[-1].t_s)}</text></svg>"
    )
    cost = points[-1].cost_usd
    refs = [v for v in (budget_usd, estimate_usd) if v is not None and v == v and v > 0]
    top_cost = max([cost, *refs, 1e-12]) * 1.05
    cost_line = _polyline([(x(p.t_s), y(p.cost_usd, top_cost)) for p in points], "#198754")
    marks = ""
    label = f"cost {escape(format_money(cost))}"
    if budget_usd is not None and budget_usd > 0:
        yb = y(budget_usd, top_cost)
        marks += _polyline([(pad_l, yb), (pad_l + w, yb)], _COLOURS["failed"], dash="4 3")
        label += f" of {escape(format_money(budget_usd))} budget"
    if estimate_usd is not None and estimate_usd == estimate_usd and estimate_usd > 0:
        ye = y(estimate_usd, top_cost)
        marks += _polyline([(pad_l, ye), (pad_l + w, ye)], "#6c757d", dash="1 3")
        label += f" · est. {escape(format_money(estimate_usd))}"
    right = (
        f"<svg class='bb-chart-cost' width='{width}' height='{height}' "
        f"xmlns='http://www.w3.org/2000/svg' style='font:10px sans-serif'>"
        f"<rect x='{pad_l}' y='{pad_t}' width='{w}' height='{h}' fill='none' stroke='#ddd'/>"
        f"<text x='{pad_l}' y='10' fill='#198754'>{label}</text>"
        f"{marks}{cost_line}</svg>"
    )
    return f"<div class='bb-chart' style='display:flex;gap:12px'>{left}{right}</div>"


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

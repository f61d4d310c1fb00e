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
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from ..progress import (
    Snapshot,
    batch_text,
    format_duration,
    format_money,
    format_rate,
    summary_line,
)

__all__ = ["JobPanel", "widgets_available"]

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
                self.stats.value = (
                    f"{format_money(s.cost_usd)} · elapsed {format_duration(s.elapsed_s)} · "
                    f"ETA {format_duration(s.eta_s)} · {format_rate(s.rate)}"
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

"""What the two explorers share: display with and without a widget front end, PNG, HTML.

:func:`brainbatch.explore_cost` (:mod:`.explore_cost`) and :func:`brainbatch.explore_results`
(:mod:`.explore_results`) are ipywidgets panels over a matplotlib figure and a small table. Both
are :class:`Explorer` objects: the figure is redrawn (matplotlib's object API, no pyplot) and
the table recomputed whenever a control changes, and the figure is sent to the browser as a PNG
in an ``ipywidgets.Image``, so no extra front-end extension (ipympl) is needed.

Display (``display=``):

``"auto"``
    In a Jupyter kernel with ipywidgets, the live panel; its display data also carries a plain
    text and an HTML version of the table and the code (no image), which is what a renderer
    without widgets shows and what nbval compares: deterministic, free of widget ids.
    Elsewhere (plain IPython, a script), the static view.
``"static"``
    The figure as a PNG and, in HTML, the figure (inline image), the table and the code. For
    reports exported with nbconvert.
``"widget"``
    The live panel (needs ipywidgets).

ipywidgets and matplotlib are imported when an explorer is made, never by ``import brainbatch``.
"""

from __future__ import annotations

import base64
import io
from html import escape
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from ..errors import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DISPLAY_MODES", "Display", "Explorer", "figure_png"]

Display = Literal["auto", "widget", "static"]
DISPLAY_MODES: tuple[str, ...] = ("auto", "widget", "static")

_DPI = 100


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes (no timestamp in the file, so equal figures give equal bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def check_display(display: str) -> str:
    if display not in DISPLAY_MODES:
        raise InputError(f"display must be one of {DISPLAY_MODES}, got {display!r}")
    return display


def table_html(table: pd.DataFrame, formats: dict[str, str]) -> str:
    """``table`` as a compact HTML table, numbers formatted per column, NaN as "n/a"."""
    shown = table.copy()
    for col, fmt in formats.items():
        if col in shown.columns:
            shown[col] = [
                "n/a" if isinstance(v, float) and v != v else fmt.format(v) for v in shown[col]
            ]
    html: str = shown.to_html(index=False, border=0, classes="bb-explore", escape=True)
    return html


class Explorer:
    """Base of the explorers: holds ``widget`` (an ipywidgets box), ``figure`` and the display.

    Subclasses build ``self._box`` and ``self._image`` and implement :meth:`_refresh`,
    :meth:`_title`, :meth:`_text_table`, :meth:`_html_table` and :meth:`_code`.
    """

    _box: Any
    _image: Any
    figure: Figure

    def __init__(self, display: str) -> None:
        self._display = check_display(display)
        self._shown = False
        self.updates = 0
        """How many times the figure and table were recomputed (one per control change)."""

    # -- what subclasses provide ------------------------------------------------------------

    def _title(self) -> str:
        raise NotImplementedError

    def _text_table(self) -> str:
        raise NotImplementedError

    def _html_table(self) -> str:
        raise NotImplementedError

    def _code(self) -> str:
        return ""

    # -- display ----------------------------------------------------------------------------

    @property
    def widget(self) -> Any:
        """The panel (an ``ipywidgets.VBox``): ``display(explorer.widget)`` shows it."""
        self._mark_shown()
        return self._box

    def _mark_shown(self) -> None:
        if not self._shown:
            self._shown = True
            self._draw_image()

    def _draw_image(self) -> None:
        """Send the current figure to the panel's Image (only once the panel is shown)."""
        if self._shown:
            self._image.value = figure_png(self.figure)

    def _use_widget(self) -> bool:
        if self._display == "widget":
            return True
        if self._display == "static":
            return False
        from .widget import widgets_available

        return widgets_available()

    def _static_html(self, with_image: bool) -> str:
        parts = [f"<p><b>brainbatch</b> · {escape(self._title())}</p>"]
        if with_image:
            png = base64.b64encode(figure_png(self.figure)).decode("ascii")
            parts.append(f"<img src='data:image/png;base64,{png}'/>")
        parts.append(self._html_table())
        code = self._code()
        if code:
            parts.append(f"<pre>{escape(code)}</pre>")
        return "\n".join(parts)

    def _plain(self) -> str:
        lines = [f"brainbatch · {self._title()}", self._text_table()]
        code = self._code()
        if code:
            lines += ["", code]
        return "\n".join(lines)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        if self._use_widget():
            self._mark_shown()
            bundle: dict[str, Any] = self._box._repr_mimebundle_()
            bundle["text/plain"] = self._plain()
            bundle["text/html"] = self._static_html(with_image=False)
            return bundle
        png = base64.b64encode(figure_png(self.figure)).decode("ascii")
        return {
            "text/plain": self._plain(),
            "text/html": self._static_html(with_image=True),
            "image/png": png,
        }

    def __repr__(self) -> str:
        return f"<brainbatch {type(self).__name__}: {self._title()}>"

"""The terminal progress display of ``brainbatch run`` / ``resume`` (on stderr).

On a terminal: one line rewritten in place, at most 10 times a second::

    [#########...................]  912/3,000 (30.4%) · 910 ok, 2 failed, 0 cached · $0.0183
    · elapsed 4.1 s, ETA 9.5 s · 222.4 rows/s

When stderr is not a terminal (a pipe, a log file, CI): a plain line every ``interval``
seconds (with one line per provider batch for a native batch job) and the final summary, so
logs stay readable. Under the summary come the grouped
errors (each kind, its count and one full example with its row) and, for a job that mixes
models, one line per model (:func:`brainbatch.monitor.details_text`). The text comes from the
same functions as the notebook's panel and text fallback (:mod:`brainbatch.progress`,
:mod:`brainbatch.monitor`).
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import IO

from ..progress import (
    Snapshot,
    batch_rows,
    batches_text,
    format_duration,
    limits_text,
    progress_text,
    summary_line,
)

__all__ = ["TerminalProgress"]

_BAR = 24


def _bar(fraction: float) -> str:
    filled = min(_BAR, max(0, int(fraction * _BAR)))
    return "[" + "#" * filled + "." * (_BAR - filled) + "]"


def _line(s: Snapshot) -> str:
    if s.batch is not None and not s.finished:
        state = s.batch.get("state") or s.batch.get("status") or s.status
        return (
            f"provider batch {state} · {s.done:,}/{s.total:,} rows · "
            f"elapsed {format_duration(s.elapsed_s)}"
        )
    line = f"{_bar(s.fraction)} {progress_text(s)}"
    return f"{line} · {limits_text(s)}" if s.limits else line


class TerminalProgress:
    """Shows a job's :class:`~brainbatch.progress.Snapshot` on a stream.

    Args:
        stream: where to write (stderr by default).
        live: rewrite one line in place; default: when ``stream`` is a terminal.
        interval: seconds between plain lines when not live.
        details: called once at the end; what it returns is printed under the summary.
    """

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        live: bool | None = None,
        interval: float = 5.0,
        details: Callable[[], str] | None = None,
    ) -> None:
        self.details = details
        self.stream = stream if stream is not None else sys.stderr
        if live is None:
            isatty = getattr(self.stream, "isatty", None)
            live = bool(isatty and isatty())
        self.live = live
        self.interval = interval
        self._last_plain = -float("inf")
        self._width = 0
        self._finished = False

    def update(self, s: Snapshot) -> None:
        """Show ``s``: in place (live), as a plain line when due, or the final summary."""
        if self._finished:
            return
        if s.finished:
            self._finished = True
            self._clear()
            self.stream.write(summary_line(s) + "\n")
            extra = self.details() if self.details is not None else ""
            if extra:
                self.stream.write(extra + "\n")
        elif self.live:
            cols = shutil.get_terminal_size((120, 24)).columns
            line = _line(s)[: max(20, cols - 1)]
            pad = max(0, self._width - len(line))
            self._width = len(line)
            self.stream.write("\r" + line + " " * pad)
        else:
            now = time.monotonic()
            if now - self._last_plain < self.interval:
                return
            self._last_plain = now
            self.stream.write(f"brainbatch {s.name}: {_line(s)}\n")
            rows = batch_rows(s) if s.batch is not None else []
            if rows:  # each provider batch's state, counts and time against its window
                self.stream.write(batches_text(rows) + "\n")
        self.stream.flush()

    def note(self, message: str) -> None:
        """Print ``message`` on its own line (the live line is redrawn by the next update)."""
        self._clear()
        self.stream.write(message + "\n")
        self.stream.flush()

    def _clear(self) -> None:
        if self.live and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0

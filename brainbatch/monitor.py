"""What a running job is producing, as data and as text: latest answers, grouped errors,
throughput and spend over time, and a per-model breakdown.

:class:`JobMonitor` listens to a :class:`~brainbatch.models.BatchJob` (``job.add_listener``)
and keeps, in O(1) per result and bounded memory whatever the job size:

* the last :data:`LATEST_KEPT` results (:meth:`JobMonitor.latest` → :class:`LatestRow`);
* each distinct error kind with its count, one full example message and the row it came from
  (:meth:`JobMonitor.errors` → :class:`ErrorGroup`); a kind is the error type plus the
  message with long numbers and ids masked, so ``server_error`` 500s and a ``400 invalid
  parameter 'temprature'`` show as two kinds, not as one line per row;
* a timeline of cumulative rows, errors and cost, sampled at most every ``interval_s`` and
  thinned to at most :data:`TIMELINE_POINTS` points (:meth:`JobMonitor.timeline` →
  :class:`TimelinePoint`);
* counts, cost and latency per model (:meth:`JobMonitor.models` → :class:`ModelStats`;
  latency percentiles come from a bounded reservoir sample).

The notebook handle (``job.latest(n)``, ``job.errors()``, ``job.timeline()``, ``job.models()``)
turns these records into DataFrames (:func:`latest_frame` and friends); the panel draws them;
:func:`details_text` formats them for the terminal and the text fallback, so every front shows
the same figures. Nothing here imports a UI.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .models import BatchJob, BatchRequest, BatchResult

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "LATEST_KEPT",
    "TIMELINE_POINTS",
    "ErrorGroup",
    "JobMonitor",
    "LatestRow",
    "ModelStats",
    "TimelinePoint",
    "details_text",
    "error_kind",
    "errors_frame",
    "errors_text",
    "excerpt",
    "latest_frame",
    "latest_text",
    "models_frame",
    "models_text",
    "rates",
    "timeline_frame",
]

LATEST_KEPT = 50
"""How many of the most recent results a monitor keeps."""

TIMELINE_POINTS = 240
"""Most points a timeline keeps (older ones are thinned, every other one dropped)."""

_RESERVOIR = 2048  # latency samples kept per model for the percentiles
_MASK = re.compile(r"[\w-]{8,}|\d{4,}")  # ids, hashes, long numbers (when they hold a digit)
_SPACE = re.compile(r"\s+")


def excerpt(value: object, width: int = 60) -> str:
    """``value`` as one line of at most ``width`` characters, cut at a word with ``…``.

    Dicts (structured answers) show as ``field: value, ...``; whitespace runs become one space.
    """
    if value is None:
        return ""
    if isinstance(value, Mapping):
        text = ", ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    else:
        text = str(value)
    text = _SPACE.sub(" ", text).strip()
    if len(text) <= width:
        return text
    cut = text[: max(1, width - 1)]
    space = cut.rfind(" ")
    if text[len(cut)] != " " and space >= width // 2:  # do not end inside a word
        cut = cut[:space]
    return cut.rstrip(" ,.;:") + "…"


def _plain(v: object) -> str:
    if isinstance(v, str):
        return v
    try:
        return json.dumps(v, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(v)


def error_kind(result: BatchResult) -> str:
    """The group an error result belongs to: ``<error type>: <message, ids masked>``."""
    kind = result.error_type or "error"
    message = result.error or (result.result if isinstance(result.result, str) else "") or ""
    message = _MASK.sub(_mask, message)
    message = _SPACE.sub(" ", message).strip()
    return f"{kind}: {excerpt(message, 90)}" if message else kind


def _mask(m: re.Match[str]) -> str:
    token = m.group(0)
    return "…" if any(c.isdigit() for c in token) else token


def _prompt_text(request: BatchRequest | None) -> str:
    if request is None:
        return ""
    if request.messages:
        content = request.messages[-1].get("content", "")
        if isinstance(content, list):  # content parts
            return " ".join(
                str(p.get("text", "")) for p in content if isinstance(p, Mapping)
            ).strip()
        return str(content)
    return request.prompt or ""


# -- records --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LatestRow:
    """One recent result, as the latest-answers table shows it."""

    row: str  # the row's id (custom_id: the DataFrame index label by default)
    input: str  # the prompt, cut
    answer: str  # the answer (or the error message), cut
    status: str  # "success" or "error"
    latency_ms: float
    cost_usd: float
    model: str
    cached: bool


@dataclass(frozen=True, slots=True)
class ErrorGroup:
    """One kind of error: how many rows had it and one full example."""

    kind: str
    error_type: str
    count: int
    message: str  # one full example message, the provider's own words
    row: str  # the row that example came from
    model: str
    first_at_s: float  # seconds after the monitor started when it was first seen


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    """Cumulative figures at one moment (``t_s`` seconds after the monitor started)."""

    t_s: float
    done: int
    errors: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class ModelStats:
    """Counts, cost and latency of one model's rows."""

    model: str
    rows: int
    ok: int
    failed: int
    cost_usd: float
    latency_mean_ms: float
    latency_p50_ms: float
    latency_p95_ms: float


@dataclass(slots=True)
class _ModelAcc:
    rows: int = 0
    ok: int = 0
    failed: int = 0
    cost_usd: float = 0.0
    latency_sum: float = 0.0
    latency_n: int = 0
    sample: list[float] = field(default_factory=list)


@dataclass(slots=True)
class _ErrorAcc:
    error_type: str
    count: int
    message: str
    row: str
    model: str
    first_at_s: float


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


class JobMonitor:
    """Watches one job's results as they arrive (see the module docstring).

    Args:
        job: the job; results it already has (a resumed job) are counted at once.
        interval_s: shortest time between two timeline points (it doubles each time the
            timeline is thinned, so a long job keeps :data:`TIMELINE_POINTS` points).
        clock: seconds, monotonic (for tests).

    Thread-safe: results are recorded on the job's event loop, the figures can be read from
    any thread. :meth:`close` stops listening.
    """

    def __init__(
        self,
        job: BatchJob,
        *,
        interval_s: float = 0.25,
        clock: Any = time.monotonic,
    ) -> None:
        self.job = job
        self.interval_s = float(interval_s)
        self._clock = clock
        self._t0 = clock()
        self._lock = threading.Lock()
        self._latest: deque[BatchResult] = deque(maxlen=LATEST_KEPT)
        self._errors: dict[str, _ErrorAcc] = {}
        self._models: dict[str, _ModelAcc] = {}
        self._rng = random.Random(0)
        self._done = 0
        self._failed = 0
        self._cost = 0.0
        self._points: list[TimelinePoint] = [TimelinePoint(0.0, 0, 0, 0.0)]
        self.version = 0
        """Grows with every recorded result or timeline point (views redraw when it moved)."""
        for result in list(job.results):
            self._record(result, 0.0)
        self._points = [TimelinePoint(0.0, self._done, self._failed, self._cost)]
        # a streamed job (brainbatch.stream.StreamJob) passes on the rows of every chunk
        self._listen = getattr(job, "add_row_listener", job.add_listener)
        self._unlisten = getattr(job, "remove_row_listener", job.remove_listener)
        self._listen(self._on_result)

    def start(self) -> None:
        """Start the clock now (the job starts sending): the timeline restarts from the
        figures so far, and times are counted from here."""
        with self._lock:
            self._t0 = self._clock()
            self._points = [TimelinePoint(0.0, self._done, self._failed, self._cost)]
            self.version += 1

    def close(self) -> None:
        """Stop listening to the job (the figures so far stay readable)."""
        self._unlisten(self._on_result)

    # -- recording ---------------------------------------------------------------------------

    def _on_result(self, result: BatchResult) -> None:
        now = self._clock() - self._t0
        with self._lock:
            self._record(result, now)
            if now - self._points[-1].t_s >= self.interval_s:
                self._add_point(now)

    def _record(self, result: BatchResult, now: float) -> None:
        self.version += 1
        self._latest.append(result)
        self._done += 1
        model = result.model or ""
        acc = self._models.get(model)
        if acc is None:
            acc = self._models[model] = _ModelAcc()
        acc.rows += 1
        cost = result.cost_usd
        if cost is not None and cost == cost:
            self._cost += cost
            acc.cost_usd += cost
        latency = result.processing_time_ms
        if latency is not None and latency == latency:
            acc.latency_sum += latency
            acc.latency_n += 1
            if len(acc.sample) < _RESERVOIR:
                acc.sample.append(latency)
            else:  # reservoir sampling: every latency equally likely to be kept
                j = self._rng.randrange(acc.latency_n)
                if j < _RESERVOIR:
                    acc.sample[j] = latency
        if result.status == "success":
            acc.ok += 1
            return
        acc.failed += 1
        self._failed += 1
        kind = error_kind(result)
        group = self._errors.get(kind)
        if group is None:
            message = result.error or (result.result if isinstance(result.result, str) else "")
            self._errors[kind] = _ErrorAcc(
                error_type=result.error_type or "error",
                count=1,
                message=message or "",
                row=self._row(result),
                model=model,
                first_at_s=now,
            )
        else:
            group.count += 1

    def _row(self, result: BatchResult) -> str:
        return result.custom_id if result.custom_id is not None else result.request_id

    def _add_point(self, now: float) -> None:
        self._points.append(TimelinePoint(now, self._done, self._failed, self._cost))
        self.version += 1
        if len(self._points) > TIMELINE_POINTS:
            # keep the first and the last; drop every other one in between
            self._points = [*self._points[:-1:2], self._points[-1]]
            self.interval_s *= 2

    def sample(self) -> None:
        """Add a timeline point now if one is due (a view calls this on each refresh, so a
        stall shows as a flat line instead of a gap)."""
        now = self._clock() - self._t0
        with self._lock:
            last = self._points[-1]
            changed = (last.done, last.cost_usd) != (self._done, self._cost)
            if now - last.t_s >= self.interval_s and (changed or now - last.t_s >= 1.0):
                self._add_point(now)

    # -- reading -----------------------------------------------------------------------------

    def latest(self, n: int = 10, width: int = 60) -> list[LatestRow]:
        """The last ``n`` results, newest first, with input and answer cut to ``width``."""
        with self._lock:
            recent = list(self._latest)[-n:] if n > 0 else []
        rows = []
        for r in reversed(recent):
            answer = r.result if r.status == "success" else (r.error or r.result)
            rows.append(
                LatestRow(
                    row=self._row(r),
                    input=excerpt(_prompt_text(self.job.get_request(r.request_id)), width),
                    answer=excerpt(answer, width),
                    status=r.status,
                    latency_ms=(
                        float(r.processing_time_ms)
                        if r.processing_time_ms is not None
                        else math.nan
                    ),
                    cost_usd=float(r.cost_usd) if r.cost_usd is not None else math.nan,
                    model=r.model or "",
                    cached=r.cached,
                )
            )
        return rows

    def errors(self) -> list[ErrorGroup]:
        """Each error kind, most frequent first (ties: first seen first)."""
        with self._lock:
            items = [(k, _copy(g)) for k, g in self._errors.items()]
        groups = [
            ErrorGroup(
                kind=k,
                error_type=g.error_type,
                count=g.count,
                message=g.message,
                row=g.row,
                model=g.model,
                first_at_s=g.first_at_s,
            )
            for k, g in items
        ]
        groups.sort(key=lambda g: (-g.count, g.first_at_s))
        return groups

    def timeline(self) -> list[TimelinePoint]:
        """The cumulative timeline so far, oldest first (the last point is now)."""
        now = self._clock() - self._t0
        with self._lock:
            points = list(self._points)
            current = TimelinePoint(now, self._done, self._failed, self._cost)
        if now > points[-1].t_s:
            points.append(current)
        return points

    def models(self) -> list[ModelStats]:
        """One record per model, most rows first."""
        with self._lock:
            items = [
                (
                    m,
                    a.rows,
                    a.ok,
                    a.failed,
                    a.cost_usd,
                    a.latency_sum,
                    a.latency_n,
                    sorted(a.sample),
                )
                for m, a in self._models.items()
            ]
        out = [
            ModelStats(
                model=m,
                rows=rows,
                ok=ok,
                failed=failed,
                cost_usd=cost,
                latency_mean_ms=lsum / n if n else math.nan,
                latency_p50_ms=_quantile(sample, 0.5),
                latency_p95_ms=_quantile(sample, 0.95),
            )
            for m, rows, ok, failed, cost, lsum, n, sample in items
        ]
        out.sort(key=lambda s: (-s.rows, s.model))
        return out

    @property
    def n_models(self) -> int:
        """How many models answered so far."""
        return len(self._models)

    @property
    def n_error_kinds(self) -> int:
        """How many distinct error kinds were seen so far."""
        return len(self._errors)


def _copy(g: _ErrorAcc) -> _ErrorAcc:
    """A copy of an error accumulator (read outside the lock)."""
    return _ErrorAcc(g.error_type, g.count, g.message, g.row, g.model, g.first_at_s)


def rates(points: Sequence[TimelinePoint]) -> list[tuple[float, float, float]]:
    """``(t_s, rows per second, errors per second)`` between consecutive timeline points."""
    out = []
    for a, b in itertools.pairwise(points):
        dt = b.t_s - a.t_s
        if dt <= 0:
            continue
        out.append((b.t_s, (b.done - a.done) / dt, (b.errors - a.errors) / dt))
    return out


# -- DataFrames ------------------------------------------------------------------------------------


def latest_frame(rows: Iterable[LatestRow]) -> pd.DataFrame:
    """Columns ``row, input, answer, status, latency_ms, cost_usd, model, cached``."""
    import pandas as pd

    cols = ["row", "input", "answer", "status", "latency_ms", "cost_usd", "model", "cached"]
    return pd.DataFrame([[getattr(r, c) for c in cols] for r in rows], columns=cols)


def errors_frame(groups: Iterable[ErrorGroup]) -> pd.DataFrame:
    """Columns ``kind, error_type, count, message, row, model, first_at_s``."""
    import pandas as pd

    cols = ["kind", "error_type", "count", "message", "row", "model", "first_at_s"]
    return pd.DataFrame([[getattr(g, c) for c in cols] for g in groups], columns=cols)


def timeline_frame(points: Sequence[TimelinePoint]) -> pd.DataFrame:
    """Columns ``t_s, done, errors, cost_usd`` (cumulative) and ``rows_per_s, errors_per_s``
    (over the interval ending at that point; NaN for the first)."""
    import pandas as pd

    frame = pd.DataFrame(
        [[p.t_s, p.done, p.errors, p.cost_usd] for p in points],
        columns=["t_s", "done", "errors", "cost_usd"],
    )
    dt = frame["t_s"].diff()
    frame["rows_per_s"] = frame["done"].diff() / dt
    frame["errors_per_s"] = frame["errors"].diff() / dt
    return frame


def models_frame(stats: Iterable[ModelStats]) -> pd.DataFrame:
    """Columns ``model, rows, ok, failed, cost_usd, latency_mean_ms, latency_p50_ms,
    latency_p95_ms``."""
    import pandas as pd

    cols = [
        "model",
        "rows",
        "ok",
        "failed",
        "cost_usd",
        "latency_mean_ms",
        "latency_p50_ms",
        "latency_p95_ms",
    ]
    return pd.DataFrame([[getattr(s, c) for c in cols] for s in stats], columns=cols)


# -- text ------------------------------------------------------------------------------------------


def _ms(v: float) -> str:
    return "?" if v != v else f"{v:,.0f} ms"


def _usd(v: float) -> str:
    return "$?" if v != v else f"${v:,.4f}" if v < 100 else f"${v:,.2f}"


def latest_text(rows: Sequence[LatestRow]) -> str:
    """The latest answers, one line each: ``row · status · latency · cost · input → answer``."""
    if not rows:
        return "latest answers: none yet"
    lines = ["latest answers:"]
    for r in rows:
        mark = "ok " if r.status == "success" else "ERR"
        lines.append(
            f"  {r.row} {mark} {_ms(r.latency_ms)} {_usd(r.cost_usd)} · {r.input} → {r.answer}"
        )
    return "\n".join(lines)


def errors_text(groups: Sequence[ErrorGroup], *, limit: int = 5) -> str:
    """Each error kind with its count and one full example (``""`` when there is none)."""
    if not groups:
        return ""
    total = sum(g.count for g in groups)
    lines = [f"errors: {total:,} in {len(groups)} kind{'s' if len(groups) != 1 else ''}"]
    for g in groups[:limit]:
        lines.append(f"  {g.count:,} × {g.error_type}, e.g. row {g.row!r}: {g.message}")
    if len(groups) > limit:
        rest = sum(g.count for g in groups[limit:])
        lines.append(f"  … {len(groups) - limit} more kinds ({rest:,} rows)")
    return "\n".join(lines)


def models_text(stats: Sequence[ModelStats]) -> str:
    """One line per model: rows, ok, failed, cost, latency p50/p95."""
    if not stats:
        return ""
    width = max(len(s.model) for s in stats)
    lines = ["per model:"]
    for s in stats:
        lines.append(
            f"  {s.model:<{width}}  {s.rows:,} rows, {s.ok:,} ok, {s.failed:,} failed, "
            f"{_usd(s.cost_usd)}, p50 {_ms(s.latency_p50_ms)}, p95 {_ms(s.latency_p95_ms)}"
        )
    return "\n".join(lines)


def details_text(monitor: JobMonitor, *, latest: int = 0) -> str:
    """The grouped errors (when there are any), the per-model lines (when more than one model
    answered) and, with ``latest=n``, the last ``n`` answers; ``""`` when there is nothing to
    add to the summary line."""
    parts = []
    if latest:
        parts.append(latest_text(monitor.latest(latest)))
    errs = errors_text(monitor.errors())
    if errs:
        parts.append(errs)
    if monitor.n_models > 1:
        parts.append(models_text(monitor.models()))
    return "\n".join(parts)

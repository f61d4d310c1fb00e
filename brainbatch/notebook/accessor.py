"""The ``.bb`` pandas accessor: the DataFrame-first way to run, estimate, summarise and plot.

Registered when :mod:`brainbatch` is imported::

    import brainbatch as bb

    df.bb.estimate(prompt="Summarise: {text}", model="gpt-4o-mini")
    job = df.bb.submit(prompt="Summarise: {text}", model="gpt-4o-mini")   # == bb.submit(df, ...)
    results = df.bb.run(prompt="Summarise: {text}", model="gpt-4o-mini")  # == bb.run(df, ...)
    results.bb.summary()         # counts by status, tokens, cost, latency p50/p95, wall time
    results.bb.plot.cost()       # == bb.plot.cost(results); .latency(), .timeline(), .savings()
    df.bb.explore_cost(prompt=..., models=[...])  # == bb.explore_cost(df, ...)
    results.bb.explore()         # == bb.explore_results(results)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import InputError
from . import plots

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["STATUSES", "BrainbatchAccessor", "PlotAccessor", "summarize"]

STATUSES = ("success", "error", "cancelled", "expired", "not_run", "pending")
"""Row statuses of a results DataFrame, in the order the summary lists them."""

_SUMMARY_NEEDS = ("status",)


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """A one-row summary of a results DataFrame.

    Columns: ``rows``, one count per status (``success``, ``error``, ``cancelled``,
    ``expired``, ``not_run``, ``pending``; only the statuses present, success and error always),
    ``cached``, ``input_tokens``, ``output_tokens``, ``cost_usd``, ``paid_usd``,
    ``latency_p50_ms``, ``latency_p95_ms`` (requests really sent) and ``wall_s`` (first to last
    ``completed_at``). Columns whose source column is absent are left out.

    Raises:
        InputError: ``results`` is not a DataFrame or has no ``status`` column.
    """
    frame = plots._require(results, _SUMMARY_NEEDS, "summary")
    row: dict[str, Any] = {"rows": len(frame)}
    counts = frame["status"].astype("string").fillna("(none)").value_counts()
    for status in STATUSES:
        if status in ("success", "error") or status in counts.index:
            row[status] = int(counts.get(status, 0))
    for other in sorted(set(counts.index) - set(STATUSES)):
        row[str(other)] = int(counts[other])
    if "cached" in frame.columns:
        row["cached"] = int(frame["cached"].fillna(False).astype(bool).sum())
    for col in ("input_tokens", "output_tokens"):
        if col in frame.columns:
            row[col] = int(plots._numeric(frame[col]).fillna(0).sum())
    for col in ("cost_usd", "paid_usd"):
        if col in frame.columns:
            values = plots._numeric(frame[col])
            row[col] = float(values.sum()) if values.notna().any() else math.nan
    if "latency_ms" in frame.columns:
        pct = plots.latency_percentiles(frame)
        row["latency_p50_ms"] = pct[50]
        row["latency_p95_ms"] = pct[95]
    if "completed_at" in frame.columns:
        times = plots._times(frame["completed_at"]).dropna()
        row["wall_s"] = (times.max() - times.min()).total_seconds() if len(times) else math.nan
    return pd.DataFrame([row])


class PlotAccessor:
    """``results.bb.plot``: the :mod:`brainbatch.notebook.plots` functions bound to a frame."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def latency(self, **kwargs: Any) -> Figure:
        """:func:`brainbatch.plot.latency` of this frame."""
        return plots.latency(self._frame, **kwargs)

    def cost(self) -> Figure:
        """:func:`brainbatch.plot.cost` of this frame."""
        return plots.cost(self._frame)

    def timeline(self, **kwargs: Any) -> Figure:
        """:func:`brainbatch.plot.timeline` of this frame."""
        return plots.timeline(self._frame, **kwargs)

    def savings(self, **kwargs: Any) -> Figure:
        """:func:`brainbatch.plot.savings` with this frame as the results."""
        return plots.savings(self._frame, **kwargs)


@pd.api.extensions.register_dataframe_accessor("bb")
class BrainbatchAccessor:
    """``df.bb``: brainbatch's DataFrame methods. See the module docstring."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def _api(self, name: str) -> Any:
        import brainbatch

        fn = getattr(brainbatch, name, None)
        if fn is None:  # pragma: no cover - only while the notebook front is incomplete
            raise InputError(f"brainbatch.{name} is not available in this version")
        return fn

    def submit(self, **kwargs: Any) -> Any:
        """``bb.submit(df, **kwargs)``: start a job on this frame; returns its handle."""
        return self._api("submit")(self._frame, **kwargs)

    def run(self, **kwargs: Any) -> pd.DataFrame:
        """``bb.run(df, **kwargs)``: run a job on this frame and return the results frame."""
        out: pd.DataFrame = self._api("run")(self._frame, **kwargs)
        return out

    def estimate(self, **kwargs: Any) -> pd.DataFrame:
        """``bb.estimate(df, **kwargs)``: tokens, cost (real time vs batch) and duration."""
        out: pd.DataFrame = self._api("estimate")(self._frame, **kwargs)
        return out

    def embed(self, text: str, **kwargs: Any) -> pd.DataFrame:
        """``bb.embed(df, text, **kwargs)``: this frame with an ``embedding`` column."""
        out: pd.DataFrame = self._api("embed")(self._frame, text, **kwargs)
        return out

    def explore_cost(self, **kwargs: Any) -> Any:
        """``bb.explore_cost(df, **kwargs)``: the interactive cost what-if for this frame."""
        return self._api("explore_cost")(self._frame, **kwargs)

    def explore(self, **kwargs: Any) -> Any:
        """``bb.explore_results(results, **kwargs)``: cost, tokens, latency per group."""
        return self._api("explore_results")(self._frame, **kwargs)

    def summary(self) -> pd.DataFrame:
        """:func:`summarize` this results frame (one row)."""
        return summarize(self._frame)

    @property
    def plot(self) -> PlotAccessor:
        """Plots of this results frame: ``.latency()``, ``.cost()``, ``.timeline()``,
        ``.savings()``."""
        return PlotAccessor(self._frame)

"""``bb.explore_results``: where the money and the time went, grouped by any column.

::

    results = bb.run(df, prompt="Summarise: {text}", model="gpt-4o-mini")
    ex = bb.explore_results(results)     # or results.bb.explore()
    ex                                   # dropdowns: group by, what to chart
    ex.group_by.value = "category"       # any column of yours, "model", "status",
    ex.current_view()                    #   "prompt length" (input-token buckets)...

Per group: ``rows``, ``success``, ``failed`` (every other status), ``input_tokens``,
``output_tokens``, ``cost_usd``, ``cost_share_pct``, ``usd_per_1k_rows``, ``latency_p50_ms``
and ``latency_p95_ms``. Latency percentiles are over requests really sent (status success or
error, not answered from the cache), linearly interpolated as in :func:`brainbatch.plot.latency`
(and as pandas' ``quantile``). Groups are in the column's own order (prompt-length buckets from
short to long); missing values form a ``(none)`` group.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..frame import RESULT_COLUMNS
from .explore import Display, Explorer, table_html
from .plots import _numeric, _require

__all__ = ["LENGTH", "METRICS", "ResultsExplorer", "explore_results", "group_table"]

LENGTH = "prompt length"
"""The group-by choice that buckets rows by ``input_tokens`` (quantiles)."""
METRICS = {
    "cost_usd": "cost (USD)",
    "rows": "rows",
    "input_tokens": "input tokens",
    "output_tokens": "output tokens",
    "usd_per_1k_rows": "USD per 1,000 rows",
    "latency_ms": "latency p50 / p95 (ms)",
}
"""What the chart can show: column of the view -> label."""
MAX_GROUPS = 50
"""Columns with more distinct values than this are not offered for grouping."""

_BUILT_IN = ("model", "status", "finish_reason", "cached", "price_source")
_FORMATS = {
    "rows": "{:,.0f}",
    "success": "{:,.0f}",
    "failed": "{:,.0f}",
    "input_tokens": "{:,.0f}",
    "output_tokens": "{:,.0f}",
    "cost_usd": "${:,.6f}",
    "cost_share_pct": "{:.1f}%",
    "usd_per_1k_rows": "${:,.4f}",
    "latency_p50_ms": "{:,.0f}",
    "latency_p95_ms": "{:,.0f}",
}
_NONE = "(none)"


def groupable_columns(results: pd.DataFrame) -> list[str]:
    """What the group-by control offers: built-in result columns present, ``prompt length``
    when there are input tokens, then the user's own columns with few distinct values (at
    most :data:`MAX_GROUPS`, and at most half the rows: a column unique per row is an id)."""
    cols = [c for c in _BUILT_IN if c in results.columns]
    if "input_tokens" in results.columns:
        cols.insert(min(2, len(cols)), LENGTH)
    for col in results.columns:
        if col in RESULT_COLUMNS or not isinstance(col, str):
            continue
        try:
            distinct = results[col].nunique(dropna=False)
        except TypeError:  # unhashable values (lists, dicts)
            continue
        if distinct <= min(MAX_GROUPS, max(1, len(results) // 2)):  # not an id per row
            cols.append(col)
    return cols


def length_buckets(tokens: pd.Series, buckets: int) -> pd.Series:
    """``input_tokens`` cut into up to ``buckets`` quantile groups labelled ``"12–34 tokens"``
    (ordered short to long; fewer when many rows share a count)."""
    values = _numeric(tokens)
    known = values.dropna()
    if not len(known):
        return pd.Series(pd.Categorical([_NONE] * len(values)), index=values.index)
    cut = pd.qcut(known, q=min(buckets, max(1, known.nunique())), duplicates="drop")
    intervals = cut.cat.categories
    labels = []
    for i, iv in enumerate(intervals):
        low = math.floor(iv.left) + 1 if i else math.floor(known.min())
        high = math.floor(iv.right)
        labels.append(f"{low:,} tokens" if low == high else f"{low:,}–{high:,} tokens")
    codes = np.full(len(values), len(labels), dtype=np.int64)  # (none) unless known
    codes[values.notna().to_numpy()] = cut.cat.codes.to_numpy()
    out = pd.Series(
        pd.Categorical.from_codes(codes, categories=pd.Index([*labels, _NONE]), ordered=True),
        index=values.index,
    )
    return out.cat.remove_unused_categories()


def _sent(frame: pd.DataFrame) -> pd.Series:
    """Rows whose latency counts: really sent (success or error, not from the cache)."""
    mask = pd.Series(True, index=frame.index)
    if "status" in frame.columns:
        mask &= frame["status"].isin(["success", "error"])
    if "cached" in frame.columns:
        mask &= ~frame["cached"].fillna(False).astype(bool)
    return mask


def group_table(results: pd.DataFrame, by: str, *, buckets: int = 4) -> pd.DataFrame:
    """Cost, tokens and latency (p50 / p95) of ``results`` per value of ``by``.

    ``by`` is a column name or :data:`LENGTH` (``input_tokens`` quantile buckets). Returns
    one row per group, the group in the first column (named after ``by``).
    """
    frame = _require(results, ["status"], "explore_results")
    if by == LENGTH:
        if "input_tokens" not in frame.columns:
            raise InputError("explore_results: grouping by prompt length needs 'input_tokens'")
        keys = length_buckets(frame["input_tokens"], buckets)
    elif by in frame.columns:
        column = frame[by]
        if isinstance(column.dtype, pd.CategoricalDtype):
            keys = column
            if _NONE not in column.cat.categories:
                keys = column.cat.add_categories([_NONE])
            keys = keys.fillna(_NONE).cat.remove_unused_categories()
        else:
            keys = column.astype("object").where(column.notna(), _NONE).astype(str)
    else:
        raise InputError(
            f"explore_results: no column {by!r} to group by; choose one of "
            f"{', '.join(repr(c) for c in groupable_columns(frame))}"
        )
    keys = keys.rename(by)
    data = pd.DataFrame(index=frame.index)
    data["rows"] = 1
    data["success"] = (frame["status"] == "success").astype("int64")
    data["failed"] = 1 - data["success"]
    for col in ("input_tokens", "output_tokens", "cost_usd"):
        data[col] = _numeric(frame[col]) if col in frame.columns else np.nan
    grouped = data.groupby(keys, sort=True, observed=True)
    table = grouped[["rows", "success", "failed"]].sum()
    for col in ("input_tokens", "output_tokens", "cost_usd"):
        table[col] = grouped[col].sum(min_count=1)
        if col != "cost_usd" and table[col].notna().all():
            table[col] = table[col].astype("int64")
    total = float(table["cost_usd"].sum())
    table["cost_share_pct"] = table["cost_usd"] / total * 100 if total else np.nan
    table["usd_per_1k_rows"] = table["cost_usd"] / table["rows"] * 1000
    if "latency_ms" in frame.columns:
        sent = _sent(frame)
        lat = _numeric(frame["latency_ms"])[sent]
        by_key = lat.groupby(keys[sent], sort=True, observed=True)
        table["latency_p50_ms"] = by_key.quantile(0.5).reindex(table.index)
        table["latency_p95_ms"] = by_key.quantile(0.95).reindex(table.index)
    else:
        table["latency_p50_ms"] = np.nan
        table["latency_p95_ms"] = np.nan
    out = table.reset_index()
    out[by] = out[by].astype(str)
    return out


class ResultsExplorer(Explorer):
    """The results drill-down panel. Made by :func:`explore_results`.

    Controls: ``group_by`` (Dropdown of :func:`groupable_columns`), ``metric`` (Dropdown of
    :data:`METRICS`), ``buckets`` (IntSlider, prompt-length buckets; shown when grouping by
    prompt length). Outputs: ``figure`` (matplotlib), ``table`` (HTML), ``status``.
    """

    def __init__(
        self, results: pd.DataFrame, *, by: str, metric: str, buckets: int, display: Display
    ) -> None:
        super().__init__(display)
        import ipywidgets as w
        from matplotlib.figure import Figure

        from .plots import _ensure_inline_display

        _ensure_inline_display()
        self._results = results
        self._view = pd.DataFrame()
        self.figure = Figure(figsize=(7.5, 3.4), layout="constrained")
        self.group_by = w.Dropdown(
            options=groupable_columns(results), value=by, description="group by"
        )
        self.metric = w.Dropdown(
            options=[(label, key) for key, label in METRICS.items()],
            value=metric,
            description="chart",
        )
        self.buckets = w.IntSlider(
            value=buckets,
            min=2,
            max=10,
            description="buckets",
            continuous_update=False,
            layout=w.Layout(width="260px"),
        )
        self.status = w.HTML()
        self._image = w.Image(format="png", layout=w.Layout(max_width="760px"))
        self.table = w.HTML()
        self._box = w.VBox(
            [
                w.HTML("<b>brainbatch</b> · results explorer"),
                w.HBox([self.group_by, self.metric, self.buckets]),
                self.status,
                self._image,
                self.table,
            ]
        )
        for control in (self.group_by, self.metric, self.buckets):
            control.observe(self._changed, names="value")
        self._update()

    def current_view(self) -> pd.DataFrame:
        """The table shown (see :func:`group_table`), as a DataFrame."""
        return self._view.copy()

    def _changed(self, _change: Any) -> None:
        self._update()

    def _update(self) -> None:
        self.updates += 1
        by = str(self.group_by.value)
        self.buckets.layout.display = None if by == LENGTH else "none"
        self._view = group_table(self._results, by, buckets=int(self.buckets.value))
        self._draw()
        self._draw_image()
        self.table.value = self._html_table()
        self.status.value = escape(self._status_text())

    def _status_text(self) -> str:
        frame = self._results
        cost = _numeric(frame["cost_usd"]).sum() if "cost_usd" in frame.columns else math.nan
        ok = int((frame["status"] == "success").sum())
        return f"{len(frame):,} rows · {ok:,} succeeded · ${cost:,.6f} in all"

    def _draw(self) -> None:
        from .plots import _GREY, _OK, _empty

        fig = self.figure
        fig.clear()
        ax = fig.add_subplot()
        view = self._view
        by = str(self.group_by.value)
        metric = str(self.metric.value)
        if not len(view):
            _empty(ax, "no rows")
            return
        labels = view[by].tolist()
        x = np.arange(len(labels), dtype=np.float64)
        if metric == "latency_ms":
            p50 = view["latency_p50_ms"].to_numpy(dtype=np.float64)
            p95 = view["latency_p95_ms"].to_numpy(dtype=np.float64)
            ax.bar(x, p50, 0.6, color=_OK, label="p50")
            ax.scatter(x, p95, marker="_", s=400, color="#d9534f", zorder=3, label="p95")
            ax.vlines(x, p50, p95, color="#d9534f", linewidth=1)
            ax.legend(loc="upper left", fontsize=8, frameon=False)
            ax.set_ylabel("ms")
        else:
            ax.bar(x, view[metric].to_numpy(dtype=np.float64), 0.6, color=_OK, label=metric)
            ax.set_ylabel(METRICS[metric])
            if metric in ("cost_usd", "usd_per_1k_rows"):
                ax.yaxis.set_major_formatter(lambda v, _pos: f"${v:,.4g}")
        ax.set_xticks(x, labels, rotation=20 if len(labels) > 4 else 0)
        if len(labels) > 4:
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
        ax.set_ylim(bottom=0)
        ax.set_title(f"{METRICS[metric]} by {by}", fontsize=10, color=_GREY, loc="left")
        ax.spines[["top", "right"]].set_visible(False)

    def _title(self) -> str:
        return (
            f"results explorer · {len(self._results):,} rows · by {self.group_by.value} · "
            f"{METRICS[str(self.metric.value)]}"
        )

    def _text_table(self) -> str:
        view = self._view.copy()
        view["cost_usd"] = view["cost_usd"].round(6)
        view["usd_per_1k_rows"] = view["usd_per_1k_rows"].round(4)
        view["cost_share_pct"] = view["cost_share_pct"].round(1)
        return str(view.to_string(index=False))

    def _html_table(self) -> str:
        return table_html(self._view, _FORMATS)


def explore_results(
    results: pd.DataFrame,
    *,
    by: str = "model",
    metric: str = "cost_usd",
    buckets: int = 4,
    display: Display = "auto",
) -> ResultsExplorer:
    """An interactive drill-down of a results DataFrame: cost, tokens and latency per group.

    Args:
        results: from :func:`brainbatch.run` / ``job.result()`` (needs ``status``; uses
            ``cost_usd``, ``input_tokens``, ``output_tokens``, ``latency_ms`` when present).
        by: the first grouping: a column or ``"prompt length"``.
        metric: what the chart shows first, one of :data:`METRICS`.
        buckets: prompt-length buckets (2-10).
        display: ``"auto"``, ``"widget"`` or ``"static"`` (see :mod:`.explore`).

    Returns a :class:`ResultsExplorer`; ``.current_view()`` is the table shown.
    """
    frame = _require(results, ["status"], "explore_results")
    options = groupable_columns(frame)
    if by not in options:
        raise InputError(
            f"explore_results: cannot group by {by!r}; choose one of "
            f"{', '.join(repr(c) for c in options)}"
        )
    if metric not in METRICS:
        raise InputError(f"metric must be one of {list(METRICS)}, got {metric!r}")
    if isinstance(buckets, bool) or not isinstance(buckets, int) or not 2 <= buckets <= 10:
        raise InputError(f"buckets must be an integer from 2 to 10, got {buckets!r}")
    return ResultsExplorer(frame, by=by, metric=metric, buckets=buckets, display=display)

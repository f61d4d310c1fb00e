"""Plots of a results DataFrame: latency, cost, timeline, and real time vs batch savings.

Every function takes the DataFrame that ``bb.run`` / ``job.result()`` return and gives back a
:class:`matplotlib.figure.Figure`. Figures are built with matplotlib's object API (no pyplot
state, nothing left open), so they draw inline in Jupyter when they are a cell's value and can
be saved from scripts with ``fig.savefig("latency.png")``::

    import brainbatch as bb

    results = bb.run(df, prompt="Summarise: {text}", model="gpt-4o-mini")
    bb.plot.latency(results)          # histogram with p50 / p95 / p99
    bb.plot.cost(results)             # cost by model, and cumulative cost over time
    bb.plot.timeline(results)         # results per second and errors over time
    bb.plot.savings(results)          # the same tokens priced in real time and as batch work

matplotlib is imported when a plot is drawn, not when brainbatch is imported.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..pricing import cost_of

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "cost",
    "cost_by_model",
    "latency",
    "latency_percentiles",
    "savings",
    "savings_table",
    "timeline",
    "timeline_table",
]

_OK = "#2f7ed8"
_ERR = "#d9534f"
_BATCH = "#5cb85c"
_GREY = "#777777"


# -- helpers -----------------------------------------------------------------------------------


def _require(results: Any, columns: Sequence[str], where: str) -> pd.DataFrame:
    """Check ``results`` is a DataFrame with ``columns``; the error names what is missing."""
    if not isinstance(results, pd.DataFrame):
        hint = (
            ": a job handle is not its results; use `results = await job` or job.result()"
            if hasattr(results, "to_frame") and hasattr(results, "cancel")
            else ""
        )
        raise InputError(
            f"{where}: expected a results DataFrame (from bb.run or job.result()), "
            f"got {type(results).__name__}{hint}"
        )
    missing = [c for c in columns if c not in results.columns]
    if missing:
        raise InputError(
            f"{where}: the DataFrame has no column {', '.join(repr(c) for c in missing)}; "
            f"it needs {', '.join(repr(c) for c in columns)} "
            f"(a results DataFrame from bb.run or job.result() has them)"
        )
    return results


def _ensure_inline_display() -> None:
    """Make a bare Figure draw as a PNG when it is a cell's value in IPython/Jupyter.

    pyplot does this when it is imported in a kernel; our figures never go through pyplot,
    so register the same formatter ourselves (once, and only when IPython is running).
    """
    if "IPython" not in sys.modules:
        return
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython partly installed
        return
    shell = get_ipython()
    if shell is None:
        return
    from matplotlib.figure import Figure

    png = shell.display_formatter.formatters.get("image/png")
    if png is None:  # pragma: no cover - a shell without rich display
        return
    try:
        png.lookup_by_type(Figure)
        return
    except KeyError:
        pass
    from IPython.core.pylabtools import print_figure

    png.for_type(Figure, lambda fig: print_figure(fig, "png", bbox_inches="tight"))  # type: ignore[no-untyped-call]


def _new_figure(
    nrows: int = 1, ncols: int = 1, *, width: float = 7.0, height: float = 4.0
) -> tuple[Figure, list[Axes]]:
    from matplotlib.figure import Figure

    _ensure_inline_display()
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def _empty(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color=_GREY)
    ax.set_xticks([])
    ax.set_yticks([])


def _numeric(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype("float64")


def _times(series: pd.Series) -> pd.Series:
    """``completed_at`` as UTC timestamps (NaT where a row never completed)."""
    return pd.to_datetime(series, utc=True, errors="coerce")


def _elapsed(times: pd.Series) -> tuple[np.ndarray, str, float]:
    """Seconds since the first completion, scaled to s / min / h; returns values, unit, scale."""
    t0 = times.min()
    seconds = (times - t0).dt.total_seconds().to_numpy(dtype="float64")
    span = float(seconds.max()) if len(seconds) else 0.0
    if span >= 2 * 3600:
        return seconds / 3600.0, "h", 3600.0
    if span >= 120:
        return seconds / 60.0, "min", 60.0
    return seconds, "s", 1.0


def _usd(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    if value == 0:
        return "$0"
    if abs(value) < 1:
        return f"${value:.3g}"
    return f"${value:,.2f}"


# -- latency -----------------------------------------------------------------------------------

PERCENTILES = (50, 95, 99)


def latency_percentiles(results: pd.DataFrame) -> dict[int, float]:
    """p50 / p95 / p99 of ``latency_ms`` over requests that were really sent (not cached).

    Linear interpolation between samples, as in :func:`brainbatch.job_stats`.
    """
    values = _latency_values(results)
    if not len(values):
        return {q: math.nan for q in PERCENTILES}
    return {q: float(np.percentile(values, q)) for q in PERCENTILES}


def _latency_values(results: pd.DataFrame) -> np.ndarray:
    frame = _require(results, ["latency_ms"], "latency")
    values = _numeric(frame["latency_ms"])
    if "cached" in frame.columns:
        values = values[~frame["cached"].fillna(False).astype(bool)]
    if "status" in frame.columns:
        values = values[frame["status"].isin(["success", "error"])]
    return values.dropna().to_numpy()


def latency(results: pd.DataFrame, *, bins: int = 30) -> Figure:
    """Histogram of request latency with the p50, p95 and p99 marked and labelled.

    Cached answers (no request was sent) and rows that never ran are left out.

    Raises:
        InputError: ``results`` is not a DataFrame or has no ``latency_ms`` column.
    """
    values = _latency_values(results)
    fig, (ax,) = _new_figure()
    ax.set_title(f"Latency of {len(values):,} request{'s' if len(values) != 1 else ''}")
    if not len(values):
        _empty(ax, "no latency to show (no request was sent)")
        return fig
    ax.hist(values, bins=bins, color=_OK, alpha=0.75, label="requests")
    styles = {50: ("#333333", "-"), 95: ("#f0ad4e", "--"), 99: (_ERR, ":")}
    for q, value in latency_percentiles(results).items():
        color, style = styles[q]
        ax.axvline(
            value, color=color, linestyle=style, linewidth=1.6, label=f"p{q} = {value:,.0f} ms"
        )
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("requests")
    ax.legend(loc="upper right")
    return fig


# -- cost --------------------------------------------------------------------------------------


def cost_by_model(results: pd.DataFrame) -> pd.DataFrame:
    """Cost (``cost_usd``) and what was paid in this run (``paid_usd``) per model, in USD.

    NaN costs count as 0 in the sums. ``unpriced`` counts the rows whose model has no known
    price (``price_source`` ``"unknown"``, or a successful row without a cost).
    """
    frame = _require(results, ["model", "cost_usd"], "cost")
    cost_usd = _numeric(frame["cost_usd"])
    paid = _numeric(frame["paid_usd"]) if "paid_usd" in frame.columns else cost_usd
    model = frame["model"].astype("string").fillna("(none)")
    if "price_source" in frame.columns:
        unpriced = frame["price_source"].astype("string").eq("unknown").fillna(False)
    elif "status" in frame.columns:
        unpriced = cost_usd.isna() & frame["status"].astype("string").eq("success").fillna(False)
    else:
        unpriced = cost_usd.isna()
    table = pd.DataFrame(
        {"model": model, "cost_usd": cost_usd, "paid_usd": paid, "unpriced": unpriced}
    )
    out = table.groupby("model", sort=True).agg(
        requests=("cost_usd", "size"),
        cost_usd=("cost_usd", "sum"),
        paid_usd=("paid_usd", "sum"),
        unpriced=("unpriced", "sum"),
    )
    return out


def cost(results: pd.DataFrame) -> Figure:
    """Two panels: cost by model (bars) and cumulative spend over time (by ``completed_at``).

    Bars show ``cost_usd`` (what the answers are worth at list price); when some answers came
    from the response cache, a second bar shows ``paid_usd`` (what this run actually spent).
    The cumulative line follows ``paid_usd`` (or ``cost_usd`` without it).

    Raises:
        InputError: ``results`` lacks ``model``, ``cost_usd`` or ``completed_at``.
    """
    frame = _require(results, ["model", "cost_usd", "completed_at"], "cost")
    by_model = cost_by_model(frame)
    fig, (left, right) = _new_figure(1, 2, width=10.0, height=4.0)

    left.set_title("Cost by model")
    if by_model.empty:
        _empty(left, "no results")
    else:
        x = np.arange(len(by_model))
        differs = not np.allclose(by_model["cost_usd"], by_model["paid_usd"], equal_nan=True)
        width = 0.4 if differs else 0.6
        offset = width / 2 if differs else 0.0
        bars = left.bar(x - offset, by_model["cost_usd"], width, color=_OK, label="cost")
        if differs:
            left.bar(x + offset, by_model["paid_usd"], width, color=_BATCH, label="paid this run")
            left.legend()
        for rect, value, unpriced in zip(
            bars, by_model["cost_usd"], by_model["unpriced"], strict=True
        ):
            text = _usd(float(value)) + (f"\n({unpriced} unpriced)" if unpriced else "")
            left.annotate(
                text,
                (rect.get_x() + rect.get_width() / 2, rect.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
        left.set_xticks(x, list(by_model.index), rotation=20 if len(x) > 3 else 0)
        left.set_ylabel("USD")
        left.margins(y=0.15)

    right.set_title("Cumulative spend")
    column = "paid_usd" if "paid_usd" in frame.columns else "cost_usd"
    times = _times(frame["completed_at"])
    spend = _numeric(frame[column]).fillna(0.0)
    keep = times.notna()
    if not keep.any():
        _empty(right, "no completed results")
        return fig
    timed = pd.DataFrame({"t": times[keep], "usd": spend[keep]}).sort_values("t", kind="stable")
    elapsed, unit, _ = _elapsed(timed["t"])
    cumulative = timed["usd"].cumsum().to_numpy()
    right.step(elapsed, cumulative, where="post", color=_OK, label=column)
    right.set_xlabel(f"time since first result ({unit})")
    right.set_ylabel("USD")
    right.annotate(
        _usd(float(cumulative[-1])),
        (elapsed[-1], cumulative[-1]),
        ha="right",
        va="bottom",
        fontsize=8,
    )
    return fig


# -- timeline ----------------------------------------------------------------------------------


def _bucket_seconds(span_s: float, bucket: float | str | None) -> float:
    if bucket is None:
        # about 30 buckets, on a round number of seconds (or hundredths for short runs)
        raw = max(span_s / 30.0, 0.01)
        for step in (
            0.01,
            0.02,
            0.05,
            0.1,
            0.2,
            0.5,
            1,
            2,
            5,
            10,
            15,
            30,
            60,
            120,
            300,
            600,
            900,
            1800,
            3600,
        ):
            if raw <= step:
                return float(step)
        return float(math.ceil(raw / 3600.0) * 3600)
    if isinstance(bucket, str):
        try:
            seconds = pd.Timedelta(bucket).total_seconds()
        except ValueError as exc:
            raise InputError(f"timeline: bucket={bucket!r} is not a duration like '5s'") from exc
    else:
        seconds = float(bucket)
    if not seconds > 0:
        raise InputError(f"timeline: bucket must be a positive duration, got {bucket!r}")
    return seconds


def timeline_table(results: pd.DataFrame, bucket: float | str | None = None) -> pd.DataFrame:
    """Results per time bucket: ``start_s`` (since the first result), ``ok``, ``errors``,
    ``per_s`` (results per second). ``bucket`` is seconds or a duration string (``"5s"``)."""
    frame = _require(results, ["completed_at", "status"], "timeline")
    times = _times(frame["completed_at"])
    keep = times.notna()
    if not keep.any():
        return pd.DataFrame({"start_s": [], "ok": [], "errors": [], "per_s": []}, dtype="float64")
    t = times[keep]
    seconds = (t - t.min()).dt.total_seconds().to_numpy(dtype="float64")
    step = _bucket_seconds(float(seconds.max()), bucket)
    index = np.floor(seconds / step + 1e-9).astype(int)
    n = int(index.max()) + 1
    is_err = frame.loc[keep, "status"].astype("string").fillna("").ne("success").to_numpy()
    ok = np.bincount(index[~is_err], minlength=n)
    errors = np.bincount(index[is_err], minlength=n)
    return pd.DataFrame(
        {
            "start_s": np.arange(n) * step,
            "ok": ok,
            "errors": errors,
            "per_s": (ok + errors) / step,
        }
    )


def timeline(results: pd.DataFrame, *, bucket: float | str | None = None) -> Figure:
    """Throughput (results per second) and errors over time, per time bucket.

    ``bucket`` is the bucket width in seconds or as a duration string (``"5s"``, ``"1min"``);
    by default about 30 buckets over the run. Rows that never completed are left out.

    Raises:
        InputError: ``results`` lacks ``completed_at`` or ``status``; a bad ``bucket``.
    """
    from matplotlib.ticker import MaxNLocator

    table = timeline_table(results, bucket)
    fig, (top, bottom) = _new_figure(2, 1, width=8.0, height=5.0)
    top.set_title("Throughput")
    bottom.set_title("Errors")
    if table.empty:
        _empty(top, "no completed results")
        _empty(bottom, "no completed results")
        return fig
    step = float(table["start_s"].iloc[1]) if len(table) > 1 else _bucket_seconds(0.0, bucket)
    span = float(table["start_s"].iloc[-1]) + step
    scale, unit = (3600.0, "h") if span >= 7200 else (60.0, "min") if span >= 120 else (1.0, "s")
    x = table["start_s"].to_numpy() / scale
    width = step / scale
    top.bar(x, table["per_s"], width=width, align="edge", color=_OK, label="results / s")
    top.set_ylabel("results / s")
    bottom.bar(x, table["errors"], width=width, align="edge", color=_ERR, label="errors")
    bottom.set_ylabel(f"errors per {step:g} s")
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.set_ylim(0, max(1, int(table["errors"].max())) * 1.1)
    bottom.set_xlabel(f"time since first result ({unit})")
    total_err = int(table["errors"].sum())
    total = total_err + int(table["ok"].sum())
    bottom.set_title(f"Errors: {total_err:,} of {total:,}")
    return fig


# -- savings -----------------------------------------------------------------------------------


def savings_table(
    results: pd.DataFrame | None = None,
    *,
    estimate: pd.DataFrame | None = None,
    models: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Real time vs batch cost of the same work, per model, priced with
    :func:`brainbatch.cost_of` (``batch=False`` and ``batch=True``).

    * ``results``: the tokens each model actually used (``model``, ``input_tokens``,
      ``output_tokens``) are priced both ways.
    * ``estimate``: the table ``bb.estimate`` returns (its expected output tokens), or any
      frame with ``model`` and input/output token columns, priced both ways.
    * ``models``: price the same tokens as these models instead (what-if), all tokens pooled.

    Token columns are ``input_tokens`` (or ``est_input_tokens``) and ``output_tokens`` (or
    ``output_tokens_expected``, ``est_output_tokens``). Returns one row per (source, model)
    with ``realtime_usd``, ``batch_usd``, ``saving_usd`` and ``saving_pct``.
    """
    if results is None and estimate is None:
        raise InputError("savings: give results=..., estimate=..., or both")
    parts: list[pd.DataFrame] = []
    if results is not None:
        parts.append(_tokens_by_model(results, "results", "savings(results)"))
    if estimate is not None:
        parts.append(_tokens_by_model(estimate, "estimate", "savings(estimate)"))
    tokens = pd.concat(parts, ignore_index=True)
    if models is not None:
        wanted = [models] if isinstance(models, str) else list(models)
        if not wanted or not all(isinstance(m, str) and m for m in wanted):
            raise InputError("savings: models must be a non-empty list of model names")
        pooled = tokens.groupby("source", sort=False)[["input_tokens", "output_tokens"]].sum()
        tokens = pd.DataFrame(
            [
                {
                    "source": src,
                    "model": m,
                    "input_tokens": row.input_tokens,
                    "output_tokens": row.output_tokens,
                }
                for src, row in pooled.iterrows()
                for m in wanted
            ],
            columns=["source", "model", "input_tokens", "output_tokens"],
        )
    realtime: list[float] = []
    batch: list[float] = []
    for model, inp, out in zip(
        tokens["model"].astype(str).tolist(),
        tokens["input_tokens"].astype("int64").tolist(),
        tokens["output_tokens"].astype("int64").tolist(),
        strict=True,
    ):
        realtime.append(cost_of(model, inp, out, batch=False).usd)
        batch.append(cost_of(model, inp, out, batch=True).usd)
    table = tokens.assign(realtime_usd=realtime, batch_usd=batch)
    table["saving_usd"] = table["realtime_usd"] - table["batch_usd"]
    with np.errstate(divide="ignore", invalid="ignore"):
        table["saving_pct"] = 100.0 * table["saving_usd"] / table["realtime_usd"]
    return table


_INPUT_COLUMNS = ("input_tokens", "est_input_tokens")
_OUTPUT_COLUMNS = ("output_tokens", "output_tokens_expected", "est_output_tokens")


def _tokens_by_model(frame: Any, source: str, where: str) -> pd.DataFrame:
    """Input/output tokens summed per model, from a results frame or an estimate table.

    An estimate table from ``bb.estimate`` has one row per (model, mode) with the same tokens
    in each mode, and ``"(all)"`` totals: one mode is kept and the totals are dropped.
    """
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{where}: expected a DataFrame, got {type(frame).__name__}")
    inp_col = next((c for c in _INPUT_COLUMNS if c in frame.columns), _INPUT_COLUMNS[0])
    out_col = next((c for c in _OUTPUT_COLUMNS if c in frame.columns), _OUTPUT_COLUMNS[0])
    _require(frame, ["model", inp_col, out_col], where)
    if "mode" in frame.columns and len(frame):
        modes = frame["mode"].astype("string")
        keep = "realtime" if (modes == "realtime").any() else modes.iloc[0]
        frame = frame[modes == keep]
        frame = frame[frame["model"].astype("string") != "(all)"]
    table = pd.DataFrame(
        {
            "model": frame["model"].astype("string").fillna("(none)"),
            "input_tokens": _numeric(frame[inp_col]).fillna(0.0),
            "output_tokens": _numeric(frame[out_col]).fillna(0.0),
        }
    )
    summed = table.groupby("model", sort=True)[["input_tokens", "output_tokens"]].sum()
    summed = summed.round().astype("int64").reset_index()
    summed.insert(0, "source", source)
    return summed


def savings(
    results: pd.DataFrame | None = None,
    *,
    estimate: pd.DataFrame | None = None,
    models: Iterable[str] | None = None,
) -> Figure:
    """Bars of real time vs batch cost for the same tokens, per model, with the saving marked.

    See :func:`savings_table` for the arguments; the figure's bars are that table's
    ``realtime_usd`` and ``batch_usd`` columns.

    Raises:
        InputError: neither ``results`` nor ``estimate`` given, or a frame lacks ``model`` or
            its token columns.
    """
    table = savings_table(results, estimate=estimate, models=models)
    fig, (ax,) = _new_figure(width=max(6.0, 1.3 * len(table) + 3.0), height=4.0)
    ax.set_title("Real time vs batch: the same tokens")
    if table.empty:
        _empty(ax, "no tokens to price")
        return fig
    several_sources = table["source"].nunique() > 1
    labels = [
        f"{m}\n({s})" if several_sources else str(m)
        for s, m in zip(table["source"], table["model"], strict=True)
    ]
    x = np.arange(len(table))
    width = 0.38
    ax.bar(x - width / 2, table["realtime_usd"], width, color=_OK, label="real time")
    batch_bars = ax.bar(x + width / 2, table["batch_usd"], width, color=_BATCH, label="batch")
    for rect, rt, saved, pct in zip(
        batch_bars, table["realtime_usd"], table["saving_usd"], table["saving_pct"], strict=True
    ):
        text = "price unknown" if rt != rt else f"-{pct:.0f}%\n{_usd(float(saved))} saved"
        ax.annotate(
            text,
            (rect.get_x() + rect.get_width() / 2, rect.get_height() if rt == rt else 0.0),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_xticks(x, labels, rotation=20 if len(x) > 3 else 0)
    ax.set_ylabel("USD")
    ax.legend()
    ax.margins(y=0.2)
    return fig

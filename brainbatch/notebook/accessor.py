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
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from ..embeddings import DEFAULT_EMBEDDING_MODEL
from ..estimate import DEFAULT_OUTPUT_RATIO, PriceModel
from ..frame import PromptFn
from ..runner import DEFAULT_MAX_CONCURRENT, Mode
from ..stream import Check
from ..structured import DEFAULT_SCHEMA_ATTEMPTS
from . import plots
from .explore import Display

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..stream import StreamResult
    from .explore_cost import CostExplorer
    from .explore_results import ResultsExplorer
    from .handle import JobHandle, Progress
    from .stream import StreamHandle

MAX_SAMPLE = 20_000  # brainbatch.notebook.explore_cost.MAX_SAMPLE (pinned by a test)

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

    # Each method below has the full signature of the function it calls (minus the frame),
    # so ``df.bb.run?`` in Jupyter shows every parameter; tests/notebook/test_nb_accessor.py
    # pins the signatures against the functions'.

    def submit(
        self,
        prompt: str | PromptFn,
        model: str = "sim",
        provider: Any = None,
        mode: Mode = "realtime",
        job_name: str | None = None,
        store: Any = None,
        system: str | None = None,
        params: Mapping[str, Any] | None = None,
        custom_id: str | None = None,
        columns: Sequence[str] | None = None,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
        rpm: float | Literal["auto"] | None = None,
        tpm: float | Literal["auto"] | None = None,
        max_cost_usd: float | None = None,
        cache: bool | None = None,
        *,
        delay: float | None = None,
        poll_interval: float | None = None,
        expand: bool = False,
        progress: Progress | bool | None = "auto",
        schema: Any = None,
        schema_attempts: int = DEFAULT_SCHEMA_ATTEMPTS,
        images: str | None = None,
        documents: str | None = None,
        detail: str | None = None,
        out: str | os.PathLike[str] | None = None,
        chunk_size: int | None = None,
        check: Check = "all",
        open_chunks: int | None = None,
        **provider_kwargs: Any,
    ) -> JobHandle | StreamHandle:
        """:func:`brainbatch.submit` on this frame: start a job, return its handle at once
        (with ``out=``, a :class:`~brainbatch.notebook.stream.StreamHandle`)."""
        from .handle import submit

        fn: Any = submit  # both overloads: a frame, and a frame with out= (streamed)
        out_: JobHandle | StreamHandle = fn(
            self._frame,
            prompt,
            model,
            provider,
            mode,
            job_name,
            store,
            system,
            params,
            custom_id,
            columns,
            max_concurrent,
            rpm,
            tpm,
            max_cost_usd,
            cache,
            delay=delay,
            poll_interval=poll_interval,
            expand=expand,
            progress=progress,
            schema=schema,
            schema_attempts=schema_attempts,
            images=images,
            documents=documents,
            detail=detail,
            out=out,
            chunk_size=chunk_size,
            check=check,
            open_chunks=open_chunks,
            **provider_kwargs,
        )
        return out_

    def run(
        self,
        prompt: str | PromptFn,
        model: str = "sim",
        provider: Any = None,
        mode: Mode = "realtime",
        job_name: str | None = None,
        store: Any = None,
        system: str | None = None,
        params: Mapping[str, Any] | None = None,
        custom_id: str | None = None,
        columns: Sequence[str] | None = None,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
        rpm: float | Literal["auto"] | None = None,
        tpm: float | Literal["auto"] | None = None,
        max_cost_usd: float | None = None,
        cache: bool | None = None,
        *,
        delay: float | None = None,
        poll_interval: float | None = None,
        expand: bool = False,
        progress: Progress | bool | None = "auto",
        schema: Any = None,
        schema_attempts: int = DEFAULT_SCHEMA_ATTEMPTS,
        images: str | None = None,
        documents: str | None = None,
        detail: str | None = None,
        out: str | os.PathLike[str] | None = None,
        chunk_size: int | None = None,
        check: Check = "all",
        open_chunks: int | None = None,
        **provider_kwargs: Any,
    ) -> pd.DataFrame | StreamResult:
        """:func:`brainbatch.run` on this frame: run a job, return the results frame (with
        ``out=``, a :class:`~brainbatch.stream.StreamResult`)."""
        from .handle import run

        fn: Any = run  # both overloads: a frame, and a frame with out= (streamed)
        out_: pd.DataFrame | StreamResult = fn(
            self._frame,
            prompt,
            model,
            provider,
            mode,
            job_name,
            store,
            system,
            params,
            custom_id,
            columns,
            max_concurrent,
            rpm,
            tpm,
            max_cost_usd,
            cache,
            delay=delay,
            poll_interval=poll_interval,
            expand=expand,
            progress=progress,
            schema=schema,
            schema_attempts=schema_attempts,
            images=images,
            documents=documents,
            detail=detail,
            out=out,
            chunk_size=chunk_size,
            check=check,
            open_chunks=open_chunks,
            **provider_kwargs,
        )
        return out_

    def estimate(
        self,
        prompt: str | PromptFn,
        model: str = "sim",
        *,
        system: str | None = None,
        params: Mapping[str, Any] | None = None,
        custom_id: str | None = None,
        schema: Any = None,
        images: str | None = None,
        documents: str | None = None,
        detail: str | None = None,
        max_tokens: int | None = None,
        expected_output_tokens: float | None = None,
        output_ratio: float = DEFAULT_OUTPUT_RATIO,
        max_concurrent: int = 10,
        rpm: float | None = None,
        tpm: float | None = None,
        typical_latency_s: float | None = None,
        price_model: PriceModel = None,
    ) -> pd.DataFrame:
        """:func:`brainbatch.estimate` on this frame: tokens, cost (real time vs batch) and
        duration, before anything is sent."""
        from . import estimate

        return estimate(
            self._frame,
            prompt,
            model,
            system=system,
            params=params,
            custom_id=custom_id,
            schema=schema,
            images=images,
            documents=documents,
            detail=detail,
            max_tokens=max_tokens,
            expected_output_tokens=expected_output_tokens,
            output_ratio=output_ratio,
            max_concurrent=max_concurrent,
            rpm=rpm,
            tpm=tpm,
            typical_latency_s=typical_latency_s,
            price_model=price_model,
        )

    def embed(
        self,
        text: str,
        model: str = DEFAULT_EMBEDDING_MODEL,
        *,
        dimensions: int | None = None,
        provider: Any = None,
        columns: Sequence[str] | None = None,
        custom_id: str | None = None,
        batch_size: int | None = None,
        max_concurrent: int = 8,
        rpm: int | None = None,
        tpm: int | None = None,
        seed: int = 0,
        mode: str = "realtime",
        store: Any = None,
        name: str | None = None,
        cache: bool | None = None,
        poll_interval: float | None = None,
        **provider_kwargs: Any,
    ) -> pd.DataFrame:
        """:func:`brainbatch.embed` on this frame: the frame with an ``embedding`` column."""
        from ..embeddings import embed

        return embed(
            self._frame,
            text,
            model,
            dimensions=dimensions,
            provider=provider,
            columns=columns,
            custom_id=custom_id,
            batch_size=batch_size,
            max_concurrent=max_concurrent,
            rpm=rpm,
            tpm=tpm,
            seed=seed,
            mode=mode,
            store=store,
            name=name,
            cache=cache,
            poll_interval=poll_interval,
            **provider_kwargs,
        )

    def explore_cost(
        self,
        prompt: str | PromptFn,
        models: Sequence[str] | str | None = None,
        *,
        model: str | None = None,
        system: str | None = None,
        params: Mapping[str, Any] | None = None,
        custom_id: str | None = None,
        max_tokens: int | None = None,
        expected_output_tokens: int | None = None,
        output_ratio: float = DEFAULT_OUTPUT_RATIO,
        price_model: PriceModel = None,
        mode: str = "all",
        sample: int | None = None,
        max_sample: int = MAX_SAMPLE,
        seed: int = 0,
        df_name: str = "df",
        display: Display = "auto",
        **submit_kwargs: Any,
    ) -> CostExplorer:
        """:func:`brainbatch.explore_cost` on this frame: the interactive cost what-if."""
        from .explore_cost import explore_cost

        return explore_cost(
            self._frame,
            prompt,
            models,
            model=model,
            system=system,
            params=params,
            custom_id=custom_id,
            max_tokens=max_tokens,
            expected_output_tokens=expected_output_tokens,
            output_ratio=output_ratio,
            price_model=price_model,
            mode=mode,
            sample=sample,
            max_sample=max_sample,
            seed=seed,
            df_name=df_name,
            display=display,
            **submit_kwargs,
        )

    def explore(
        self,
        *,
        by: str = "model",
        metric: str = "cost_usd",
        buckets: int = 4,
        display: Display = "auto",
    ) -> ResultsExplorer:
        """:func:`brainbatch.explore_results` of this results frame: cost, tokens and latency
        per group."""
        from .explore_results import explore_results

        return explore_results(self._frame, by=by, metric=metric, buckets=buckets, display=display)

    def summary(self) -> pd.DataFrame:
        """:func:`summarize` this results frame (one row)."""
        return summarize(self._frame)

    @property
    def plot(self) -> PlotAccessor:
        """Plots of this results frame: ``.latency()``, ``.cost()``, ``.timeline()``,
        ``.savings()``."""
        return PlotAccessor(self._frame)

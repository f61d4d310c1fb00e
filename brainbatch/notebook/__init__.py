"""The notebook front: a DataFrame in, a live panel while it runs, a DataFrame out.

::

    import brainbatch as bb

    job = bb.submit(df, prompt="Classify the sentiment of: {review}", model="gpt-4o-mini")
    job                      # the live panel, with a Cancel button
    results = await job      # or job.result() in a later cell

    results = bb.run(df, prompt="{review}", model="sim")   # blocking; Ctrl-C keeps partials

The core (models, executors, manager) never imports this package; ipywidgets is imported only
when a panel is actually shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pandas as pd

from ..errors import InputError
from ..estimate import DEFAULT_OUTPUT_RATIO, PriceModel, estimate_requests, remember_estimate
from ..frame import PromptFn, PromptSpec, build_requests, results_frame
from ..session import open_store, resume_session
from ..stream import StreamResult, resume_stream
from ..structured import OutputSchema
from .handle import JobHandle, _progress_mode, _run_blocking, run, submit
from .stream import StreamHandle, run_stream, start_stream

__all__ = [
    "JobHandle",
    "build_requests",
    "estimate",
    "jobs",
    "results_frame",
    "resume",
    "run",
    "submit",
]


def estimate(
    df: pd.DataFrame,
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
    """What running ``df`` would cost and take, before anything is sent.

    The rows become requests exactly as :func:`submit` makes them (same checks, same
    errors); :func:`brainbatch.estimate.estimate_requests` then counts tokens, prices them
    real time vs batch and estimates the duration under the limits given (its arguments:
    ``max_tokens``, ``expected_output_tokens``, ``output_ratio``, ``max_concurrent``,
    ``rpm``, ``tpm``, ``typical_latency_s``, ``price_model``).
    Returns its summary DataFrame (one row per mode, and per model when rows use several).
    With ``schema=`` (a Pydantic model class or a JSON-schema dict) the schema's compact JSON
    counts as prompt tokens of every row, as the providers put it into the prompt.
    ``images=`` / ``documents=`` (columns) add each inline image's tokens by the provider's
    documented rule (see :func:`brainbatch.images.image_tokens`).
    """
    if schema is not None:
        params = OutputSchema.of(schema).add_to(params)
    requests = build_requests(
        df,
        PromptSpec(
            prompt=prompt,
            model=model,
            system=system,
            params=params,
            custom_id=custom_id,
            images=images,
            documents=documents,
            detail=detail,
        ),
    )
    table = estimate_requests(
        requests,
        max_tokens=max_tokens,
        expected_output_tokens=expected_output_tokens,
        output_ratio=output_ratio,
        max_concurrent=max_concurrent,
        rpm=rpm,
        tpm=tpm,
        typical_latency_s=typical_latency_s,
        price_model=price_model,
    )
    if max_tokens is None and price_model is None:  # what a run of the same rows would price
        remember_estimate(requests, table)
    return table


def jobs(store: Any = None) -> pd.DataFrame:
    """The jobs in the store (default store when None), oldest first, one row each."""
    job_store = open_store(store)
    if job_store is None:
        raise InputError("bb.jobs() needs a store (store=None uses the default store)")
    rows = job_store.list_jobs()
    frame = pd.DataFrame(rows)
    if "job_id" in frame.columns and len(frame):
        frame = frame.set_index("job_id")
    return frame


def resume(
    job_id_or_name: str,
    store: Any = None,
    *,
    provider: Any = None,
    retry_failed: bool = False,
    max_concurrent: int | None = None,
    delay: float | None = None,
    rpm: float | Literal["auto"] | None = None,
    tpm: float | Literal["auto"] | None = None,
    max_cost_usd: float | None = None,
    cache: bool | None = None,
    poll_interval: float | None = None,
    progress: str | bool | None = "auto",
    wait: bool = False,
    force: bool = False,
    schema: Any = None,
    **provider_kwargs: Any,
) -> JobHandle | pd.DataFrame | StreamHandle | StreamResult:
    """Continue a stored job (after a cancel, a crash or a kernel restart).

    Only rows without a result are sent, with the settings stored with the job; rows the
    provider refused for the API key are sent again too (nothing was paid for them), and with
    ``retry_failed=True`` every failed row (succeeded rows never are). Keys are never stored,
    so they come from the environment again (or ``api_key=...``). A job run with a provider
    *object* needs ``provider=`` again.

    Args:
        job_id_or_name: the job's id or ``job_name``.
        store: the store it is in (None: the default store).
        provider: the provider object, for a job that ran with one.
        retry_failed: send the failed rows again as well.
        max_concurrent, delay, rpm, tpm, max_cost_usd, cache, poll_interval: run settings
            for this run (see :class:`brainbatch.runner.RunSettings`); None keeps the
            stored value. ``max_cost_usd`` counts what the job already paid.
        progress: as for :func:`submit`.
        wait: block and return the results DataFrame (Ctrl-C cancels cleanly).
        force: run even if the job looks like it is running in another process.
        schema: the Pydantic model the job was run with, to get model instances back
            (without it a typed job's answers are checked against the stored JSON schema
            and come back as dicts); it must ask for the same JSON.
        provider_kwargs: provider settings (``api_key=``, ``base_url=``...).

    Returns a running :class:`JobHandle` (its results are indexed by ``custom_id``, with a
    ``prompt`` column), or with ``wait=True`` the results DataFrame once done. A streamed
    job (``bb.run(path, out=...)``) continues into its folder from the same input file: a
    :class:`~brainbatch.notebook.stream.StreamHandle`, or with ``wait=True`` its
    :class:`~brainbatch.stream.StreamResult`.
    """
    overrides = {
        "max_concurrent": max_concurrent,
        "delay": delay,
        "rpm": rpm,
        "tpm": tpm,
        "max_cost_usd": max_cost_usd,
        "cache": cache,
        "poll_interval": poll_interval,
    }
    job_store = open_store(store)
    if job_store is not None and job_store.job_spec(job_id_or_name).get("stream"):
        if retry_failed or schema is not None:
            raise InputError("retry_failed= and schema= are not available for a streamed job")
        run = resume_stream(
            job_id_or_name,
            store=job_store,
            provider=provider,
            force=force,
            run_overrides=overrides,
            provider_kwargs=provider_kwargs,
        )
        mode = _progress_mode(progress)
        return run_stream(run, progress=mode) if wait else start_stream(run, progress=mode)
    session = resume_session(
        job_id_or_name,
        store=store,
        provider=provider,
        retry_failed=retry_failed,
        force=force,
        schema=schema,
        run_overrides={
            "max_concurrent": max_concurrent,
            "delay": delay,
            "rpm": rpm,
            "tpm": tpm,
            "max_cost_usd": max_cost_usd,
            "cache": cache,
            "poll_interval": poll_interval,
        },
        provider_kwargs=provider_kwargs,
    )
    job = session.job
    inputs = pd.DataFrame(
        {"prompt": [r.prompt or _last_user_text(r.messages) for r in job.requests]},
        index=pd.Index([r.key for r in job.requests], name="custom_id"),
    )
    handle = JobHandle(
        session,
        inputs=inputs,
        keys=list(inputs.index),
        progress=_progress_mode(progress),
        cancellable=not wait,
    )
    if wait:
        return _run_blocking(handle)
    handle._start()
    return handle


def _last_user_text(messages: Sequence[Mapping[str, Any]] | None) -> str:
    for m in reversed(messages or []):
        if m.get("role") == "user" and isinstance(m.get("content"), str):
            return str(m["content"])
    return ""

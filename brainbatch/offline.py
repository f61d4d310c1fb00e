"""Offline batch runs from a DataFrame: write the batch input files, read the answers back.

``export_batch(df, ...)`` writes what ``mode="batch"`` would upload, as files, for a run that
brainbatch does not drive (``vllm run-batch`` on your own GPU, a provider's console, another
machine); ``import_batch_results(paths, df, ...)`` turns the output files into the same
results DataFrame :func:`brainbatch.run` returns. UI-free: the notebook and the CLI both use
it. The file formats are in :mod:`brainbatch.batchapi.files`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from .batchapi.files import BatchFile, read_batch_results, write_batch_files
from .frame import PromptFn, PromptSpec, build_requests, results_frame
from .models import BatchJob, BatchStatus

__all__ = ["BatchFile", "export_batch", "import_batch_results"]


def export_batch(
    df: pd.DataFrame,
    prompt: str | PromptFn,
    model: str,
    path: str | os.PathLike[str],
    *,
    system: str | None = None,
    params: Mapping[str, Any] | None = None,
    custom_id: str | None = None,
    prefix: str = "batch",
    overwrite: bool = False,
    images: str | None = None,
    documents: str | None = None,
    detail: str | None = None,
) -> list[BatchFile]:
    """Write ``df`` as OpenAI batch input files in the folder ``path``, for an offline run.

    The rows become requests exactly as :func:`submit` makes them (same checks, same
    errors), and each line is what ``mode="batch"`` would upload: one model per file, at
    most 50,000 requests and 200 MB each. Run them anywhere that reads OpenAI's batch file
    format (``vllm run-batch -i batch-001-<model>.jsonl -o out-001.jsonl --model ...`` on
    your own GPU, a provider's console), then read the answers back with
    :func:`import_batch_results`.

    ``images=`` / ``documents=`` (columns) and ``detail=`` attach each row's images and PDFs
    as for :func:`submit`: the same checks before anything is written, and each line carries
    the parts batch mode uploads (files are read as their lines are written).

    Returns the files written (path, model, requests, bytes), in row order.

    Raises:
        InputError: a bad row, a ``custom_id`` a batch cannot carry, or files already there
            (``overwrite=True`` replaces them); nothing is written then.
    """
    spec = PromptSpec(
        prompt=prompt,
        model=model,
        system=system,
        params=params,
        custom_id=custom_id,
        images=images,
        documents=documents,
        detail=detail,
    )
    return write_batch_files(build_requests(df, spec), path, prefix=prefix, overwrite=overwrite)


def import_batch_results(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    df: pd.DataFrame,
    prompt: str | PromptFn,
    model: str,
    *,
    system: str | None = None,
    params: Mapping[str, Any] | None = None,
    custom_id: str | None = None,
    columns: Sequence[str] | None = None,
    batch: bool = True,
    expand: bool = False,
) -> pd.DataFrame:
    """The results DataFrame of an offline batch run: ``df`` joined with the output file(s).

    Give the same ``df``, ``prompt``, ``model`` (and ``system``/``params``/``custom_id``)
    as to :func:`export_batch`: the rows are matched on their ``custom_id``. Output files in
    OpenAI's Batch API shape and in vLLM ``run-batch``'s are both read. Answers, tokens and
    finish reasons are parsed as in real time; ``cost_usd`` is the batch price
    (``batch=False``: the real-time price; NaN for a model with no known price, see
    :func:`brainbatch.set_price`). Rows the provider failed have status ``"error"`` with its
    message; rows with no line in the files have status ``"not_run"``.

    Raises:
        InputError: a bad row, an unreadable or malformed file (naming file and line), or a
            line for a row that is not in ``df``.
    """
    requests = build_requests(
        df,
        PromptSpec(prompt=prompt, model=model, system=system, params=params, custom_id=custom_id),
    )
    job = BatchJob(requests, metadata={"imported_from": "batch output files"})
    for result in read_batch_results(paths, requests, batch=batch):
        job.add_result(result)
    job.status = (
        BatchStatus.COMPLETED if job.done == job.total and job.n_error == 0 else BatchStatus.FAILED
    )
    if job.done < job.total:
        job.error = f"{job.total - job.done} rows have no line in the output files"
    return results_frame(job, df, [r.key for r in requests], columns=columns, expand=expand)

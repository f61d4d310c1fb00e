"""Batch files for offline runs: write the provider-ready JSONL, read an output file back.

For a job that runs somewhere brainbatch does not talk to (``vllm run-batch`` on your own
GPU, a provider console, an air-gapped machine), :func:`write_batch_files` writes the same
OpenAI batch input lines :class:`~brainbatch.batchapi.BatchAPIExecutor` would upload, split
the same way (at most 50,000 requests and 200 MB per file, one model per file), and
:func:`read_batch_results` maps the output lines back to results (answers, tokens, batch
price), joined on ``custom_id``.

Output lines are read in the shape OpenAI's Batch API and vLLM's ``run-batch`` both write::

    {"id", "custom_id", "response": {"status_code", "request_id", "body"} | null,
     "error": {"code", "message"} | "text" | null}

Nothing here does network I/O.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..executors import error_result, make_result
from ..models import BatchRequest, BatchResult
from .executor import _wants_json
from .jsonl import (
    OPENAI_LIMITS,
    BatchLimits,
    iter_jsonl,
    openai_line,
    split_batches,
    validate_custom_ids,
)
from .openai import openai_outcome

__all__ = ["BatchFile", "read_batch_results", "write_batch_files"]

ENDPOINT = "/v1/chat/completions"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class BatchFile:
    """One written batch input file: where, which model, how many requests, how big."""

    path: Path
    model: str
    requests: int
    bytes: int


def _provider() -> Any:
    # builds request bodies and parses answers exactly as the online path does; it never
    # opens a connection (the HTTP client is made on first use) and carries no key
    from ..providers.openai import OpenAIProvider

    return OpenAIProvider(base_url="http://127.0.0.1/v1", api_key="")


def write_batch_files(
    requests: Sequence[BatchRequest],
    directory: str | os.PathLike[str],
    *,
    prefix: str = "batch",
    limits: BatchLimits = OPENAI_LIMITS,
    overwrite: bool = False,
) -> list[BatchFile]:
    """Write ``requests`` as OpenAI batch input files in ``directory``.

    Files are named ``{prefix}-{n:03d}-{model}.jsonl`` (the model name made file-safe), one
    model per file, each under ``limits``; lines keep the request order. The bodies are
    byte-for-byte what real-time mode would send.

    Raises:
        InputError: no requests, a ``custom_id`` that is missing, duplicated or longer than
            64 characters, a request larger than a whole file (naming the row), or files of
            that name already there (unless ``overwrite=True``); nothing is written then.
    """
    if not requests:
        raise InputError("no requests to write")
    validate_custom_ids(requests, limits)
    provider = _provider()
    chunks = split_batches(
        enumerate(requests),
        lambda cid, r: openai_line(cid, provider.build_body(r), ENDPOINT),
        limits,
        group=lambda r: r.model,
    )
    folder = Path(directory)
    planned = []
    for n, chunk in enumerate(chunks, start=1):
        model = chunk.model or "mixed"
        name = f"{prefix}-{n:03d}-{_UNSAFE.sub('_', model)[:80]}.jsonl"
        planned.append((folder / name, model, chunk))
    if not overwrite:
        there = [str(p) for p, _, _ in planned if p.exists()]
        if there:
            raise InputError(
                f"batch files already exist: {', '.join(there[:3])}"
                f"{' ...' if len(there) > 3 else ''}; pass overwrite=True (--overwrite) to "
                "replace them"
            )
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path, model, chunk in planned:
        data = chunk.jsonl()
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # never a half-written file under the final name
        written.append(BatchFile(path, model, len(chunk), len(data)))
    return written


def _normalised(line: dict[str, Any]) -> dict[str, Any]:
    """vLLM writes ``error`` as text or ``{"message", "type"}``; OpenAI as ``{"code",
    "message"}``: bring both to OpenAI's."""
    err = line.get("error")
    if isinstance(err, str) and err:
        return {**line, "error": {"code": "error", "message": err}}
    if isinstance(err, dict) and not err.get("code") and err.get("type"):
        return {**line, "error": {**err, "code": err["type"]}}
    return line


def read_batch_results(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    requests: Sequence[BatchRequest],
    *,
    batch: bool = True,
) -> list[BatchResult]:
    """The results in the output file(s) ``paths``, for ``requests`` (joined on
    ``custom_id``, in any order).

    Each success is parsed as real-time mode parses an answer (text, or a dict for JSON
    output; tokens; finish reason) and priced at the batch price (``batch=False``: at the
    real-time price). A line the provider failed is that row's error, with the provider's
    words. Requests with no line get no result. When several lines name one request (output
    files of a re-run), a success wins over an error, else the first line.

    Raises:
        InputError: a file that cannot be read or is not JSON Lines (naming file and line),
            or a line whose ``custom_id`` is not one of ``requests`` (naming both).
    """
    files = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    if not files:
        raise InputError("no output files given")
    by_key = {r.key: r for r in requests}
    provider = _provider()
    chosen: dict[str, BatchResult] = {}
    for file in files:
        path = Path(file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read the batch output file {path}: {exc.strerror}") from None
        try:
            lines = list(iter_jsonl(data, source=str(path)))
        except ValueError as exc:
            raise InputError(str(exc)) from None
        for n, raw in enumerate(lines, start=1):
            cid = raw.get("custom_id")
            request = by_key.get(str(cid)) if cid is not None else None
            if request is None:
                raise InputError(
                    f"{path} line {n}: custom_id {cid!r} is not one of this job's rows "
                    f"(is it the output of another input file?)"
                )
            result = _result(provider, request, _normalised(raw), batch)
            if result is None:
                continue
            before = chosen.get(request.key)
            if before is None or (before.status != "success" and result.status == "success"):
                chosen[request.key] = result
    return [chosen[r.key] for r in requests if r.key in chosen]


def _result(provider: Any, request: BatchRequest, line: dict[str, Any], batch: bool) -> Any:
    out = openai_outcome(line)
    if out.kind == "success" and out.body is not None:
        try:
            resp = provider.parse_response(out.body, batch=batch, json_output=_wants_json(request))
        except Exception as exc:  # a malformed body is that row's error
            return error_result(request, exc, 0.0)
        result = make_result(request, resp, 0.0)
        result.processing_time_ms = None  # an offline run has no latency we know of
        return result
    if out.kind in ("error", "expired"):
        return BatchResult(
            request_id=request.id,
            custom_id=request.custom_id,
            status="error",
            metadata=request.metadata,
            error=out.error or out.kind,
            error_type=out.error_type or out.kind,
            model=request.model,
        )
    return None  # cancelled before it ran: no result, nothing was paid

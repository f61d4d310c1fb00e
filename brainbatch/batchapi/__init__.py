"""Native provider batch APIs: OpenAI Batch, Anthropic Message Batches and Gemini Batch Mode
(half price).

:class:`BatchAPIExecutor` runs a job through them with the same contract as every executor;
:mod:`~brainbatch.batchapi.jsonl` builds, validates, splits and parses the files;
:mod:`~brainbatch.batchapi.records` holds the typed record of each provider batch
(:class:`ProviderBatch`, in ``job.metadata["provider_batches"]``).
"""

from .anthropic import AnthropicBatchBackend
from .base import BatchBackend, Outcome, WireProvider
from .executor import BatchAPIExecutor, backend_for, batch_progress, enqueued_tokens
from .gemini import GEMINI_LIMITS, GEMINI_STATES, GeminiBatchBackend
from .hosts import BATCH_HOSTS, BatchHost, batch_host, host_for_url
from .jsonl import (
    ANTHROPIC_LIMITS,
    CUSTOM_ID_MAX_CHARS,
    OPENAI_LIMITS,
    BatchLimits,
    Chunk,
    custom_id_of,
    iter_jsonl,
    split_batches,
    validate_custom_ids,
)
from .openai import OPENAI_STATES, OpenAIBatchBackend
from .records import (
    NOT_SUBMITTED,
    SUBMITTING,
    TOKEN_LIMIT_EXCEEDED,
    ProviderBatch,
    RequestCounts,
)

__all__ = [
    "ANTHROPIC_LIMITS",
    "BATCH_HOSTS",
    "CUSTOM_ID_MAX_CHARS",
    "GEMINI_LIMITS",
    "GEMINI_STATES",
    "NOT_SUBMITTED",
    "OPENAI_LIMITS",
    "OPENAI_STATES",
    "SUBMITTING",
    "TOKEN_LIMIT_EXCEEDED",
    "AnthropicBatchBackend",
    "BatchAPIExecutor",
    "BatchBackend",
    "BatchHost",
    "BatchLimits",
    "Chunk",
    "GeminiBatchBackend",
    "OpenAIBatchBackend",
    "Outcome",
    "ProviderBatch",
    "RequestCounts",
    "WireProvider",
    "backend_for",
    "batch_host",
    "batch_progress",
    "custom_id_of",
    "enqueued_tokens",
    "host_for_url",
    "iter_jsonl",
    "split_batches",
    "validate_custom_ids",
]

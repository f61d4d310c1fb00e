"""Native provider batch APIs: OpenAI Batch and Anthropic Message Batches (half price).

:class:`BatchAPIExecutor` runs a job through them with the same contract as every executor;
:mod:`~brainbatch.batchapi.jsonl` builds, validates, splits and parses the files.
"""

from .anthropic import AnthropicBatchBackend
from .base import BatchBackend, Outcome, WireProvider
from .executor import BatchAPIExecutor, backend_for, batch_progress
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

__all__ = [
    "ANTHROPIC_LIMITS",
    "CUSTOM_ID_MAX_CHARS",
    "OPENAI_LIMITS",
    "OPENAI_STATES",
    "AnthropicBatchBackend",
    "BatchAPIExecutor",
    "BatchBackend",
    "BatchLimits",
    "Chunk",
    "OpenAIBatchBackend",
    "Outcome",
    "WireProvider",
    "backend_for",
    "batch_progress",
    "custom_id_of",
    "iter_jsonl",
    "split_batches",
    "validate_custom_ids",
]

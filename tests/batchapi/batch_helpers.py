"""Helpers for the native Batch API tests (import as ``from batch_helpers import ...``).

``accepted(job)``: the job's provider batches the provider answered for (they have an id).
``at_rest(metadata)``: ``job.metadata`` as a journal keeps it (JSON; records as dicts).
"""

from __future__ import annotations

from typing import Any

import orjson

from brainbatch import BatchJob
from brainbatch.batchapi import ProviderBatch


def accepted(job: BatchJob) -> list[ProviderBatch]:
    return [r for r in job.metadata.get("provider_batches") or [] if r.batch_id]


def at_rest(metadata: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = orjson.loads(
        orjson.dumps(
            metadata,
            option=orjson.OPT_PASSTHROUGH_DATACLASS,
            default=lambda o: o.to_dict(),
        )
    )
    return out

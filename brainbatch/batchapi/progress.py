"""``job.metadata["batch_progress"]``: what a progress display shows for a batch job."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ..models import BatchJob
from .records import NOT_SUBMITTED, ProviderBatch

__all__ = ["batch_progress"]


def batch_progress(
    provider: str,
    records: Sequence[ProviderBatch],
    job: BatchJob | None = None,
    queued: int = 0,
) -> dict[str, Any]:
    """What a progress display shows for a batch job (``job.metadata["batch_progress"]``).

    Fields: ``provider``; ``batches`` (provider batches so far, intents included) and
    ``active`` (not yet collected); ``queued`` (batches waiting to be submitted, e.g. for
    the enqueued-token limit); ``statuses`` (provider status -> number of batches;
    ``"submitting"`` for an intent not answered yet); ``submitted`` (requests sent);
    ``completed`` / ``failed`` (the provider's request counts); ``counts_live`` (True when
    those counts move while the batch runs: OpenAI); ``collected`` (results recorded in the
    job); ``elapsed_s`` since the first batch was created; ``window_s`` (to the latest
    ``expires_at``), ``window_used`` (0..1) and ``expires_at`` (ISO 8601, UTC);
    ``updated_at`` (Unix seconds); ``per_batch``: one dict per provider batch (``part``,
    ``batch_id``, ``model``, ``status``, ``requests``, ``completed``, ``failed``,
    ``counts_live``, ``elapsed_s``, ``window_s``, ``expires_at``, ``collected``), so a display
    can show each batch's state and counts (for Anthropic, elapsed against expiry).

    With ``counts_live`` False (Anthropic: its counts only move when a batch ends) show
    ``elapsed_s`` against ``window_s`` / ``expires_at``, not a percentage.
    """
    now = time.time()
    batches = [r for r in records if r.state != NOT_SUBMITTED and not r.resubmitted]
    statuses: dict[str, int] = {}
    for r in batches:
        word = r.status or r.state
        statuses[word] = statuses.get(word, 0) + 1
    created = [r.created_at for r in batches if r.created_at]
    expires = [r.expires_at for r in batches if r.expires_at]
    start = min(created) if created else None
    end = max(expires) if expires else None
    elapsed = now - start if start is not None else 0.0
    window = end - start if start is not None and end is not None else None
    accepted = [r for r in batches if r.batch_id is not None]
    return {
        "provider": provider,
        "batches": len(batches),
        "active": sum(1 for r in batches if not r.collected),
        "queued": queued,
        "statuses": statuses,
        "submitted": sum(r.n_requests for r in accepted),
        "completed": sum(r.counts.completed for r in accepted),
        "failed": sum(r.counts.failed for r in accepted),
        "counts_live": bool(accepted) and all(r.counts.live for r in accepted),
        "collected": job.done if job is not None else None,
        "elapsed_s": round(elapsed, 3),
        "window_s": window,
        "window_used": round(min(1.0, elapsed / window), 6) if window else None,
        "expires_at": datetime.fromtimestamp(end, UTC).isoformat() if end else None,
        "updated_at": now,
        "per_batch": [_one(r, now) for r in batches],
    }


def _one(r: ProviderBatch, now: float) -> dict[str, Any]:
    start = r.created_at or r.submitted_at
    end = r.ended_at if r.ended and r.ended_at else now
    return {
        "part": r.part,
        "batch_id": r.batch_id,
        "model": r.model,
        "status": r.status or r.state,
        "requests": r.n_requests,
        "completed": r.counts.completed,
        "failed": r.counts.failed,
        "counts_live": r.counts.live,
        "elapsed_s": round(max(0.0, end - start), 3) if start else None,
        "window_s": (r.expires_at - r.created_at) if r.expires_at and r.created_at else None,
        "expires_at": (
            datetime.fromtimestamp(r.expires_at, UTC).isoformat() if r.expires_at else None
        ),
        "collected": r.collected,
    }

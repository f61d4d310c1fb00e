"""``job.metadata["batch_progress"]``: what a progress display shows for a batch job."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from ..models import BatchJob

__all__ = ["batch_progress"]


def batch_progress(
    provider: str, entries: list[dict[str, Any]], job: BatchJob | None = None
) -> dict[str, Any]:
    """What a progress display shows for a batch job (``job.metadata["batch_progress"]``).

    Fields: ``provider``; ``batches`` (provider batches so far) and ``active`` (not yet
    collected); ``statuses`` (provider status -> number of batches); ``submitted``
    (requests sent); ``completed`` / ``failed`` (the provider's request counts);
    ``counts_live`` (True when those counts move while the batch runs: OpenAI);
    ``collected`` (results recorded in the job); ``elapsed_s`` since the first batch was
    created; ``window_s`` (to the latest ``expires_at``), ``window_used`` (0..1) and
    ``expires_at`` (ISO 8601, UTC); ``updated_at`` (Unix seconds).

    With ``counts_live`` False (Anthropic: its counts only move when a batch ends) show
    ``elapsed_s`` against ``window_s`` / ``expires_at``, not a percentage.
    """
    now = time.time()
    statuses: dict[str, int] = {}
    for e in entries:
        statuses[str(e.get("status"))] = statuses.get(str(e.get("status")), 0) + 1
    created = [e["created_at"] for e in entries if e.get("created_at")]
    expires = [e["expires_at"] for e in entries if e.get("expires_at")]
    start = min(created) if created else None
    end = max(expires) if expires else None
    elapsed = now - start if start is not None else 0.0
    window = end - start if start is not None and end is not None else None
    counts = [e.get("counts") or {} for e in entries]
    return {
        "provider": provider,
        "batches": len(entries),
        "active": sum(1 for e in entries if not e.get("collected")),
        "statuses": statuses,
        "submitted": sum(int(e.get("n_requests") or 0) for e in entries),
        "completed": sum(int(c.get("completed") or 0) for c in counts),
        "failed": sum(int(c.get("failed") or 0) for c in counts),
        "counts_live": bool(entries) and all(c.get("live") for c in counts),
        "collected": job.done if job is not None else None,
        "elapsed_s": round(elapsed, 3),
        "window_s": window,
        "window_used": round(min(1.0, elapsed / window), 6) if window else None,
        "expires_at": datetime.fromtimestamp(end, UTC).isoformat() if end else None,
        "updated_at": now,
    }

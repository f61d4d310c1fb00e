"""Build, validate, split and parse the files the providers' batch APIs exchange.

Everything here is pure (no I/O) so it can be checked before any money is spent.

**custom_id.** Every request in a provider batch needs a ``custom_id``, the only key results
are joined on (providers do not keep the input order). brainbatch sends
:attr:`BatchRequest.key <brainbatch.models.BatchRequest.key>`: the request's own ``custom_id``
when it has one, otherwise its ``id`` (a 36-character UUID by default). Keys must be unique in
the job and at most 64 characters; Anthropic also allows only ``A-Z a-z 0-9 _ -``.

**Limits.** OpenAI takes at most 50,000 requests and 200 MB per input file, Anthropic
100,000 requests or 256 MB per batch; :func:`split_batches` cuts a job into as many provider
batches as needed, each under both limits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import InputError
from ..models import BatchRequest

__all__ = [
    "ANTHROPIC_LIMITS",
    "CUSTOM_ID_MAX_CHARS",
    "OPENAI_LIMITS",
    "BatchLimits",
    "Chunk",
    "custom_id_of",
    "iter_jsonl",
    "openai_line",
    "ranges_to_rows",
    "rows_to_ranges",
    "split_batches",
    "validate_custom_ids",
]

CUSTOM_ID_MAX_CHARS = 64
"""The longest ``custom_id`` Anthropic (and several OpenAI-compatible servers) accept."""

_ANTHROPIC_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """What one provider batch may hold.

    ``max_bytes`` counts the encoded requests (JSONL lines with their newlines for OpenAI;
    the JSON request body for Anthropic). ``id_pattern``, when set, is a regular expression
    every ``custom_id`` must match in full.
    """

    max_requests: int
    max_bytes: int
    id_pattern: re.Pattern[str] | None = None
    provider: str = "provider"


# Sizes in decimal megabytes (the stricter reading of "200 MB" / "256 MB"); Anthropic's
# leaves room for the ``{"requests":[...]}`` wrapper around the requests.
OPENAI_LIMITS = BatchLimits(50_000, 200_000_000, None, "OpenAI")
ANTHROPIC_LIMITS = BatchLimits(100_000, 256_000_000 - 64, _ANTHROPIC_ID, "Anthropic")


def custom_id_of(request: BatchRequest) -> str:
    """The ``custom_id`` sent for ``request``: its own ``custom_id``, else its ``id``."""
    return request.key


def validate_custom_ids(
    requests: Sequence[BatchRequest], limits: BatchLimits, rows: Sequence[int] | None = None
) -> dict[str, int]:
    """Check every request's ``custom_id``; returns ``{custom_id: row}``.

    ``rows`` are the row numbers to name in errors (default: positions in ``requests``).

    Raises:
        InputError: naming the row, for an empty, too long, badly formed or repeated id.
    """
    seen: dict[str, int] = {}
    pattern = limits.id_pattern
    for pos, request in enumerate(requests):
        row = rows[pos] if rows is not None else pos
        cid = request.key
        if not cid:
            raise InputError(f"request #{row}: custom_id is empty")
        if len(cid) > CUSTOM_ID_MAX_CHARS:
            raise InputError(
                f"request #{row}: custom_id {cid[:20]!r}... is {len(cid)} characters; "
                f"batch APIs accept at most {CUSTOM_ID_MAX_CHARS}"
            )
        if pattern is not None and pattern.fullmatch(cid) is None:
            raise InputError(
                f"request #{row}: custom_id {cid!r} has characters {limits.provider} refuses; "
                "use only letters, digits, '_' and '-'"
            )
        first = seen.setdefault(cid, row)
        if first != row:
            raise InputError(
                f"requests #{first} and #{row} share the custom_id {cid!r}; "
                "batch results are joined on custom_id, so it must be unique "
                "(a request without custom_id uses its id)"
            )
    return seen


def openai_line(custom_id: str, body: dict[str, Any], url: str = "/v1/chat/completions") -> bytes:
    """One OpenAI batch input line (without the newline)."""
    return orjson.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": body})


@dataclass(slots=True)
class Chunk:
    """The requests of one provider batch, already encoded.

    ``rows`` are the job's request indexes, ``lines`` the encoded requests (one per row,
    same order), ``nbytes`` their size with one separator byte each.
    """

    rows: list[int] = field(default_factory=list)
    custom_ids: list[str] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)
    nbytes: int = 0

    def __len__(self) -> int:
        return len(self.rows)

    def jsonl(self) -> bytes:
        """The OpenAI input file: one line per request, newline-terminated."""
        return b"\n".join(self.lines) + b"\n"

    def json_requests(self) -> bytes:
        """The Anthropic create body: ``{"requests": [...]}``."""
        return b'{"requests":[' + b",".join(self.lines) + b"]}"


def split_batches(
    items: Iterable[tuple[int, BatchRequest]],
    encode: Callable[[str, BatchRequest], bytes],
    limits: BatchLimits,
) -> list[Chunk]:
    """Encode ``(row, request)`` pairs and cut them into chunks under ``limits``.

    ``encode(custom_id, request)`` returns one request's bytes. Chunks keep the input order.

    Raises:
        InputError: naming the row, when one request alone is larger than a whole batch.
    """
    chunks: list[Chunk] = []
    current = Chunk()
    max_n, max_b = limits.max_requests, limits.max_bytes
    for row, request in items:
        cid = request.key
        line = encode(cid, request)
        size = len(line) + 1
        if size > max_b:
            raise InputError(
                f"request #{row} (custom_id {cid!r}) encodes to {size:,} bytes; a "
                f"{limits.provider} batch holds at most {max_b:,} bytes"
            )
        if current.rows and (len(current.rows) >= max_n or current.nbytes + size > max_b):
            chunks.append(current)
            current = Chunk()
        current.rows.append(row)
        current.custom_ids.append(cid)
        current.lines.append(line)
        current.nbytes += size
    if current.rows:
        chunks.append(current)
    return chunks


def iter_jsonl(data: bytes, *, source: str = "file") -> Iterator[dict[str, Any]]:
    """Parse JSON Lines; blank lines are skipped.

    Raises:
        ValueError: naming the line number of a line that is not a JSON object.
    """
    for n, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"{source} line {n} is not valid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise ValueError(f"{source} line {n} is not a JSON object")
        yield obj


def rows_to_ranges(rows: Iterable[int]) -> list[list[int]]:
    """Compress sorted row numbers into ``[start, stop)`` ranges (compact for a journal)."""
    out: list[list[int]] = []
    for r in rows:
        if out and out[-1][1] == r:
            out[-1][1] = r + 1
        else:
            out.append([r, r + 1])
    return out


def ranges_to_rows(ranges: Iterable[Sequence[int]]) -> Iterator[int]:
    """The row numbers in ``[start, stop)`` ranges."""
    for start, stop in ranges:
        yield from range(start, stop)

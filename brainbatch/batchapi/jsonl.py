"""Build, validate, split and parse the files the providers' batch APIs exchange.

Everything here is pure (no I/O) so it can be checked before any money is spent.

**custom_id.** Every request in a provider batch needs a ``custom_id``, the only key results
are joined on (providers do not keep the input order). brainbatch sends
:attr:`BatchRequest.key <brainbatch.models.BatchRequest.key>`: the request's own ``custom_id``
when it has one, otherwise its ``id`` (a 36-character UUID by default). Keys must be unique in
the job and at most 64 characters; Anthropic also allows only ``A-Z a-z 0-9 _ -``.

**Limits.** OpenAI takes at most 50,000 requests and 200 MB per input file, all for one
model, Anthropic 100,000 requests or 256 MB per batch (models may mix); :func:`split_batches`
cuts a job into as many provider batches as needed, each under both limits, one model per
batch where the provider needs it, and under an enqueued-token cap per model when one is set.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
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
    same order), ``nbytes`` their size with one separator byte each, ``models`` each row's
    model and ``row_tokens`` each row's estimated enqueued tokens (empty when no
    enqueued-token limit asked for them; 0 for a model without a limit).
    """

    rows: list[int] = field(default_factory=list)
    custom_ids: list[str] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)
    nbytes: int = 0
    models: list[str] = field(default_factory=list)
    row_tokens: list[int] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=dict)
    """Estimated enqueued tokens by model (empty when not counted)."""

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, row: int, custom_id: str, line: bytes, model: str, tokens: int | None) -> None:
        """Append one encoded request."""
        self.rows.append(row)
        self.custom_ids.append(custom_id)
        self.lines.append(line)
        self.nbytes += len(line) + 1
        self.models.append(model)
        if tokens is not None:
            self.row_tokens.append(tokens)
            self.tokens[model] = self.tokens.get(model, 0) + tokens

    @property
    def model(self) -> str | None:
        """The model of every request, or None when they mix models."""
        first = self.models[0] if self.models else None
        return first if all(m == first for m in self.models) else None

    def halves(self) -> list[Chunk]:
        """The first and the second half of the rows, as two chunks (one if it has one row)."""
        if len(self) < 2:
            return [self]
        mid = len(self) // 2
        out = []
        for part in (slice(0, mid), slice(mid, None)):
            c = Chunk()
            counted = len(self.row_tokens) == len(self.rows)
            for i in range(len(self))[part]:
                c.add(
                    self.rows[i],
                    self.custom_ids[i],
                    self.lines[i],
                    self.models[i],
                    self.row_tokens[i] if counted else None,
                )
            out.append(c)
        return out

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
    *,
    group: Callable[[BatchRequest], Hashable] | None = None,
    tokens: Callable[[BatchRequest], int | None] | None = None,
    token_limit: Callable[[str], int | None] | None = None,
) -> list[Chunk]:
    """Encode ``(row, request)`` pairs and cut them into chunks under ``limits``.

    ``encode(custom_id, request)`` returns one request's bytes. ``group(request)``, when
    given, keeps requests with different keys in different chunks (OpenAI: one model per
    input file); chunks come in the order they were started and keep the input order
    inside. ``tokens(request)`` estimates a request's enqueued tokens and
    ``token_limit(model)`` caps them per model in one chunk (None: no cap).

    Raises:
        InputError: naming the row, when one request alone is larger than a whole batch,
            or alone over its model's token cap.
    """
    chunks: list[Chunk] = []
    current: dict[Hashable, Chunk] = {}
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
        model = request.model
        cap = token_limit(model) if token_limit is not None else None
        n_tokens = None
        if tokens is not None:  # rows of a model without a cap count 0
            n_tokens = (tokens(request) or 0) if cap is not None else 0
        if cap is not None and n_tokens is not None and n_tokens > cap:
            raise InputError(
                f"request #{row} (custom_id {cid!r}) alone is about {n_tokens:,} tokens "
                f"(prompt + max output), over the enqueued-token limit of {cap:,} for "
                f"{model!r}; lower its max_tokens or raise max_enqueued_tokens"
            )
        key = group(request) if group is not None else None
        chunk = current.get(key)
        if chunk is None:
            chunk = current[key] = Chunk()
            chunks.append(chunk)
        over_tokens = (
            n_tokens is not None and cap is not None and chunk.tokens.get(model, 0) + n_tokens > cap
        )
        if chunk.rows and (len(chunk) >= max_n or chunk.nbytes + size > max_b or over_tokens):
            chunk = current[key] = Chunk()
            chunks.append(chunk)
        chunk.add(row, cid, line, model, n_tokens)
    return [c for c in chunks if c.rows]


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

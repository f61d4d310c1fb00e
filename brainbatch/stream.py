"""Tables larger than memory: a file of rows in, chunk by chunk, a Parquet dataset out.

``bb.run("big.parquet", prompt=..., model=..., out="results/")`` (and ``bb.submit``, and
``brainbatch run big.parquet --out results/``) never hold the job in memory. The input (a
Parquet, CSV or JSON Lines file, a folder of Parquet files, a ``pyarrow.dataset.Dataset`` or
an iterable of DataFrames) is read with pyarrow in chunks of ``chunk_size`` rows; each chunk is
an ordinary job (the same row checks, journal, limits, budget and cache as a DataFrame job),
and its results are written to the output folder as one Parquet file when the chunk is done.
Memory depends on ``chunk_size`` and the concurrency, not on the number of rows.

Rows are numbered from 0 in input order; the number is the row's id (its ``custom_id``) unless
``custom_id=`` names a column, and chunk ``k`` is always rows ``k*chunk_size`` to
``(k+1)*chunk_size - 1``. The output folder holds:

* ``_brainbatch.json``: what the stream is (name, chunk size, source, total, prompt settings),
  written once; a later run into the same folder must match it;
* ``part-<k>.parquet``: chunk ``k``'s rows in input order: a ``row`` column (the row number),
  the input columns, then the result columns of :func:`brainbatch.frame.results_frame`.

The commit protocol, which gives every row exactly once in the output and never pays twice:

1. a chunk's results are journaled in the store as they arrive (stored job ``<name>.<k>``,
   a kill loses only the requests in flight);
2. when every row of the chunk has a result, ``part-<k>.parquet`` is written to a hidden
   temporary file, flushed to disk and renamed into place (atomic), with
   ``complete=true`` in its metadata;
3. then the chunk's stored job is deleted (the part file is now the record).

A cancel (or a stopped budget) writes the rows the chunk finished as ``part-<k>.parquet``
with ``complete=false``. A run into an existing folder skips complete parts, deletes stored
chunk jobs left over from a kill between steps 2 and 3, and continues at the first chunk
without a complete part, from its journal: rows with a result there are not sent again, and
its part file is replaced. Files whose name starts with ``.`` or ``_`` are ignored by
``pyarrow.dataset`` and pandas, so ``pd.read_parquet("results/")`` reads the results alone.
One run writes a folder at a time (an exclusive lock on ``_brainbatch.lock``).

Before anything is sent the whole input is read once (bounded memory) and every row checked
as for a DataFrame (``check="all"``, the default); ``check="chunk"`` checks each chunk just
before it is sent instead (one pass over the input; a bad row then stops the run at its
chunk, after the chunks before it are done). An iterable of DataFrames can be read once only:
it is checked chunk by chunk and its total is not known in advance.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
import orjson
import pandas as pd

from .budget import require_answer_caps
from .errors import InputError
from .frame import MODEL_COLUMN_PREFIX, PromptSpec, build_requests, results_frame
from .models import BatchJob, BatchRequest, BatchResult, BatchStatus
from .runner import JobRunner, RunSettings
from .session import RUN_OVERRIDES, _reset_unpaid_errors, check_provider, claim, open_store

if TYPE_CHECKING:
    import pyarrow.dataset as ds

    from .store import JobStore, Lease

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_OPEN_BATCH_CHUNKS",
    "MANIFEST",
    "Check",
    "StreamJob",
    "StreamResult",
    "StreamRun",
    "StreamSource",
    "is_stream_source",
    "prepare_stream",
    "resume_stream",
]

DEFAULT_CHUNK_SIZE = 10_000
"""Rows per chunk when ``chunk_size`` is not given: about 25 MB of requests and results."""

DEFAULT_OPEN_BATCH_CHUNKS = 4
"""mode="batch": chunks whose provider batches are open at once (memory: this many chunks)."""

MANIFEST = "_brainbatch.json"
"""The output folder's description of its stream (ignored by Parquet readers: leading ``_``)."""

LOCK = "_brainbatch.lock"
PART_META_KEY = b"brainbatch"
FORMAT_VERSION = 1
Check = Literal["all", "chunk"]

StreamSource: TypeAlias = "str | os.PathLike[str] | Iterable[pd.DataFrame] | pd.DataFrame | Any"
"""What can be streamed: a path (.parquet, .csv, .jsonl, a folder of Parquet files), a
``pyarrow.dataset.Dataset`` or ``Table``, an iterable of DataFrames, or a DataFrame."""

_RECENT_CHUNKS = 8
"""Chunks whose requests a stream can still look up (more than the chunks open at once)."""

_FILE_TYPES = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError:  # pragma: no cover - pyarrow is installed wherever tests run
        raise InputError("streamed input and out= need pyarrow (pip install pyarrow)") from None
    return pyarrow


def is_stream_source(source: Any) -> bool:
    """True for what :func:`prepare_stream` reads (a path, a pyarrow dataset, an iterable of
    DataFrames); False for a DataFrame (run in memory)."""
    if isinstance(source, pd.DataFrame):
        return False
    if isinstance(source, str | os.PathLike):
        return True
    if type(source).__module__.startswith("pyarrow"):
        return True
    return isinstance(source, Iterable)


# -- reading the input ----------------------------------------------------------------------------


@dataclass
class _Source:
    """An opened input: where it is, its columns, its row count if known, its chunks."""

    label: str
    kind: str  # parquet, csv, jsonl, dataset, frames
    total: int | None
    open_batches: Callable[[int], Iterator[Any]] | None  # first row -> arrow record batches
    frames: Callable[[], Iterator[pd.DataFrame]] | None = None  # DataFrames, not arrow
    schema: Any = None  # pyarrow.Schema of the input, when known before reading
    once: bool = False

    def chunks(self, chunk_size: int, first_chunk: int = 0) -> Iterator[tuple[int, pd.DataFrame]]:
        """``(k, frame)`` for every chunk from ``first_chunk`` on; each frame's index is its
        rows' numbers in the input."""
        start = first_chunk * chunk_size
        if self.frames is not None:
            pieces: Iterator[pd.DataFrame] = self.frames()
            skip = start
        else:
            assert self.open_batches is not None
            pieces = (b.to_pandas() for b in self.open_batches(start) if b.num_rows)
            skip = 0
        k = first_chunk
        buf: list[pd.DataFrame] = []
        have = 0
        for piece in pieces:
            if not isinstance(piece, pd.DataFrame):
                raise InputError(f"{self.label}: expected DataFrames, got a {type(piece).__name__}")
            if skip:
                if len(piece) <= skip:
                    skip -= len(piece)
                    continue
                piece, skip = piece.iloc[skip:], 0
            buf.append(piece)
            have += len(piece)
            while have >= chunk_size:
                frame, buf, have = _split(buf, chunk_size)
                yield k, _numbered(frame, k * chunk_size)
                k += 1
        if have:
            frame, _, _ = _split(buf, have)
            yield k, _numbered(frame, k * chunk_size)


def _split(buf: list[pd.DataFrame], n: int) -> tuple[pd.DataFrame, list[pd.DataFrame], int]:
    """The first ``n`` rows of the buffered pieces, and what is left."""
    whole = buf[0] if len(buf) == 1 else pd.concat(buf, ignore_index=True)
    head, rest = whole.iloc[:n], whole.iloc[n:]
    return head, ([rest] if len(rest) else []), len(rest)


def _numbered(frame: pd.DataFrame, first_row: int) -> pd.DataFrame:
    frame = frame.copy(deep=False)
    frame.index = pd.RangeIndex(first_row, first_row + len(frame))
    return frame


def _open_source(source: Any) -> _Source:
    """Open ``source`` for reading in chunks.

    Raises:
        InputError: no such file, unknown file type, unreadable file; naming the file.
    """
    pa = _pyarrow()
    if isinstance(source, str | os.PathLike):
        return _open_path(Path(os.fspath(source)))
    import pyarrow.dataset as pads

    if isinstance(source, pads.Dataset):
        dataset = source

        def dataset_batches(first_row: int) -> Iterator[Any]:
            return _skip_rows(dataset.to_batches(), first_row)

        try:
            total = dataset.count_rows()
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"the dataset cannot be read: {_reason(exc)}") from None
        return _Source("the dataset", "dataset", total, dataset_batches, schema=dataset.schema)
    if isinstance(source, pa.Table | pa.RecordBatch):
        table = source

        def table_batches(first_row: int) -> Iterator[Any]:
            return iter(table.slice(first_row).to_batches())

        return _Source("the table", "table", table.num_rows, table_batches, schema=table.schema)
    if isinstance(source, pd.DataFrame):
        frame = source
        return _Source("the DataFrame", "frame", len(frame), None, frames=lambda: iter([frame]))
    if isinstance(source, Iterable) and not isinstance(source, bytes):
        pieces = iter(source)
        return _Source(
            "the DataFrame iterator", "frames", None, None, frames=lambda: pieces, once=True
        )
    raise InputError(
        f"cannot stream a {type(source).__name__}: give a path (.parquet, .csv, .jsonl, or a "
        "folder of Parquet files), a pyarrow dataset or an iterable of DataFrames"
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _skip_rows(batches: Iterable[Any], first_row: int) -> Iterator[Any]:
    skip = first_row
    for batch in batches:
        if skip >= batch.num_rows:
            skip -= batch.num_rows
            continue
        yield batch.slice(skip) if skip else batch
        skip = 0


def _open_path(path: Path) -> _Source:
    pa = _pyarrow()
    label = str(path)
    if path.is_dir():
        import pyarrow.dataset as pads

        try:
            dataset = pads.dataset(path, format="parquet")
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise InputError(f"{label!r} cannot be read as Parquet: {_reason(exc)}") from None
        source = _open_source(dataset)
        source.label, source.kind = label, "parquet"
        return source
    kind = _FILE_TYPES.get(path.suffix.lower())
    if kind is None:
        raise InputError(
            f"{label!r}: unknown file type {path.suffix or '(no extension)'!r}; use .parquet, "
            ".csv or .jsonl (or a folder of Parquet files)"
        )
    if not path.is_file():
        raise InputError(f"{label!r}: no such file")
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            meta = pq.ParquetFile(path)
            schema = meta.schema_arrow
            total = meta.metadata.num_rows
            sizes = [meta.metadata.row_group(g).num_rows for g in range(meta.num_row_groups)]
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{label!r} cannot be read as parquet: {_reason(exc)}") from None

        def parquet_batches(first_row: int) -> Iterator[Any]:
            # start at the row group holding first_row: a resume does not read what is done
            group, skip = 0, first_row
            while group < len(sizes) and skip >= sizes[group]:
                skip -= sizes[group]
                group += 1
            if group >= len(sizes):
                return iter(())
            file = pq.ParquetFile(path)
            batches = file.iter_batches(
                batch_size=65_536, row_groups=list(range(group, len(sizes)))
            )
            return _skip_rows(batches, skip)

        return _Source(label, kind, total, parquet_batches, schema=schema)

    def text_batches(first_row: int) -> Iterator[Any]:
        return _skip_rows(_text_reader(path, kind), first_row)

    return _Source(label, kind, None, text_batches)


def _text_reader(path: Path, kind: str) -> Iterator[Any]:
    import pyarrow.csv as pacsv
    import pyarrow.json as pajson

    block = 4 << 20
    if kind == "csv":
        return iter(
            pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(block_size=block),
                # empty fields are missing values, as pandas reads them (and refuses them)
                convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
            )
        )
    return iter(pajson.open_json(path, read_options=pajson.ReadOptions(block_size=block)))


def _read_errors() -> tuple[type[BaseException], ...]:
    pa = _pyarrow()
    return (pa.ArrowException, OSError, ValueError, UnicodeDecodeError)


# -- the aggregate job the panel shows ------------------------------------------------------------


class StreamJob(BatchJob):
    """A streamed job as one job for progress views: the counts of every chunk so far.

    It holds no requests or results (the chunks do, one at a time); :attr:`total` is the
    input's row count when known (else the rows read so far), :attr:`done` the rows with a
    result, including those done by earlier runs. ``request_cancel`` stops the chunk that
    runs and the stream.
    """

    def __init__(self, name: str, total: int | None) -> None:
        super().__init__(requests=[], metadata={"job_name": name, "stream": True})
        self.known_total = total
        self.rows_read = 0
        self._done = 0
        self.done_before = 0
        """Rows that had a result before this run (complete parts, journaled rows)."""
        self._chunks: deque[BatchJob] = deque(maxlen=_RECENT_CHUNKS)
        self._row_listeners: list[Callable[[BatchResult], None]] = []

    def add_row_listener(self, fn: Callable[[BatchResult], None]) -> None:
        """Call ``fn(result)`` for each row result of every chunk from now on (the panel's
        monitor). ``add_listener`` stays the stream record's own: it records no rows."""
        self._row_listeners.append(fn)

    def remove_row_listener(self, fn: Callable[[BatchResult], None]) -> None:
        if fn in self._row_listeners:
            self._row_listeners.remove(fn)

    def follow(self, chunk: BatchJob) -> None:
        """A chunk starts: its results count for the stream, and its requests can be looked
        up (:meth:`get_request`) while it and the few chunks before it are recent."""
        self._chunks.append(chunk)
        chunk.add_listener(self.count)

    def unfollow(self, chunk: BatchJob) -> None:
        chunk.remove_listener(self.count)

    def get_request(self, request_id: str) -> BatchRequest | None:
        """The request of a recent chunk (what the panel's latest answers show), else None:
        the stream keeps no requests of its own."""
        for chunk in reversed(self._chunks):
            found = chunk.get_request(request_id)
            if found is not None:
                return found
        return None

    @property
    def total(self) -> int:
        return self.known_total if self.known_total is not None else self.rows_read

    @property
    def done(self) -> int:
        return self._done

    @property
    def progress(self) -> float:
        return self._done / self.total if self.total else 1.0

    @property
    def pending_requests(self) -> int:
        return max(0, self.total - self._done)

    def count(self, result: BatchResult) -> None:
        """Add one result of a chunk (a chunk job's listener)."""
        self._done += 1
        if result.status == "success":
            self.n_success += 1
        else:
            self.n_error += 1
        if result.cached:
            self.n_cached += 1
        cost = result.cost_usd
        if cost is not None and cost == cost:
            self.cost_usd += cost
            if not result.cached:
                self.paid_usd += cost
        self.input_tokens += result.input_tokens or 0
        self.output_tokens += result.output_tokens or 0
        for listener in self._row_listeners:  # the panel's monitor: latest answers, errors, chart
            listener(result)

    def count_part(self, meta: Mapping[str, Any]) -> None:
        """Add the counts a committed part file recorded (a chunk done by an earlier run)."""
        self._done += int(meta["done"])
        self.done_before += int(meta["done"])
        self.n_success += int(meta["succeeded"])
        self.n_error += int(meta["failed"])
        self.n_cached += int(meta.get("cached", 0))
        self.cost_usd += float(meta["cost_usd"])
        self.paid_usd += float(meta["paid_usd"])
        self.input_tokens += int(meta.get("input_tokens", 0))
        self.output_tokens += int(meta.get("output_tokens", 0))

    def counts(self) -> dict[str, Any]:
        """The counts ``brainbatch jobs`` / ``bb.jobs()`` show for the stream (its stored
        record holds no rows: they are in the chunks and the part files)."""
        return {
            "total": self.total,
            "done": self._done,
            "succeeded": self.n_success,
            "failed": self.n_error,
            "cached": self.n_cached,
            "cost_usd": self.cost_usd,
            "paid_usd": self.paid_usd,
        }

    def __repr__(self) -> str:
        return (
            f"StreamJob(name={self.metadata['job_name']!r}, status={self.status.value}, "
            f"done={self.done}/{self.total}, ok={self.n_success}, errors={self.n_error})"
        )


@dataclass(frozen=True)
class StreamResult:
    """How a streamed run ended, and where its results are.

    Attributes:
        out: the output folder (a Parquet dataset: ``pd.read_parquet(out)``).
        name: the stream's name (its chunks are stored as ``<name>.<k>`` while they run).
        status: completed (every row succeeded), failed (some rows failed), cancelled.
        total, done, succeeded, failed: row counts (``done`` rows are in the output).
        cost_usd, paid_usd: what the rows cost, and what was paid (not served from cache).
        error: why the run stopped early, if it did.
    """

    out: Path
    name: str
    status: BatchStatus
    total: int
    done: int
    succeeded: int
    failed: int
    cost_usd: float
    paid_usd: float
    error: str | None = None

    def dataset(self) -> ds.Dataset:
        """The output as a ``pyarrow.dataset.Dataset`` (read it in batches; it may be big)."""
        import pyarrow.dataset as pads

        return pads.dataset(self.out, format="parquet")

    def to_pandas(self) -> pd.DataFrame:
        """The whole output as one DataFrame, sorted by ``row`` (only if it fits in memory)."""
        frame: pd.DataFrame = self.dataset().to_table().to_pandas()
        return frame.sort_values("row", ignore_index=True)


# -- the output folder ----------------------------------------------------------------------------

RESULT_TYPES: dict[str, str] = {
    "response": "string",
    "status": "string",
    "error": "string",
    "latency_ms": "float64",
    "input_tokens": "int64",
    "output_tokens": "int64",
    "cost_usd": "float64",
    "paid_usd": "float64",
    "price_source": "string",
    "model": "string",
    "attempts": "int64",
    "cached": "bool",
    "finish_reason": "string",
    "completed_at": "timestamp",
}
"""Arrow types of the result columns, the same in every part file (so the parts form one
dataset whatever a chunk's values were: an all-empty ``error`` column is still a string)."""


def _arrow_type(name: str) -> Any:
    pa = _pyarrow()
    if name == "timestamp":
        return pa.timestamp("ns", tz="UTC")
    return pa.bool_() if name == "bool" else getattr(pa, name)()


def part_name(k: int) -> str:
    """The file name of chunk ``k``'s results."""
    return f"part-{k:06d}.parquet"


def _part_index(name: str) -> int | None:
    if name.startswith("part-") and name.endswith(".parquet"):
        digits = name[5:-8]
        if digits.isdigit():
            return int(digits)
    return None


def read_parts(out: Path) -> dict[int, dict[str, Any]]:
    """The committed part files of ``out`` and what each records (from their footers)."""
    import pyarrow.parquet as pq

    found: dict[int, dict[str, Any]] = {}
    if not out.is_dir():
        return found
    for entry in os.scandir(out):
        k = _part_index(entry.name)
        if k is None:
            continue
        meta = pq.read_schema(entry.path).metadata or {}
        raw = meta.get(PART_META_KEY)
        if raw is None:
            raise InputError(
                f"out={str(out)!r} holds {entry.name}, which brainbatch did not write; "
                "choose another folder"
            )
        found[k] = orjson.loads(raw)
    return found


def _json_text(value: Any) -> str | None:
    """A structured answer (dict, list or Pydantic model) as JSON text for a part file."""
    if value is None or isinstance(value, str):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        value = dump(mode="json", by_alias=True)
    return orjson.dumps(value, default=str).decode()


_KIND_TYPES = {"int": "int64", "float": "float64", "bool": "bool", "string": "string"}
"""Arrow types of typed ``response.<field>`` columns (``schema=``), by the field's kind;
a datetime is a UTC timestamp, an enum a dictionary of strings, anything else JSON text."""


def _typed_array(series: pd.Series, kind: str) -> Any:
    pa = _pyarrow()
    if kind in _KIND_TYPES:
        return pa.array(series, type=_arrow_type(_KIND_TYPES[kind]), from_pandas=True)
    if kind == "datetime":
        return pa.array(series, type=pa.timestamp("us", tz="UTC"), from_pandas=True)
    if kind == "category":
        text = pa.array(series.astype(object), type=pa.string(), from_pandas=True)
        return text.dictionary_encode()
    return pa.array([_json_text(v) for v in series], type=pa.string())


def _to_arrow(
    frame: pd.DataFrame, input_schema: Any, typed: Mapping[str, str] | None = None
) -> Any:
    """A part file's table: ``row``, the input columns (their input types), the results
    (``typed``: the ``response.<field>`` columns of a schema and their kinds)."""
    pa = _pyarrow()
    fields = []
    arrays = []
    input_types = {}
    typed = typed or {}
    if input_schema is not None:
        input_types = {f.name: f.type for f in input_schema}
    for col in frame.columns:
        name = str(col)
        series = frame[col]
        if name in typed:
            arr = _typed_array(series, typed[name])
        elif name == "raw_response" and typed:  # the answer as received, as JSON text
            arr = pa.array([_json_text(v) for v in series], type=pa.string())
        elif name in RESULT_TYPES:
            typ = _arrow_type(RESULT_TYPES[name])
            values: Any = series
            if name == "response":  # structured answers (dicts, models) as JSON text
                values = [_json_text(v) for v in series]
            arr = pa.array(values, type=typ, from_pandas=True)
        else:
            source_name = name[6:] if name.startswith("input_") else name
            typ = input_types.get(name, input_types.get(source_name))
            arr = pa.array(series, type=typ, from_pandas=True)
            if pa.types.is_null(arr.type):
                arr = arr.cast(pa.string())
        fields.append(pa.field(name, arr.type))
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _write_part(out: Path, k: int, table: Any, meta: Mapping[str, Any]) -> None:
    """Write ``part-<k>.parquet`` atomically: a hidden file, flushed, renamed into place."""
    import pyarrow.parquet as pq

    table = table.replace_schema_metadata({PART_META_KEY: orjson.dumps(dict(meta))})
    final = out / part_name(k)
    tmp = out / f".{final.name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(out)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system can sync a folder
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _FolderLock:
    """An exclusive lock on the output folder for one run (freed by the OS if it dies)."""

    def __init__(self, out: Path) -> None:
        self.path = out / LOCK
        self.fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX: the store's leases still apply
            pass
        except OSError:
            os.close(self.fd)
            self.fd = None
            raise InputError(
                f"out={str(out)!r} is being written by another run; wait for it or choose "
                "another folder"
            ) from None

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


# -- preparing and running ------------------------------------------------------------------------


def _fingerprint(spec: PromptSpec, settings: RunSettings, columns: Sequence[str] | None) -> Any:
    """What must not change between runs into one folder (a callable prompt by name only)."""
    prompt = spec.prompt
    prompt_text = prompt if isinstance(prompt, str) else getattr(prompt, "__qualname__", "fn")
    return {
        "prompt": prompt_text,
        "model": spec.model,
        "system": spec.system,
        "params": orjson.loads(orjson.dumps(dict(spec.params or {}), default=str)),
        "custom_id": spec.custom_id,
        "columns": list(columns) if columns is not None else None,
        "mode": settings.mode,
    }


def _check_columns(source: _Source, spec: PromptSpec, columns: Sequence[str] | None) -> None:
    """Columns the prompt, the id, the model and ``columns=`` need, checked on the schema."""
    if source.schema is None:
        return
    from .frame import _template_fields

    have = [str(n) for n in source.schema.names]
    need: list[tuple[str, str]] = []
    if isinstance(spec.prompt, str) and spec.prompt not in have:
        need += [(f, "the prompt template") for f in _template_fields(spec.prompt)]
    if spec.custom_id is not None:
        need.append((spec.custom_id, "custom_id"))
    if spec.model.startswith(MODEL_COLUMN_PREFIX):
        need.append((spec.model[len(MODEL_COLUMN_PREFIX) :], "model="))
    need += [(c, "columns=") for c in columns or ()]
    for name, what in need:
        if name not in have:
            raise InputError(
                f"{source.label}: column {name!r} (used by {what}) is not in the input; "
                f"its columns are {have}"
            )


def _chunk_requests(source: _Source, frame: pd.DataFrame, spec: PromptSpec) -> list[Any]:
    try:
        return build_requests(frame, spec)
    except InputError as exc:
        raise InputError(f"{source.label}: {exc}") from None


@dataclass
class StreamRun:
    """A prepared stream: what the fronts start (``await run.run()``) and show (``job``).

    Made by :func:`prepare_stream`, which checked the input and the settings and sent
    nothing. :meth:`run` sends the chunks in order and returns a :class:`StreamResult`.
    """

    source: _Source
    spec: PromptSpec
    settings: RunSettings
    store: JobStore | None
    out: Path
    name: str
    chunk_size: int
    columns: list[str] | None
    force: bool
    job: StreamJob
    parts: dict[int, dict[str, Any]]
    lock: _FolderLock | None
    stored_spec: dict[str, Any] = field(default_factory=dict)
    open_chunks: int = 1
    """Chunks run at once (native batch mode overlaps provider batches)."""
    chunks_run: int = 0
    """Chunks sent in this run (for tests and the summary)."""
    stop_reason: str | None = None
    stop_status: BatchStatus = BatchStatus.CANCELLED
    lease: Lease | None = None
    """The lease of the stream's own record in the store (one run of it at a time)."""
    _runner: JobRunner | None = field(default=None, repr=False)

    @property
    def limits_in_force(self) -> str:
        """The rate limits in force now and where they came from, as for a DataFrame job
        (:attr:`brainbatch.runner.JobRunner.limits_in_force`): the latest chunk's."""
        runner = self._runner
        return runner.limits_in_force if runner is not None else ""

    def release(self) -> None:
        """Free the output folder and the stream's lease without running (a run frees them
        when it ends)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None
        if self.lease is not None:
            self.lease.release()
            self.lease = None

    def chunk_name(self, k: int) -> str:
        return f"{self.name}.{k:06d}"

    def first_chunk(self) -> int:
        """The first chunk without a complete part file."""
        k = 0
        while self.parts.get(k, {}).get("complete"):
            k += 1
        return k

    def result(self) -> StreamResult:
        job = self.job
        return StreamResult(
            out=self.out,
            name=self.name,
            status=job.status,
            total=job.total,
            done=job.done,
            succeeded=job.n_success,
            failed=job.n_error,
            cost_usd=job.cost_usd,
            paid_usd=job.paid_usd,
            error=job.error,
        )

    async def run(self) -> StreamResult:
        """Send every chunk without a complete part; returns how the stream ended.

        Cancel with ``run.job.request_cancel()`` from any thread: the chunk running stops
        starting requests, its finished rows are written, and the run ends CANCELLED.
        """
        job = self.job
        job.started_at = datetime.now(UTC)
        job.status = BatchStatus.PROCESSING
        job.completed_at = None
        job.error = None
        provider: Any = None
        owned = False
        journal = None
        counter: asyncio.Task[None] | None = None
        try:
            if self.store is not None and self.lease is not None:
                # the stream's record: its status, counts and `brainbatch cancel` flag
                job.metadata["stream_counts"] = job.counts()
                journal = await asyncio.to_thread(self.store.journal, job)
                counter = asyncio.ensure_future(self._keep_counts())
            provider, owned = await asyncio.to_thread(self._open_provider)
            await self._cleanup_committed()
            await self._run_chunks(provider)
            if not job.status.is_terminal:
                job.status = BatchStatus.FAILED if job.n_error else BatchStatus.COMPLETED
        except asyncio.CancelledError:  # a hard stop (second Ctrl-C): chunks stay resumable
            if not job.status.is_terminal:
                job.status = BatchStatus.CANCELLED
                job.error = job.error or "cancelled"
            raise
        except BaseException as exc:
            if not job.status.is_terminal:
                job.status = BatchStatus.FAILED
                job.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            job.completed_at = datetime.now(UTC)
            if counter is not None:
                counter.cancel()
            job.metadata["stream_counts"] = job.counts()
            try:
                if owned and hasattr(provider, "aclose"):
                    await provider.aclose()
            finally:
                if journal is not None:
                    await asyncio.to_thread(journal.close)  # the final status and counts
                self.release()
        return self.result()

    async def _keep_counts(self) -> None:
        """The stream record's counts, refreshed for the journal (it writes them)."""
        while True:
            await asyncio.sleep(0.25)
            self.job.metadata["stream_counts"] = self.job.counts()

    def _open_provider(self) -> tuple[Any, bool]:
        """One provider for the whole stream: its rate limits span every chunk."""
        from .models import BatchRequest

        models = dict.fromkeys(self.stored_spec.get("models") or [self.settings.model])
        probe = BatchJob([BatchRequest(prompt="-", model=m) for m in models])
        return JobRunner(probe, self.settings).open_provider()

    async def _cleanup_committed(self) -> None:
        """Stored chunk jobs of complete parts: a kill came between the part and the delete."""
        store = self.store
        if store is None:
            return
        for k, meta in sorted(self.parts.items()):
            if meta.get("complete") and store.find_job(self.chunk_name(k)) is not None:
                await asyncio.to_thread(store.delete_job, self.chunk_name(k))

    async def _run_chunks(self, provider: Any) -> None:
        """Chunks in input order, ``open_chunks`` at a time (1 in real time: the order rows
        are sent; native batches overlap so the provider works on several at once)."""
        job = self.job
        first = self.first_chunk()
        chunks = self.source.chunks(self.chunk_size, first)
        job.rows_read = first * self.chunk_size
        running: set[asyncio.Task[bool]] = set()
        go_on = True
        try:
            while go_on and not job.cancel_requested:
                got = await asyncio.to_thread(self._next_chunk, chunks)
                if got is None:
                    break
                k, frame = got
                job.rows_read += len(frame)
                if self.parts.get(k, {}).get("complete"):
                    continue
                running.add(asyncio.ensure_future(self._run_chunk(k, frame, provider)))
                if len(running) >= self.open_chunks:
                    finished, running = await asyncio.wait(
                        running, return_when=asyncio.FIRST_COMPLETED
                    )
                    go_on = all([t.result() for t in finished])
            if running:
                finished, running = await asyncio.wait(running)
                for task in finished:
                    task.result()
        finally:
            for task in running:  # an error in one chunk: stop the others
                task.cancel()
            if running:
                await asyncio.wait(running)
            with contextlib.suppress(Exception):
                chunks.close()  # type: ignore[attr-defined]
        if (job.cancel_requested or self.stop_reason) and not job.status.is_terminal:
            job.status = self.stop_status
            job.error = job.error or self.stop_reason or "cancelled"

    def _next_chunk(
        self, chunks: Iterator[tuple[int, pd.DataFrame]]
    ) -> tuple[int, pd.DataFrame] | None:
        try:
            return next(chunks, None)
        except InputError:
            raise
        except _read_errors() as exc:
            raise InputError(f"{self.source.label} cannot be read: {_reason(exc)}") from None

    async def _run_chunk(self, k: int, frame: pd.DataFrame, provider: Any) -> bool:
        """Run chunk ``k`` and commit its part; False when the stream must stop."""
        stream = self.job
        requests = await asyncio.to_thread(_chunk_requests, self.source, frame, self.spec)
        settings = self.settings.with_overrides(provider=provider)
        if settings.max_cost_usd is not None:
            require_answer_caps(requests)
        name = self.chunk_name(k)
        chunk = BatchJob(requests, metadata={"job_name": name, "stream": self.name})
        lease = None
        store = self.store
        if store is not None:
            chunk = await asyncio.to_thread(store.get_or_create_job, chunk, name, self.stored_spec)
            lease = await asyncio.to_thread(claim, store, chunk, force=self.force)
            try:
                await asyncio.to_thread(_reset_unpaid_errors, store, chunk, retry_failed=False)
            except BaseException:
                if lease is not None:
                    lease.release()
                raise
        chunk._cancel = stream._cancel  # one Cancel for the stream and the chunk that runs
        stream._chunks.append(chunk)
        for result in chunk.results:  # journaled by an earlier run
            stream.count(result)
            stream.done_before += 1
        if settings.max_cost_usd is not None:
            # the budget spans the stream: what earlier chunks paid is spent already
            left = settings.max_cost_usd - (stream.paid_usd - chunk.paid_usd)
            if left <= 0:
                if lease is not None:
                    lease.release()
                self.stop_reason = f"budget reached: max_cost_usd={settings.max_cost_usd} spent"
                return False
            settings = settings.with_overrides(max_cost_usd=left)
        stream.follow(chunk)
        runner = JobRunner(chunk, settings, store, lease, release_lease=True)
        self._runner = runner
        try:
            await runner.run()
        finally:
            stream.unfollow(chunk)
        self.chunks_run += 1
        complete = chunk.done == chunk.total
        if chunk.done:
            await asyncio.to_thread(self._commit, k, frame, chunk, complete)
        if complete and store is not None:
            await asyncio.to_thread(store.delete_job, name)
        if chunk.status == BatchStatus.CANCELLED or not complete:
            if chunk.status == BatchStatus.FAILED:  # e.g. a refused key: the run failed
                self.stop_status = BatchStatus.FAILED
            self.stop_reason = self.stop_reason or chunk.error or "cancelled"
            stream.request_cancel()  # the other chunks open (native batches) stop too
            return False
        return True

    def _commit(self, k: int, frame: pd.DataFrame, chunk: BatchJob, complete: bool) -> None:
        """Write chunk ``k``'s rows with a result as its part file (step 2 of the protocol)."""
        keys = [r.key for r in chunk.requests]
        schema = self.settings.schema
        results = results_frame(chunk, frame, keys, columns=self.columns, schema=schema)
        if not complete:
            done = [chunk.has_result(r.id) for r in chunk.requests]
            results = results.loc[np.array(done, dtype=bool)]
        if "row" in results.columns:
            results = results.rename(columns={"row": "input_row"})
        results.insert(0, "row", results.index.to_numpy(dtype="int64"))
        typed = {} if schema is None else {f"response.{f.name}": f.kind for f in schema.fields}
        table = _to_arrow(results.reset_index(drop=True), self.source.schema, typed)
        ok = chunk.results
        meta = {
            "format": FORMAT_VERSION,
            "chunk": k,
            "first_row": int(frame.index[0]),
            "rows": len(frame),
            "done": chunk.done,
            "complete": complete,
            "succeeded": chunk.n_success,
            "failed": chunk.n_error,
            "cached": chunk.n_cached,
            "cost_usd": chunk.cost_usd,
            "paid_usd": chunk.paid_usd,
            "input_tokens": sum(r.input_tokens or 0 for r in ok),
            "output_tokens": sum(r.output_tokens or 0 for r in ok),
        }
        _write_part(self.out, k, table, meta)
        self.parts[k] = meta


def prepare_stream(
    source: Any,
    spec: PromptSpec,
    settings: RunSettings,
    *,
    out: str | os.PathLike[str],
    store: Any = None,
    job_name: str | None = None,
    columns: Sequence[str] | None = None,
    chunk_size: int | None = None,
    check: Check = "all",
    open_chunks: int | None = None,
    force: bool = False,
) -> StreamRun:
    """Open the input and the output folder and check everything; sends nothing.

    Args:
        source: a path (.parquet, .csv, .jsonl or a folder of Parquet files), a
            ``pyarrow.dataset.Dataset`` or table, or an iterable of DataFrames.
        spec: prompt, model, system, params and ``custom_id`` (an id column), as for a frame.
        settings: how to run (provider, mode, limits, budget, cache).
        out: the output folder (made if missing; an existing one must hold this stream).
        store: see :func:`brainbatch.session.open_store` (chunks are journaled there).
        job_name: the stream's name (default: the folder's, or a new one).
        columns: input columns to keep in the output (default: all).
        chunk_size: rows per chunk (default :data:`DEFAULT_CHUNK_SIZE`; a later run into
            the same folder uses the folder's).
        check: ``"all"``: every row checked before the first send (one extra read of the
            input); ``"chunk"``: each chunk checked before it is sent.
        open_chunks: mode="batch": chunks whose provider batches run at once (default
            :data:`DEFAULT_OPEN_BATCH_CHUNKS`; 1 with ``max_cost_usd``, so each chunk's worst
            case is checked against what the earlier ones spent). Real time runs one chunk
            at a time (``max_concurrent`` requests in flight across the stream).
        force: run even if a chunk looks like it runs elsewhere.

    Raises:
        InputError: unreadable input, a missing column, a bad row (naming the file, column
            and row), a bad setting, or an output folder that holds something else.
        ConfigurationError: see :func:`brainbatch.session.check_provider`.
    """
    if chunk_size is not None and (
        isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1
    ):
        raise InputError(f"chunk_size must be an integer > 0, got {chunk_size!r}")
    if open_chunks is not None and (
        isinstance(open_chunks, bool) or not isinstance(open_chunks, int) or open_chunks < 1
    ):
        raise InputError(f"open_chunks must be an integer > 0, got {open_chunks!r}")
    if open_chunks not in (None, 1) and settings.mode != "batch":
        raise InputError(
            "open_chunks applies to mode='batch' only: in real time one chunk runs at a time "
            "and max_concurrent sets the requests in flight"
        )
    if open_chunks is None:
        batch = settings.mode == "batch" and settings.max_cost_usd is None
        open_chunks = DEFAULT_OPEN_BATCH_CHUNKS if batch else 1
    if check not in ("all", "chunk"):
        raise InputError(f"check must be 'all' or 'chunk', got {check!r}")
    if job_name is not None and (not isinstance(job_name, str) or not job_name.strip()):
        raise InputError(f"job_name must be a non-empty string, got {job_name!r}")
    if isinstance(columns, str):
        columns = [columns]
    if not isinstance(out, str | os.PathLike):
        raise InputError(f"out must be a folder path, got {type(out).__name__}")
    out_path = Path(os.fspath(out))
    src = _open_source(source)
    if (
        isinstance(source, str | os.PathLike)
        and out_path.exists()
        and Path(os.fspath(source)).resolve() == out_path.resolve()
    ):
        raise InputError(f"out={str(out_path)!r} is the input; choose another folder")
    _check_columns(src, spec, columns)
    if out_path.exists() and not out_path.is_dir():
        raise InputError(f"out={str(out_path)!r} is a file; give a folder for the results")
    made = not out_path.exists()
    out_path.mkdir(parents=True, exist_ok=True)
    lock = _FolderLock(out_path)  # before the folder is read: one run decides what it holds
    source_path = None
    if isinstance(source, str | os.PathLike):
        source_path = str(Path(os.fspath(source)).absolute())
    try:
        return _prepare_locked(
            src,
            source_path,
            spec,
            settings,
            out_path,
            lock,
            store,
            job_name,
            columns,
            chunk_size,
            check,
            open_chunks,
            force,
        )
    except BaseException:
        lock.release()
        if made:  # leave no empty folder behind a refused run
            with contextlib.suppress(OSError):
                (out_path / LOCK).unlink()
                out_path.rmdir()
        raise


def _prepare_locked(
    src: _Source,
    source_path: str | None,
    spec: PromptSpec,
    settings: RunSettings,
    out_path: Path,
    lock: _FolderLock,
    store: Any,
    job_name: str | None,
    columns: Sequence[str] | None,
    chunk_size: int | None,
    check: Check,
    open_chunks: int,
    force: bool,
) -> StreamRun:
    fingerprint = _fingerprint(spec, settings, columns)
    manifest = _read_manifest(out_path)
    if manifest is not None:
        chunk_size = _check_manifest(manifest, out_path, fingerprint, chunk_size, job_name)
    size = chunk_size or DEFAULT_CHUNK_SIZE
    parts = read_parts(out_path)
    models: set[str] = set()
    if not src.once and check == "all":
        src.total = _check_all(src, spec, settings, size, parts, models)
    known = None if manifest is None else manifest.get("total")
    if known is not None and src.total is not None and known != src.total:
        raise InputError(
            f"out={str(out_path)!r} holds results of an input with {known:,} "
            f"rows; this one has {src.total:,}: choose another folder"
        )
    if spec.model.startswith(MODEL_COLUMN_PREFIX):
        if not models:
            raise InputError(
                f"model={spec.model!r} (a model per row) needs an input that can be read "
                "twice (a file or a dataset, with check='all'): the provider is chosen from "
                "the models of all rows before the first send"
            )
        settings = settings.with_overrides(model=sorted(models)[0])
    else:
        models.add(spec.model)
    check_provider(settings, sorted(models) or [settings.model])
    job_store = open_store(store)
    name = job_name or (manifest or {}).get("name") or f"stream-{uuid.uuid4().hex[:8]}"
    if manifest is None:
        _write_manifest(out_path, name, size, src, fingerprint)
    for stale in out_path.glob(".part-*.tmp"):  # a run killed while writing a part
        stale.unlink(missing_ok=True)
    stream = StreamJob(name, src.total)
    for meta in parts.values():
        if meta.get("complete"):
            stream.count_part(meta)
    prompt = spec.prompt if isinstance(spec.prompt, str) else None
    stored_spec = {
        **settings.spec(),
        "stream": {
            "out": str(out_path.absolute()),
            "name": name,
            "chunk_size": size,
            # what `brainbatch resume` / bb.resume need to read the input again
            "source": source_path,
            "source_kind": src.kind,
            "prompt": prompt,
            "model": spec.model,
            "system": spec.system,
            "params": orjson.loads(orjson.dumps(dict(spec.params or {}), default=str)),
            "custom_id": spec.custom_id,
            "images": spec.images,
            "documents": spec.documents,
            "detail": spec.detail,
            "columns": list(columns) if columns is not None else None,
            "check": check,
            "open_chunks": open_chunks,
        },
        "models": sorted(models),
    }
    lease = None
    if job_store is not None:  # last: nothing after it can fail
        _register(job_store, stream, name, stored_spec)
        lease = claim(job_store, stream, force=force)
    return StreamRun(
        source=src,
        spec=spec,
        settings=settings,
        store=job_store,
        out=out_path,
        name=name,
        chunk_size=size,
        columns=list(columns) if columns is not None else None,
        force=force,
        job=stream,
        parts=parts,
        lock=lock,
        open_chunks=open_chunks,
        stored_spec=stored_spec,
        lease=lease,
    )


def _register(store: JobStore, stream: StreamJob, name: str, spec: Mapping[str, Any]) -> None:
    """The stream's own record in the store (no rows: its chunks are jobs ``<name>.<k>``),
    so ``brainbatch jobs`` lists it, ``brainbatch cancel`` reaches it and ``brainbatch
    resume`` finds what it needs to continue."""
    found = store.find_job(name)
    if found is None:
        store.create_job(stream, name=name, spec=spec)
        return
    if not store.job_spec(name).get("stream"):
        raise InputError(
            f"job_name={name!r} names a stored job that is not a streamed one; choose another name"
        )
    stream.job_id = found


def resume_stream(
    name: str,
    *,
    store: Any = None,
    provider: Any = None,
    force: bool = False,
    run_overrides: Mapping[str, Any] | None = None,
    provider_kwargs: Mapping[str, Any] | None = None,
) -> StreamRun:
    """A stored streamed job, ready to continue at its first row without a result.

    The input is read again from the path the first run was given, into the same folder,
    with the stored settings (keys come from the environment or ``provider_kwargs``).

    Raises:
        InputError: no store; not a streamed job; an input that cannot be read again (an
            iterator, a dataset object, a function as prompt: run the same call again);
            an unknown run setting.
        ConfigurationError: the stream ran with a provider object and none is given.
        JobNotFound: no such job.
    """
    from .errors import ConfigurationError

    job_store = open_store(store)
    if job_store is None:
        raise InputError("resuming a job needs a store (store=None uses the default store)")
    overrides = dict(run_overrides or {})
    unknown = sorted(set(overrides) - set(RUN_OVERRIDES))
    if unknown:
        raise InputError(f"resume cannot change {unknown}; it can change {list(RUN_OVERRIDES)}")
    spec = job_store.job_spec(name)
    info = spec.get("stream")
    if not isinstance(info, Mapping) or "source_kind" not in info:
        raise InputError(f"job {name!r} is not a streamed job")
    if info.get("source") is None or info.get("prompt") is None:
        what = "a function as prompt" if info.get("prompt") is None else info["source_kind"]
        raise InputError(
            f"stream {name!r} ran with {what}, which the store cannot give back; run the same "
            f"bb.run(..., out={info['out']!r}) call again: it continues at the first row "
            "without a result"
        )
    if provider is None and spec.get("provider") is None and spec.get("provider_object"):
        raise ConfigurationError(
            f"stream {name!r} ran with a provider object ({spec['provider_object']}); pass it "
            "again with provider=..."
        )
    settings = RunSettings.from_spec(
        spec,
        provider=provider,
        provider_kwargs=dict(provider_kwargs or {}),
        **{k: v for k, v in overrides.items() if v is not None},
    )
    prompt_spec = PromptSpec(
        prompt=info["prompt"],
        model=info["model"],
        system=info.get("system"),
        params=info.get("params") or None,
        custom_id=info.get("custom_id"),
        images=info.get("images"),
        documents=info.get("documents"),
        detail=info.get("detail"),
    )
    open_chunks = info.get("open_chunks") if settings.mode == "batch" else None
    return prepare_stream(
        info["source"],
        prompt_spec,
        settings,
        out=info["out"],
        store=job_store,
        job_name=name,
        columns=info.get("columns"),
        check=info.get("check", "all"),
        open_chunks=open_chunks,
        force=force,
    )


def _check_all(
    src: _Source,
    spec: PromptSpec,
    settings: RunSettings,
    size: int,
    parts: Mapping[int, Mapping[str, Any]],
    models: set[str],
) -> int:
    """Read the whole input once, checking every row not done yet; returns the row count."""
    total = 0
    ids = _IdHashes() if spec.custom_id is not None else None
    try:
        for k, frame in src.chunks(size):
            total += len(frame)
            if parts.get(k, {}).get("complete"):
                continue
            requests = _chunk_requests(src, frame, spec)
            if settings.max_cost_usd is not None:
                require_answer_caps(requests)
            models.update(r.model for r in requests)
            if ids is not None:
                ids.add(k * size, [r.custom_id for r in requests])
        if ids is not None:
            _refuse_repeated_ids(src, spec, size, ids)
    except InputError:
        raise
    except _read_errors() as exc:
        raise InputError(f"{src.label} cannot be read: {_reason(exc)}") from None
    if total == 0:
        raise InputError(f"{src.label} has no rows: nothing to run")
    return total


class _IdHashes:
    """The 64-bit hashes of every row's custom id, with the row numbers: 16 bytes a row (160 MB
    at 10M rows), where a set of the ids themselves would take ~70."""

    def __init__(self) -> None:
        self.hashes: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []

    def add(self, first_row: int, keys: Sequence[str | None]) -> None:
        self.hashes.append(pd.util.hash_array(np.asarray(keys, dtype=object)))
        self.rows.append(np.arange(first_row, first_row + len(keys), dtype=np.int64))

    def repeated(self) -> tuple[int, int] | None:
        """The first two rows (by the later one) whose ids hash alike, or None."""
        if len(self.hashes) < 2:
            return None  # within one chunk the frame's own check already ran
        hashes = np.concatenate(self.hashes)
        rows = np.concatenate(self.rows)
        order = np.lexsort((rows, hashes))
        same = np.flatnonzero(hashes[order][1:] == hashes[order][:-1])
        if not same.size:
            return None
        firsts, agains = rows[order[same]], rows[order[same + 1]]  # sorted by row within a hash
        i = int(np.argmin(agains))
        return int(firsts[i]), int(agains[i])


def _refuse_repeated_ids(src: _Source, spec: PromptSpec, size: int, ids: _IdHashes) -> None:
    """An id given again in a later chunk is an InputError naming both rows and the column."""
    found = ids.repeated()
    if found is None:
        return
    first, again = found
    values: dict[int, str | None] = {}
    for k, frame in src.chunks(size):  # read again only to name the id (and rule out a clash)
        for row in (first, again):
            if k * size <= row < (k + 1) * size:
                values[row] = str(frame[spec.custom_id].iloc[row - k * size])
        if len(values) == 2 or k * size > again:
            break
    if values.get(first) is None or values.get(first) != values.get(again):
        return  # two ids with the same 64-bit hash: not a repeat
    raise InputError(
        f"{src.label}: column {spec.custom_id!r} gives the custom id {values[again]!r} at row "
        f"{first} and again at row {again}; each row needs a unique id"
    )


def _read_manifest(out: Path) -> dict[str, Any] | None:
    if out.exists() and not out.is_dir():
        raise InputError(f"out={str(out)!r} is a file; give a folder for the results")
    path = out / MANIFEST
    if not path.is_file():
        mine = (LOCK,)
        if out.is_dir() and any(
            not e.name.startswith(".") and e.name not in mine for e in os.scandir(out)
        ):
            raise InputError(
                f"out={str(out)!r} is not empty and holds no brainbatch results; choose a new "
                "or empty folder"
            )
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{str(path)!r} cannot be read: {_reason(exc)}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        raise InputError(f"{str(path)!r} is not a brainbatch stream description")
    return data


def _check_manifest(
    manifest: Mapping[str, Any],
    out: Path,
    fingerprint: Any,
    chunk_size: int | None,
    job_name: str | None,
) -> int:
    """The folder's chunk size; refuses a folder written with other settings."""
    stored = manifest.get("settings")
    if stored != orjson.loads(orjson.dumps(fingerprint)):
        diff = sorted(
            k
            for k in fingerprint
            if (stored or {}).get(k) != orjson.loads(orjson.dumps(fingerprint[k]))
        )
        raise InputError(
            f"out={str(out)!r} holds results made with other settings ({', '.join(diff)} "
            "differ); choose another folder, or run with the same settings to continue"
        )
    if chunk_size is not None and chunk_size != manifest["chunk_size"]:
        raise InputError(
            f"out={str(out)!r} was written in chunks of {manifest['chunk_size']:,} rows; "
            f"chunk_size={chunk_size:,} cannot continue it (leave chunk_size out)"
        )
    if job_name is not None and job_name != manifest.get("name"):
        raise InputError(
            f"out={str(out)!r} holds the stream {manifest.get('name')!r}, not {job_name!r}"
        )
    return int(manifest["chunk_size"])


def _write_manifest(out: Path, name: str, size: int, src: _Source, fingerprint: Any) -> None:
    data = {
        "format": FORMAT_VERSION,
        "name": name,
        "chunk_size": size,
        "source": src.label,
        "total": src.total,
        "settings": fingerprint,
        "created_at": datetime.now(UTC).isoformat(),
    }
    tmp = out / f".{MANIFEST}.tmp"
    tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    os.replace(tmp, out / MANIFEST)
    _fsync_dir(out)

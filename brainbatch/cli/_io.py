"""Reading the input table and writing the results table: CSV, Parquet or JSON Lines.

The format comes from the file's extension. Everything that can be checked before a job
starts is checked by :func:`check_output` (extension, folder, not the input file), so a
typo in ``--out`` never costs a run.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from ..errors import InputError

__all__ = ["FORMATS", "check_output", "read_table", "table_format", "write_table"]

FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
"""File extensions the command line reads and writes, and their format."""

_NAMES = ".csv, .parquet or .jsonl"


def table_format(path: Path, what: str) -> str:
    """``"csv"``, ``"parquet"`` or ``"jsonl"`` for ``path``'s extension.

    Raises:
        InputError: naming ``what`` (``INPUT``, ``--out``) for another extension.
    """
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"{what} {str(path)!r}: unknown file type {path.suffix or '(no extension)'!r}; "
            f"use {_NAMES}"
        )
    return fmt


def _need_pyarrow(what: str) -> None:
    if importlib.util.find_spec("pyarrow") is None:
        raise InputError(f"{what}: Parquet files need pyarrow (pip install pyarrow)")


def read_table(path: Path) -> pd.DataFrame:
    """The input file as a DataFrame (its rows in file order, a 0..n-1 index).

    Raises:
        InputError: missing or unreadable file, unknown type, no rows; naming the file.
    """
    fmt = table_format(path, "INPUT")
    if not path.is_file():
        raise InputError(f"INPUT {str(path)!r}: no such file")
    try:
        if fmt == "csv":
            df = pd.read_csv(path, keep_default_na=True)
        elif fmt == "parquet":
            _need_pyarrow(f"INPUT {str(path)!r}")
            df = pd.read_parquet(path)
        else:
            df = pd.read_json(path, lines=True, orient="records", dtype=False)
    except InputError:
        raise
    except Exception as exc:  # parse errors of three libraries: name the file, keep the reason
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"INPUT {str(path)!r} cannot be read as {fmt}: {reason}") from None
    if len(df) == 0:
        raise InputError(f"INPUT {str(path)!r} has no rows: nothing to run")
    return df


def check_output(out: Path, inputs: list[Path]) -> str:
    """Check ``--out`` before anything runs; returns its format.

    Raises:
        InputError: unknown extension, missing folder, a folder given, or an input file.
    """
    fmt = table_format(out, "--out")
    if fmt == "parquet":
        _need_pyarrow("--out")
    if out.is_dir():
        raise InputError(f"--out {str(out)!r} is a folder; give a file name ({_NAMES})")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"--out {str(out)!r}: folder {str(parent)!r} does not exist")
    for path in inputs:
        if path.exists() and out.exists() and out.resolve() == path.resolve():
            raise InputError(f"--out {str(out)!r} is the input file; choose another name")
    return fmt


def _jsonable(value: Any) -> Any:
    return orjson.dumps(value).decode() if isinstance(value, dict | list) else value


def _flat(df: pd.DataFrame) -> pd.DataFrame:
    """Dict/list values (structured responses) as JSON text, so every format can hold them."""
    out = df.copy(deep=False)
    for col in out.columns:
        if out[col].dtype == object:
            series = out[col]
            if series.map(lambda v: isinstance(v, dict | list)).any():
                out[col] = series.map(_jsonable)
    return out


def write_table(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` to ``path`` atomically (a temporary file renamed into place).

    A default 0..n-1 index is not written; any other index is (as the first column).
    """
    fmt = table_format(path, "--out")
    flat = _flat(df)
    keep_index = not isinstance(flat.index, pd.RangeIndex) or flat.index.name is not None
    if fmt == "jsonl" and keep_index:
        flat = flat.reset_index()
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        if fmt == "csv":
            flat.to_csv(tmp, index=keep_index)
        elif fmt == "parquet":
            flat.to_parquet(tmp, index=keep_index)
        else:
            flat.to_json(tmp, orient="records", lines=True, date_format="iso", force_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def media_options(args: Any) -> dict[str, Any]:
    """``--images``, ``--documents``, ``--detail`` as :class:`~brainbatch.frame.PromptSpec`
    fields (a command without them gets None for each)."""
    return {
        "images": getattr(args, "images", None),
        "documents": getattr(args, "documents", None),
        "detail": getattr(args, "detail", None),
    }

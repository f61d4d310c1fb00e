"""DataFrame <-> job: turn rows into requests (validated up front) and results into a DataFrame.

:func:`build_requests` checks everything that can be checked before a request is sent and raises
one :class:`~brainbatch.errors.InputError` naming the offending rows and columns: missing
columns, NaN or empty prompts, duplicate index values, values a template cannot use, custom ids
that are too long. The checks are column-wise (pandas/numpy), so 100,000 rows take a fraction
of a second.

``prompt`` may be

* a column name: the column holds the prompts (strings);
* a template over columns, ``"Classify the sentiment of: {review}"`` (``str.format`` syntax;
  write ``{{`` and ``}}`` for literal braces; format specs such as ``{price:.2f}`` work, but
  positional fields ``{}`` / ``{0}`` and attribute or index access ``{review.upper}`` /
  ``{review[0]}`` are refused: use a callable for anything beyond whole values);
* a callable ``fn(row) -> str`` or ``fn(row) -> list of {"role", "content"} messages``, where
  ``row`` is a :class:`Row` (a dict of column -> value that also allows ``row.column``;
  ``row.name`` is the index label, as with ``DataFrame.apply(axis=1)``).

``model`` is one model for every row, or ``"col:<column>"`` to take each row's model from a
column. ``custom_id`` is the stringified index (unique, at most 64 characters; a MultiIndex's
levels joined with ``|``, e.g. ``"north|3"``) unless ``custom_id="<column>"`` names a column to
use instead.

:func:`results_frame` builds the results DataFrame in one pass over the job (O(n), every column
built at once): same index and order as the input, the input columns, then
:data:`RESULT_COLUMNS`.
"""

from __future__ import annotations

import math
import string
import uuid
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from .errors import InputError
from .models import BatchJob, BatchRequest, BatchResult, BatchStatus

__all__ = [
    "MAX_CUSTOM_ID",
    "MODEL_COLUMN_PREFIX",
    "MULTIINDEX_SEPARATOR",
    "RESULT_COLUMNS",
    "PromptSpec",
    "Row",
    "build_requests",
    "results_frame",
    "row_keys",
]

MAX_CUSTOM_ID = 64
"""Longest ``custom_id`` OpenAI-compatible batch servers and Anthropic accept."""

MODEL_COLUMN_PREFIX = "col:"
"""``model="col:<column>"`` takes each row's model from that column."""

RESULT_COLUMNS = (
    "response",
    "status",
    "error",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "paid_usd",
    "price_source",
    "model",
    "attempts",
    "cached",
    "finish_reason",
    "completed_at",
)
"""The columns :func:`results_frame` adds after the input columns, in this order."""

_SHOW = 5  # offending rows named in an error message


class Row(dict[str, Any]):
    """One DataFrame row given to a prompt callable: ``row["col"]`` or ``row.col``.

    ``row.name`` is the row's index label (as in ``DataFrame.apply(axis=1)``); a column called
    ``name`` is reached with ``row["name"]``.
    """

    name: Hashable = None

    def __getattr__(self, item: str) -> Any:
        try:
            return self[item]
        except KeyError:
            raise AttributeError(f"row has no column {item!r}") from None


PromptFn = Callable[[Row], "str | list[dict[str, Any]]"]


@dataclass(frozen=True, slots=True)
class PromptSpec:
    """How rows become requests (everything except the DataFrame itself)."""

    prompt: str | PromptFn
    model: str
    system: str | None = None
    params: Mapping[str, Any] | None = None
    custom_id: str | None = None
    images: str | None = None  # a column of images (paths, URLs, bytes, PIL images, lists)
    documents: str | None = None  # a column of PDF documents
    detail: str | None = None  # OpenAI image detail: "low", "high" or "auto"


# -- helpers -----------------------------------------------------------------------------------


def _labels(index: pd.Index, positions: Sequence[int] | np.ndarray) -> str:
    pos = list(positions)
    shown = ", ".join(repr(_py(index[p])) for p in pos[:_SHOW])
    more = f" and {len(pos) - _SHOW} more" if len(pos) > _SHOW else ""
    return f"{shown}{more}"


def _py(value: Any) -> Any:
    """numpy scalars -> Python scalars (inside MultiIndex tuples too), for readable messages."""
    if isinstance(value, tuple):
        return tuple(_py(v) for v in value)
    return value.item() if isinstance(value, np.generic) else value


def _available(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    shown = ", ".join(repr(c) for c in cols[:20])
    return shown + (f" ... ({len(cols)} columns)" if len(cols) > 20 else "") or "(none)"


def _require_columns(df: pd.DataFrame, names: Sequence[str], what: str) -> None:
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise InputError(
            f"{what} uses column(s) {', '.join(repr(m) for m in missing)} that the DataFrame "
            f"does not have; available columns: {_available(df)}"
        )


def _null_mask(col: pd.Series) -> np.ndarray:
    return np.asarray(col.isna(), dtype=bool)


def _blank_mask(col: pd.Series) -> np.ndarray:
    """True where a value is a string that is empty or only whitespace."""
    if isinstance(col.dtype, pd.StringDtype):  # vectorised (pyarrow or numpy strings)
        return np.asarray(col.str.strip().eq("").fillna(False), dtype=bool)
    if col.dtype == object:
        return np.fromiter(
            (isinstance(v, str) and not v.strip() for v in col.array), dtype=bool, count=len(col)
        )
    return np.zeros(len(col), dtype=bool)


def _string_mask(col: pd.Series) -> np.ndarray:
    """True where a value is a str (fast path for string dtypes)."""
    if isinstance(col.dtype, pd.StringDtype):
        return ~_null_mask(col)
    if col.dtype == object:
        return np.fromiter((isinstance(v, str) for v in col.array), dtype=bool, count=len(col))
    return np.zeros(len(col), dtype=bool)


_CONTAINERS = (list, tuple, set, frozenset, dict, Mapping, bytes, bytearray, np.ndarray)


def _scalar_mask(col: pd.Series) -> np.ndarray:
    """True where a value reads well in a template: text, numbers, dates... but not lists,
    dicts, arrays or bytes (their repr is almost never the prompt someone meant)."""
    if col.dtype != object:
        return np.ones(len(col), dtype=bool)
    return np.fromiter(
        (not isinstance(v, _CONTAINERS) for v in col.array), dtype=bool, count=len(col)
    )


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    """``df[name]``, with categorical columns as plain objects so the checks see values."""
    col = df[name]
    return col.astype(object) if isinstance(col.dtype, pd.CategoricalDtype) else col


def _template_fields(template: str) -> list[str]:
    """Column names a ``str.format`` template refers to, in order, without repeats."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InputError(
            f"prompt template {template!r} is not valid: {exc} (write {{{{ and }}}} for "
            "literal braces)"
        ) from None
    names: list[str] = []
    for _, field_name, _, _ in parsed:
        if field_name is None:
            continue
        base = field_name.split(".", 1)[0].split("[", 1)[0]
        if base == "" or base.isdigit():
            raise InputError(
                f"prompt template {template!r} has a positional field '{{{field_name}}}'; "
                "name a column instead, e.g. '{review}'"
            )
        if base != field_name:
            access = "attribute" if field_name[len(base)] == "." else "index"
            raise InputError(
                f"prompt template {template!r} has a field '{{{field_name}}}' with {access} "
                f"access ({field_name[len(base) :]!r} on column {base!r}); a template only "
                "fills in whole column values, and this would send a method's repr or a "
                'piece of the value. Use a callable instead: prompt=lambda row: f"... '
                f'{{row[{base!r}]}} ..." with the expression you need (a column whose name '
                f"is {field_name!r} is read the same way: row[{field_name!r}])"
            )
        if base not in names:
            names.append(base)
    return names


MULTIINDEX_SEPARATOR = "|"
"""Joins the levels of a MultiIndex into one ``custom_id`` (``("north", 3)`` -> ``"north|3"``);
a ``|`` or ``\\`` inside a level is written ``\\|`` / ``\\\\``, so two different tuples never
give the same id."""


def _strings(values: Any) -> np.ndarray:
    """``str`` of each value, as Python strings in an object array (not pandas' own string
    dtype, which refuses text it cannot encode: that is reported later, naming the row)."""
    out = np.empty(len(values), dtype=object)
    out[:] = [str(v) for v in values]
    return out


def _index_ids(index: pd.Index) -> np.ndarray:
    """Each index value as a string; a MultiIndex's levels joined by
    :data:`MULTIINDEX_SEPARATOR` (escaped inside the levels)."""
    if not isinstance(index, pd.MultiIndex):
        return _strings(index)
    joined: pd.Series | None = None
    for level in range(index.nlevels):
        part = pd.Series(_strings(index.get_level_values(level)), dtype=object)
        part = part.str.replace("\\", "\\\\", regex=False).str.replace(
            MULTIINDEX_SEPARATOR, "\\" + MULTIINDEX_SEPARATOR, regex=False
        )
        joined = part if joined is None else joined + MULTIINDEX_SEPARATOR + part
    assert joined is not None  # a MultiIndex has at least one level
    return joined.to_numpy(dtype=object)


def row_keys(df: pd.DataFrame, custom_id: str | None = None) -> list[str]:
    """The ``custom_id`` of each row: the stringified index, or a column's values.

    A MultiIndex gives ids joined from its levels: ``("north", 3)`` -> ``"north|3"`` (see
    :data:`MULTIINDEX_SEPARATOR`); the same limits apply (unique, at most 64 characters).

    Raises:
        InputError: duplicate index values / ids, missing values, ids over 64 characters,
            naming the rows.
    """
    index = df.index
    if custom_id is None:
        if not index.is_unique:
            dup = np.flatnonzero(index.duplicated(keep=False))
            raise InputError(
                f"the DataFrame index has duplicate values at rows {_labels(index, dup)}; "
                "each row needs a unique id: use df.reset_index(drop=True) or name a unique "
                "column with custom_id='<column>'"
            )
        source = pd.Series(_index_ids(index), index=index, dtype=object)
        what = "index value"
    else:
        _require_columns(df, [custom_id], "custom_id")
        col = _column(df, custom_id)
        nulls = _null_mask(col)
        if nulls.any():
            raise InputError(
                f"custom_id column {custom_id!r} is empty (NaN/None) at rows "
                f"{_labels(index, np.flatnonzero(nulls))}"
            )
        source = pd.Series(_strings(col), index=index, dtype=object)
        what = f"custom_id column {custom_id!r}"
    keys = source.to_numpy(dtype=object)
    lengths = source.str.len().to_numpy()
    too_long = np.flatnonzero(lengths > MAX_CUSTOM_ID)
    if too_long.size:
        raise InputError(
            f"{what} longer than {MAX_CUSTOM_ID} characters at rows "
            f"{_labels(index, too_long)}; providers refuse such custom ids: use shorter index "
            "values (e.g. df.reset_index(drop=True)) or custom_id='<column>'"
        )
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        raise InputError(f"{what} is an empty string at rows {_labels(index, empty)}")
    dup_mask = pd.Series(keys, dtype=object).duplicated(keep=False).to_numpy()
    if dup_mask.any():
        raise InputError(
            f"{what} gives duplicate custom ids at rows {_labels(index, np.flatnonzero(dup_mask))}"
            " (after conversion to strings); each row needs a unique id"
        )
    return [str(k) for k in keys]


def _models(df: pd.DataFrame, model: str) -> list[str] | str:
    if not isinstance(model, str) or not model.strip():
        raise InputError(f"model must be a non-empty string, got {model!r}")
    if not model.startswith(MODEL_COLUMN_PREFIX):
        return model
    name = model[len(MODEL_COLUMN_PREFIX) :]
    _require_columns(df, [name], f"model={model!r}")
    col = _column(df, name)
    bad = ~_string_mask(col) | _blank_mask(col)
    if bad.any():
        raise InputError(
            f"model column {name!r} has missing, empty or non-string values at rows "
            f"{_labels(df.index, np.flatnonzero(bad))}"
        )
    return [str(v) for v in col.array]


def _render_template(df: pd.DataFrame, template: str, fields: list[str]) -> list[str]:
    index = df.index
    _require_columns(df, fields, f"prompt template {template!r}")
    blank_all = np.ones(len(df), dtype=bool)
    for name in fields:
        col = _column(df, name)
        nulls = _null_mask(col)
        if nulls.any():
            raise InputError(
                f"column {name!r} (used by the prompt template) is NaN/None at rows "
                f"{_labels(index, np.flatnonzero(nulls))}; fill or drop those rows first"
            )
        bad = ~_scalar_mask(col)
        if bad.any():
            first = col.array[int(np.flatnonzero(bad)[0])]
            raise InputError(
                f"column {name!r} (used by the prompt template) holds "
                f"{type(first).__name__} values, not text or numbers, at rows "
                f"{_labels(index, np.flatnonzero(bad))}"
            )
        blank_all &= _blank_mask(col)
    if fields and blank_all.any():
        raise InputError(
            f"empty prompt: every column the template uses ({', '.join(map(repr, fields))}) "
            f"is empty at rows {_labels(index, np.flatnonzero(blank_all))}"
        )
    if not fields:
        raise InputError(
            f"prompt {template!r} is neither a column nor a template with {{column}} fields; "
            f"available columns: {_available(df)}"
        )
    columns = [df[name].tolist() for name in fields]
    fmt = template.format_map
    try:
        return [
            fmt(dict(zip(fields, values, strict=True))) for values in zip(*columns, strict=False)
        ]
    except (ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
        raise InputError(f"prompt template {template!r} cannot be filled: {exc}") from None


def _render_column(df: pd.DataFrame, name: str) -> list[str]:
    col = _column(df, name)
    index = df.index
    nulls = _null_mask(col)
    if nulls.any():
        raise InputError(
            f"prompt column {name!r} is NaN/None at rows {_labels(index, np.flatnonzero(nulls))}"
        )
    not_str = ~_string_mask(col)
    if not_str.any():
        first = col.array[int(np.flatnonzero(not_str)[0])]
        raise InputError(
            f"prompt column {name!r} holds {type(first).__name__} values, not strings, at rows "
            f"{_labels(index, np.flatnonzero(not_str))}; convert with df[{name!r}].astype(str) "
            "if that is what you mean"
        )
    blank = _blank_mask(col)
    if blank.any():
        raise InputError(
            f"prompt column {name!r} is empty at rows {_labels(index, np.flatnonzero(blank))}"
        )
    return [str(v) for v in col.array]


def _render_callable(
    df: pd.DataFrame, fn: PromptFn
) -> tuple[list[str], list[list[dict[str, Any]] | None]]:
    prompts: list[str] = []
    messages: list[list[dict[str, Any]] | None] = []
    names = [str(c) for c in df.columns]
    index = df.index
    bad: list[int] = []
    why = ""
    for pos, values in enumerate(zip(*(df[c].tolist() for c in df.columns), strict=True)):
        row = Row(zip(names, values, strict=True))
        row.name = _py(index[pos])
        try:
            out = fn(row)
        except Exception as exc:
            raise InputError(
                f"the prompt function failed on row {row.name!r}: {type(exc).__name__}: {exc}"
            ) from exc
        if isinstance(out, str):
            if not out.strip():
                bad.append(pos)
                why = why or "an empty string"
            prompts.append(out)
            messages.append(None)
        elif (
            isinstance(out, list)
            and out
            and all(isinstance(m, Mapping) and "role" in m for m in out)
        ):
            prompts.append("")
            messages.append([dict(m) for m in out])
        else:
            bad.append(pos)
            why = why or f"{type(out).__name__} {out!r:.60}"
            prompts.append("")
            messages.append(None)
    if bad:
        raise InputError(
            f"the prompt function returned {why} at rows {_labels(index, bad)}; it must return "
            "a non-empty string or a list of {'role': ..., 'content': ...} messages"
        )
    return prompts, messages


# -- text that cannot be sent: lone surrogates ------------------------------------------------

_SURROGATE = (
    "a lone surrogate (an unpaired UTF-16 half such as '\\ud800', often left by a bad decode "
    "or a cut emoji: it cannot be encoded as UTF-8, so no API accepts it)"
)
_SURROGATE_FIX = "; replace it first, e.g. text.encode('utf-8', 'replace').decode('utf-8')"


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unencodable(texts: Sequence[str]) -> np.ndarray | None:
    """Positions of texts with a lone surrogate, or None when all encode (one C-speed pass
    over the joined text; the per-text look only runs when something is wrong)."""
    if _encodes("\n".join(texts)):
        return None
    return np.flatnonzero([not _encodes(t) for t in texts])


def _sends_as_json(value: Any) -> bool:
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        return "surrogates" not in str(exc)
    return True


def _check_encodable(
    df: pd.DataFrame,
    spec: PromptSpec,
    models: list[str] | str,
    keys: list[str],
    prompts: list[str],
    messages: list[list[dict[str, Any]] | None] | None,
) -> None:
    """Refuse text with a lone surrogate before anything is sent, naming where it is."""
    index = df.index
    if spec.system is not None and not _encodes(spec.system):
        raise InputError(f"system holds {_SURROGATE}{_SURROGATE_FIX}")
    if spec.params and not _sends_as_json(dict(spec.params)):
        raise InputError(f"params holds {_SURROGATE}{_SURROGATE_FIX}")
    model_list = models if isinstance(models, list) else [models]
    bad = _unencodable(model_list)
    if bad is not None:
        where = f"model column {spec.model[len(MODEL_COLUMN_PREFIX) :]!r} at rows "
        raise InputError(f"{where}{_labels(index, bad)} holds {_SURROGATE}{_SURROGATE_FIX}")
    bad = _unencodable(keys)
    if bad is not None:
        what = "the index" if spec.custom_id is None else f"custom_id column {spec.custom_id!r}"
        raise InputError(f"{what} holds {_SURROGATE} at rows {_labels(index, bad)}{_SURROGATE_FIX}")
    bad = _unencodable(prompts)
    if bad is not None:
        raise InputError(f"{_prompt_source(df, spec, bad)} holds {_SURROGATE}{_SURROGATE_FIX}")
    if messages is not None and not _sends_as_json(messages):
        rows = [i for i, m in enumerate(messages) if m is not None and not _sends_as_json(m)]
        raise InputError(
            f"the messages the prompt function returned at rows {_labels(index, rows)} hold "
            f"{_SURROGATE}{_SURROGATE_FIX}"
        )


def _prompt_source(df: pd.DataFrame, spec: PromptSpec, bad: np.ndarray) -> str:
    """Where the bad prompts at positions ``bad`` came from, with the rows."""
    index, prompt = df.index, spec.prompt
    rows = _labels(index, bad)
    if callable(prompt):
        return f"the text the prompt function returned at rows {rows}"
    assert isinstance(prompt, str)
    if prompt in df.columns:
        return f"prompt column {prompt!r} at rows {rows}"
    if not _encodes(prompt):
        return f"the prompt template {prompt!r}"
    parts = []
    for name in _template_fields(prompt):
        values = df[name].array
        hit = [p for p in bad if not _encodes(str(values[p]))]
        if hit:
            parts.append(
                f"column {name!r} (used by the prompt template) at rows {_labels(index, hit)}"
            )
    return "; ".join(parts) or f"the prompt at rows {rows}"


def _with_attachments(
    df: pd.DataFrame,
    spec: PromptSpec,
    models: list[str] | str,
    prompts: list[str],
    messages: list[list[dict[str, Any]] | None] | None,
) -> list[list[dict[str, Any]] | None]:
    """Each row's messages with its images and documents as parts of the last user message
    (checked against the model's provider's limits, naming the row and column)."""
    from . import images as img

    if spec.detail not in (None, "low", "high", "auto"):
        raise InputError(f"detail must be 'low', 'high' or 'auto', got {spec.detail!r}")
    cols = [c for c in (spec.images, spec.documents) if c is not None]
    _require_columns(df, cols, "images/documents")
    image_col = list(df[spec.images]) if spec.images is not None else None
    doc_col = list(df[spec.documents]) if spec.documents is not None else None
    out: list[list[dict[str, Any]] | None] = []
    for i in range(len(df)):
        label = _py(df.index[i])
        ims = (
            img.load_cell(image_col[i], f"row {label!r}, column {spec.images!r}")
            if image_col is not None
            else []
        )
        docs = (
            img.load_cell(doc_col[i], f"row {label!r}, column {spec.documents!r}")
            if doc_col is not None
            else []
        )
        msgs = messages[i] if messages is not None else None
        if not ims and not docs:
            out.append(msgs)
            continue
        model = models[i] if isinstance(models, list) else models
        where = f"row {label!r}, column {spec.images if ims else spec.documents!r}"
        img.check_row(ims, docs, model, where)
        parts = img.attachment_parts(ims, docs, spec.detail)
        if msgs is None:
            msgs = [{"role": "user", "content": prompts[i]}]
        msgs = [dict(m) for m in msgs]
        last = max((j for j, m in enumerate(msgs) if m.get("role") == "user"), default=None)
        if last is None:
            msgs.append({"role": "user", "content": parts})
        else:
            content = msgs[last].get("content")
            text = [{"type": "text", "text": content}] if isinstance(content, str) else content
            msgs[last]["content"] = [*(text or []), *parts]
        out.append(msgs)
    return out


def build_requests(df: pd.DataFrame, spec: PromptSpec) -> list[BatchRequest]:
    """One :class:`BatchRequest` per row, in row order, after validating every row.

    Raises:
        InputError: before anything is sent, naming the offending rows and columns.
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0:
        raise InputError("the DataFrame has no rows: nothing to run")
    if not df.columns.is_unique:
        dups = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise InputError(f"the DataFrame has duplicate column names: {dups}")
    if spec.system is not None and not isinstance(spec.system, str):
        raise InputError(f"system must be a string or None, got {type(spec.system).__name__}")
    if spec.params is not None and not isinstance(spec.params, Mapping):
        raise InputError(f"params must be a dict or None, got {type(spec.params).__name__}")
    models = _models(df, spec.model)
    keys = row_keys(df, spec.custom_id)
    messages: list[list[dict[str, Any]] | None] | None = None
    prompt = spec.prompt
    if callable(prompt):
        prompts, messages = _render_callable(df, prompt)
    elif isinstance(prompt, str):
        if prompt in df.columns:
            prompts = _render_column(df, prompt)
        else:
            prompts = _render_template(df, prompt, _template_fields(prompt))
    else:
        raise InputError(
            f"prompt must be a column name, a template string or a callable, got "
            f"{type(prompt).__name__}"
        )
    _check_encodable(df, spec, models, keys, prompts, messages)
    if spec.images is not None or spec.documents is not None:
        messages = _with_attachments(df, spec, models, prompts, messages)
    params = dict(spec.params) if spec.params else None
    system = spec.system or None
    base = uuid.uuid4().hex[:12]
    per_row = isinstance(models, list)
    out: list[BatchRequest] = []
    append = out.append
    for i, key in enumerate(keys):
        append(
            BatchRequest(
                prompt=prompts[i],
                model=models[i] if per_row else models,  # type: ignore[arg-type]
                custom_id=key,
                id=f"{base}-{i}",
                system=system,
                messages=messages[i] if messages is not None else None,
                params=params,
            )
        )
    return out


# -- results -----------------------------------------------------------------------------------


def _missing_status(job: BatchJob) -> str:
    status = job.status
    if status == BatchStatus.CANCELLED:
        return "cancelled"
    if status == BatchStatus.EXPIRED:
        return "expired"
    if not status.is_terminal:
        return "pending"
    return "not_run"


_ERROR_STATUS = {"invalid_output": "invalid", "refusal": "refused"}
"""Statuses of failed rows whose answer came back but is not usable (by ``error_type``)."""


def _float(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _expand(responses: list[Any]) -> dict[str, list[Any]]:
    """Flatten dict responses (or JSON-object strings) into ``response.<key>`` columns."""
    parsed: list[dict[str, Any] | None] = []
    keys: dict[str, None] = {}
    for value in responses:
        obj: Any = value
        if isinstance(value, str) and value.lstrip().startswith("{"):
            try:
                obj = orjson.loads(value)
            except orjson.JSONDecodeError:
                obj = None
        if isinstance(obj, dict):
            flat = _flatten(obj, "response")
            keys.update(dict.fromkeys(flat))
            parsed.append(flat)
        else:
            parsed.append(None)
    return {k: [None if p is None else p.get(k) for p in parsed] for k in keys}


def _flatten(obj: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in obj.items():
        name = f"{prefix}.{k}"
        if isinstance(v, Mapping) and v:
            out.update(_flatten(v, name))
        else:
            out[name] = v
    return out


def results_frame(
    job: BatchJob,
    inputs: pd.DataFrame | None = None,
    keys: Sequence[str] | None = None,
    *,
    columns: Sequence[str] | None = None,
    expand: bool = False,
    schema: Any = None,
) -> pd.DataFrame:
    """The results DataFrame of ``job``.

    Args:
        job: the job (finished or not: a snapshot of a running job marks rows without a
            result ``"pending"``).
        inputs: the DataFrame the job was made from; its index and order are kept and its
            columns come first. Without it the index is the requests' ``custom_id``.
        keys: the ``custom_id`` of each input row (as :func:`row_keys` made them); default:
            the job's requests in order.
        columns: input columns to keep (default: all).
        expand: also flatten dict (structured) responses into ``response.<key>`` columns.
        schema: the job's :class:`~brainbatch.structured.OutputSchema` (or a Pydantic class /
            JSON-schema dict): ``response`` holds each checked answer (a model instance, or
            a dict), typed ``response.<field>`` columns follow, and ``raw_response`` keeps
            the answer as received (also for rows whose answer was ``invalid`` or
            ``refused``: those statuses come from the row's ``error_type``).

    Rows without a result get status ``"cancelled"``, ``"expired"`` or ``"not_run"`` after
    the job's final status, and the job's error (why it stopped: the budget reached, a
    budget that cannot be enforced, a refused key...) as their ``error``.
    """
    if keys is None:
        keys = [r.key for r in job.requests]
    if inputs is not None and len(inputs) != len(keys):
        raise InputError(f"inputs has {len(inputs)} rows but keys has {len(keys)}")
    n = len(keys)
    missing = _missing_status(job)
    # a row the job never ran says why the job stopped (budget, unpriced model, key...)
    why = job.error if missing != "pending" and job.error else None
    response: list[Any] = [None] * n
    status: list[str] = [missing] * n
    error: list[str | None] = [why] * n
    latency = np.full(n, np.nan)
    in_tok: list[int | None] = [None] * n
    out_tok: list[int | None] = [None] * n
    cost = np.full(n, np.nan)
    paid = np.full(n, np.nan)
    source: list[str | None] = [None] * n
    model: list[str | None] = [None] * n
    attempts: list[int | None] = [None] * n
    cached = np.zeros(n, dtype=bool)
    finish: list[str | None] = [None] * n
    done_at = np.full(n, np.nan)
    raw: list[Any] = [None] * n
    get_request = job.get_request
    get_result = job.get_result
    for i, key in enumerate(keys):
        req = get_request(key)
        if req is None:
            continue
        model[i] = req.model
        res: BatchResult | None = get_result(req.id)
        if res is None:
            continue
        response[i] = res.result if res.status == "success" else None
        status[i] = _ERROR_STATUS.get(res.error_type or "", res.status)
        if schema is not None and res.error_type in _ERROR_STATUS:
            raw[i] = res.result
        error[i] = res.error
        latency[i] = _float(res.processing_time_ms)
        in_tok[i] = res.input_tokens
        out_tok[i] = res.output_tokens
        cost[i] = _float(res.cost_usd)
        paid[i] = _float(res.paid_usd)
        source[i] = res.price_source
        model[i] = res.model or req.model
        attempts[i] = res.attempts
        cached[i] = res.cached
        finish[i] = res.finish_reason
        done_at[i] = res.completed_at
    if inputs is not None:
        index = inputs.index
        base = inputs if columns is None else inputs[list(columns)]
    else:
        index = pd.Index(list(keys), name="custom_id")
        base = pd.DataFrame(index=index)
    data: dict[str, Any] = {
        "response": pd.array(response, dtype=object),
        "status": pd.array(status, dtype=object),
        "error": pd.array(error, dtype=object),
        "latency_ms": latency,
        "input_tokens": pd.array(in_tok, dtype="Int64"),
        "output_tokens": pd.array(out_tok, dtype="Int64"),
        "cost_usd": cost,
        "paid_usd": paid,
        "price_source": pd.array(source, dtype=object),
        "model": pd.array(model, dtype=object),
        "attempts": pd.array(attempts, dtype="Int64"),
        "cached": cached,
        "finish_reason": pd.array(finish, dtype=object),
        "completed_at": pd.to_datetime(done_at, unit="s", utc=True),
    }
    if schema is not None:
        from .structured import OutputSchema, object_array

        checked, extra, bad = OutputSchema.of(schema).columns(response)
        for i, why in enumerate(bad):
            if why is not None:  # a stored answer that this schema refuses
                status[i], error[i], checked[i] = "invalid", why, None
        raw = [r if r is not None else a for r, a in zip(raw, response, strict=True)]
        data["response"] = object_array(checked)
        data["status"] = pd.array(status, dtype=object)
        data["error"] = pd.array(error, dtype=object)
        items = list(data.items())
        data = dict(items[:1]) | extra | {"raw_response": object_array(raw)}
        data |= dict(items[1:])
    elif expand:
        extra = _expand(response)
        items = list(data.items())
        data = dict(items[:1]) | {k: pd.array(v, dtype=object) for k, v in extra.items()}
        data |= dict(items[1:])
    clash = [c for c in data if c in base.columns]
    if clash:
        base = base.rename(columns={c: f"input_{c}" for c in clash})
    return base.assign(**data)

"""Typed structured output: a Pydantic model (or a JSON schema) in, validated answers out.

``OutputSchema.of(Sentiment)`` turns a Pydantic model class or a JSON-schema dict into

* the request form every provider accepts: OpenAI's ``response_format`` of type
  ``json_schema`` with ``strict: true`` (:meth:`OutputSchema.response_format`). Strict mode
  needs ``additionalProperties: false`` and every property required on each object, so the
  schema is rewritten that way (a field with a default becomes required: the model always
  answers it; an optional ``X | None`` field is answered ``null``). What strict mode cannot
  express (free-form ``dict[str, ...]`` keys, ``patternProperties``, ``not``, ``if``...) is
  refused with an :class:`~brainbatch.errors.InputError` naming the field, before anything is
  sent. Anthropic gets the same schema as ``output_config.format`` (its native structured
  output; constraints it does not take, such as ``minimum`` or ``maxLength``, move into the
  field's description: :func:`anthropic_schema`);
* a check of each answer (:meth:`OutputSchema.validate`: Pydantic's own validation for a
  model class, JSON Schema 2020-12 for a dict);
* typed result columns (:meth:`OutputSchema.columns`): ``response.<field>`` with a dtype from
  the schema (integer ``Int64``, number ``float64``, boolean ``boolean``, string ``string``,
  ``date-time`` / ``date`` strings ``datetime64[ns, UTC]``, enums and Literals
  ``category``; nested objects, lists and unions Python objects).

An answer that does not validate raises :class:`InvalidAnswer` (``error_type``
``"invalid_output"``); a refusal (OpenAI's ``message.refusal``, Anthropic's ``stop_reason:
"refusal"``) raises :class:`Refused` (``"refusal"``). Both carry the answer, its tokens and
its cost, so the row keeps the raw text and what it cost. :func:`checking` retries invalid
answers in real time (``attempts`` tries in all, every try's tokens and cost added up).

Token counts: the providers put the schema into the prompt in their own (undocumented)
format; estimates count the compact JSON text of the schema as one more prompt message
(:func:`schema_text`), which is what both providers bill it close to.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import orjson
import pandas as pd

from .errors import InputError, ProviderError
from .models import BatchRequest, ProviderResponse

__all__ = [
    "DEFAULT_SCHEMA_ATTEMPTS",
    "INVALID_OUTPUT",
    "REFUSAL",
    "InvalidAnswer",
    "OutputSchema",
    "Refused",
    "anthropic_schema",
    "checking",
    "object_array",
    "schema_text",
    "strict_schema",
]

INVALID_OUTPUT = "invalid_output"
"""``error_type`` of a row whose answer did not validate (its status in results: ``invalid``)."""

REFUSAL = "refusal"
"""``error_type`` of a row the model refused to answer (its status in results: ``refused``)."""

DEFAULT_SCHEMA_ATTEMPTS = 3
"""Tries per row (the first included) when answers fail validation, in real time."""

_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")

# keywords OpenAI's strict mode has no way to honour: refused, naming the field
_UNSUPPORTED = (
    "patternProperties",
    "unevaluatedProperties",
    "not",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
    "propertyNames",
)
# string formats strict mode knows; others are dropped from the sent form (still validated)
_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
)
# constraints Anthropic's structured output does not take: moved into the description
_ANTHROPIC_MOVE = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "maxItems",
)


class InvalidAnswer(ProviderError):
    """The answer did not validate against the schema; ``response`` is the answer (raw result,
    tokens, cost), ``attempts`` how many times the row was sent."""

    kind = INVALID_OUTPUT

    def __init__(self, message: str, response: ProviderResponse) -> None:
        super().__init__(message, provider_request_id=response.provider_request_id)
        self.response = response
        self.attempts = response.attempts


class Refused(ProviderError):
    """The model refused to answer; ``response`` holds the refusal text, tokens and cost."""

    kind = REFUSAL

    def __init__(self, message: str, response: ProviderResponse) -> None:
        super().__init__(message, provider_request_id=response.provider_request_id)
        self.response = response
        self.attempts = response.attempts


# -- the strict form -----------------------------------------------------------------------------


def _where(path: str) -> str:
    return f"field {path!r}" if path else "the schema's top level"


def _strict_node(node: Any, path: str) -> Any:
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key in _UNSUPPORTED:
        if key in node:
            raise InputError(
                f"schema: {_where(path)} uses {key!r}, which OpenAI's strict structured output "
                "cannot express; simplify that field"
            )
    for key, value in node.items():
        if key in ("default", "title", "discriminator", "examples"):
            continue
        if key == "format" and value not in _FORMATS:
            continue
        if key == "properties" and isinstance(value, Mapping):
            out[key] = {
                name: _strict_node(sub, f"{path}.{name}" if path else str(name))
                for name, sub in value.items()
            }
        elif key in ("$defs", "definitions") and isinstance(value, Mapping):
            out[key] = {name: _strict_node(sub, f"${name}") for name, sub in value.items()}
        elif key in ("anyOf", "oneOf", "allOf", "prefixItems") and isinstance(value, list):
            out["anyOf" if key == "oneOf" else key] = [_strict_node(v, path) for v in value]
        elif key == "items":
            out[key] = _strict_node(value, f"{path}[]")
        elif key == "additionalProperties":
            continue  # decided below
        else:
            out[key] = value
    if "allOf" in out and len(out["allOf"]) == 1 and isinstance(out["allOf"][0], Mapping):
        out.update(out.pop("allOf")[0])
    is_object = node.get("type") == "object" or "properties" in node
    if is_object:
        extra = node.get("additionalProperties", False)
        if extra not in (False, None) or "properties" not in node:
            raise InputError(
                f"schema: {_where(path)} is a free-form mapping (dict[str, ...] or an object "
                "without fixed properties); OpenAI's strict structured output needs every key "
                "named: use a nested model, or a list of key/value models"
            )
        out["additionalProperties"] = False
        out["required"] = list(out.get("properties", {}))
    return out


def strict_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` rewritten for OpenAI's strict mode (see the module docs).

    Raises:
        InputError: the top level is not an object, or a field cannot be expressed.
    """
    if not isinstance(schema, Mapping):
        raise InputError(f"schema must be a JSON-schema dict, got {type(schema).__name__}")
    if schema.get("type") != "object" and "properties" not in schema:
        raise InputError(
            "schema: the top level must be an object with properties (structured output "
            f"answers are JSON objects), got type {schema.get('type')!r}"
        )
    out = _strict_node(schema, "")
    assert isinstance(out, dict)
    return out


def anthropic_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A strict schema as Anthropic's ``output_config.format`` takes it: constraints it does
    not support (``minimum``, ``maxLength``, ``minItems`` above 1...) are moved into the
    field's ``description`` (the answer is still validated against all of them)."""

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, Mapping):
            return node
        out: dict[str, Any] = {}
        moved: list[str] = []
        for key, value in node.items():
            if key in _ANTHROPIC_MOVE or (key == "minItems" and value not in (0, 1)):
                moved.append(f"{key}: {value}")
            elif key in ("properties", "$defs", "definitions") and isinstance(value, Mapping):
                out[key] = {k: walk(v) for k, v in value.items()}
            else:
                out[key] = walk(value)
        if moved:
            note = "{" + ", ".join(moved) + "}"
            out["description"] = f"{out['description']} {note}" if "description" in out else note
        return out

    result = walk(schema)
    assert isinstance(result, dict)
    return result


def schema_text(params: Mapping[str, Any] | None) -> str | None:
    """The compact JSON of the schema a request's params ask for, for token estimates."""
    if not params:
        return None
    fmt = params.get("response_format")
    schema: Any = None
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
    config = params.get("output_config")
    if schema is None and isinstance(config, Mapping) and isinstance(config.get("format"), Mapping):
        schema = config["format"].get("schema")
    return None if schema is None else orjson.dumps(schema).decode()


# -- columns --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Field:
    name: str  # the JSON property name (an alias, when the model has one)
    attr: str  # the attribute on the model instance
    kind: str  # int, float, bool, string, datetime, category, object
    categories: tuple[Any, ...] = ()


def _resolve(node: Any, defs: Mapping[str, Any]) -> Any:
    for _ in range(20):
        if not isinstance(node, Mapping) or "$ref" not in node:
            return node
        ref = str(node["$ref"])
        node = defs.get(ref.rsplit("/", 1)[-1], {})
    return node


def _kind(node: Any, defs: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
    node = _resolve(node, defs)
    if not isinstance(node, Mapping):
        return "object", ()
    branches = node.get("anyOf") or node.get("oneOf")
    if isinstance(branches, list):
        real = [b for b in branches if _resolve(b, defs) != {"type": "null"}]
        if len(real) == 1:
            return _kind(real[0], defs)
        return "object", ()
    if "enum" in node:
        return "category", tuple(v for v in node["enum"] if v is not None)
    if "const" in node:
        return "category", (node["const"],)
    kind = node.get("type")
    if isinstance(kind, list):
        real_types = [k for k in kind if k != "null"]
        kind = real_types[0] if len(real_types) == 1 else None
    if kind == "integer":
        return "int", ()
    if kind == "number":
        return "float", ()
    if kind == "boolean":
        return "bool", ()
    if kind == "string":
        return ("datetime", ()) if node.get("format") in ("date-time", "date") else ("string", ())
    return "object", ()


def object_array(values: list[Any]) -> np.ndarray:
    """``values`` as a 1-d object array, element by element (numpy would probe each model
    instance for ``__array__`` and friends: 10x slower on Pydantic models)."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


def _column(values: list[Any], f: _Field) -> Any:
    if f.kind == "int":
        return pd.array(values, dtype="Int64")
    if f.kind == "float":
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    if f.kind == "bool":
        return pd.array(values, dtype="boolean")
    if f.kind == "string":
        return pd.array([None if v is None else str(v) for v in values], dtype="string")
    if f.kind == "datetime":
        return pd.to_datetime(pd.Series(values, dtype=object), utc=True, errors="coerce").array
    if f.kind == "category":
        plain = [v.value if isinstance(v, enum.Enum) else v for v in values]
        return pd.Categorical(plain, categories=list(dict.fromkeys(f.categories)))
    return object_array(values)


# -- the schema -----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class OutputSchema:
    """One structured-output schema: what is sent, how answers are checked, which columns.

    Make it with :meth:`of`. ``model`` is the Pydantic class (None for a JSON-schema dict, or
    for a job resumed from the store without its class: answers are then dicts checked against
    the stored schema).
    """

    name: str
    json_schema: dict[str, Any]
    strict: dict[str, Any]
    model: Any = None
    fields: tuple[_Field, ...] = field(default=(), repr=False)
    _validator: Any = field(default=None, repr=False)

    @classmethod
    def of(cls, schema: Any) -> OutputSchema:
        """From a Pydantic model class, a JSON-schema dict (``{"title": ..., "type":
        "object", ...}``) or an OutputSchema.

        Raises:
            InputError: anything else, or a schema strict mode cannot express.
        """
        if isinstance(schema, OutputSchema):
            return schema
        if isinstance(schema, type) and hasattr(schema, "model_json_schema"):
            json_schema = schema.model_json_schema()
            name = schema.__name__
            model: Any = schema
        elif isinstance(schema, Mapping):
            json_schema = copy.deepcopy(dict(schema))
            name = str(json_schema.get("title") or "response")
            model = None
        else:
            raise InputError(
                "schema must be a Pydantic model class or a JSON-schema dict, got "
                f"{type(schema).__name__}"
            )
        name = "".join(c if c in _NAME_OK else "_" for c in name)[:64] or "response"
        strict = strict_schema(json_schema)
        defs = {**json_schema.get("definitions", {}), **json_schema.get("$defs", {})}
        aliases: dict[str, str] = {}
        if model is not None:
            for attr, info in model.model_fields.items():
                aliases[info.alias or attr] = attr
        fields = []
        for prop, sub in (json_schema.get("properties") or {}).items():
            kind, cats = _kind(sub, defs)
            fields.append(_Field(str(prop), aliases.get(prop, str(prop)), kind, cats))
        validator = None
        if model is None:
            import jsonschema  # type: ignore[import-untyped]

            try:
                validator = jsonschema.Draft202012Validator(json_schema)
                jsonschema.Draft202012Validator.check_schema(json_schema)
            except jsonschema.SchemaError as exc:
                raise InputError(f"schema is not a valid JSON schema: {exc.message}") from None
        return cls(name, json_schema, strict, model, tuple(fields), validator)

    # -- what is sent ----------------------------------------------------------------------------

    def response_format(self) -> dict[str, Any]:
        """OpenAI's ``response_format`` for this schema (strict mode); the Anthropic provider
        sends it as ``output_config.format``."""
        return {
            "type": "json_schema",
            "json_schema": {"name": self.name, "strict": True, "schema": self.strict},
        }

    def add_to(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """``params`` with this schema's ``response_format``.

        Raises:
            InputError: ``params`` already asks for an output format.
        """
        out = dict(params or {})
        for key in ("response_format", "output_config", "tools", "tool_choice"):
            if key in out:
                raise InputError(
                    f"schema= and params[{key!r}] both set the answer's form; pass only schema="
                )
        out["response_format"] = self.response_format()
        return out

    # -- the journal -----------------------------------------------------------------------------

    def spec(self) -> dict[str, Any]:
        """JSON-able form kept with the job (the class itself cannot be stored; the store
        may sort keys, so the fields' order is kept as a list)."""
        model = self.model
        where = None if model is None else f"{model.__module__}.{model.__qualname__}"
        return {
            "name": self.name,
            "json_schema": self.json_schema,
            "fields": [f.name for f in self.fields],
            "model": where,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> OutputSchema:
        """Back from :meth:`spec`: a dict schema (answers come back as checked dicts)."""
        schema = copy.deepcopy(dict(spec["json_schema"]))
        props = schema.get("properties")
        order = spec.get("fields")
        if isinstance(props, Mapping) and isinstance(order, list):
            ranks = {name: i for i, name in enumerate(order)}
            schema["properties"] = dict(
                sorted(props.items(), key=lambda kv: ranks.get(kv[0], len(ranks)))
            )
        made = cls.of(schema)
        return replace(made, name=str(spec.get("name") or made.name))

    def same_as(self, other: OutputSchema) -> bool:
        """Both ask the provider for the same JSON (key order aside)."""
        return bool(_canonical(self.strict) == _canonical(other.strict))

    # -- checking answers ------------------------------------------------------------------------

    def validate(self, value: Any) -> Any:
        """The checked answer: a model instance (for a class) or the dict.

        Raises:
            ValueError: the answer is not JSON or does not follow the schema (the message
                says where).
        """
        if self.model is not None:
            from pydantic import ValidationError

            try:
                if isinstance(value, str | bytes):
                    return self.model.model_validate_json(value)
                return self.model.model_validate(value)
            except ValidationError as exc:
                raise ValueError(_short(exc)) from None
        obj = value
        if isinstance(value, str | bytes):
            try:
                obj = orjson.loads(value)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"the answer is not JSON: {exc}") from None
        errors = sorted(self._validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.absolute_path) or "(top level)"
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise ValueError(f"{where}: {first.message}{more}")
        return obj

    def check(self, response: ProviderResponse) -> ProviderResponse:
        """``response`` if its answer validates.

        Raises:
            Refused: the model refused (``finish_reason`` ``"refusal"``, or
                ``"content_filter"`` as Anthropic's ``stop_reason: "refusal"`` is reported).
            InvalidAnswer: the answer does not follow the schema.
        """
        if response.finish_reason in (REFUSAL, "content_filter"):
            raise Refused(f"the model refused to answer: {response.result!s:.200}", response)
        try:
            self.validate(response.result)
        except ValueError as exc:
            raise InvalidAnswer(
                f"the answer does not follow schema {self.name}: {exc}", response
            ) from None
        return response

    # -- results ---------------------------------------------------------------------------------

    def columns(self, answers: list[Any]) -> tuple[list[Any], dict[str, Any], list[str | None]]:
        """For each row's answer (None where the row has none): the checked value (model
        instance or dict), the ``response.<field>`` columns, and the validation error of rows
        whose stored answer does not validate (e.g. a stricter model given on resume)."""
        checked: list[Any] = [None] * len(answers)
        errors: list[str | None] = [None] * len(answers)
        for i, value in enumerate(answers):
            if value is None:
                continue
            try:
                checked[i] = self.validate(value)
            except ValueError as exc:
                errors[i] = f"the answer does not follow schema {self.name}: {exc}"
        cols: dict[str, Any] = {}
        for f in self.fields:
            if self.model is not None:
                values = [None if c is None else getattr(c, f.attr, None) for c in checked]
            else:
                values = [None if c is None else c.get(f.name) for c in checked]
            cols[f"response.{f.name}"] = _column(values, f)
        return checked, cols, errors


def _canonical(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {
            k: sorted(v) if k == "required" and isinstance(v, list) else _canonical(v)
            for k, v in sorted(node.items())
        }
    if isinstance(node, list):
        return [_canonical(v) for v in node]
    return node


def _short(exc: Any) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "(top level)"
        parts.append(f"{where}: {err.get('msg')}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


# -- real time: check, retry ---------------------------------------------------------------------


def _add(total: ProviderResponse, more: ProviderResponse) -> ProviderResponse:
    def plus(a: Any, b: Any) -> Any:
        if a is None:
            return b
        return a if b is None else a + b

    return replace(
        more,
        input_tokens=plus(total.input_tokens, more.input_tokens),
        output_tokens=plus(total.output_tokens, more.output_tokens),
        cached_tokens=plus(total.cached_tokens, more.cached_tokens),
        cost_usd=plus(total.cost_usd, more.cost_usd),
        latency_ms=plus(total.latency_ms, more.latency_ms),
        attempts=total.attempts + more.attempts,
    )


def checking(
    fn: Callable[[BatchRequest], Awaitable[Any]], schema: OutputSchema, attempts: int
) -> Callable[[BatchRequest], Awaitable[ProviderResponse]]:
    """``fn`` whose answers are checked against ``schema``; an invalid answer is asked again,
    up to ``attempts`` tries in all. The returned answer counts every try's tokens, cost and
    sends; after the last invalid try :class:`InvalidAnswer` carries them. A refusal is not
    asked again."""

    async def checked(request: BatchRequest) -> ProviderResponse:
        total: ProviderResponse | None = None
        for tries in range(1, attempts + 1):
            out = await fn(request)
            if not isinstance(out, ProviderResponse):
                out = ProviderResponse(result=out)
            total = out if total is None else _add(total, out)
            try:
                return schema.check(total)
            except InvalidAnswer:
                if tries == attempts:
                    raise
        raise AssertionError("unreachable")  # attempts >= 1

    return checked

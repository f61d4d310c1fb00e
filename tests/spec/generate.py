"""Instances of the documents' schemas, generated from the schemas themselves.

A small seeded generator over JSON Schema 2020-12 (``type``, ``const``, ``enum``,
``properties``/``required``, ``items``, ``minItems``, ``anyOf``/``oneOf``/``allOf``,
``$ref``, string and number bounds, ``pattern``): each optional property is present or not
by a seeded coin, each ``anyOf``/``oneOf`` branch picked by one. Every instance is checked
with the compiled validator of the same schema and only valid ones are returned, so what
this yields is spec-valid by construction and by check. (``hypothesis-jsonschema`` 0.23,
the maintained generator on PyPI, does not run with current Hypothesis releases: it fails
with ``AttributeError: 'many' object has no attribute 'more'``.)
"""

from __future__ import annotations

import random
import re
import string
from typing import Any

from .documents import PROVIDERS, Document, document

__all__ = ["generate", "instances"]

_WORDS = ["alpha", "Beta", "gamma-1", "d_2", "ok", "x"]
_MAX_DEPTH = 7


class _Gen:
    def __init__(self, doc: Document, rng: random.Random) -> None:
        self.doc = doc
        self.rng = rng

    def resolve(self, schema: Any) -> tuple[Document, Any]:
        doc = self.doc
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            ref = schema["$ref"]
            if not ref.startswith("#"):
                uri, _, frag = ref.partition("#")
                doc = document(next(p for p in PROVIDERS if uri.endswith(":" + p)))
                ref = "#" + frag
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            target = doc.resolve({"$ref": ref})
            schema = {**target, **rest} if rest else target
        return doc, schema

    def value(self, schema: Any, depth: int = 0) -> Any:
        doc, schema = self.resolve(schema)
        if doc is not self.doc:
            return _Gen(doc, self.rng).value(schema, depth)
        if schema is True or schema == {}:
            return self.rng.choice(["any", 1, None])
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self.rng.choice(schema["enum"])
        for key in ("oneOf", "anyOf"):
            if key in schema:
                branches = schema[key]
                if depth >= _MAX_DEPTH and {"type": "null"} in branches:
                    return None
                base = {k: v for k, v in schema.items() if k != key}
                return self.value(_merge(base, self.resolve(self.rng.choice(branches))[1]), depth)
        if "allOf" in schema:
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                merged = _merge(merged, self.resolve(part)[1])
            return self.value(merged, depth)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = "null" if depth >= _MAX_DEPTH and "null" in kind else self.rng.choice(kind)
        if kind is None:
            kind = "object" if "properties" in schema else "string"
        return getattr(self, "_" + kind)(schema, depth)

    def _null(self, schema: dict[str, Any], depth: int) -> None:
        return None

    def _boolean(self, schema: dict[str, Any], depth: int) -> bool:
        return self.rng.random() < 0.5

    def _integer(self, schema: dict[str, Any], depth: int) -> int:
        low = int(schema.get("minimum", 0))
        high = int(schema.get("maximum", low + 1000))
        return self.rng.randint(low, high)

    def _number(self, schema: dict[str, Any], depth: int) -> float:
        low = float(schema.get("minimum", 0.0))
        high = float(schema.get("maximum", low + 2.0))
        return round(self.rng.uniform(low, high), 3)

    def _string(self, schema: dict[str, Any], depth: int) -> str:
        fmt = schema.get("format")
        if fmt == "date-time":
            return "2026-01-02T03:04:05Z"
        if fmt in ("uri", "url"):
            return "https://example.com/a"
        low, high = int(schema.get("minLength", 0)), int(schema.get("maxLength", 24))
        pattern = schema.get("pattern")
        candidates = [
            "".join(self.rng.choice(string.ascii_letters + "_-") for _ in range(n))
            for n in (max(low, 1), max(low, 5), max(low, 12))
        ] + [w for w in _WORDS if low <= len(w) <= high]
        if pattern is not None:
            found = [c for c in candidates if re.search(pattern, c) and low <= len(c) <= high]
            return self.rng.choice(found) if found else ""
        text = self.rng.choice([*candidates, "", "text with spaces", "ünï"])
        return text[:high] if len(text) >= low else text + "x" * (low - len(text))

    def _array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        low = int(schema.get("minItems", 0))
        high = min(int(schema.get("maxItems", low + 2)), low + 2)
        n = low if depth >= _MAX_DEPTH else self.rng.randint(low, high)
        return [self.value(schema.get("items", {}), depth + 1) for _ in range(n)]

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        required = set(schema.get("required", []))
        out: dict[str, Any] = {}
        for name, sub in schema.get("properties", {}).items():
            if name in required or (depth < _MAX_DEPTH and self.rng.random() < 0.5):
                out[name] = self.value(sub, depth + 1)
        return out


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Both schemas at once, roughly: ``b``'s keywords win, properties and required add up
    (a property both name gets both schemas)."""
    props = dict(a.get("properties", {}))
    for name, sub in b.get("properties", {}).items():
        props[name] = {"allOf": [props[name], sub]} if name in props else sub
    out = {**a, **b}
    if props:
        out["properties"] = props
    if "required" in a or "required" in b:
        out["required"] = [*a.get("required", []), *b.get("required", [])]
    return out


def generate(doc: Document, schema: dict[str, Any], seed: int) -> Any:
    """One instance of ``schema`` (its ``$ref``s read in ``doc``); may be invalid."""
    return _Gen(doc, random.Random(seed)).value(schema)


def instances(doc: Document, schema: dict[str, Any], n: int, key: str) -> list[Any]:
    """``n`` distinct seeds' worth of valid instances of ``schema`` (checked with the compiled
    validator; invalid draws are skipped). Raises if fewer than half the draws are valid: the
    generator would then test too little."""
    validator = doc.compile(schema, f"brainbatch:generate:{key}")
    out: list[Any] = []
    tries = 0
    while len(out) < n:
        value = generate(doc, schema, seed=tries)
        tries += 1
        if validator.is_valid(value):
            out.append(value)
        if tries > 2 * n and len(out) < tries // 2:
            raise AssertionError(f"{key}: only {len(out)} of {tries} generated instances are valid")
    return out

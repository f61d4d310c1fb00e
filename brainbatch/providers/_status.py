"""The one map from an HTTP answer to a brainbatch error, for every HTTP path.

Real-time requests (:meth:`HttpProvider.error_for <brainbatch.providers.http.HttpProvider>`)
and every Batch API call (:meth:`BatchBackend.call <brainbatch.batchapi.base.BatchBackend>`)
classify a failed answer here, so a status means the same thing everywhere (in the style of
openai-python's ``_make_status_error``):

=============  =============================================  =========================
status         error                                          retried
=============  =============================================  =========================
3xx            :class:`PermanentError`, kind ``"redirect"``   never: redirects are not
                                                              followed (the key would go
                                                              with them)
401, 403       :class:`AuthenticationError` (stops the job)   no
408            :class:`TransientError`, kind ``"timeout"``    yes
409            :class:`TransientError`, kind ``"conflict"``   yes
429            :class:`RateLimitError` with ``retry_after``   yes, after the hint
429 capacity   :class:`TransientError`, kind ``"capacity"``   yes, with backoff (flex)
5xx            :class:`ServerError`                           yes
other 4xx      :class:`PermanentError`                        no
=============  =============================================  =========================

A ``Retry-After`` / ``retry-after-ms`` hint is kept on any error as ``retry_after``. The
provider's own text (``type: message`` from a JSON error body, else the start of the body)
always goes through :func:`brainbatch.secrets.redact`.

A ``200`` whose body is an error object (``{"error": {...}}``, as OpenRouter and some
gateways send) is classified by :func:`answer_error`: by its numeric ``code`` when that is an
HTTP status, else by its ``type``/``code`` name, else :class:`PermanentError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urljoin

import orjson

from ..errors import (
    AuthenticationError,
    PermanentError,
    ProviderError,
    RateLimitError,
    ServerError,
    TransientError,
)
from ..limits import parse_retry_after
from ..secrets import Secret, is_secret_header, redact

__all__ = ["answer_error", "body_message", "error_detail", "header_secrets", "status_error"]

MAX_MESSAGE_CHARS = 500
"""The longest provider text kept in an error message."""

# error "type"/"code" names (OpenAI, Anthropic, compatible servers) -> the status they mean
_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "invalid_api_key": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "api_error": 500,
    "server_error": 500,
    "overloaded_error": 529,
    "timeout_error": 504,
    # Google's canonical status names (Gemini: {"error": {"code", "message", "status"}})
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "DATA_LOSS": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


def error_detail(payload: Any) -> tuple[str | None, str | None]:
    """``(message, type)`` of a JSON error body, each None when it has none.

    Understands ``{"error": {"message", "type" | "code"}}`` (OpenAI, Anthropic),
    ``{"error": {"code": 429, "message", "status"}}`` (Google),
    ``{"error": "text"}``, ``{"message", "type"}`` (vLLM) and ``{"detail": "text"}``.
    """
    if not isinstance(payload, dict):
        return None, None
    err = payload.get("error")
    if isinstance(err, dict):
        message = err.get("message")
        kind = err.get("type") or err.get("code")
        if not isinstance(kind, str):  # Google: {"code": 429, "status": "RESOURCE_EXHAUSTED"}
            kind = err.get("status")
        return (
            message if isinstance(message, str) and message else None,
            kind if isinstance(kind, str) and kind else None,
        )
    if isinstance(err, str) and err:
        return err, None
    for name in ("message", "detail"):
        value = payload.get(name)
        if isinstance(value, str) and value:
            kind = payload.get("type")
            return value, kind if isinstance(kind, str) and kind else None
    return None, None


CAPACITY_CODES = frozenset({"resource_unavailable"})
"""Error codes of a 429 that means "no capacity for this service tier right now" (OpenAI's
flex processing), not "you went over your rate limit": retried with backoff, without pausing
the other workers."""


def error_code(content: bytes) -> str | None:
    """The ``error.code`` of a JSON error body, or None."""
    try:
        payload = orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        return None
    err = payload.get("error") if isinstance(payload, dict) else None
    code = err.get("code") if isinstance(err, dict) else None
    return code if isinstance(code, str) and code else None


def _join(message: str | None, kind: str | None) -> str | None:
    if message and kind:
        return f"{kind}: {message}"
    return message or kind


def body_message(content: bytes) -> str:
    """The provider's text from an error answer's body: ``type: message`` from a JSON error
    object, else the start of the body, else ``"(no body)"`` (not yet redacted)."""
    if content:
        try:
            text = _join(*error_detail(orjson.loads(content)))
        except orjson.JSONDecodeError:
            text = None
        if text:
            return text
    return content[:300].decode("utf-8", "replace").strip() or "(no body)"


def header_secrets(headers: Mapping[str, str]) -> list[str]:
    """The credentials in ``headers`` (``Bearer`` stripped), for :func:`redact`."""
    out = []
    for name, value in headers.items():
        if is_secret_header(name) and value:
            out.append(value)
            if value.lower().startswith("bearer "):
                out.append(value[7:].strip())
    return out


def _sentence(text: str) -> str:
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else text + "."


def status_error(
    status: int,
    message: str,
    headers: Mapping[str, str],
    *,
    source: str,
    what: str | None = None,
    url: str | None = None,
    key_env: str | None = None,
    secrets: Iterable[Secret | str | None] = (),
    request_id_header: str = "x-request-id",
    answered: int | None = None,
    code: str | None = None,
) -> ProviderError:
    """The brainbatch error for an HTTP answer with ``status`` (see the module table).

    Args:
        status: the HTTP status (or, with ``answered``, the status the error body means).
        message: the provider's own error text (:func:`body_message`); redacted here.
        headers: the answer's headers (``Location``, ``Retry-After``, request id).
        source: the provider's name, first in the message (``"openai HTTP 429: ..."``).
        what: the API call, for Batch API calls (``"status of batch b1"``): the message then
            starts ``"status of batch b1: openai HTTP 503: ..."``.
        url: the URL that was called (a relative ``Location`` is shown resolved against it).
        key_env: the environment variable of the key, named in an authentication error.
        secrets: the key(s) to hide from the text besides anything that looks like a key.
        request_id_header: the provider's request id header (``x-request-id``,
            ``request-id``; both are looked at).
        answered: the status actually answered when it differs from ``status`` (a 200 with an
            error body).
        code: the error body's ``code`` (:func:`error_code`); a 429 with a code in
            :data:`CAPACITY_CODES` is a :class:`TransientError` of kind ``"capacity"``.
    """
    prefix = f"{what}: " if what else ""
    shown = status if answered is None else answered
    text = f"{prefix}{source} HTTP {shown}"
    if answered is not None:
        text += " with an error body"
    rid = headers.get(request_id_header) or headers.get("x-request-id") or headers.get("request-id")
    retry_after = parse_retry_after(headers)
    common: dict[str, Any] = {
        "status_code": shown,
        "provider_request_id": rid,
        "retry_after": retry_after,
    }
    secrets = tuple(secrets)
    if 300 <= status < 400:
        location = headers.get("location")
        if location:
            target = urljoin(url, location) if url else location
            why = f"the server redirected to {redact(target, *secrets)}"
        else:
            why = "a redirect status without a Location"
        return PermanentError(
            f"{text}: {why}; brainbatch never follows redirects on API calls (the key would go "
            f"with it): fix base_url",
            kind="redirect",
            **common,
        )
    text = f"{text}: {redact(message[:MAX_MESSAGE_CHARS], *secrets)}"
    if status in (401, 403):
        where = f"{key_env} or api_key=" if key_env else "api_key="
        if status == 401:
            hint = f"The provider refused the API key, so the job stopped; check {where}."
        else:
            hint = (
                "The provider does not allow this API key to do this, so the job stopped; "
                f"check the key's permissions ({where})."
            )
        return AuthenticationError(f"{_sentence(text)} {hint}", **common)
    if status == 429:
        if code in CAPACITY_CODES:  # the tier has no room now: not the caller's rate limit
            return TransientError(text, kind="capacity", **common)
        return RateLimitError(text, **common)
    if status == 408:
        return TransientError(text, kind="timeout", **common)
    if status == 409:
        return TransientError(text, kind="conflict", **common)
    if status >= 500:
        return ServerError(text, **common)
    if status >= 400:
        return PermanentError(text, **common)
    return PermanentError(
        f"{text} (not an answer this call expects)", kind="unexpected_status", **common
    )


def answer_error(
    payload: Any,
    headers: Mapping[str, str] | None = None,
    *,
    source: str,
    status: int = 200,
    **kw: Any,
) -> ProviderError | None:
    """The error a successful-looking answer carries (``{"error": {...}}``), or None.

    The class comes from the error's numeric ``code`` when it is an HTTP error status, else
    from its ``type``/``code`` name (``rate_limit_error`` -> :class:`RateLimitError`,
    ``overloaded_error`` -> :class:`ServerError`...), else :class:`PermanentError`. The
    message keeps the provider's text. ``kw`` go to :func:`status_error`.
    """
    if not isinstance(payload, dict):
        return None
    err = payload.get("error")
    if not isinstance(err, dict | str) or not err:
        return None
    message, kind = error_detail(payload)
    meant = 400
    code = err.get("code") if isinstance(err, dict) else None
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code < 600:
        meant = code
    elif kind is not None:
        meant = _TYPE_STATUS.get(kind, 400)
    text = _join(message, kind) or "(an error without a message)"
    return status_error(meant, text, headers or {}, source=source, answered=status, **kw)

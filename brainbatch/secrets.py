"""The one rule for what is secret: credentials and the headers that carry them.

brainbatch never alters what the user wrote. Request bodies (prompts, ``params``, metadata)
are sent, stored and resumed byte for byte, whatever words they contain: an API key belongs
in a header, never in a body. What *is* secret, and therefore never shown, logged or stored:

* a :class:`Secret` (the provider's key object), whose repr is ``Secret('***')``;
* headers that carry credentials (:func:`is_secret_header`): ``Authorization``,
  ``x-api-key``, ``api-key``, ``x-goog-api-key``, ``Proxy-Authorization``, ``Cookie``;
* settings that are credentials (:func:`is_credential`): ``api_key``, ``password``,
  ``access_token``... by exact name, never by a substring (``default_output_tokens``,
  ``adapt_to_headers`` and ``key_env`` are ordinary settings and are kept);
* in free text from outside (a provider's error message, a URL), anything that looks like a
  key (:func:`redact`): ``sk-...``, ``Bearer ...``, ``AIza...``, ``?key=...``.

:func:`public_settings` applies the rule to a mapping of settings, for storing a job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MASK",
    "Secret",
    "is_credential",
    "is_secret_header",
    "public_settings",
    "redact",
]

MASK = "***"
"""What a secret is replaced by in text."""

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "cookie",
        "set-cookie",
    }
)

CREDENTIAL_NAMES = frozenset(
    {
        "api_key",
        "apikey",
        "key",
        "token",
        "secret",
        "password",
        "access_token",
        "auth_token",
        "bearer_token",
        "refresh_token",
        "client_secret",
        "private_key",
        "credentials",
    }
)

_KEYLIKE = re.compile(
    r"\b(?:sk|sk-ant|sk-or|sk-proj)-[A-Za-z0-9_\-*.]{4,}"
    r"|Bearer\s+[A-Za-z0-9._~+/=\-]{8,}"
    r"|\bAIza[0-9A-Za-z_\-]{20,}"
    r"|\bxai-[A-Za-z0-9]{16,}"
    r"|(?:(?<=[?&]key=)|(?<=[?&]api_key=)|(?<=[?&]apikey=)|(?<=[?&]token=))[^&#\s]+",
    re.IGNORECASE,
)


class Secret:
    """A string that never shows itself in a repr, ``str()``, f-string or pickle."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself (only for building request headers)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


def is_secret_header(name: str) -> bool:
    """True for a header that carries a credential (compared case-insensitively)."""
    return name.strip().lower() in SECRET_HEADERS


def is_credential(name: str) -> bool:
    """True for a setting that is a credential: ``api_key``, ``password``, ``access_token``...

    Exact names only (case-insensitive, ``-`` same as ``_``), plus any name ending in
    ``_api_key``: ``max_tokens`` or ``key_env`` are not credentials.
    """
    low = name.strip().lower().replace("-", "_")
    return low in CREDENTIAL_NAMES or low.endswith("_api_key") or is_secret_header(name)


def redact(text: str, *secrets: Secret | str | None) -> str:
    """``text`` with each of ``secrets`` and anything that looks like a key replaced by ``***``.

    For text that comes from outside (error messages, URLs); never for request bodies.
    """
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value and value in text:
            text = text.replace(value, MASK)
    return _KEYLIKE.sub(MASK, text)


def public_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` without credentials; a ``*headers`` mapping keeps its non-secret headers.

    Every other setting is kept exactly as given.
    """
    out: dict[str, Any] = {}
    for name, value in settings.items():
        if is_credential(name):
            continue
        if isinstance(value, Mapping) and name.lower().endswith("headers"):
            value = {k: v for k, v in value.items() if not is_secret_header(str(k))}
        out[name] = value
    return out

"""Type checks for the fields of a provider's answer, with errors that name the field.

A ``200`` whose fields have the wrong JSON types (``usage`` a list, token counts as strings,
``content`` not a list...) is a :class:`~brainbatch.errors.ConnectionFailed` with
``kind="malformed_response"`` and a message such as ``"openai: malformed response: usage
must be an object, got list"``, never a bare ``TypeError`` and never a silent success.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConnectionFailed

__all__ = ["Shape", "json_type"]


def json_type(value: Any) -> str:
    """The JSON name of ``value``'s type (``object``, ``list``, ``string``, ``null``...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return type(value).__name__


class Shape:
    """Checks on one answer of ``source`` (the provider's name); each returns the value."""

    __slots__ = ("request_id", "source")

    def __init__(self, source: str, request_id: str | None = None) -> None:
        self.source = source
        self.request_id = request_id

    def error(self, problem: str) -> ConnectionFailed:
        return ConnectionFailed(
            f"{self.source}: malformed response: {problem}",
            kind="malformed_response",
            provider_request_id=self.request_id,
        )

    def _wrong(self, field: str, wanted: str, value: Any) -> ConnectionFailed:
        return self.error(f"{field} must be {wanted}, got {json_type(value)}")

    def mapping(self, value: Any, field: str, *, required: bool = False) -> dict[str, Any]:
        """``value`` if it is an object; ``{}`` for a missing one unless ``required``."""
        if isinstance(value, dict):
            return value
        if value is None and not required:
            return {}
        raise self._wrong(field, "an object", value)

    def array(self, value: Any, field: str, *, required: bool = False) -> list[Any]:
        """``value`` if it is a list; ``[]`` for a missing one unless ``required``."""
        if isinstance(value, list):
            return value
        if value is None and not required:
            return []
        raise self._wrong(field, "a list", value)

    def text(self, value: Any, field: str) -> str | None:
        """``value`` if it is a string or null."""
        if value is None or isinstance(value, str):
            return value
        raise self._wrong(field, "a string or null", value)

    def count(self, value: Any, field: str) -> int | None:
        """``value`` if it is a whole number >= 0 or null (never a string or a boolean)."""
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if isinstance(value, float) and value.is_integer() and value >= 0:
            return int(value)
        raise self._wrong(field, "a whole number >= 0 or null", value)

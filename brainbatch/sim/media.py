"""Image and document parts in simulated requests: checked like the real APIs check them.

:func:`check_openai_content`, :func:`check_anthropic_content` and :func:`check_gemini_part`
refuse bad base64, a media type that is not one of the supported ones or that the bytes do not
match, and an image over the provider's size limit, with the message each API gives (the
caller wraps it in the provider's 400 error shape).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from ..images import DOCUMENT_TYPES, IMAGE_TYPES, LIMITS, sniff

__all__ = [
    "MediaError",
    "check_anthropic_content",
    "check_gemini_part",
    "check_openai_content",
]


class MediaError(ValueError):
    """A part the real API refuses: the message and the parameter path."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def _decode(data: Any, param: str) -> bytes:
    if not isinstance(data, str):
        raise MediaError(f"{param}: Input should be a valid string", param)
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise MediaError(f"{param}: The image data is not valid base64.", param) from None


def _check_bytes(
    raw: bytes, declared: str, allowed: frozenset[str], limit: int, param: str
) -> None:
    if declared not in allowed:
        raise MediaError(
            f"{param}: Input should be {', '.join(repr(t) for t in sorted(allowed))}", param
        )
    found = sniff(raw)
    if found != declared:
        raise MediaError(f"{param}: Image does not match the provided media type {declared}", param)
    if len(raw) > limit:
        raise MediaError(f"{param}: image exceeds {limit // (1024 * 1024)} MB maximum", param)


def _data_url(url: str, param: str) -> tuple[str, bytes]:
    head, sep, payload = url.partition(",")
    if not sep or not head.startswith("data:") or not head.endswith(";base64"):
        raise MediaError(f"Invalid image URL: '{param}' must be a URL or a base64 data URL.", param)
    return head[5:-7], _decode(payload, param)


def check_openai_content(content: Any, where: str) -> None:
    """Check the ``image_url`` and ``file`` parts of one OpenAI chat message's content."""
    if not isinstance(content, list):
        return
    lim = LIMITS["openai"]
    for j, part in enumerate(content):
        if not isinstance(part, Mapping):
            continue
        param = f"{where}.content[{j}]"
        if part.get("type") == "image_url":
            url = str((part.get("image_url") or {}).get("url", ""))
            detail = (part.get("image_url") or {}).get("detail")
            if detail is not None and detail not in ("low", "high", "auto"):
                raise MediaError(
                    f"Invalid value: '{detail}'. Supported values are: 'low', 'high', and 'auto'.",
                    f"{param}.image_url.detail",
                )
            if url.startswith(("http://", "https://")):
                continue
            media, raw = _data_url(url, f"{param}.image_url.url")
            _check_bytes(raw, media, IMAGE_TYPES, lim.max_image_bytes, f"{param}.image_url.url")
        elif part.get("type") == "file":
            data = str((part.get("file") or {}).get("file_data", ""))
            media, raw = _data_url(data, f"{param}.file.file_data")
            _check_bytes(raw, media, DOCUMENT_TYPES, lim.max_request_bytes, f"{param}.file")


def check_anthropic_content(content: Any, where: str) -> None:
    """Check the ``image`` and ``document`` blocks of one Anthropic message's content."""
    if not isinstance(content, list):
        return
    lim = LIMITS["anthropic"]
    for j, block in enumerate(content):
        if not isinstance(block, Mapping) or block.get("type") not in ("image", "document"):
            continue
        kind = str(block["type"])
        param = f"{where}.content.{j}.{kind}.source"
        source = block.get("source")
        if not isinstance(source, Mapping) or source.get("type") not in ("base64", "url"):
            raise MediaError(f"{param}: Input tag does not match any of the expected tags", param)
        if source["type"] == "url":
            continue
        raw = _decode(source.get("data"), f"{param}.base64.data")
        allowed = IMAGE_TYPES if kind == "image" else DOCUMENT_TYPES
        limit = lim.max_image_bytes if kind == "image" else lim.max_request_bytes
        _check_bytes(raw, str(source.get("media_type")), allowed, limit, f"{param}.base64")


def check_gemini_part(part: Mapping[str, Any], where: str) -> None:
    """Check one Gemini ``inlineData`` part."""
    inline = part.get("inlineData")
    if inline is None:
        return
    if not isinstance(inline, Mapping):
        raise MediaError(f"Invalid value at '{where}.inline_data'", where)
    raw = _decode(inline.get("data"), f"{where}.inline_data.data")
    _check_bytes(
        raw,
        str(inline.get("mimeType")),
        IMAGE_TYPES | DOCUMENT_TYPES,
        LIMITS["gemini"].max_request_bytes,
        f"{where}.inline_data",
    )

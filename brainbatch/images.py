"""Images and PDF documents in prompts: read, check, turn into each provider's message parts.

A cell of an ``images=`` (or ``documents=``) column is a file path, an ``http(s)`` URL, bytes,
a PIL image (when PIL is installed), a list of those, or None/NaN (nothing for that row).
:func:`load_cell` reads it into :class:`Attachment` records; :func:`check_row` checks them
against the documented limits of the provider the model belongs to, before anything is sent,
naming the row and column. Requests carry OpenAI chat parts (``image_url``, ``file``), the
neutral form of :class:`~brainbatch.models.BatchRequest` messages; :func:`anthropic_block` and
:func:`gemini_part` turn them into Anthropic ``image``/``document`` blocks and Gemini
``inlineData`` parts.

A file path is not read into the request: :func:`load_cell` reads the file once, to check it
(magic bytes, size, pixel size) and take its sha256, and keeps only that; the request carries
a reference part (the OpenAI part with the file's ``file://`` URI and a ``brainbatch_media``
record: path, media type, sha256, size, width, height). :func:`resolve_part` /
:func:`resolve_messages` read and encode it when the request is sent or written to a batch
file, giving exactly the part an in-memory image gives, and refuse a file whose bytes changed
since (its sha256 no longer matches). The journal hashes and stores the reference, so its hash
covers the bytes, and a resumed request reads the same file into the same bytes. Bytes, data
URLs and PIL images are already in memory: they travel as data URLs, as before.

Image tokens (:func:`image_tokens`) follow each provider's documented rule, from the width and
height read from the file header (:func:`dimensions`: PNG IHDR, GIF screen descriptor, JPEG
SOF, WEBP VP8/VP8L/VP8X), without decoding the image.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import math
import os
import pathlib
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .errors import InputError

__all__ = [
    "DOCUMENT_TYPES",
    "IMAGE_TYPES",
    "LIMITS",
    "MEDIA_KEY",
    "Attachment",
    "ProviderLimits",
    "anthropic_block",
    "attachment_parts",
    "check_row",
    "data_url",
    "decode_data_url",
    "dimensions",
    "family_of",
    "gemini_part",
    "image_tokens",
    "load_cell",
    "media_digest",
    "part_image_tokens",
    "resolve_messages",
    "resolve_part",
    "sniff",
]

MB = 1024 * 1024

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
"""The image formats all three providers take."""

DOCUMENT_TYPES = frozenset({"application/pdf"})

Family = Literal["openai", "anthropic", "gemini"]

MEDIA_KEY = "brainbatch_media"
"""The key of a reference part's record (a file read at send time; see :func:`resolve_part`)."""

_HEAD = 256 * 1024  # bytes read for the magic bytes and the pixel size


@dataclass(frozen=True, slots=True)
class ProviderLimits:
    """One provider's documented limits on what a request may carry."""

    max_image_bytes: int  # one image (decoded bytes)
    max_request_bytes: int  # all images and documents of one request
    max_images: int  # images per request
    max_side_px: int | None  # largest width or height of an image
    urls: bool  # takes http(s) URLs as sources


LIMITS: Mapping[str, ProviderLimits] = {
    # OpenAI vision guide: up to 20 MB per image, 50 MB per request, 500 images per request.
    "openai": ProviderLimits(20 * MB, 50 * MB, 500, None, True),
    # Anthropic vision guide: 5 MB per image (API), 100 images per request, 8000x8000 px.
    "anthropic": ProviderLimits(5 * MB, 32 * MB, 100, 8000, True),
    # Gemini: inline data up to 20 MB per request (images and text together).
    "gemini": ProviderLimits(20 * MB, 20 * MB, 3000, None, False),
}


def family_of(model: str) -> Family:
    """Which provider's rules apply to ``model`` (``claude*`` Anthropic, ``gemini*`` Gemini,
    others OpenAI); a ``provider/`` prefix (``sim/``, ``anthropic/``...) is looked through."""
    name = model.lower()
    head, _, tail = name.partition("/")
    if head == "anthropic" or tail.startswith("claude") or name.startswith("claude"):
        return "anthropic"
    if head == "gemini" or tail.startswith("gemini") or name.startswith("gemini"):
        return "gemini"
    return "openai"


# -- the bytes ---------------------------------------------------------------------------------


def sniff(data: bytes) -> str | None:
    """The media type from the magic bytes (PNG, JPEG, GIF, WEBP, PDF), or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        sof = 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC)
        if sof and i + 9 <= n:
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None


def dimensions(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from the image header, without decoding; None when not found."""
    kind = sniff(data)
    if kind == "image/png" and len(data) >= 24 and data[12:16] == b"IHDR":
        w, h = struct.unpack(">II", data[16:24])
        return w, h
    if kind == "image/gif" and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return w, h
    if kind == "image/jpeg":
        return _jpeg_size(data)
    if kind == "image/webp" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
            w, h = struct.unpack("<HH", data[26:30])
            return w & 0x3FFF, h & 0x3FFF
        if chunk == b"VP8L" and data[20] == 0x2F:
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8X":
            w = int.from_bytes(data[24:27], "little") + 1
            h = int.from_bytes(data[27:30], "little") + 1
            return w, h
    return None


# -- tokens ------------------------------------------------------------------------------------


def _openai_tokens(w: int, h: int, detail: str) -> int:
    if detail == "low":
        return 85
    scale = min(1.0, 2048 / max(w, h))  # fit in 2048 x 2048
    fw, fh = w * scale, h * scale
    scale = min(1.0, 768 / min(fw, fh))  # shortest side 768
    fw, fh = fw * scale, fh * scale
    return 85 + 170 * math.ceil(fw / 512) * math.ceil(fh / 512)


def _anthropic_tokens(w: int, h: int) -> int:
    scale = min(1.0, 1568 / max(w, h), math.sqrt(1_150_000 / (w * h)))
    return max(1, math.ceil((w * scale) * (h * scale) / 750))


def _gemini_tokens(w: int, h: int) -> int:
    if w <= 384 and h <= 384:
        return 258
    return 258 * math.ceil(w / 768) * math.ceil(h / 768)


def image_tokens(model: str, width: int, height: int, detail: str = "auto") -> int:
    """Input tokens of one ``width`` x ``height`` image under ``model``'s provider's rule.

    OpenAI (gpt-4o class): fit in 2048x2048, shortest side to 768, then 85 + 170 per 512 px
    tile (``detail="low"``: 85). Anthropic: (w*h)/750 after resizing to a 1568 px long edge
    (and 1.15 megapixels). Gemini: 258 for an image up to 384x384, else 258 per 768x768 tile.
    """
    if width < 1 or height < 1:
        return 0
    fam = family_of(model)
    if fam == "anthropic":
        return _anthropic_tokens(width, height)
    if fam == "gemini":
        return _gemini_tokens(width, height)
    return _openai_tokens(width, height, detail)


# -- cells -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attachment:
    """One image or document of a row: its bytes (or a URL, or a file read at send time),
    media type and where it came from."""

    media_type: str | None  # None for a URL (the provider reads it)
    data: bytes | None
    url: str | None
    source: str  # the path, URL or "bytes" / "PIL image", for messages
    path: str | None = None  # a file (absolute path) read when the request is sent
    nbytes: int = 0  # the file's size (``path``)
    sha256: str | None = None  # the file's sha256 (``path``), checked again at send time
    dims: tuple[int, int] | None = None  # width and height from the file's header (``path``)

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else self.nbytes

    @property
    def pixels(self) -> tuple[int, int] | None:
        """``(width, height)`` from the header, or None (a URL, a document, not found)."""
        if self.data is not None:
            return dimensions(self.data)
        return self.dims


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, pd.NA raises
    except (TypeError, ValueError):
        return False


def _pil_bytes(value: Any) -> bytes | None:
    try:
        from PIL import Image  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # PIL is optional
        return None
    if not isinstance(value, Image.Image):
        return None
    buf = io.BytesIO()
    value.save(buf, format="PNG")
    return buf.getvalue()


def _scan_file(path: str, where: str) -> Attachment:
    """Check a file without keeping its bytes: media type and pixel size from its head,
    sha256 and size read in blocks (a JPEG whose size marker is beyond the head is read
    whole, once)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD)
            fh.seek(0)
            digest = hashlib.file_digest(fh, "sha256")
            nbytes = fh.tell()
            dims = dimensions(head)
            if dims is None and sniff(head) == "image/jpeg" and nbytes > len(head):
                fh.seek(0)
                dims = dimensions(fh.read())
    except OSError as exc:
        raise InputError(f"{where}: cannot read {path!r}: {exc.strerror or exc}") from None
    return Attachment(
        sniff(head),
        None,
        None,
        path,
        path=os.path.abspath(path),
        nbytes=nbytes,
        sha256=digest.hexdigest(),
        dims=dims,
    )


def _one(value: Any, where: str) -> Attachment:
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return Attachment(sniff(data), data, None, "bytes")
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        if value.startswith(("http://", "https://")):
            return Attachment(None, None, value, value)
        if value.startswith("data:"):
            data = decode_data_url(value, where)
            return Attachment(sniff(data), data, None, "data URL")
        return _scan_file(value, where)
    pil = _pil_bytes(value)
    if pil is not None:
        return Attachment("image/png", pil, None, "PIL image")
    raise InputError(
        f"{where}: expected a file path, an http(s) URL, bytes, a PIL image or a list of "
        f"them, got {type(value).__name__}"
    )


def load_cell(value: Any, where: str) -> list[Attachment]:
    """The attachments of one cell (an empty list for None/NaN). A list column read from
    Parquet gives each cell as a numpy array: that is a list too."""
    if type(value).__name__ == "ndarray" and getattr(value, "ndim", 0) == 1:
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_one(v, f"{where}[{i}]") for i, v in enumerate(value) if not _is_missing(v)]
    if _is_missing(value):
        return []
    return [_one(value, where)]


def check_row(
    images: Sequence[Attachment], documents: Sequence[Attachment], model: str, where: str
) -> None:
    """Raise :class:`InputError` (naming ``where``: the row and column) when the row breaks a
    documented limit of ``model``'s provider: format, size per image and per request, count,
    pixel size, URL sources."""
    fam = family_of(model)
    lim = LIMITS[fam]
    total = 0
    for kind, items, allowed in (
        ("image", images, IMAGE_TYPES),
        ("document", documents, DOCUMENT_TYPES),
    ):
        for a in items:
            if a.url is not None:
                if not lim.urls:
                    raise InputError(
                        f"{where}: {fam} takes {kind}s inline only, not URLs ({a.url!r}); "
                        "give a file path or bytes"
                    )
                if kind == "document" and fam == "openai":
                    raise InputError(
                        f"{where}: OpenAI chat takes PDF documents inline only, not URLs "
                        f"({a.url!r}); give a file path or bytes"
                    )
                continue
            if a.media_type not in allowed:
                found = a.media_type or "an unknown format"
                want = "PNG, JPEG, GIF or WEBP" if kind == "image" else "PDF"
                raise InputError(f"{where}: {a.source!r} is {found}, not a {want} {kind}")
            if kind == "image" and a.size > lim.max_image_bytes:
                raise InputError(
                    f"{where}: image {a.source!r} is {a.size / MB:.1f} MB; {fam} takes at most "
                    f"{lim.max_image_bytes // MB} MB per image"
                )
            if kind == "image" and lim.max_side_px is not None:
                dims = a.pixels
                if dims is not None and max(dims) > lim.max_side_px:
                    raise InputError(
                        f"{where}: image {a.source!r} is {dims[0]}x{dims[1]} px; {fam} takes at "
                        f"most {lim.max_side_px}x{lim.max_side_px}"
                    )
            total += a.size
    if len(images) > lim.max_images:
        raise InputError(
            f"{where}: {len(images)} images; {fam} takes at most {lim.max_images} per request"
        )
    if total > lim.max_request_bytes:
        raise InputError(
            f"{where}: the row's images and documents are {total / MB:.1f} MB; {fam} takes at "
            f"most {lim.max_request_bytes // MB} MB per request"
        )


# -- parts -------------------------------------------------------------------------------------


def data_url(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def decode_data_url(url: str, where: str = "data URL") -> bytes:
    """The bytes of a ``data:<type>;base64,...`` URL (InputError when it is not one)."""
    head, sep, payload = url.partition(",")
    if not sep or not head.startswith("data:") or not head.endswith(";base64"):
        raise InputError(f"{where}: not a base64 data URL")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{where}: the data URL is not valid base64") from None


def _media_of_data_url(url: str) -> str:
    return url[5:].partition(";")[0]


def _record(a: Attachment) -> dict[str, Any]:
    record: dict[str, Any] = {
        "path": a.path,
        "media_type": a.media_type,
        "sha256": a.sha256,
        "size": a.nbytes,
    }
    if a.dims is not None:
        record["width"], record["height"] = a.dims
    return record


def _file_uri(path: str) -> str:
    return pathlib.Path(path).as_uri()


def attachment_parts(
    images: Sequence[Attachment], documents: Sequence[Attachment], detail: str | None = None
) -> list[dict[str, Any]]:
    """OpenAI chat content parts: ``image_url`` (a data URL, or the URL as given; ``detail``
    when set) and ``file`` (a base64 PDF as ``file_data``). A file gives a reference part
    instead (its ``file://`` URI and a :data:`MEDIA_KEY` record), which
    :func:`resolve_part` turns into that part when the request is sent."""
    parts: list[dict[str, Any]] = []
    for a in images:
        if a.path is not None:
            url = _file_uri(a.path)
        elif a.url is not None:
            url = a.url
        else:
            url = data_url(a.media_type or "", a.data or b"")
        image: dict[str, Any] = {"url": url}
        if detail is not None:
            image["detail"] = detail
        part: dict[str, Any] = {"type": "image_url", "image_url": image}
        if a.path is not None:
            part[MEDIA_KEY] = _record(a)
        parts.append(part)
    for n, a in enumerate(documents):
        if a.url is not None:  # Anthropic and Gemini-free: kept as a URL part
            parts.append({"type": "file", "file": {"file_url": a.url}})
            continue
        name = os.path.basename(a.source) if a.source not in ("bytes", "data URL") else ""
        spec = {
            "filename": name or f"document-{n + 1}.pdf",
            "file_data": (
                _file_uri(a.path)
                if a.path is not None
                else data_url("application/pdf", a.data or b"")
            ),
        }
        part = {"type": "file", "file": spec}
        if a.path is not None:
            part[MEDIA_KEY] = _record(a)
        parts.append(part)
    return parts


def _read_referenced(record: Mapping[str, Any]) -> tuple[str, bytes]:
    path = str(record.get("path") or "")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise InputError(
            f"cannot read {path!r} to send it: {exc.strerror or exc} (it was there when the "
            "job was created)"
        ) from None
    if hashlib.sha256(data).hexdigest() != record.get("sha256"):
        raise InputError(
            f"{path!r} changed since the job was created (its sha256 no longer matches): "
            "not sent; create the job again to send the new file"
        )
    return str(record.get("media_type") or ""), data


def resolve_part(part: Mapping[str, Any]) -> Mapping[str, Any]:
    """A reference part (a file, see :func:`attachment_parts`) read and encoded into the
    part an in-memory image or document gives (the same keys, in the same order); any other
    part as it is.

    Raises:
        InputError: the file cannot be read, or its bytes are not the ones checked when the
            job was created (naming the file).
    """
    record = part.get(MEDIA_KEY)
    if not isinstance(record, Mapping):
        return part
    media_type, data = _read_referenced(record)
    kind = part.get("type")
    if kind == "image_url":
        image = dict(part.get("image_url") or {})
        image["url"] = data_url(media_type, data)
        return {"type": "image_url", "image_url": image}
    spec = dict(part.get("file") or {})
    spec["file_data"] = data_url(media_type, data)
    return {"type": "file", "file": spec}


def resolve_messages(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` with every reference part resolved (:func:`resolve_part`), read when the
    request is sent; messages without one are the same objects (nothing is copied)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list) and any(
            isinstance(b, Mapping) and MEDIA_KEY in b for b in content
        ):
            m = {
                **m,
                "content": [resolve_part(b) if isinstance(b, Mapping) else b for b in content],
            }
        out.append(m)
    return out


def anthropic_block(part: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI ``image_url``/``file`` part as an Anthropic ``image``/``document`` block
    (base64 or url source; a file reference is read first, see :func:`resolve_part`);
    other parts unchanged."""
    part = resolve_part(part)
    kind = part.get("type")
    if kind == "image_url":
        url = str((part.get("image_url") or {}).get("url", ""))
        if url.startswith("data:"):
            data = url.partition(",")[2]
            source = {"type": "base64", "media_type": _media_of_data_url(url), "data": data}
            return {"type": "image", "source": source}
        return {"type": "image", "source": {"type": "url", "url": url}}
    if kind == "file":
        spec = part.get("file") or {}
        if "file_url" in spec:
            return {"type": "document", "source": {"type": "url", "url": spec["file_url"]}}
        url = str(spec.get("file_data", ""))
        source = {
            "type": "base64",
            "media_type": _media_of_data_url(url),
            "data": url.partition(",")[2],
        }
        return {"type": "document", "source": source}
    return dict(part)


def gemini_part(part: Mapping[str, Any]) -> dict[str, Any] | None:
    """An OpenAI ``image_url``/``file`` part with inline data as a Gemini ``inlineData`` part;
    None for a part that is not one (a file reference is read first)."""
    part = resolve_part(part)
    kind = part.get("type")
    url = ""
    if kind == "image_url":
        url = str((part.get("image_url") or {}).get("url", ""))
    elif kind == "file":
        url = str((part.get("file") or {}).get("file_data", ""))
    else:
        return None
    if not url.startswith("data:"):
        raise InputError("gemini: images and documents must be inline (a path or bytes), not URLs")
    return {"inlineData": {"mimeType": _media_of_data_url(url), "data": url.partition(",")[2]}}


def part_image_tokens(part: Mapping[str, Any], model: str) -> int:
    """Tokens of one content part when it is an inline image (0 otherwise; a URL image's size
    is not known without fetching it, so it counts 0)."""
    if part.get("type") != "image_url":
        return 0
    spec = part.get("image_url") or {}
    record = part.get(MEDIA_KEY)
    if isinstance(record, Mapping):  # a file: its size was read when the job was created
        w, h = record.get("width"), record.get("height")
        if not isinstance(w, int) or not isinstance(h, int):
            return 0
        return image_tokens(model, w, h, str(spec.get("detail") or "auto"))
    url = str(spec.get("url", ""))
    if not url.startswith("data:"):
        return 0
    head = base64.b64decode(url.partition(",")[2][:65536], validate=False)
    dims = dimensions(head)
    if dims is None:
        return 0
    return image_tokens(model, dims[0], dims[1], str(spec.get("detail") or "auto"))


def _payloads(value: Any) -> Iterable[str]:
    if isinstance(value, Mapping):
        if MEDIA_KEY in value:  # a file: the digest is of its bytes, as when they are inline
            value = resolve_part(value)
        for key, item in value.items():
            if key in ("url", "file_data") and isinstance(item, str) and item.startswith("data:"):
                yield item.partition(",")[2]
            elif key == "data" and isinstance(item, str):
                yield item
            else:
                yield from _payloads(item)
    elif isinstance(value, list):
        for item in value:
            yield from _payloads(item)


def media_digest(messages: Any) -> str | None:
    """A short digest of the request's inline images and documents (the same for the same
    bytes in every provider's form), or None when it has none."""
    found = list(_payloads(messages))
    if not found:
        return None
    h = hashlib.blake2b(digest_size=3)
    for payload in found:
        h.update(payload.encode("ascii", "replace"))
    return h.hexdigest()

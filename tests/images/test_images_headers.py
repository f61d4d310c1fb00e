"""Formats from magic bytes, sizes from the header, and image tokens by each provider's rule."""

from __future__ import annotations

import pytest
from image_helpers import PDF, gif, jpeg, png, webp

from brainbatch.images import dimensions, image_tokens, sniff


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (png(), "image/png"),
        (jpeg(3, 2), "image/jpeg"),
        (gif(3, 2), "image/gif"),
        (webp(3, 2), "image/webp"),
        (PDF, "application/pdf"),
        (b"hello world", None),
    ],
)
def test_sniff_names_the_format_from_magic_bytes(data: bytes, kind: str | None) -> None:
    assert sniff(data) == kind


@pytest.mark.parametrize(
    "data", [png(640, 480), jpeg(640, 480), gif(640, 480), webp(640, 480)], ids=str
)
def test_dimensions_read_from_the_header(data: bytes) -> None:
    assert dimensions(data) == (640, 480)


def test_openai_tile_rule_scales_then_counts_512px_tiles() -> None:
    # 1024x1024 -> shortest side 768 -> 768x768 -> 2x2 tiles: 85 + 4*170
    assert image_tokens("gpt-4o", 1024, 1024) == 765
    # 4096x2048 -> fits 2048x1024 -> 1536x768 -> 3x2 tiles
    assert image_tokens("gpt-4o", 4096, 2048) == 85 + 6 * 170


def test_openai_low_detail_is_85_tokens() -> None:
    assert image_tokens("gpt-4o", 4096, 4096, detail="low") == 85


def test_anthropic_rule_is_pixels_over_750_after_resizing() -> None:
    assert image_tokens("claude-haiku-4-5", 1000, 1000) == 1334  # ceil(1e6 / 750)
    # 3136x1568 resizes to 1568 on the long edge first (and 1.15 MP at most)
    assert image_tokens("claude-haiku-4-5", 3136, 1568) == pytest.approx(1_150_000 / 750, rel=0.01)


def test_gemini_rule_is_258_per_small_image_and_per_768px_tile() -> None:
    assert image_tokens("gemini-2.5-flash", 300, 300) == 258
    assert image_tokens("gemini-2.5-flash", 1000, 1000) == 258 * 4

"""Every image and document check raises InputError naming the row and column, before
anything is sent (build_requests is the step every front goes through)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pandas as pd
import pytest
from image_helpers import PDF, png

from brainbatch.errors import InputError
from brainbatch.frame import PromptSpec, build_requests
from brainbatch.images import MEDIA_KEY


def _build(df: pd.DataFrame, model: str = "gpt-4o-mini", **kw: object) -> list:
    spec = PromptSpec(prompt="Describe: {name}", model=model, **kw)  # type: ignore[arg-type]
    return build_requests(df, spec)


def test_unknown_format_names_row_and_column() -> None:
    df = pd.DataFrame({"name": ["a", "b"], "pic": [png(), b"not an image"]}, index=["x", "y"])
    with pytest.raises(InputError, match=r"row 'y', column 'pic'.*not a PNG, JPEG, GIF or WEBP"):
        _build(df, images="pic")


def test_missing_file_names_row_and_column(tmp_path: Path) -> None:
    df = pd.DataFrame({"name": ["a"], "pic": [str(tmp_path / "gone.png")]})
    with pytest.raises(InputError, match=r"row 0, column 'pic'.*cannot read .*gone.png"):
        _build(df, images="pic")


def test_missing_image_column_is_named() -> None:
    with pytest.raises(InputError, match="'photo'"):
        _build(pd.DataFrame({"name": ["a"]}), images="photo")


def test_image_over_anthropic_5mb_is_refused() -> None:
    big = png() + b"\x00" * (5 * 1024 * 1024)
    df = pd.DataFrame({"name": ["a"], "pic": [big]})
    with pytest.raises(InputError, match=r"row 0, column 'pic'.*anthropic takes at most 5 MB"):
        _build(df, model="claude-haiku-4-5", images="pic")


def test_the_same_image_is_within_openai_20mb() -> None:
    big = png() + b"\x00" * (5 * 1024 * 1024)
    df = pd.DataFrame({"name": ["a"], "pic": [big]})
    assert len(_build(df, model="gpt-4o-mini", images="pic")) == 1


def test_openai_request_over_50mb_in_all_is_refused() -> None:
    each = png() + b"\x00" * (18 * 1024 * 1024)
    df = pd.DataFrame({"name": ["a"], "pic": [[each, each, each]]})
    with pytest.raises(InputError, match="at most 50 MB per request"):
        _build(df, images="pic")


def test_more_than_100_images_for_anthropic_is_refused() -> None:
    df = pd.DataFrame({"name": ["a"], "pic": [[png()] * 101]})
    with pytest.raises(InputError, match="101 images; anthropic takes at most 100"):
        _build(df, model="claude-haiku-4-5", images="pic")


def test_image_wider_than_8000px_for_anthropic_is_refused() -> None:
    df = pd.DataFrame({"name": ["a"], "pic": [png(8001, 1)]})
    with pytest.raises(InputError, match="8001x1 px; anthropic takes at most 8000x8000"):
        _build(df, model="claude-haiku-4-5", images="pic")


def test_gemini_refuses_url_images() -> None:
    df = pd.DataFrame({"name": ["a"], "pic": ["https://example.com/a.png"]})
    with pytest.raises(InputError, match="gemini takes images inline only"):
        _build(df, model="gemini-2.5-flash", images="pic")


def test_openai_refuses_pdf_urls() -> None:
    df = pd.DataFrame({"name": ["a"], "doc": ["https://example.com/a.pdf"]})
    with pytest.raises(InputError, match=r"column 'doc'.*PDF documents inline only"):
        _build(df, documents="doc")


def test_a_png_in_the_documents_column_is_refused() -> None:
    df = pd.DataFrame({"name": ["a"], "doc": [png()]})
    with pytest.raises(InputError, match=r"column 'doc'.*not a PDF document"):
        _build(df, documents="doc")


def test_bad_detail_is_refused() -> None:
    df = pd.DataFrame({"name": ["a"], "pic": [png()]})
    with pytest.raises(InputError, match="detail must be 'low', 'high' or 'auto'"):
        _build(df, images="pic", detail="medium")


def test_none_and_nan_rows_get_no_image() -> None:
    df = pd.DataFrame({"name": ["a", "b", "c"], "pic": [None, math.nan, png()]})
    reqs = _build(df, images="pic")
    assert reqs[0].messages is None and reqs[1].messages is None
    content = reqs[2].messages[0]["content"]
    assert content[0] == {"type": "text", "text": "Describe: c"}
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_a_file_path_is_carried_as_a_reference_to_its_bytes(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(png(2, 2))
    df = pd.DataFrame({"name": ["a"], "pic": [tmp_path / "a.png"]})
    (req,) = _build(df, images="pic")
    assert req.messages is not None
    part = req.messages[0]["content"][1]
    assert part["image_url"]["url"] == (tmp_path / "a.png").as_uri()
    assert part[MEDIA_KEY]["sha256"] == hashlib.sha256(png(2, 2)).hexdigest()


def test_a_pil_image_is_sent_as_png() -> None:
    image_mod = pytest.importorskip("PIL.Image")
    df = pd.DataFrame({"name": ["a"], "pic": [image_mod.new("RGB", (3, 3), "blue")]})
    (req,) = _build(df, images="pic")
    assert req.messages is not None
    assert req.messages[0]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_pdf_becomes_an_openai_file_part() -> None:
    df = pd.DataFrame({"name": ["a"], "doc": [PDF]})
    (req,) = _build(df, documents="doc")
    assert req.messages is not None
    part = req.messages[0]["content"][1]
    assert part["type"] == "file"
    assert part["file"]["file_data"].startswith("data:application/pdf;base64,")


def test_a_parquet_list_column_gives_every_image_of_the_row(tmp_path: Path) -> None:
    # a list column read back from Parquet gives each cell as a numpy array, not a list
    pd.DataFrame({"name": ["a"], "pics": [[png(4, 4), png(8, 8)]]}).to_parquet(tmp_path / "t.pq")
    df = pd.read_parquet(tmp_path / "t.pq")
    (request,) = _build(df, images="pics")
    parts = request.messages[-1]["content"]
    assert [p["type"] for p in parts].count("image_url") == 2

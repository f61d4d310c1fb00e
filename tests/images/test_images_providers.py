"""Images and documents over real sockets to the simulated server, in each provider's form
(its traffic is checked against the official API documents by tests/conftest.py)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
from image_helpers import PDF, png

import brainbatch as bb
from brainbatch.estimate import token_counts
from brainbatch.frame import PromptSpec, build_requests
from brainbatch.sim import SimServer
from brainbatch.sim.batches import SIM_BATCHES

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}

RED, BLUE = png(rgb=(255, 0, 0)), png(rgb=(0, 0, 255))


def _base(sim: SimServer, api: str) -> str:
    return {
        "openai": sim.openai_base_url,
        "anthropic": sim.anthropic_base_url,
        "gemini": sim.gemini_base_url,
    }[api]


def _run(sim: SimServer, api: str, df: pd.DataFrame, **kw: Any) -> pd.DataFrame:
    kw.setdefault("store", False)
    out = bb.run(
        df,
        prompt="Colour of {name}?",
        model=MODELS[api],
        provider=api,
        base_url=_base(sim, api),
        api_key="sk-test",
        progress="none",
        **kw,
    )
    assert isinstance(out, pd.DataFrame)
    return out


def _pics() -> pd.DataFrame:
    return pd.DataFrame({"name": ["r", "b", "r2"], "pic": [RED, BLUE, RED]})


def test_openai_sends_image_url_data_urls_with_detail(
    sim: SimServer, exchanges: list[dict[str, Any]]
) -> None:
    out = _run(sim, "openai", _pics().head(1), images="pic", detail="low")
    assert (out.status == "success").all()
    part = exchanges[0]["messages"][0]["content"][1]
    assert part["type"] == "image_url" and part["image_url"]["detail"] == "low"
    assert base64.b64decode(part["image_url"]["url"].partition(",")[2]) == RED


@pytest.mark.parametrize("api", ["openai", "anthropic", "gemini"])
def test_answers_depend_on_the_image_bytes(sim: SimServer, api: str) -> None:
    out = _run(sim, api, _pics(), images="pic")
    tags = [r.rpartition("[media ")[2] for r in out.response]
    assert tags[0] == tags[2] != tags[1]


def test_openai_url_is_sent_as_url_not_fetched(
    sim: SimServer, exchanges: list[dict[str, Any]]
) -> None:
    url = "https://images.example.invalid/cat.png"  # unresolvable: fetching it would fail
    out = _run(sim, "openai", pd.DataFrame({"name": ["c"], "pic": [url]}), images="pic")
    assert (out.status == "success").all()
    assert exchanges[0]["messages"][0]["content"][1]["image_url"] == {"url": url}


def test_openai_sends_pdfs_as_file_parts(sim: SimServer, exchanges: list[dict[str, Any]]) -> None:
    out = _run(sim, "openai", pd.DataFrame({"name": ["d"], "doc": [PDF]}), documents="doc")
    assert (out.status == "success").all()
    file = exchanges[0]["messages"][0]["content"][1]["file"]
    assert base64.b64decode(file["file_data"].partition(",")[2]) == PDF


def test_anthropic_sends_image_and_document_blocks(
    sim: SimServer, exchanges: list[dict[str, Any]]
) -> None:
    df = pd.DataFrame({"name": ["x"], "pic": [BLUE], "doc": [PDF]})
    out = _run(sim, "anthropic", df, images="pic", documents="doc")
    assert (out.status == "success").all()
    _, image, doc = exchanges[0]["messages"][0]["content"]
    assert image["type"] == "image" and image["source"]["media_type"] == "image/png"
    assert base64.b64decode(image["source"]["data"]) == BLUE
    assert doc["type"] == "document" and doc["source"]["media_type"] == "application/pdf"


def test_anthropic_url_images_use_a_url_source(
    sim: SimServer, exchanges: list[dict[str, Any]]
) -> None:
    url = "https://images.example.invalid/cat.png"
    _run(sim, "anthropic", pd.DataFrame({"name": ["c"], "pic": [url]}), images="pic")
    block = exchanges[0]["messages"][0]["content"][1]
    assert block == {"type": "image", "source": {"type": "url", "url": url}}


def test_gemini_sends_inline_data_parts(sim: SimServer, exchanges: list[dict[str, Any]]) -> None:
    _run(sim, "gemini", _pics().head(1), images="pic")
    part = exchanges[0]["contents"][0]["parts"][1]
    assert part["inlineData"]["mimeType"] == "image/png"
    assert base64.b64decode(part["inlineData"]["data"]) == RED


def test_estimate_adds_image_tokens_by_the_rule() -> None:
    df = pd.DataFrame({"name": ["a"], "pic": [png(1024, 1024)]})
    with_img = build_requests(df, PromptSpec("Colour of {name}?", "gpt-4o", images="pic"))
    without = build_requests(df, PromptSpec("Colour of {name}?", "gpt-4o"))
    diff = token_counts(with_img).input_tokens.iloc[0] - token_counts(without).input_tokens.iloc[0]
    assert diff == 765


def test_batch_mode_lines_carry_the_images(sim: SimServer, tmp_path: Path) -> None:
    state = sim.app[SIM_BATCHES]
    state.reset()
    state.configure(validating_s=0.02, in_progress_s=0.05, finalizing_s=0.02, cancelling_s=0.02)
    try:
        out = _run(
            sim,
            "openai",
            _pics(),
            images="pic",
            mode="batch",
            poll_interval=0.02,
            store=tmp_path / "j.sqlite",
        )
        (b,) = state.batches.values()
        assert b.input_file_id is not None
        line = orjson.loads(state.files[b.input_file_id].content.splitlines()[1])
        url = line["body"]["messages"][0]["content"][1]["image_url"]["url"]
        assert base64.b64decode(url.partition(",")[2]) == BLUE
        assert (out.status == "success").all()
    finally:
        state.reset()


def test_rerun_with_a_changed_image_file_is_reported_not_sent(
    sim: SimServer, tmp_path: Path
) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(RED)
    df = pd.DataFrame({"name": ["a"], "pic": [str(path)]})
    store = tmp_path / "j.sqlite"
    _run(sim, "openai", df, images="pic", store=store, job_name="pics")
    path.write_bytes(BLUE)
    before = sim.count()
    with pytest.raises(bb.errors.StoreError, match="stored with different requests: row 0"):
        _run(sim, "openai", df, images="pic", store=store, job_name="pics")
    assert sim.count() == before

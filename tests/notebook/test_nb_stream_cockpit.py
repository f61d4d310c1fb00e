"""A streamed job's panel is the same cockpit as a DataFrame job's: latest answers (with the
input of the row), grouped errors, the timeline chart and per-model figures over every chunk,
and the rate limits in force."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import brainbatch as bb

ROWS = 350
CHUNK = 100


def _submit(tmp_path: Path, **kwargs: object) -> bb.StreamHandle:
    source = tmp_path / "reviews.parquet"
    pd.DataFrame({"review": [f"review {i}: fine kettle" for i in range(ROWS)]}).to_parquet(source)
    kwargs.setdefault("progress", "none")
    handle = bb.submit(
        str(source),
        prompt="Classify: {review}",
        model="gpt-4o-mini",
        provider="sim",
        out=tmp_path / "out",
        chunk_size=CHUNK,
        store=False,
        error_rate=0.1,
        seed=3,
        latency_ms=1,
        **kwargs,  # type: ignore[arg-type]
    )
    assert isinstance(handle, bb.StreamHandle)
    return handle


def test_stream_handle_gives_latest_errors_timeline_and_models_over_every_chunk(
    tmp_path: Path,
) -> None:
    handle = _submit(tmp_path)
    handle.result(timeout=60)
    out = pd.read_parquet(tmp_path / "out")
    failed = out[out["status"] == "error"]
    assert 0 < len(failed) < ROWS

    latest = handle.latest(5)
    assert len(latest) == 5  # rows of the last chunk, with the input they were sent
    assert latest["input"].str.startswith("Classify: review 3").all()

    errors = handle.errors()
    assert errors["count"].sum() == len(failed)  # errors of every chunk, not only the last
    rows = out.set_index("row")
    for _, g in errors.iterrows():  # each example is a real failed row with its own message
        assert rows.loc[int(g["row"]), "error"] == g["message"]

    models = handle.models().set_index("model")
    assert models.loc["gpt-4o-mini", "rows"] == ROWS
    assert models.loc["gpt-4o-mini", "cost_usd"] == pytest.approx(out["cost_usd"].sum())
    timeline = handle.timeline()
    assert timeline["done"].iloc[-1] == ROWS and timeline["errors"].iloc[-1] == len(failed)


def test_stream_panel_draws_the_chart_error_headline_and_limits(tmp_path: Path) -> None:
    handle = _submit(tmp_path, rpm=100_000)
    handle.result(timeout=60)
    panel = handle.panel()
    assert panel.monitor is handle.monitor
    assert "<svg" in panel.chart.value and panel.chart.layout.display != "none"
    assert "error" in panel.error_line.value.lower()
    assert "rpm 100,000" in panel.limits.value
    panel.details.selected_index = panel._sections.index("latest")
    assert "Classify: review" in panel.latest.value

"""``schema=`` with streamed input: typed ``response.<field>`` columns with Arrow types in the
Parquet dataset, over real sockets to the simulated OpenAI server."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
from pydantic import BaseModel

import brainbatch as bb
from brainbatch import BatchStatus
from brainbatch.sim import SimServer

ROWS = 12
CHUNK = 5


class Place(BaseModel):
    city: str


class Verdict(BaseModel):
    label: Literal["good", "bad"]
    score: float
    stars: int
    ok: bool
    when: datetime
    place: Place
    note: str


def _stream(sim: SimServer, tmp_path: Path, **kw: Any) -> Any:
    source = tmp_path / "in.parquet"
    pd.DataFrame({"text": [f"item {i}" for i in range(ROWS)]}).to_parquet(source)
    return bb.run(
        str(source),
        prompt="Judge: {text}",
        model="gpt-4o-mini",
        provider="openai",
        base_url=sim.openai_base_url,
        api_key="sk-test",
        out=tmp_path / "out",
        chunk_size=CHUNK,
        schema=Verdict,
        progress="none",
        store=tmp_path / "jobs.sqlite",
        **kw,
    )


def test_streamed_schema_writes_typed_arrow_columns_in_every_part(
    sim: SimServer, tmp_path: Path
) -> None:
    result = _stream(sim, tmp_path)
    assert result.status == BatchStatus.COMPLETED and result.done == ROWS
    dataset = pads.dataset(tmp_path / "out", format="parquet")  # the parts agree on one schema
    schema = dataset.schema
    assert schema.field("response.label").type == pa.dictionary(pa.int32(), pa.string())
    assert schema.field("response.score").type == pa.float64()
    assert schema.field("response.stars").type == pa.int64()
    assert schema.field("response.ok").type == pa.bool_()
    assert schema.field("response.when").type == pa.timestamp("us", tz="UTC")
    assert schema.field("response.note").type == pa.string()
    assert schema.field("response.place").type == pa.string()  # nested: JSON text
    table = dataset.to_table()
    assert table.num_rows == ROWS
    assert set(table.column("response.label").to_pylist()) <= {"good", "bad"}


def test_streamed_schema_answers_are_checked_json_text(sim: SimServer, tmp_path: Path) -> None:
    _stream(sim, tmp_path)
    frame = pd.read_parquet(tmp_path / "out")
    assert (frame.status == "success").all()
    for text, stars in zip(frame["response"], frame["response.stars"], strict=True):
        answer = Verdict.model_validate(orjson.loads(text))
        assert answer.stars == stars
    assert frame["raw_response"].map(lambda t: isinstance(orjson.loads(t), dict)).all()


def test_streamed_schema_marks_invalid_answers_and_leaves_their_fields_null(
    sim: SimServer, tmp_path: Path
) -> None:
    sim.configure(invalid_output=1.0)
    _stream(sim, tmp_path, schema_attempts=1)
    frame = pd.read_parquet(tmp_path / "out")
    assert (frame.status == "invalid").all()
    assert frame["response.stars"].isna().all()

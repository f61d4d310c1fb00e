"""Streamed runs in process: order, formats, progress totals, bad input, cancel and resume."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

import brainbatch as bb
from brainbatch import BatchRequest, BatchStatus, InputError
from brainbatch.frame import PromptSpec
from brainbatch.runner import RunSettings
from brainbatch.stream import MANIFEST, StreamResult, prepare_stream, read_parts

ROWS = 1_050
CHUNK = 200


def _frame(n: int = ROWS) -> pd.DataFrame:
    return pd.DataFrame({"text": [f"row-{i}" for i in range(n)], "n": range(n)})


class Recorder:
    """An async provider that answers each prompt with itself and records the order sent."""

    def __init__(self, cancel_after: int | None = None) -> None:
        self.sent: list[str] = []
        self.cancel_after = cancel_after
        self.job: Any = None

    async def __call__(self, request: BatchRequest) -> str:
        self.sent.append(request.prompt or "")
        if self.cancel_after is not None and len(self.sent) >= self.cancel_after:
            self.job.request_cancel()
        await asyncio.sleep(0)
        return f"answer to {request.prompt}"


def _run(source: Any, out: Path, fn: Recorder, **kwargs: Any) -> StreamResult:
    kwargs.setdefault("chunk_size", CHUNK)
    return bb.run(source, prompt="{text}", provider=fn, out=out, progress="none", **kwargs)


def test_rows_are_sent_and_written_in_input_order_one_part_per_chunk(tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    _frame().to_parquet(source, row_group_size=333)  # row groups that cut across chunks
    fn = Recorder()
    result = _run(source, tmp_path / "out", fn, max_concurrent=1)
    assert result.status == BatchStatus.COMPLETED and result.done == result.total == ROWS
    assert fn.sent == [f"row-{i}" for i in range(ROWS)]
    parts = sorted((tmp_path / "out").glob("part-*.parquet"))
    assert [p.name for p in parts] == [f"part-{k:06d}.parquet" for k in range(6)]
    rows = [pq.read_table(p).column("row").to_pylist() for p in parts]
    assert rows == [list(range(k * CHUNK, min(ROWS, (k + 1) * CHUNK))) for k in range(6)]
    frame = pd.read_parquet(tmp_path / "out")  # the folder reads as one dataset
    assert len(frame) == ROWS
    assert (frame["response"] == "answer to " + frame["text"]).all()
    assert list(frame.columns[:3]) == ["row", "text", "n"]


@pytest.mark.parametrize("kind", ["csv", "jsonl", "dataset", "table", "frames", "folder"])
def test_every_input_kind_gives_the_same_output(tmp_path: Path, kind: str) -> None:
    df = _frame(450)
    source: Any
    if kind == "csv":
        df.to_csv(source := tmp_path / "in.csv", index=False)
    elif kind == "jsonl":
        df.to_json(source := tmp_path / "in.jsonl", orient="records", lines=True)
    elif kind == "table":
        source = pa.Table.from_pandas(df)
    elif kind == "frames":
        source = (df.iloc[i : i + 70] for i in range(0, len(df), 70))
    else:
        (tmp_path / "parts").mkdir()
        df.iloc[:300].to_parquet(tmp_path / "parts" / "a.parquet")
        df.iloc[300:].to_parquet(tmp_path / "parts" / "b.parquet")
        source = tmp_path / "parts" if kind == "folder" else pads.dataset(tmp_path / "parts")
    result = _run(source, tmp_path / "out", Recorder())
    assert result.done == 450
    frame = result.to_pandas()
    assert frame["row"].tolist() == list(range(450))
    assert frame["text"].tolist() == df["text"].tolist()
    assert frame["n"].tolist() == df["n"].tolist()


def test_the_total_comes_from_the_parquet_footer_before_anything_runs(tmp_path: Path) -> None:
    _frame().to_parquet(source := tmp_path / "in.parquet")
    run = prepare_stream(
        source,
        PromptSpec(prompt="{text}", model="sim"),
        RunSettings(model="sim"),
        out=tmp_path / "out",
        check="chunk",  # no reading pass: the footer alone
    )
    try:
        assert run.job.total == ROWS and run.job.done == 0
    finally:
        run.release()


def test_a_missing_column_is_refused_naming_file_and_column_before_any_send(
    tmp_path: Path,
) -> None:
    _frame().to_parquet(source := tmp_path / "in.parquet")
    fn = Recorder()
    with pytest.raises(InputError, match=r"in\.parquet.*'review'.*prompt template"):
        bb.run(source, prompt="{review}", provider=fn, out=tmp_path / "out", progress="none")
    assert fn.sent == []


def test_a_bad_row_deep_in_the_file_is_refused_before_the_first_send(tmp_path: Path) -> None:
    df = _frame()
    df.loc[987, "text"] = None
    df.to_csv(source := tmp_path / "in.csv", index=False)
    fn = Recorder()
    with pytest.raises(InputError, match=r"in\.csv.*'text'.*rows 987"):
        _run(source, tmp_path / "out", fn)
    assert fn.sent == []
    assert not (tmp_path / "out").exists()  # a refused run leaves no folder behind


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("in.parquet", b"not a parquet file", r"in\.parquet.*cannot be read as parquet"),
        ("in.xlsx", b"PK", r"in\.xlsx.*unknown file type '\.xlsx'"),
        ("missing.csv", None, r"missing\.csv.*no such file"),
    ],
)
def test_unreadable_or_unsupported_files_are_refused_naming_the_file(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    source = tmp_path / name
    if content is not None:
        source.write_bytes(content)
    fn = Recorder()
    with pytest.raises(InputError, match=message):
        _run(source, tmp_path / "out", fn)
    assert fn.sent == []


def test_a_path_without_out_is_refused(tmp_path: Path) -> None:
    _frame().to_parquet(source := tmp_path / "in.parquet")
    with pytest.raises(InputError, match="needs out="):
        bb.run(source, prompt="{text}", provider=Recorder(), progress="none")  # type: ignore[call-overload]


def test_a_folder_holding_other_files_is_refused(tmp_path: Path) -> None:
    _frame().to_parquet(source := tmp_path / "in.parquet")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty and holds no brainbatch results"):
        _run(source, tmp_path / "out", Recorder())


def test_a_folder_written_with_other_settings_is_refused(tmp_path: Path) -> None:
    _frame(300).to_parquet(source := tmp_path / "in.parquet")
    _run(source, tmp_path / "out", Recorder())
    with pytest.raises(InputError, match=r"other settings.*prompt"):
        bb.run(
            source,
            prompt="Say {text}",
            provider=Recorder(),
            out=tmp_path / "out",
            progress="none",
            chunk_size=CHUNK,
        )


def test_after_a_cancel_a_second_run_sends_only_the_rest_and_each_row_is_written_once(
    tmp_path: Path,
) -> None:
    _frame().to_parquet(source := tmp_path / "in.parquet")
    out = tmp_path / "out"
    first = Recorder(cancel_after=500)  # in the third chunk
    run = prepare_stream(
        source,
        PromptSpec(prompt="{text}", model="sim"),
        RunSettings(model="sim", provider=first, max_concurrent=4),
        out=out,
        chunk_size=CHUNK,
    )
    first.job = run.job
    stopped = asyncio.run(run.run())
    assert stopped.status == BatchStatus.CANCELLED
    assert 500 <= stopped.done < ROWS
    parts = read_parts(out)
    assert [parts[k]["complete"] for k in sorted(parts)] == [True, True, False]
    assert len(pd.read_parquet(out)) == stopped.done  # the finished rows, once each

    second = Recorder()
    result = _run(source, out, second)
    assert result.status == BatchStatus.COMPLETED and result.done == ROWS
    assert sorted(first.sent + second.sent) == sorted(f"row-{i}" for i in range(ROWS))
    frame = pd.read_parquet(out)
    assert sorted(frame["row"]) == list(range(ROWS))
    assert json.loads((out / MANIFEST).read_text())["total"] == ROWS


def test_submit_returns_a_handle_whose_cancel_stops_the_stream(tmp_path: Path) -> None:
    _frame().to_parquet(source := tmp_path / "in.parquet")

    async def slow(request: BatchRequest) -> str:
        await asyncio.sleep(0.01)
        return "ok"

    handle = bb.submit(
        source,
        prompt="{text}",
        provider=slow,
        out=tmp_path / "out",
        chunk_size=CHUNK,
        progress="none",
    )
    assert "1,050 rows" in repr(handle)
    while handle.job.done < 30:
        assert not handle.done()
        handle.wait(0.01)
    assert handle.cancel()
    result = handle.result(timeout=30)
    assert result.status == BatchStatus.CANCELLED
    assert 30 <= result.done < ROWS
    assert len(pd.read_parquet(tmp_path / "out")) == result.done


def test_the_budget_spans_every_chunk(tmp_path: Path) -> None:
    _frame().to_parquet(source := tmp_path / "in.parquet")
    result = bb.run(
        source,
        prompt="{text}",
        model="sim",
        params={"max_tokens": 50},
        latency_ms=0,
        max_cost_usd=0.01,
        out=tmp_path / "out",
        chunk_size=CHUNK,
        progress="none",
    )
    assert result.status == BatchStatus.CANCELLED
    assert 0 < result.done < ROWS
    assert result.paid_usd <= 0.01


def test_a_second_run_into_a_folder_being_written_is_refused(tmp_path: Path) -> None:
    _frame(300).to_parquet(source := tmp_path / "in.parquet")
    spec, settings = PromptSpec(prompt="{text}", model="sim"), RunSettings(model="sim")
    first = prepare_stream(source, spec, settings, out=tmp_path / "out")
    try:
        with pytest.raises(InputError, match="being written by another run"):
            prepare_stream(source, spec, settings, out=tmp_path / "out")
    finally:
        first.release()
    prepare_stream(source, spec, settings, out=tmp_path / "out").release()  # free again


def test_a_refused_key_fails_the_stream_at_its_chunk_and_sends_no_later_chunk(
    tmp_path: Path, sim: Any
) -> None:
    _frame().to_parquet(source := tmp_path / "in.parquet")
    sim.configure(api_key="sk-right-key-FAKE-000")
    result = bb.run(
        source, prompt="{text}", model="gpt-4o-mini", provider="openai",
        base_url=sim.openai_base_url, api_key="sk-wrong-key-FAKE-000", out=tmp_path / "out",
        chunk_size=CHUNK, max_concurrent=2, progress="none",
    )  # fmt: skip
    assert result.status == BatchStatus.FAILED
    assert result.done < CHUNK  # the first chunk stopped; no other chunk was started
    assert sim.count("/v1/chat/completions") <= 2


def test_check_chunk_reads_once_and_stops_at_the_chunk_with_the_bad_row(tmp_path: Path) -> None:
    df = _frame()
    df.loc[987, "text"] = None
    df.to_parquet(source := tmp_path / "in.parquet")
    fn = Recorder()
    with pytest.raises(InputError, match=r"in\.parquet.*'text'.*rows 987"):
        _run(source, tmp_path / "out", fn, check="chunk")
    assert sorted(fn.sent) == sorted(f"row-{i}" for i in range(800))  # chunks 0-3, then stop
    assert sorted(read_parts(tmp_path / "out")) == [0, 1, 2, 3]


def test_expand_on_a_stream_is_refused_saying_why_and_what_to_do(tmp_path: Path) -> None:
    _frame(10).to_parquet(source := tmp_path / "in.parquet")
    fn = Recorder()
    with pytest.raises(InputError, match=r"expand=True.*other keys.*json_normalize"):
        bb.run(
            source, prompt="{text}", provider=fn, out=tmp_path / "out", expand=True, progress="none"
        )
    assert fn.sent == [] and not (tmp_path / "out").exists()


def test_an_id_repeated_in_a_later_chunk_is_refused_naming_both_rows(tmp_path: Path) -> None:
    df = _frame(450)
    df["key"] = [f"k{i}" for i in range(450)]
    df.loc[412, "key"] = "k7"  # chunk 2 repeats an id of chunk 0
    df.to_parquet(source := tmp_path / "in.parquet")
    fn = Recorder()
    with pytest.raises(InputError, match=r"in\.parquet.*'key'.*'k7' at row 7 and again at row 412"):
        _run(source, tmp_path / "out", fn, custom_id="key")
    assert fn.sent == []


def test_unique_ids_across_chunks_pass_the_check(tmp_path: Path) -> None:
    df = _frame(450)
    df["key"] = [f"k{i}" for i in range(450)]
    df.to_parquet(source := tmp_path / "in.parquet")
    result = _run(source, tmp_path / "out", Recorder(), custom_id="key")
    assert result.status == BatchStatus.COMPLETED and result.done == 450

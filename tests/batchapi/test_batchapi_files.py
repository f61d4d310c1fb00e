"""Offline batch files: ``bb.export_batch`` writes what batch mode uploads, and
``bb.import_batch_results`` reads the output files (OpenAI's and vLLM ``run-batch``'s) back."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import orjson
import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.batchapi.files import read_batch_results, write_batch_files
from brainbatch.batchapi.jsonl import BatchLimits
from brainbatch.errors import InputError
from brainbatch.frame import PromptSpec, build_requests
from brainbatch.sim import SimServer
from brainbatch.sim.batches import BatchSimState


def _df(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": [f"is review {i} happy?" for i in range(n)],
            "model": ["gpt-4o-mini", "gpt-4.1-mini"] * (n // 2),
        },
        index=pd.Index([f"id{i}" for i in range(n)], name="review_id"),
    )


def _run_elsewhere(sim: SimServer, batch_file: Path, out: Path) -> None:
    """What a user does with an exported file outside brainbatch: upload it to an OpenAI
    compatible Batch API (here the simulated server, over a real socket), wait, download."""
    with httpx.Client(base_url=sim.openai_base_url, timeout=30) as http:
        up = http.post(
            "/files",
            files={"file": (batch_file.name, batch_file.read_bytes(), "application/jsonl")},
            data={"purpose": "batch"},
        )
        up.raise_for_status()
        created = http.post(
            "/batches",
            json={
                "input_file_id": up.json()["id"],
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
            },
        )
        created.raise_for_status()
        batch = created.json()
        deadline = time.monotonic() + 30
        while batch["status"] not in ("completed", "failed", "expired", "cancelled"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
            batch = http.get(f"/batches/{batch['id']}").json()
        assert batch["status"] == "completed", batch
        content = http.get(f"/files/{batch['output_file_id']}/content")
        content.raise_for_status()
        out.write_bytes(content.content)


def test_exported_files_run_elsewhere_come_back_as_batch_mode_results(
    sim: SimServer, batch_sim: BatchSimState, tmp_path: Path
) -> None:
    df = _df()
    files = bb.export_batch(df, prompt="{text}", model="col:model", path=tmp_path / "in")
    assert [f.model for f in files] == ["gpt-4o-mini", "gpt-4.1-mini"]  # one model per file
    outputs = []
    for f in files:
        outputs.append(tmp_path / f"out-{f.path.name}")
        _run_elsewhere(sim, f.path, outputs[-1])
    imported = bb.import_batch_results(outputs, df, prompt="{text}", model="col:model")
    online = bb.run(
        df,
        prompt="{text}",
        model="col:model",
        provider="openai",
        mode="batch",
        base_url=sim.openai_base_url,
        api_key="sk-test",
        poll_interval=0.05,
        store=False,
        progress=False,
    )
    assert list(imported.index) == list(df.index)
    assert (imported.status == "success").all()
    cols = ["response", "input_tokens", "output_tokens", "cost_usd", "model"]
    pd.testing.assert_frame_equal(imported[cols], online[cols])


def test_exported_lines_are_what_real_time_mode_would_send(tmp_path: Path) -> None:
    df = _df(2)
    params = {"max_tokens": 30, "stop": ["task-list-end"], "temperature": 0.2}
    [f] = bb.export_batch(
        df.iloc[:1], prompt="{text}", model="gpt-4o-mini", path=tmp_path, system="Be brief.",
        params=params,
    )  # fmt: skip
    line = orjson.loads(f.path.read_bytes())
    assert line == {
        "custom_id": "id0",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "is review 0 happy?"},
            ],
            **params,
        },
    }
    assert f.requests == 1 and f.bytes == f.path.stat().st_size


def test_files_are_split_under_the_limits_keeping_row_order(tmp_path: Path) -> None:
    requests = build_requests(_df(10), PromptSpec(prompt="{text}", model="gpt-4o-mini"))
    files = write_batch_files(requests, tmp_path, limits=BatchLimits(4, 10**9, None, "test"))
    assert [f.requests for f in files] == [4, 4, 2]
    ids = [orjson.loads(x)["custom_id"] for f in files for x in f.path.read_bytes().splitlines()]
    assert ids == [f"id{i}" for i in range(10)]


def test_existing_files_are_not_overwritten_unless_asked(tmp_path: Path) -> None:
    df = _df(2)
    [first] = bb.export_batch(df, prompt="{text}", model="gpt-4o-mini", path=tmp_path)
    before = first.path.read_bytes()
    with pytest.raises(InputError, match=r"already exist.*overwrite=True"):
        bb.export_batch(df, prompt="again {text}", model="gpt-4o-mini", path=tmp_path)
    assert first.path.read_bytes() == before
    bb.export_batch(df, prompt="again {text}", model="gpt-4o-mini", path=tmp_path, overwrite=True)
    assert first.path.read_bytes() != before


def test_a_bad_row_is_refused_before_any_file_is_written(tmp_path: Path) -> None:
    df = pd.DataFrame({"text": ["fine", None]})
    with pytest.raises(InputError, match="text"):
        bb.export_batch(df, prompt="{text}", model="gpt-4o-mini", path=tmp_path / "in")
    assert not (tmp_path / "in").exists()


# -- reading output files --------------------------------------------------------------------


def _completion(text: str, model: str = "gpt-4o-mini") -> dict[str, object]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
    }


def _ok(cid: str, text: str) -> dict[str, object]:
    return {
        "id": f"b-{cid}",
        "custom_id": cid,
        "response": {"status_code": 200, "request_id": "r", "body": _completion(text)},
        "error": None,
    }


def _write(path: Path, *lines: dict[str, object]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    return path


def test_vllm_error_lines_keep_the_servers_words(tmp_path: Path) -> None:
    df = _df(4)
    out = _write(
        tmp_path / "out.jsonl",
        _ok("id0", "yes"),
        {  # vLLM run-batch: an error object with type, no code
            "id": "b1",
            "custom_id": "id1",
            "response": {"status_code": 400, "request_id": "r1", "body": None},
            "error": {
                "object": "error",
                "message": "max_tokens is too large",
                "type": "BadRequest",
            },
        },
        {"id": "b2", "custom_id": "id2", "response": None, "error": "engine crashed"},
    )
    got = bb.import_batch_results(out, df, prompt="{text}", model="gpt-4o-mini")
    assert list(got.status) == ["success", "error", "error", "not_run"]
    assert got.loc["id1", "error"] == "max_tokens is too large"
    assert got.loc["id2", "error"] == "engine crashed"
    assert got.loc["id0", "response"] == "yes"


def test_imported_answers_are_priced_at_the_batch_price(tmp_path: Path) -> None:
    df = _df(2).iloc[:1]
    out = _write(tmp_path / "out.jsonl", _ok("id0", "yes"))
    batch = bb.import_batch_results(out, df, prompt="{text}", model="gpt-4o-mini")
    now = bb.import_batch_results(out, df, prompt="{text}", model="gpt-4o-mini", batch=False)
    realtime = bb.cost_of("gpt-4o-mini", 1000, 500).usd
    assert now.cost_usd.iloc[0] == pytest.approx(realtime)
    assert batch.cost_usd.iloc[0] == pytest.approx(realtime / 2)


def test_a_success_wins_over_an_error_for_the_same_row(tmp_path: Path) -> None:
    requests = build_requests(_df(2), PromptSpec(prompt="{text}", model="gpt-4o-mini"))
    failed = {"id": "x", "custom_id": "id0", "response": None, "error": "timeout"}
    first = _write(tmp_path / "a.jsonl", failed)
    second = _write(tmp_path / "b.jsonl", _ok("id0", "later"))
    [result] = read_batch_results([first, second], requests)
    assert result.status == "success" and result.result == "later"


def test_a_line_for_a_row_not_in_the_frame_names_file_and_line(tmp_path: Path) -> None:
    out = _write(tmp_path / "out.jsonl", _ok("id0", "a"), _ok("other-job-7", "b"))
    with pytest.raises(InputError, match=r"out.jsonl line 2: custom_id 'other-job-7'"):
        bb.import_batch_results(out, _df(2), prompt="{text}", model="gpt-4o-mini")


def test_a_line_that_is_not_json_names_file_and_line(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(orjson.dumps(_ok("id0", "a")) + b"\n{not json\n")
    with pytest.raises(InputError, match=r"out.jsonl line 2 is not valid JSON"):
        bb.import_batch_results(out, _df(2), prompt="{text}", model="gpt-4o-mini")


def test_a_missing_output_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot read the batch output file .*nope.jsonl"):
        bb.import_batch_results(tmp_path / "nope.jsonl", _df(2), prompt="{text}", model="m")


def test_a_malformed_success_body_is_that_rows_error(tmp_path: Path) -> None:
    bad = _ok("id0", "x")
    bad["response"] = {"status_code": 200, "request_id": "r", "body": {"choices": "nope"}}
    out = _write(tmp_path / "out.jsonl", bad, _ok("id1", "fine"))
    got = bb.import_batch_results(out, _df(2), prompt="{text}", model="gpt-4o-mini")
    assert list(got.status) == ["error", "success"]
    assert "malformed" in got.loc["id0", "error"]

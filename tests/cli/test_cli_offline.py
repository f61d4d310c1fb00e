"""``brainbatch export`` and ``brainbatch import``: batch files for a run elsewhere, and back."""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd


def _answer(line: bytes) -> bytes:
    """What vllm run-batch writes for one input line (a canned completion)."""
    request = orjson.loads(line)
    body = {
        "id": "chatcmpl-x",
        "object": "chat.completion",
        "created": 1,
        "model": request["body"]["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"ok {request['custom_id']}"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
    }
    out = {
        "id": f"vllm-{request['custom_id']}",
        "custom_id": request["custom_id"],
        "response": {"status_code": 200, "request_id": "r", "body": body},
        "error": None,
    }
    return orjson.dumps(out)


def _export(in_process, prompts_csv: Path, folder: Path) -> list[Path]:
    code, out, err = in_process(
        "export", str(prompts_csv), "--prompt", "Classify: {text}", "--model", "gpt-4o-mini",
        "--id-column", "id", "--out-dir", str(folder),
    )  # fmt: skip
    assert code == 0, err
    return [Path(line.split("\t")[0]) for line in out.splitlines()]


def test_export_then_import_gives_a_results_file_with_every_row(
    in_process, prompts_csv: Path, tmp_path: Path
) -> None:
    [batch_file] = _export(in_process, prompts_csv, tmp_path / "in")
    output = tmp_path / "out.jsonl"
    output.write_bytes(b"\n".join(_answer(x) for x in batch_file.read_bytes().splitlines()))
    code, _, err = in_process(
        "import", str(prompts_csv), "--prompt", "Classify: {text}", "--model", "gpt-4o-mini",
        "--id-column", "id", "--results", str(output), "--out", str(tmp_path / "results.csv"),
    )  # fmt: skip
    assert code == 0, err
    results = pd.read_csv(tmp_path / "results.csv")
    assert (results["status"] == "success").all()
    assert results["response"].tolist() == [f"ok {i}" for i in results["id"]]
    assert "40 success" in err


def test_import_with_rows_missing_exits_1_and_marks_them_not_run(
    in_process, prompts_csv: Path, tmp_path: Path
) -> None:
    [batch_file] = _export(in_process, prompts_csv, tmp_path / "in")
    output = tmp_path / "out.jsonl"
    output.write_bytes(b"\n".join(_answer(x) for x in batch_file.read_bytes().splitlines()[:30]))
    code, _, _ = in_process(
        "import", str(prompts_csv), "--prompt", "Classify: {text}", "--model", "gpt-4o-mini",
        "--id-column", "id", "--results", str(output), "--out", str(tmp_path / "results.csv"),
    )  # fmt: skip
    assert code == 1
    results = pd.read_csv(tmp_path / "results.csv")
    assert (results["status"] == "not_run").sum() == 10


def test_export_refuses_to_overwrite_and_says_how(
    in_process, prompts_csv: Path, tmp_path: Path
) -> None:
    _export(in_process, prompts_csv, tmp_path / "in")
    code, _, err = in_process(
        "export", str(prompts_csv), "--prompt", "{text}", "--model", "gpt-4o-mini",
        "--id-column", "id", "--out-dir", str(tmp_path / "in"),
    )  # fmt: skip
    assert code == 2
    assert "--overwrite" in err

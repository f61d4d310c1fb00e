"""Images given as file paths are read when the request is sent, not when the job is made:
the job holds a reference (path, sha256, size, pixel size), the checks still run up front,
what is sent is what in-memory bytes give, and a file changed since is refused."""

from __future__ import annotations

import hashlib
import struct
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
from image_helpers import PDF, jpeg, png

import brainbatch as bb
import brainbatch.images
import brainbatch.store
from brainbatch.errors import InputError
from brainbatch.estimate import token_counts
from brainbatch.frame import PromptSpec, build_requests
from brainbatch.images import MEDIA_KEY
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim import SimServer

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}


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


def _raw_bodies(sim: SimServer) -> tuple[list[bytes], Any]:
    bodies: list[bytes] = []

    def keep(exchange: Any) -> None:
        if exchange.method == "POST" and (
            exchange.path.endswith(("/chat/completions", "/messages"))
            or ":generateContent" in exchange.path
        ):
            bodies.append(bytes(exchange.body))

    return bodies, sim.observe(keep)


def _spec(**kw: Any) -> PromptSpec:
    return PromptSpec(prompt="Colour of {name}?", model="gpt-4o-mini", **kw)


def _padded_png(size: int) -> bytes:
    """A PNG header (so it is sniffed and measured) followed by ``size`` bytes."""
    return png(4, 4) + b"\0" * size


@pytest.mark.parametrize("api", ["openai", "anthropic", "gemini"])
def test_a_file_path_sends_the_same_body_as_its_bytes(
    sim: SimServer, api: str, tmp_path: Path
) -> None:
    data = png(6, 6, rgb=(0, 200, 0))
    (tmp_path / "g.png").write_bytes(data)
    bodies, stop = _raw_bodies(sim)
    try:
        _run(
            sim, api, pd.DataFrame({"name": ["g"], "pic": [str(tmp_path / "g.png")]}), images="pic"
        )
        _run(sim, api, pd.DataFrame({"name": ["g"], "pic": [data]}), images="pic")
    finally:
        stop()
    assert len(bodies) == 2 and bodies[0] == bodies[1]


def test_a_pdf_path_is_sent_as_a_file_part_with_its_name(sim: SimServer, tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(PDF)
    bodies, stop = _raw_bodies(sim)
    try:
        df = pd.DataFrame({"name": ["d"], "doc": [str(tmp_path / "report.pdf")]})
        _run(sim, "openai", df, documents="doc")
    finally:
        stop()
    part = orjson.loads(bodies[0])["messages"][0]["content"][1]
    expected = {"filename": "report.pdf", "file_data": bb.images.data_url("application/pdf", PDF)}
    assert part == {"type": "file", "file": expected}


def test_the_requests_of_many_files_hold_none_of_their_bytes(tmp_path: Path) -> None:
    n, size = 40, 256 * 1024  # 10 MB of files; eager requests would hold 13.6 MB of base64
    paths = []
    for i in range(n):
        path = tmp_path / f"{i}.png"
        path.write_bytes(_padded_png(size))
        paths.append(str(path))
    df = pd.DataFrame({"name": [str(i) for i in range(n)], "pic": paths})
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        requests = build_requests(df, _spec(images="pic"))
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(requests) == n
    assert held - before < size  # all 40 references together: less than one file
    assert peak - before < 4 * size  # one file's blocks at a time, never all of them


def test_the_checks_before_sending_read_the_pixel_size_of_a_file(tmp_path: Path) -> None:
    (tmp_path / "wide.png").write_bytes(png(8001, 1))
    df = pd.DataFrame({"name": ["w"], "pic": [str(tmp_path / "wide.png")]})
    with pytest.raises(InputError, match=r"row 0, column 'pic'.*8001x1 px"):
        build_requests(df, PromptSpec("Colour of {name}?", "claude-haiku-4-5", images="pic"))


def test_the_estimate_counts_a_file_image_like_its_bytes(tmp_path: Path) -> None:
    data = png(1024, 1024)
    (tmp_path / "big.png").write_bytes(data)
    by_path = build_requests(
        pd.DataFrame({"name": ["a"], "pic": [str(tmp_path / "big.png")]}), _spec(images="pic")
    )
    by_bytes = build_requests(pd.DataFrame({"name": ["a"], "pic": [data]}), _spec(images="pic"))
    assert token_counts(by_path).input_tokens.iloc[0] == token_counts(by_bytes).input_tokens.iloc[0]


def test_a_jpeg_whose_size_marker_is_far_into_the_file_is_measured(tmp_path: Path) -> None:
    head = jpeg(1000, 500)
    # six 64 KB APP1 segments (EXIF-like) before the frame header: beyond the first read
    app1 = b"\xff\xe1" + struct.pack(">H", 65535) + b"\0" * 65533
    data = head[:2] + app1 * 6 + head[2:]
    (tmp_path / "photo.jpg").write_bytes(data)
    df = pd.DataFrame({"name": ["j"], "pic": [str(tmp_path / "photo.jpg")]})
    (request,) = build_requests(df, _spec(images="pic"))
    record = request.messages[0]["content"][1][MEDIA_KEY]
    assert (record["width"], record["height"]) == (1000, 500)


def test_a_file_changed_after_the_job_was_made_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(png(2, 2, rgb=(255, 0, 0)))
    (request,) = build_requests(
        pd.DataFrame({"name": ["a"], "pic": [str(path)]}), _spec(images="pic")
    )
    path.write_bytes(png(2, 2, rgb=(0, 0, 255)))
    provider = OpenAIProvider("gpt-4o-mini", api_key="sk-test", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(InputError, match=r"a\.png' changed since the job was created"):
        provider.build_body(request)


def test_the_journal_hash_covers_the_bytes_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(png(2, 2, rgb=(255, 0, 0)))
    df = pd.DataFrame({"name": ["a"], "pic": [str(path)]})
    (first,) = build_requests(df, _spec(images="pic"))
    path.write_bytes(png(2, 2, rgb=(0, 0, 255)))
    (second,) = build_requests(df, _spec(images="pic"))
    part = second.messages[0]["content"][1]
    assert part[MEDIA_KEY]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert bb.store.body_hash(first) != bb.store.body_hash(second)


def test_a_resumed_request_sends_the_bytes_it_first_sent(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(png(3, 3, rgb=(9, 9, 9)))
    df = pd.DataFrame({"name": ["a"], "pic": [str(tmp_path / "a.png")]})
    store = tmp_path / "j.sqlite"
    # the first send of every body fails (400: not retried), so the row is resumed
    with SimServer(latency_ms=0, fail_first_n=1, fail_status=400) as server:
        bodies, stop = _raw_bodies(server)
        try:
            first = _run(server, "openai", df, images="pic", store=store, job_name="pics")
            again = bb.resume(
                "pics",
                store,
                retry_failed=True,
                wait=True,
                progress="none",
                base_url=server.openai_base_url,
                api_key="sk-test",
            )
        finally:
            stop()
    assert list(first.status) == ["error"]
    assert isinstance(again, pd.DataFrame) and list(again.status) == ["success"]
    assert len(bodies) == 2 and bodies[0] == bodies[1]


def test_the_offline_simulator_answers_a_file_as_its_bytes(tmp_path: Path) -> None:
    data = png(5, 5, rgb=(1, 2, 3))
    (tmp_path / "a.png").write_bytes(data)

    def answer(cell: Any) -> str:
        out = bb.run(
            pd.DataFrame({"name": ["a"], "pic": [cell]}),
            prompt="Colour of {name}?",
            model="sim/gpt-4o-mini",
            images="pic",
            store=False,
            progress="none",
            latency_ms=0,
        )
        return str(out.response.iloc[0])

    assert answer(str(tmp_path / "a.png")) == answer(data)

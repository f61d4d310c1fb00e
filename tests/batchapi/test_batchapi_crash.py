"""Never pay twice when the process dies mid-submit: the intent to submit a batch reaches the
journal before the provider hears of it, and a resumed run finds the job's batch in the
provider's batch list and re-attaches instead of submitting (and paying for) it again.

A real crash: a child process runs a batch job (``bb.run``, journaled in a store file) through
a loopback proxy to the simulated server. The proxy forwards the create-batch call, and once
the server has accepted the batch it SIGKILLs the child before handing it the answer. A second
process then resumes the job from the store file.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from brainbatch.sim import SimServer
from brainbatch.sim.batches import BatchSimState
from brainbatch.store import JobStore

_HOP = {"host", "content-length", "transfer-encoding", "connection"}

RUN = """
import sys, pandas as pd, brainbatch as bb
df = pd.DataFrame({"text": [f"question {i}" for i in range(20)]},
                  index=pd.Index([f"q{i}" for i in range(20)], name="qid"))
bb.run(df, prompt="text", model="gpt-4o-mini", provider="openai", mode="batch",
       base_url=sys.argv[1], api_key="sk-test", poll_interval=0.02,
       job_name="crashy", store=sys.argv[2], progress="none")
print("the job ended: the kill never came")
"""

RESUME = """
import sys, brainbatch as bb
out = bb.resume("crashy", store=sys.argv[1], api_key="sk-test", wait=True, progress="none")
print(out[["status", "paid_usd"]].reset_index().to_json(orient="records"))
"""


class KillingProxy:
    """Forwards every call to the simulated server; when armed, kills ``pid`` as soon as the
    server answered a ``POST /v1/batches``, before the answer is passed on."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.child: asyncio.subprocess.Process | None = None
        self.armed = True
        self.killed = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        body = await request.read()
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, self.upstream + request.path_qs, headers=headers, data=body
            ) as resp,
        ):
            content = await resp.read()
            status, ctype = resp.status, resp.content_type
        if self.armed and request.method == "POST" and request.path == "/v1/batches":
            assert self.child is not None
            self.armed = False
            os.kill(self.child.pid, signal.SIGKILL)  # accepted at the server, not yet heard of
            await self.child.wait()
            self.killed += 1
        return web.Response(status=status, body=content, content_type=ctype)


@pytest.fixture
async def proxy(
    sim: SimServer, batch_sim: BatchSimState
) -> AsyncIterator[tuple[KillingProxy, str]]:
    p = KillingProxy(sim.url)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", p.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield p, f"http://127.0.0.1:{port}/v1"
    await runner.cleanup()


async def _python(code: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


def _job_id(store_path: str) -> str:
    store = JobStore(store_path)
    try:
        return store.load_job("crashy").job_id
    finally:
        store.close()


async def test_killed_right_after_the_provider_accepted_a_batch_resumes_paying_once(
    proxy: tuple[KillingProxy, str], batch_sim: BatchSimState, tmp_path: Path
) -> None:
    p, proxy_url = proxy
    store_path = str(tmp_path / "jobs.sqlite")
    p.child = await _python(RUN, proxy_url, store_path)
    out, err = await asyncio.wait_for(p.child.communicate(), 120)
    assert p.killed == 1, (out + err).decode()[-2000:]
    assert p.child.returncode == -signal.SIGKILL
    (accepted,) = batch_sim.batches.values()  # the server took the batch...
    store = JobStore(store_path)
    try:
        (intent,) = store.provider_batches("crashy")  # ...the journal only knows the intent
    finally:
        store.close()
    assert intent["state"] == "submitting" and intent["batch_id"] is None
    assert accepted.metadata == {"brainbatch_job_id": _job_id(store_path), "brainbatch_part": "1/1"}

    resumed = await _python(RESUME, store_path)
    out, err = await asyncio.wait_for(resumed.communicate(), 120)
    assert resumed.returncode == 0, err.decode()[-2000:]
    rows: list[dict[str, Any]] = orjson.loads(out.splitlines()[-1])
    assert len(rows) == 20 and all(r["status"] == "success" and r["paid_usd"] > 0 for r in rows)
    assert len(batch_sim.batches) == 1  # nothing submitted again...
    ran = [cid for cid, _ in accepted.requests]
    # ...each row ran, and was paid, once
    assert sorted(ran) == sorted(r["custom_id"] for r in rows)
    store = JobStore(store_path)
    try:
        (record,) = store.provider_batches("crashy")
    finally:
        store.close()
    assert record["batch_id"] == accepted.id and record["collected"]

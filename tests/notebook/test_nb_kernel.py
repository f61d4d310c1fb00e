"""In a real Jupyter kernel: the Cancel button works while a submitted job runs, bb.run works
inside a cell, and interrupting the kernel during bb.run gives partial results, not a traceback.
"""

from __future__ import annotations

import json
import time
from typing import Any

from nb_kernel_helpers import Kernel

SETUP = """
import json
import pandas as pd
import brainbatch as bb
df = pd.DataFrame({"text": [f"prompt {i}" for i in range(2000)]})
"""

# 2,000 rows at 8 x 20 rows/s: about 12.5 s if nothing stops it
SLOW_JOB = 'prompt="text", model="sim", latency_ms=50, latency_sigma=0, max_concurrent=8'


def model_id(messages: list[dict[str, Any]], model: str, **state: Any) -> str:
    """The comm id of the first widget of ``model`` (with that ``state``) the kernel opened."""
    for m in messages:
        if m["msg_type"] != "comm_open":
            continue
        opened = m["content"]["data"]["state"]
        if opened.get("_model_name") == model and all(opened.get(k) == v for k, v in state.items()):
            return str(m["content"]["comm_id"])
    raise AssertionError(f"no {model} {state} was opened")


def updates(messages: list[dict[str, Any]], comm_id: str) -> list[dict[str, Any]]:
    """The state updates the kernel sent for one widget, in order."""
    return [
        m["content"]["data"]["state"]
        for m in messages
        if m["msg_type"] == "comm_msg"
        and m["content"]["comm_id"] == comm_id
        and m["content"]["data"].get("method") == "update"
    ]


def test_cancel_button_click_stops_a_submitted_job_while_it_runs(kernel: Kernel) -> None:
    kernel.execute(SETUP)
    messages, reply = kernel.execute(f"job = bb.submit(df, {SLOW_JOB}, job_name='k1')\njob")
    assert reply["content"]["status"] == "ok"
    button = model_id(messages, "ButtonModel", description="Cancel")
    bar = model_id(messages, "FloatProgressModel")
    time.sleep(0.5)  # the job runs in the background; the kernel is idle
    kernel.click(button)
    time.sleep(0.3)
    messages, _ = kernel.execute(
        "out = await job\n"
        "print(json.dumps([job.status.value, job.job.done, job.job.total,"
        " int((out.status == 'cancelled').sum()), int((out.status == 'success').sum())]))"
    )
    assert kernel.errors(messages) == []
    status, done, total, cancelled, succeeded = json.loads(kernel.stream(messages))
    assert status == "cancelled"
    assert 0 < done < total
    assert cancelled == total - done
    assert succeeded == done
    bar_updates = updates(messages, bar)  # sent from the job while the kernel was idle
    assert any(0 < u.get("value", 0) < 1 for u in bar_updates)
    styles = [u["bar_style"] for u in bar_updates if "bar_style" in u]
    assert styles[-1] == "warning"  # the cancelled colour


def test_run_inside_a_kernel_cell_returns_the_results(kernel: Kernel) -> None:
    kernel.execute(SETUP)
    messages, reply = kernel.execute(
        "out = bb.run(df.head(50), prompt='text', model='sim', latency_ms=1)\n"
        "print(len(out), int((out.status == 'success').sum()))"
    )
    assert reply["content"]["status"] == "ok"
    assert kernel.errors(messages) == []
    assert kernel.stream(messages).strip() == "50 50"
    shown = [m for m in messages if m["msg_type"] == "display_data"]
    assert "application/vnd.jupyter.widget-view+json" in shown[0]["content"]["data"]


def test_kernel_interrupt_during_run_returns_partial_results(kernel: Kernel) -> None:
    kernel.execute(SETUP)
    messages, reply = kernel.execute(
        f"out = bb.run(df, {SLOW_JOB})", after=(1.0, kernel.km.interrupt_kernel)
    )
    assert reply["content"]["status"] == "ok"
    assert kernel.errors(messages) == []
    assert "interrupted; job" in kernel.stream(messages, "stderr")
    messages, _ = kernel.execute("print(json.dumps(out.status.value_counts().to_dict()))")
    counts = json.loads(kernel.stream(messages))
    assert counts["success"] > 0
    assert counts["cancelled"] > 0
    assert counts["success"] + counts["cancelled"] == 2000


# Instrumentation for the kill test: every request the simulated provider gets is appended to
# a file (it survives the kernel's SIGKILL), and results are committed only when a slot waits
# for them (the strict journal), a group of 256 is full, or after 0.5 s, as when the loop
# finds the store's thread mid-commit. A journal that let a slot send before its previous
# result is on disk would then lose far more than the requests in flight.
RECORDING = """
import brainbatch.store.journal as _journal

_init = _journal.Writer.__init__


def _slow_commits(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.eager = False
    self.flush_interval = 1.0
    self.flush_size = 256


_journal.Writer.__init__ = _slow_commits


class Recording(bb.SimulatedProvider):
    def __init__(self, path, **kwargs):
        super().__init__(**kwargs)
        self.path = path

    async def __call__(self, request):
        with open(self.path, "a") as f:
            f.write(request.custom_id + "\\n")
        return await super().__call__(request)
"""


def test_job_killed_with_its_kernel_resumes_in_a_new_kernel(kernel: Kernel, tmp_path: Any) -> None:
    store = tmp_path / "shared.sqlite"
    first, second = tmp_path / "sent-before-kill.txt", tmp_path / "sent-on-resume.txt"
    kernel.execute(SETUP + RECORDING)
    _, reply = kernel.execute(
        f"provider = Recording({str(first)!r}, latency_ms=50, latency_sigma=0)\n"
        "job = bb.submit(df, prompt='text', model='sim', provider=provider, max_concurrent=8,"
        f" job_name='survivor', store={str(store)!r})"
    )
    assert reply["content"]["status"] == "ok"
    time.sleep(1.0)
    kernel.km.shutdown_kernel(now=True)  # the kernel dies mid-job (SIGKILL)
    kernel.restart()
    kernel.execute(SETUP + RECORDING)
    messages, _ = kernel.execute(
        f"before = bb.jobs({str(store)!r}).iloc[0]\n"
        f"provider = Recording({str(second)!r}, latency_ms=1, latency_sigma=0)\n"
        f"out = bb.resume('survivor', store={str(store)!r}, provider=provider, wait=True)\n"
        "print(json.dumps([int(before['done']), provider.calls,"
        " int((out.status == 'success').sum())]))"
    )
    assert kernel.errors(messages) == []
    done_before, sent_after, succeeded = json.loads(kernel.stream(messages))
    # the kill cost at most the requests in flight: one per executor slot (8)
    sent_before = set(first.read_text().split())
    sent_twice = sent_before & set(second.read_text().split())
    assert len(sent_twice) <= 8, f"{len(sent_twice)} rows sent twice after one kill, 8 slots"
    assert len(sent_before) > done_before  # precondition: requests were in flight
    assert 0 < done_before < 2000
    assert sent_after == 2000 - done_before  # only rows without a stored result
    assert succeeded == 2000

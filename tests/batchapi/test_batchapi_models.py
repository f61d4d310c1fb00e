"""Per-row models in batch mode: OpenAI takes one model per input file, so a mixed job becomes
one provider batch per model, each row priced by its own model at the batch price. Anthropic
message batches may mix models: one batch."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pandas as pd

import brainbatch as bb
from brainbatch import BatchJob, BatchRequest
from brainbatch.batchapi import BatchAPIExecutor
from brainbatch.pricing import cost_of
from brainbatch.providers.anthropic import AnthropicProvider
from brainbatch.sim import SimServer
from brainbatch.sim.batches import BatchSimState

FAST = {"poll_interval": 0.02, "max_poll_interval": 0.1}
"""Executor polling that suits the simulated clock."""

MODELS = ("gpt-4o-mini", "gpt-4.1-mini")


def _mixed_frame(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"text": [f"question {i}" for i in range(n)], "m": [MODELS[i % 2] for i in range(n)]},
        index=pd.Index([f"q{i}" for i in range(n)], name="qid"),
    )


def test_mixed_model_openai_job_gives_one_batch_per_model_priced_per_model(
    sim: SimServer, batch_sim: BatchSimState, tmp_path: Path
) -> None:
    out = bb.run(
        _mixed_frame(10),
        prompt="text",
        model="col:m",
        provider="openai",
        mode="batch",
        base_url=sim.openai_base_url,
        api_key="sk-test",
        poll_interval=0.02,
        store=tmp_path / "jobs.sqlite",
        progress="none",
    )
    assert (out.status == "success").all()
    batches = list(batch_sim.batches.values())
    models_per_file = []
    for b in batches:
        assert b.input_file_id is not None
        lines = batch_sim.files[b.input_file_id].content.splitlines()
        models_per_file.append({orjson.loads(x)["body"]["model"] for x in lines})
    assert sorted(models_per_file, key=sorted) == [{"gpt-4.1-mini"}, {"gpt-4o-mini"}]
    for qid, row in out.iterrows():
        expected = cost_of(row.model, row.input_tokens, row.output_tokens, batch=True)
        assert row.model == MODELS[int(str(qid)[1:]) % 2]
        assert math.isclose(row.cost_usd, expected.usd, rel_tol=1e-12)
        assert row.price_source == expected.price_source and "batch" in row.price_source
    by_model = out.groupby("model").cost_usd.sum()
    assert by_model["gpt-4o-mini"] != by_model["gpt-4.1-mini"]  # two prices really apply


async def test_mixed_model_anthropic_job_stays_one_message_batch(
    anthropic_provider: AnthropicProvider, batch_sim: BatchSimState
) -> None:
    models = ("claude-haiku-4-5", "claude-sonnet-4-6")
    job = BatchJob(
        [BatchRequest(prompt=f"q{i}", model=models[i % 2], custom_id=f"a{i}") for i in range(6)]
    )
    await BatchAPIExecutor(anthropic_provider, **FAST).execute(job)
    (record,) = job.metadata["provider_batches"]
    assert record.model is None and record.n_requests == 6
    assert {r.model for r in job.results} == set(models) and job.n_success == 6

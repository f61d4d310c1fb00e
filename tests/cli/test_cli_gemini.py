"""``brainbatch run`` and ``estimate`` with a Gemini model: the provider is picked from the
name, ``--base-url`` is the host root, the key comes from ``GEMINI_API_KEY``."""

from __future__ import annotations

import pandas as pd
from cli_helpers import N_ROWS, run_args

from brainbatch.pricing import price_of


def test_run_with_a_gemini_model_goes_to_generate_content(
    in_process, prompts_csv, sim, monkeypatch
):
    sim.configure(api_key="gemini-key-for-the-test-0123")
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-key-for-the-test-0123")
    code, _, err = in_process(
        *run_args(
            prompts_csv,
            "--base-url",
            sim.gemini_base_url,
            "--param",
            "max_tokens=30",
            prompt="Classify: {text}",
            model="gemini-2.5-flash",
        )
    )
    assert code == 0, err
    assert "provider gemini" in err
    out = pd.read_csv(prompts_csv.parent / "results.csv")
    assert (out["status"] == "success").all() and (out["model"] == "gemini-2.5-flash").all()
    assert (out["cost_usd"] > 0).all() and (out["price_source"] == "genai-prices").all()
    assert sim.count("/v1beta/models/gemini-2.5-flash:generateContent") == N_ROWS
    assert "gemini-key-for-the-test-0123" not in err


def test_a_gemini_model_without_a_key_is_refused_before_anything_is_sent(
    in_process, prompts_csv, sim
):
    code, _, err = in_process(*run_args(prompts_csv, model="gemini-2.5-flash"))
    assert code == 2
    assert "GEMINI_API_KEY" in err
    assert sim.count() == 0


def test_estimate_prices_a_gemini_model_real_time_and_batch(in_process, prompts_csv):
    code, out, err = in_process(
        "estimate", str(prompts_csv), "--prompt", "{text}", "--model", "gemini-2.5-flash"
    )
    assert code == 0, err
    price = price_of("gemini-2.5-flash")
    assert price is not None and price.has_batch_price
    assert "gemini-2.5-flash" in out and "batch" in out

"""The public names of ``brainbatch`` are pinned: adding or removing one is a decision."""

from __future__ import annotations

import brainbatch

PUBLIC = {
    "AnthropicProvider", "AuthenticationError", "BatchAPIExecutor", "BatchJob", "BatchManager",
    "BatchRequest", "BatchResult", "BatchStatus", "BrainbatchError", "BudgetExceeded",
    "BudgetGuard", "ConfigurationError", "ConnectionFailed", "Cost", "Executor", "GeminiProvider",
    "InputError", "JobHandle", "JobStore", "MockExecutor", "OpenAIProvider", "OutputSchema",
    "ParallelExecutor", "PermanentError", "Price", "Provider", "ProviderError",
    "ProviderResponse", "RateLimitError", "ResponseCache", "SequentialExecutor", "ServerError",
    "SimulatedProvider", "StopJob", "StoreError", "StreamHandle", "StreamResult",
    "TransientError", "__version__", "cost_of", "cost_table", "embed", "estimate",
    "estimate_requests", "explore_cost", "explore_results", "export_batch",
    "import_batch_results", "job_stats", "jobs",
    "list_priced_models", "plot", "price_of", "resolve_provider", "resume", "run", "set_price",
    "submit", "token_counts",
}  # fmt: skip


def test_all_lists_exactly_the_public_names() -> None:
    assert set(brainbatch.__all__) == PUBLIC
    assert len(brainbatch.__all__) == len(PUBLIC)


def test_every_public_name_is_importable() -> None:
    missing = [name for name in brainbatch.__all__ if not hasattr(brainbatch, name)]
    assert missing == []

"""brainbatch: run batches of LLM prompts from Jupyter, fast, cheap and safe.

The core (no notebook imports)::

    import asyncio, brainbatch as bb

    job = bb.BatchManager().create_batch(
        [bb.BatchRequest(prompt="Say hi", model="gpt-4o-mini", custom_id="a")]
    )
    asyncio.run(bb.ParallelExecutor(max_concurrent=8).execute(job, bb.SimulatedProvider()))
"""

from __future__ import annotations

from .batchapi import BatchAPIExecutor
from .budget import BudgetGuard
from .embeddings import embed
from .errors import (
    AuthenticationError,
    BrainbatchError,
    BudgetExceeded,
    ConfigurationError,
    ConnectionFailed,
    InputError,
    PermanentError,
    ProviderError,
    RateLimitError,
    ServerError,
    StopJob,
    StoreError,
    TransientError,
)
from .estimate import cost_table, estimate_requests, token_counts
from .executors import Executor, MockExecutor, ParallelExecutor, SequentialExecutor
from .manager import BatchManager, job_stats
from .models import BatchJob, BatchRequest, BatchResult, BatchStatus, ProviderResponse
from .notebook import JobHandle, estimate, jobs, resume, run, submit
from .notebook import accessor as _accessor  # noqa: F401  (registers DataFrame.bb)
from .notebook import plots as plot
from .notebook.explore_cost import explore_cost
from .notebook.explore_results import explore_results
from .notebook.stream import StreamHandle
from .offline import export_batch, import_batch_results
from .pricing import Cost, Price, cost_of, list_priced_models, price_of, set_price
from .providers import (
    AnthropicProvider,
    GeminiProvider,
    OpenAIProvider,
    Provider,
    SimulatedProvider,
    resolve_provider,
)
from .store import JobStore, ResponseCache
from .stream import StreamResult
from .structured import OutputSchema

__version__ = "0.1.0"

__all__ = [
    "AnthropicProvider",
    "AuthenticationError",
    "BatchAPIExecutor",
    "BatchJob",
    "BatchManager",
    "BatchRequest",
    "BatchResult",
    "BatchStatus",
    "BrainbatchError",
    "BudgetExceeded",
    "BudgetGuard",
    "ConfigurationError",
    "ConnectionFailed",
    "Cost",
    "Executor",
    "GeminiProvider",
    "InputError",
    "JobHandle",
    "JobStore",
    "MockExecutor",
    "OpenAIProvider",
    "OutputSchema",
    "ParallelExecutor",
    "PermanentError",
    "Price",
    "Provider",
    "ProviderError",
    "ProviderResponse",
    "RateLimitError",
    "ResponseCache",
    "SequentialExecutor",
    "ServerError",
    "SimulatedProvider",
    "StopJob",
    "StoreError",
    "StreamHandle",
    "StreamResult",
    "TransientError",
    "__version__",
    "cost_of",
    "cost_table",
    "embed",
    "estimate",
    "estimate_requests",
    "explore_cost",
    "explore_results",
    "export_batch",
    "import_batch_results",
    "job_stats",
    "jobs",
    "list_priced_models",
    "plot",
    "price_of",
    "resolve_provider",
    "resume",
    "run",
    "set_price",
    "submit",
    "token_counts",
]

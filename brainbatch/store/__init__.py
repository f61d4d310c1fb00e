"""The job store: a durable journal, resume after a crash, and a response cache.

Everything lives in one SQLite file (WAL mode, standard library ``sqlite3``):

* default location ``./.brainbatch/jobs.sqlite`` in the working directory (beside the
  notebook), or ``$BRAINBATCH_STORE``, or the ``path`` given to :class:`JobStore`; the folder is
  created 0700 and the file 0600;
* a file that is not a brainbatch store (not SQLite, damaged, another program's database, a
  newer schema) is refused with :class:`~brainbatch.errors.StoreError` naming it, and never
  modified;
* API keys are never stored: key-like fields of specs, params and metadata are replaced by
  ``"<redacted>"`` and key-looking strings (``sk-...``, ``Bearer ...``) masked everywhere;
* several processes may use the same file at once (WAL, busy timeout, short transactions).

Typical use (what the notebook layer does)::

    from brainbatch.store import JobStore

    store = JobStore()                                   # or JobStore("path/jobs.sqlite")
    job = store.get_or_create_job(job, name="reviews", spec={"provider": "openai", ...})
    results = await store.execute(job, ParallelExecutor(64), provider)   # journaled + cached

After a crash or a kernel restart the same two lines pick up where the job stopped: the stored
job comes back with its results, and only rows without a result are sent. By hand:

    job = store.load_job("reviews")                      # by id or name
    with store.journal(job) as journal:                  # results committed as they arrive
        await executor.execute(job, journal.wrap(provider))

Other calls: :meth:`JobStore.create_job`, :meth:`JobStore.find_job` (name -> id),
:meth:`JobStore.list_jobs` (dicts: name, status, counts, cost, paid, created),
:meth:`JobStore.update_status`, :meth:`JobStore.record_provider_batch` (native batch ids, so a
resume re-attaches instead of resubmitting; the journal also commits any change to
``job.metadata["provider_batches"]`` within ``flush_interval``), :meth:`JobStore.job_spec`,
:meth:`JobStore.delete_job`. The response cache: :class:`ResponseCache` with
``wrap(process_fn, namespace)``; see :mod:`brainbatch.store.cache` for what is cached.

What a hard kill loses: see :mod:`brainbatch.store.journal`. In short, with
:meth:`JobStore.execute` (or :meth:`Journal.wrap`) at most the requests in flight, at most one
per executor slot; those are the only ones sent again on resume.
"""

from __future__ import annotations

from ._codec import body_hash, scrub
from ._db import APPLICATION_ID, ENV_VAR, SCHEMA_VERSION, default_store_path
from .cache import ResponseCache, cache_namespace
from .jobstore import JobNotFound, JobStore
from .journal import Journal, JournalError

__all__ = [
    "APPLICATION_ID",
    "ENV_VAR",
    "SCHEMA_VERSION",
    "JobNotFound",
    "JobStore",
    "Journal",
    "JournalError",
    "ResponseCache",
    "body_hash",
    "cache_namespace",
    "default_store_path",
    "scrub",
]

"""The job store: a durable journal, resume after a crash, leases, and a response cache.

Everything lives in one SQLite file (WAL mode, standard library ``sqlite3``):

* default location ``./.brainbatch/jobs.sqlite`` in the working directory (beside the
  notebook), or ``$BRAINBATCH_STORE``, or the ``path`` given to :class:`JobStore`; the folder is
  created 0700 and the file 0600;
* a file that is not a brainbatch store (not SQLite, another program's database, a newer
  schema) is refused with :class:`~brainbatch.errors.StoreError` naming it, and never
  modified; a damaged store raises :class:`StoreDamaged` with the command that recovers it;
  a full disk :class:`StoreFull` (the run stops, resumable); a store that cannot be written
  :class:`StoreReadOnly`, and is still readable (see :mod:`brainbatch.store._db`);
* requests are stored exactly as given, so a resume sends the same bytes; API keys are never
  stored: run settings are kept without credentials and secret headers, and key-like text
  in provider errors is masked (:mod:`brainbatch.secrets`, :mod:`brainbatch.store._codec`);
* several processes may use the same file at once (WAL, busy timeout, short transactions),
  and only one runs a given job at a time: :meth:`JobStore.claim` takes the job's lease,
  others get :class:`JobBusy` naming the holder (see :mod:`brainbatch.store.lease`).

The store stores; it does not run: :class:`brainbatch.runner.JobRunner` puts a run together
(provider, limits, cache, journal, lease)::

    from brainbatch.store import JobStore
    from brainbatch.runner import JobRunner, RunSettings

    store = JobStore()                                   # or JobStore("path/jobs.sqlite")
    job = store.get_or_create_job(job, name="reviews", spec=settings.spec())
    await JobRunner(job, settings, store).run()          # leased, journaled, cached

After a crash or a kernel restart the same lines pick up where the job stopped: the stored job
comes back with its results, and only rows without a result are sent. By hand:

    job = store.load_job("reviews")                      # by id or name
    with store.claim(job), store.journal(job) as journal:   # lease; results committed
        await executor.execute(job, journal.wrap(provider))

Other calls: :meth:`JobStore.create_job`, :meth:`JobStore.find_job` (name -> id),
:meth:`JobStore.list_jobs` (dicts: name, status, counts, cost, paid, created, running),
:meth:`JobStore.update_status`, :meth:`JobStore.record_provider_batch` (native batch ids, so a
resume re-attaches instead of resubmitting; the journal also commits any change to
``job.metadata["provider_batches"]`` within ``flush_interval``), :meth:`JobStore.job_spec`,
:meth:`JobStore.delete_job`, :meth:`JobStore.request_cancel` (``brainbatch cancel``). The
response cache: :class:`ResponseCache` with ``wrap(process_fn, namespace)``; see
:mod:`brainbatch.store.cache` for what is cached (only with ``cache=True``).

What a hard kill loses: see :mod:`brainbatch.store.journal`. In short, with
:meth:`Journal.wrap` (what ``JobRunner`` uses) at most the requests in flight, at most one per
executor slot; those are the only ones sent again on resume.
"""

from __future__ import annotations

from ._codec import body_hash
from ._db import (
    APPLICATION_ID,
    ENV_VAR,
    MAX_PAGES_ENV_VAR,
    SCHEMA_VERSION,
    StoreDamaged,
    StoreFull,
    StoreReadOnly,
    default_store_path,
)
from .cache import ResponseCache, cache_namespace
from .jobstore import JobNotFound, JobStore
from .journal import Journal, JournalError
from .lease import DEFAULT_TTL_S, Holder, JobBusy, Lease

__all__ = [
    "APPLICATION_ID",
    "DEFAULT_TTL_S",
    "ENV_VAR",
    "MAX_PAGES_ENV_VAR",
    "SCHEMA_VERSION",
    "Holder",
    "JobBusy",
    "JobNotFound",
    "JobStore",
    "Journal",
    "JournalError",
    "Lease",
    "ResponseCache",
    "StoreDamaged",
    "StoreFull",
    "StoreReadOnly",
    "body_hash",
    "cache_namespace",
    "default_store_path",
]

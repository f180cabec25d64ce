"""Queued reviews and audits, run by `keel worker` processes on procrastinate.

The queue lives in Keel's own PostgreSQL (no new server): procrastinate's tables beside
the checkpoints, the ledger and the registry. Contracts, one module each:

* `_enqueue` — every job of a thread is deferred with `lock=<thread id>` (one at a time,
  in order) and a `queueing_lock` per kind (one waiting run / decision / resume);
* `_attempt` — a job is `resume` from the checkpoint, whatever it is (run, decide,
  resume); a repository gone or at another commit fails the thread once, no retry;
* `_fence` — one writer per thread: an attempt epoch checked in the transaction of every
  checkpoint, ledger and registry write; a superseded (zombie) attempt cannot write;
* `_sweep` — a periodic task retries the jobs of workers whose heartbeat lapsed, after a
  grace period; retries are bounded, the last failure is the DLQ (`keel dlq list`);
* `_worker` — `keel worker`: until SIGTERM, then drain; reconnect after an outage;
* `_batch` — `keel batch audit FILE` and the scheduled audit (a periodic task);
* `_status` — what `keel threads` and `keel health` show about workers and the queue.

docs/scale.md explains the design, the settings and how to run many machines.
"""

from keel.queue._batch import BatchError, Queued, enqueue_repositories, read_repositories
from keel.queue._config import QueueSettings, QueueSettingsError
from keel.queue._enqueue import (
    AlreadyQueuedError,
    QueueUnavailableError,
    enqueue_decision,
    enqueue_resume,
    enqueue_run,
    open_queue,
    pending_jobs,
    require_postgres,
)
from keel.queue._fence import FencedError
from keel.queue._repo import QUEUE_KEY
from keel.queue._status import queue_checks, running_workers
from keel.queue._worker import run_worker

__all__ = [
    "QUEUE_KEY",
    "AlreadyQueuedError",
    "BatchError",
    "FencedError",
    "QueueSettings",
    "QueueSettingsError",
    "QueueUnavailableError",
    "Queued",
    "enqueue_decision",
    "enqueue_repositories",
    "enqueue_resume",
    "enqueue_run",
    "open_queue",
    "pending_jobs",
    "queue_checks",
    "read_repositories",
    "require_postgres",
    "run_worker",
    "running_workers",
]

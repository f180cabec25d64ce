"""The procrastinate App of a `keel worker`: Keel's tasks and periodic tasks, registered.

* `keel.run`, `keel.decide`, `keel.resume` — one attempt each (`keel.queue._attempt`),
  retried by procrastinate up to `KEEL_QUEUE_MAX_ATTEMPTS` in all, `KEEL_QUEUE_RETRY_WAIT`
  seconds apart; the last failure leaves the thread `failed` (the DLQ).
* `keel.sweep` — every `KEEL_QUEUE_SWEEP_EVERY` seconds (cron with a seconds field):
  the stall sweep (`keel.queue._sweep`).
* `keel.nightly` — when `KEEL_QUEUE_NIGHTLY_CRON` is set: enqueue an audit of each
  repository in `KEEL_QUEUE_NIGHTLY_FILE` (`keel.queue._batch`). procrastinate defers a
  periodic job once per tick however many workers run.

A superseded attempt (`FencedError`) ends the worker process at once, exit 8, after one
log line: its job's row now belongs to the newer attempt, and procrastinate would
otherwise mark it finished on the zombie's behalf. Its other jobs are stalled like those
of a crashed worker, and retried.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from procrastinate import App, JobContext, RetryStrategy
from psycopg_pool import ConnectionPool

from keel.queue._attempt import Attempt, Drained, fenced_cause, run_attempt
from keel.queue._config import QueueSettings
from keel.queue._enqueue import make_connector
from keel.queue._names import DECIDE, NIGHTLY, RESUME, RUN, SWEEP
from keel.queue._sweep import sweep_stalled
from keel.registry import PostgresRegistry
from keel.settings import Settings

__all__ = ["EXIT_FENCED", "WorkerRuntime", "worker_app"]

log = logging.getLogger("keel.queue")

EXIT_FENCED = 8
"""Exit code of a worker fenced off a thread ("the thread is being processed by another
process")."""


@dataclass
class WorkerRuntime:
    """What the tasks of one worker process share."""

    url: str
    queue_settings: QueueSettings
    settings: Settings
    ops: ConnectionPool[Any]
    name: str
    draining: threading.Event = field(default_factory=threading.Event)
    connected_since: float = field(default_factory=time.monotonic)

    def job(self, app: App, context: JobContext, task: str, thread_id: str, decision: Any) -> str:
        """Run one attempt of a thread's job (see the module docstring for the endings)."""
        job = context.job
        attempt = Attempt(
            url=self.url,
            task=task,
            thread_id=thread_id,
            job_id=int(job.id or 0),
            attempts=int(job.attempts or 0),
            max_attempts=self.queue_settings.max_attempts,
            worker=self.name,
            frozen_after_s=self.queue_settings.stall_after_s,
            settings=self.settings,
            decision=decision,
        )
        try:
            return run_attempt(attempt, self.ops, self.draining)
        except Drained:
            app.configure_task(
                name=RESUME,
                queue=self.queue_settings.queue,
                lock=thread_id,
                queueing_lock=f"{thread_id}:resume",
            ).defer(thread_id=thread_id)
            log.warning("worker %s: drained thread %s, re-queued", self.name, thread_id)
            return "drained"
        except BaseException as exc:
            if fenced_cause(exc) is not None:
                log.critical(
                    "worker %s: FENCED — %s; aborting the worker without writing (exit %s)",
                    self.name,
                    fenced_cause(exc),
                    EXIT_FENCED,
                )
                logging.shutdown()
                os._exit(EXIT_FENCED)
            raise


def worker_app(runtime: WorkerRuntime) -> App:
    """The App with Keel's tasks bound to `runtime`."""
    settings = runtime.queue_settings
    app = App(connector=make_connector(runtime.url))
    retry: RetryStrategy | bool = (
        RetryStrategy(max_attempts=settings.max_attempts - 1, wait=settings.retry_wait_s)
        if settings.max_attempts > 1
        else False
    )

    @app.task(name=RUN, queue=settings.queue, pass_context=True, retry=retry)
    def run(context: JobContext, thread_id: str) -> str:
        return runtime.job(app, context, RUN, thread_id, None)

    @app.task(name=DECIDE, queue=settings.queue, pass_context=True, retry=retry)
    def decide(context: JobContext, thread_id: str, decision: dict[str, Any]) -> str:
        return runtime.job(app, context, DECIDE, thread_id, decision)

    @app.task(name=RESUME, queue=settings.queue, pass_context=True, retry=retry)
    def resume(context: JobContext, thread_id: str) -> str:
        return runtime.job(app, context, RESUME, thread_id, None)

    # croniter: the optional 6th field, seconds, comes last
    @app.periodic(cron=f"* * * * * */{settings.sweep_every_s}", periodic_id="stalls")
    @app.task(name=SWEEP, queue=settings.queue, pass_context=True)
    async def sweep(context: JobContext, timestamp: int) -> str:
        done = await sweep_stalled(
            app, settings, PostgresRegistry(runtime.ops), runtime.connected_since
        )
        return ", ".join(done)

    if settings.nightly_cron:

        @app.periodic(cron=settings.nightly_cron, periodic_id="nightly")
        @app.task(name=NIGHTLY, queue=settings.queue, pass_context=True)
        def nightly(context: JobContext, timestamp: int) -> str:
            from keel.queue._batch import enqueue_file

            results = enqueue_file(
                app, runtime.url, settings, runtime.settings, Path(settings.nightly_file), timestamp
            )
            return f"{len(results)} audit(s) queued"

    del run, decide, resume, sweep
    return app

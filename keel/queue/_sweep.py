"""The stall sweep: retry the jobs of workers whose heartbeat lapsed (a periodic task).

procrastinate records a heartbeat per worker; a job in `doing` whose worker has been
silent for `stall_after_s` (or whose worker row is gone) is stalled: the worker died, or is
frozen. The sweep:

* does nothing until its own worker has been connected for `grace_s` — after a database
  outage every heartbeat is old at once, and live workers need a moment to beat again;
* retries each stalled job (`retry_job`: back to `todo`, its lock freed, attempts + 1)
  and sets the thread `queued`; the next attempt resumes from the checkpoint and fences
  the frozen one off (`keel.queue._fence`);
* fails a stalled job that has used its attempts (a job that kills its worker every
  time): the thread becomes `failed`, with the reason, and shows in `keel dlq list`;
* forgets workers silent for longer than the stall timeout (their rows), so
  `keel health` lists live workers.

Failure mode: a database error propagates; the next tick sweeps again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from procrastinate import App
from procrastinate.jobs import Status

from keel.queue._config import QueueSettings
from keel.registry import PostgresRegistry

__all__ = ["sweep_stalled"]

log = logging.getLogger("keel.queue")


async def sweep_stalled(
    app: App, settings: QueueSettings, registry: PostgresRegistry, connected_since: float
) -> list[str]:
    """Retry (or fail, out of attempts) every stalled job; return what was done."""
    if time.monotonic() - connected_since < settings.grace_s:
        return []
    done: list[str] = []
    stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=settings.stall_after_s)
    for job in stalled:
        thread_id = str((job.task_kwargs or {}).get("thread_id") or "")
        attempts = int(job.attempts or 0) + 1
        if attempts >= settings.max_attempts:
            reason = (
                f"its worker stopped heartbeating during {attempts} attempt(s) of job {job.id} "
                f"({job.task_name}); no attempts left: `keel dlq retry` re-queues it"
            )
            if thread_id:
                await asyncio.to_thread(_mark, registry, thread_id, "failed", reason)
            await app.job_manager.finish_job(job, Status.FAILED, delete_job=False)
            log.error("stall sweep: thread %s failed: %s", thread_id, reason)
            done.append(f"failed {job.id}")
            continue
        if thread_id:
            note = f"worker {job.worker_id} stopped heartbeating; retried (attempt {attempts + 1})"
            await asyncio.to_thread(_mark, registry, thread_id, "queued", note)
        await app.job_manager.retry_job(job)
        log.warning("stall sweep: retried job %s of thread %s", job.id, thread_id or "-")
        done.append(f"retried {job.id}")
    await app.job_manager.prune_stalled_workers(settings.stall_after_s * 2)
    return done


def _mark(registry: Any, thread_id: str, status: str, error: str) -> None:
    registry.update(thread_id, status=status, error=error[:500])

"""`keel worker`: run queued work until SIGTERM, then drain; reconnect after an outage.

Contract:

* PostgreSQL only: another URL raises `QueueUnavailableError` before anything starts;
  a server that does not answer at start raises `DatabaseUnavailableError`.
* The queue's schema is applied at start (`keel.queue._schema`, idempotent).
* Jobs run `concurrency` at a time, each in its own thread (procrastinate runs sync
  tasks in threads); the worker heartbeats every `KEEL_QUEUE_HEARTBEAT` seconds.
* SIGTERM or SIGINT: no new job is taken; a running job stops after its current node
  (everything finished is checkpointed), its thread is re-queued for another worker,
  and the process exits 0. A second signal does not hurry it (`kill -9` does).
* Losing the database after start is not fatal: procrastinate stops the worker, which
  reconnects with a backoff (capped at 30 s) and logs one line per try; jobs it was
  running are retried by the stall sweep once their heartbeat lapses.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from keel.persistence import DatabaseUnavailableError, describe_url
from keel.queue._app import WorkerRuntime, worker_app
from keel.queue._config import QueueSettings
from keel.queue._enqueue import require_postgres
from keel.queue._schema import ensure_schema
from keel.settings import Settings

__all__ = ["run_worker", "worker_name"]

log = logging.getLogger("keel.queue")


def worker_name() -> str:
    """`host:pid`: how `keel threads` and `keel health` name this worker."""
    return f"{socket.gethostname()}:{os.getpid()}"


def run_worker(
    settings: Settings,
    queue_settings: QueueSettings,
    *,
    concurrency: int,
    queue: str | None = None,
) -> int:
    """Serve the queue until a signal; return the exit code (0 after a drain)."""
    url = settings.database_url
    require_postgres(url)
    ops: ConnectionPool[Any] = ConnectionPool(
        url,
        min_size=1,
        max_size=concurrency + 2,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        check=ConnectionPool.check_connection,
        open=False,
        name="keel-worker",
        timeout=10,
    )
    try:
        ops.open(wait=True, timeout=10)
        with ops.connection() as conn:
            ensure_schema(conn)
    except (PoolTimeout, psycopg.OperationalError) as exc:
        ops.close()
        raise DatabaseUnavailableError(f"cannot reach PostgreSQL at {describe_url(url)}") from exc
    runtime = WorkerRuntime(
        url=url, queue_settings=queue_settings, settings=settings, ops=ops, name=worker_name()
    )
    app = worker_app(runtime)
    queues = [queue or queue_settings.queue]
    backoff = 1.0
    try:
        while True:
            if asyncio.run(_serve(app, runtime, concurrency, queues)):
                log.info("worker %s: drained, exiting", runtime.name)
                return 0
            log.warning(
                "worker %s: lost PostgreSQL at %s; reconnecting in %.0f s",
                runtime.name,
                describe_url(url),
                backoff,
            )
            time.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
    finally:
        ops.close(timeout=5)


async def _serve(app: Any, runtime: WorkerRuntime, concurrency: int, queues: list[str]) -> bool:
    """Run procrastinate's worker once; True when it stopped for a signal."""
    loop = asyncio.get_running_loop()
    settings = runtime.queue_settings
    try:
        async with app.open_async():
            worker = asyncio.create_task(
                app.run_worker_async(
                    queues=queues,
                    concurrency=concurrency,
                    name=runtime.name,
                    wait=True,
                    install_signal_handlers=False,
                    update_heartbeat_interval=settings.heartbeat_s,
                    stalled_worker_timeout=settings.stall_after_s,
                    delete_jobs="successful",
                    fetch_job_polling_interval=min(5.0, settings.heartbeat_s),
                )
            )

            def drain() -> None:
                if not runtime.draining.is_set():
                    log.info("worker %s: signal received, draining", runtime.name)
                    runtime.draining.set()
                    worker.cancel()

            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, drain)
            runtime.connected_since = time.monotonic()
            log.info("worker %s: serving %s (concurrency %s)", runtime.name, queues, concurrency)
            try:
                await worker
            except asyncio.CancelledError:
                pass
    except (OSError, psycopg.Error, PoolTimeout) as exc:
        if not runtime.draining.is_set():
            log.warning("worker %s: %s: %s", runtime.name, type(exc).__name__, exc)
    return runtime.draining.is_set()

"""The stall sweep on its own: grace period, retry of a stalled job, bounded attempts.

A real procrastinate job on the test PostgreSQL, fetched by a registered worker whose
heartbeat is then made old (the worker "died"); `sweep_stalled` is called directly.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import pytest
from procrastinate import App
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from keel.persistence import open_persistence
from keel.queue._config import QueueSettings
from keel.queue._enqueue import make_connector
from keel.queue._schema import ensure_schema
from keel.queue._sweep import sweep_stalled
from keel.registry import PostgresRegistry

pytestmark = pytest.mark.postgres

SETTINGS = QueueSettings(heartbeat_s=0.3, stall_after_s=2.0, grace_s=5.0, max_attempts=2)


async def _stalled_job(app: App, url: str, thread_id: str) -> int:
    job_id = await app.configure_task(name="keel.run", queue="keel", lock=thread_id).defer_async(
        thread_id=thread_id
    )
    worker_id = await app.job_manager.register_worker()
    job = await app.job_manager.fetch_job(queues=["keel"], worker_id=worker_id)
    assert job is not None and job.id == job_id
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 minute' "
            "WHERE id = %s",
            (worker_id,),
        )
    return int(job_id)


def _job(url: str, job_id: int) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        row = conn.execute(
            "SELECT status::text AS status, attempts FROM procrastinate_jobs WHERE id = %s",
            (job_id,),
        ).fetchone()
    assert row is not None
    return dict(row)


def test_sweep_waits_for_its_grace_then_retries_then_gives_up(pg_url: str) -> None:
    with open_persistence(pg_url) as persistence:
        persistence.registry.create(
            "kr-stalled", workflow="audit", repo="/nowhere", model="offline", context={}
        )
    pool: ConnectionPool[Any] = ConnectionPool(
        pg_url, kwargs={"autocommit": True, "row_factory": dict_row}, open=True
    )
    with pool.connection() as conn:
        ensure_schema(conn)
    registry = PostgresRegistry(pool)

    async def scenario() -> None:
        app = App(connector=make_connector(pg_url))
        async with app.open_async():
            job_id = await _stalled_job(app, pg_url, "kr-stalled")
            # just (re)connected: within the grace period nothing is declared dead
            assert await sweep_stalled(app, SETTINGS, registry, time.monotonic()) == []
            assert _job(pg_url, job_id) == {"status": "doing", "attempts": 0}
            connected_long_ago = time.monotonic() - SETTINGS.grace_s - 1
            assert await sweep_stalled(app, SETTINGS, registry, connected_long_ago) == [
                f"retried {job_id}"
            ]
            assert _job(pg_url, job_id) == {"status": "todo", "attempts": 1}
            queued = registry.get("kr-stalled")
            assert queued is not None and queued.status == "queued"
            # its next worker dies too: the second of max_attempts=2 is the last
            worker_id = await app.job_manager.register_worker()
            assert await app.job_manager.fetch_job(queues=["keel"], worker_id=worker_id)
            async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
                await conn.execute(
                    "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 minute'"
                )
            assert await sweep_stalled(app, SETTINGS, registry, connected_long_ago) == [
                f"failed {job_id}"
            ]
            assert _job(pg_url, job_id)["status"] == "failed"

    try:
        asyncio.run(scenario())
        record = registry.get("kr-stalled")
        assert record is not None and record.status == "failed"
        assert "stopped heartbeating during 2 attempt(s)" in record.error
        assert "keel dlq retry" in record.error
    finally:
        pool.close()

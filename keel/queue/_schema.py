"""The queue's tables in Keel's PostgreSQL: procrastinate's schema and Keel's attempt log.

`ensure_schema(conn)` applies, in one transaction under a transaction-level advisory lock
(so workers starting together do not race):

* procrastinate's schema (`procrastinate_jobs`, `procrastinate_workers`, ...) from the
  installed procrastinate (3.10), once — when `procrastinate_jobs` is missing;
* `keel_queue_epochs` — one row per queued thread: the epoch of its current attempt,
  bumped when an attempt starts (`keel.queue._fence`);
* `keel_queue_attempts` — one row per job attempt: thread, epoch, job id, task, worker,
  start and end, outcome; `keel threads` and `keel health` read it.

Failure modes: a database error propagates (psycopg's), nothing is half applied. A
procrastinate upgrade needs its own migrations (`procrastinate schema --migrate` prints
them); this module never migrates an existing procrastinate schema.
"""

from __future__ import annotations

import hashlib
from typing import Any

from procrastinate.schema import SchemaManager

__all__ = ["ensure_schema", "schema_present"]

_KEEL_DDL = """
CREATE TABLE IF NOT EXISTS keel_queue_epochs (
    thread_id TEXT PRIMARY KEY,
    epoch BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS keel_queue_attempts (
    id BIGSERIAL PRIMARY KEY,
    thread_id TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    job_id BIGINT NOT NULL,
    task TEXT NOT NULL,
    worker TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ended_at TIMESTAMPTZ,
    outcome TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS keel_queue_attempts_thread ON keel_queue_attempts (thread_id, id);
"""

_LOCK_KEY = int.from_bytes(hashlib.sha256(b"keel-queue-schema").digest()[:8], "big", signed=True)


def schema_present(conn: Any) -> bool:
    """Whether procrastinate's and Keel's queue tables exist."""
    row = conn.execute(
        "SELECT to_regclass('procrastinate_jobs') IS NOT NULL "
        "AND to_regclass('keel_queue_attempts') IS NOT NULL AS ok"
    ).fetchone()
    return bool(row["ok"] if isinstance(row, dict) else row[0])


def ensure_schema(conn: Any) -> None:
    """Apply the queue's schema if missing (idempotent, safe to run from many processes)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        row = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NULL AS missing").fetchone()
        if row["missing"] if isinstance(row, dict) else row[0]:
            conn.execute(SchemaManager.get_schema(), prepare=False)
        conn.execute(_KEEL_DDL, prepare=False)

"""What `keel threads` and `keel health` show about the queue.

* `running_workers` — thread id → the worker (`host:pid`) whose attempt is open on it.
* `queue_checks` — the workers' heartbeats (alive / stalled, their ages) and the queue's
  depth (jobs waiting, running, failed). A stalled worker is unhealthy; so is a queue
  with work waiting and no live worker.

Both return nothing on SQLite or before the queue's schema exists (no queue in use).
"""

from __future__ import annotations

from keel.persistence import Persistence
from keel.queue._enqueue import pool_of
from keel.queue._schema import schema_present

__all__ = ["queue_checks", "running_workers"]


def running_workers(persistence: Persistence) -> dict[str, str]:
    """Thread id → worker of each attempt that has not ended."""
    if persistence.kind != "postgres":
        return {}
    with pool_of(persistence).connection() as conn:
        if not schema_present(conn):
            return {}
        rows = conn.execute(
            "SELECT DISTINCT ON (thread_id) thread_id, worker, ended_at "
            "FROM keel_queue_attempts ORDER BY thread_id, id DESC"
        ).fetchall()
    return {row["thread_id"]: row["worker"] for row in rows if row["ended_at"] is None}


def queue_checks(persistence: Persistence, *, stall_after_s: float) -> list[tuple[str, bool, str]]:
    """(name, ok, detail) for the workers and the queue depth; [] when no queue is in use."""
    if persistence.kind != "postgres":
        return []
    with pool_of(persistence).connection() as conn:
        if not schema_present(conn):
            return []
        workers = conn.execute(
            "SELECT id, EXTRACT(EPOCH FROM now() - last_heartbeat) AS age "
            "FROM procrastinate_workers ORDER BY id"
        ).fetchall()
        depth = {
            row["status"]: int(row["n"])
            for row in conn.execute(
                "SELECT status::text AS status, count(*) AS n FROM procrastinate_jobs "
                "WHERE task_name LIKE 'keel.%%' AND task_name <> 'keel.sweep' GROUP BY status"
            ).fetchall()
        }
    ages = [(int(w["id"]), float(w["age"])) for w in workers]
    alive = [(i, a) for i, a in ages if a <= stall_after_s]
    stalled = [(i, a) for i, a in ages if a > stall_after_s]
    beats = ", ".join(f"#{i} {a:.1f} s ago" for i, a in ages) or "none"
    waiting, running, failed = depth.get("todo", 0), depth.get("doing", 0), depth.get("failed", 0)
    return [
        (
            "queue workers",
            not stalled,
            f"{len(alive)} alive, {len(stalled)} stalled (heartbeats: {beats})",
        ),
        (
            "queue depth",
            not (waiting and not alive),
            f"{waiting} waiting, {running} running, {failed} failed"
            + (" — no live worker" if waiting and not alive else ""),
        ),
    ]

"""Zombie fencing: an attempt writes a thread only while its epoch is the thread's current one.

procrastinate's `lock=` runs a thread's jobs one at a time, but it has no fencing: a worker
paused past its heartbeat (SIGSTOP, a long GC, a frozen VM) wakes after its job was retried
elsewhere and carries on. So every attempt of a job:

1. `begin_attempt` bumps the thread's epoch in `keel_queue_epochs` and logs the attempt
   (`keel_queue_attempts`), in one transaction; the returned epoch is the attempt's.
2. does all its database work through a `FencedPool`: every checkout runs inside a
   transaction that first reads the thread's epoch `FOR SHARE` and raises `FencedError`
   if it is not the attempt's. Checkpoints, pending writes, the ledger (the LangGraph
   store) and the registry row all go through it, so a superseded attempt cannot write
   any of them — the check and the write commit together.

`FOR SHARE` orders the two: a newer attempt's bump waits for an older attempt's write in
flight, so a write either lands before the newer attempt starts (and the newer attempt
reads it from the checkpoint) or is refused. A zombie frozen inside such a transaction
holds the bump up; the fenced connections therefore run with
`idle_in_transaction_session_timeout`, and the server ends a session frozen that long.

Not fenced: effects outside the database. A zombie frozen between the ledger's `begin`
and the effect itself (writing the report file, applying the patch) performs that effect
when it wakes, before its next write is refused; the ledger's already-done checks make
the newer attempt find it in place rather than repeat it (`keel.nodes.ledger`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

__all__ = ["FencedError", "FencedPool", "begin_attempt", "current_epoch", "end_attempt"]


class FencedError(RuntimeError):
    """The attempt was superseded: a newer attempt of the thread owns it now."""

    def __init__(self, thread_id: str, mine: int, current: int) -> None:
        self.thread_id = thread_id
        self.mine = mine
        self.current = current
        super().__init__(
            f"thread {thread_id}: attempt epoch {mine} was superseded by epoch {current}; "
            "this attempt must not write"
        )


def begin_attempt(
    conn: Any, *, thread_id: str, job_id: int, task: str, worker: str, lock_wait_s: float
) -> int:
    """Bump the thread's epoch and log the attempt; return the attempt's epoch.

    Waits at most `lock_wait_s` for an older attempt's write in flight; beyond it psycopg
    raises `LockNotAvailable` and the job is retried later.
    """
    with conn.transaction():
        conn.execute(f"SET LOCAL lock_timeout = {max(1, int(lock_wait_s * 1000))}")
        row = conn.execute(
            "INSERT INTO keel_queue_epochs (thread_id, epoch) VALUES (%s, 1) "
            "ON CONFLICT (thread_id) DO UPDATE SET epoch = keel_queue_epochs.epoch + 1 "
            "RETURNING epoch",
            (thread_id,),
        ).fetchone()
        epoch = int(row["epoch"])
        conn.execute(
            "INSERT INTO keel_queue_attempts (thread_id, epoch, job_id, task, worker) "
            "VALUES (%s, %s, %s, %s, %s)",
            (thread_id, epoch, job_id, task, worker),
        )
    return epoch


def end_attempt(conn: Any, *, thread_id: str, epoch: int, outcome: str) -> None:
    """Record how the attempt ended (bookkeeping only; never fenced)."""
    conn.execute(
        "UPDATE keel_queue_attempts SET ended_at = now(), outcome = %s "
        "WHERE thread_id = %s AND epoch = %s",
        (outcome[:500], thread_id, epoch),
    )


def current_epoch(conn: Any, thread_id: str) -> int:
    """The thread's current epoch (0 before any attempt)."""
    row = conn.execute(
        "SELECT epoch FROM keel_queue_epochs WHERE thread_id = %s", (thread_id,)
    ).fetchone()
    return int(row["epoch"]) if row else 0


class FencedPool(ConnectionPool[Any]):
    """A pool whose every checkout is a transaction fenced on one attempt's epoch.

    Hand it to `PostgresSaver`, `PostgresStore` and `PostgresRegistry` as their pool: each
    of their operations then checks the epoch in the transaction of its write.
    """

    def __init__(
        self, url: str, *, thread_id: str, epoch: int, frozen_after_s: float, name: str
    ) -> None:
        self.thread_id = thread_id
        self.epoch = epoch
        super().__init__(
            url,
            min_size=1,
            max_size=4,
            kwargs={
                "autocommit": True,
                "prepare_threshold": 0,
                "row_factory": dict_row,
                "connect_timeout": 5,
                "options": "-c idle_in_transaction_session_timeout="
                f"{max(1000, int(frozen_after_s * 1000))}",
            },
            check=ConnectionPool.check_connection,
            open=False,
            name=name,
            timeout=30,
        )

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Any]:
        """A connection inside a transaction whose first statement checks the epoch.

        Raises:
            FencedError: the thread's epoch is no longer this attempt's.
        """
        with super().connection(timeout) as conn, conn.transaction():
            row = conn.execute(
                "SELECT epoch FROM keel_queue_epochs WHERE thread_id = %s FOR SHARE",
                (self.thread_id,),
            ).fetchone()
            current = int(row["epoch"]) if row else 0
            if current != self.epoch:
                raise FencedError(self.thread_id, self.epoch, current)
            yield conn

"""One writer per thread: a lock held while a process resumes or decides a thread.

* PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a dedicated pool
  connection; the server releases it if the process dies.
* SQLite: an exclusive `flock` on a lock file beside the database
  (`<db>.locks/<thread>.lock`); the kernel releases it if the process dies.

The lock is tried, never waited for: a second process gets `ThreadBusyError` at once
and changes nothing. Callers re-read the thread's state after taking the lock, so a
decision that landed in between is seen ("already decided").
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["ThreadBusyError", "postgres_lock", "sqlite_lock"]


class ThreadBusyError(RuntimeError):
    """Another process holds the thread."""

    def __init__(self, thread_id: str) -> None:
        self.thread_id = thread_id
        super().__init__(f"thread {thread_id} is already being processed by another process")


def _key(thread_id: str) -> int:
    """A signed 64-bit advisory-lock key for a thread id."""
    digest = hashlib.sha256(f"keel-thread:{thread_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def postgres_lock(pool: Any, thread_id: str) -> Iterator[None]:
    """Hold the thread's advisory lock on a connection of `pool` (autocommit)."""
    with pool.connection() as conn:
        row = conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (_key(thread_id),)).fetchone()
        if not row or not (row["ok"] if isinstance(row, dict) else row[0]):
            raise ThreadBusyError(thread_id)
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_key(thread_id),))


@contextmanager
def sqlite_lock(db_path: Path, thread_id: str) -> Iterator[None]:
    """Hold an exclusive flock on the thread's lock file."""
    folder = db_path.with_name(db_path.name + ".locks")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (hashlib.sha256(thread_id.encode()).hexdigest()[:32] + ".lock")
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ThreadBusyError(thread_id) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

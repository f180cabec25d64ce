"""Thread registry: one small table beside the checkpoints, read by `keel threads`.

A row per thread: workflow, repository, status (running / awaiting_approval / done /
failed / halted), model, creation and update times, a heartbeat, cost, finding count,
the run context (so a resume in another process uses the same settings), and the last
error. Checkpoints stay the source of truth for a thread's state; the registry is the
index over them.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

__all__ = ["PostgresRegistry", "Registry", "SqliteRegistry", "ThreadRecord"]

_COLUMNS = (
    "thread_id",
    "workflow",
    "repo",
    "status",
    "model",
    "created_at",
    "updated_at",
    "heartbeat_at",
    "cost_usd",
    "findings",
    "context",
    "error",
)

_DDL = """
CREATE TABLE IF NOT EXISTS keel_threads (
    thread_id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    repo TEXT NOT NULL,
    status TEXT NOT NULL,
    model TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    findings INTEGER NOT NULL DEFAULT 0,
    context TEXT NOT NULL DEFAULT '{}',
    error TEXT NOT NULL DEFAULT ''
)
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ThreadRecord:
    """One registry row."""

    thread_id: str
    workflow: str
    repo: str
    status: str
    model: str
    created_at: str
    updated_at: str
    heartbeat_at: str
    cost_usd: float
    findings: int
    context: dict[str, Any]
    error: str

    def as_dict(self) -> dict[str, Any]:
        """Return the row as a JSON-able dict."""
        return {name: getattr(self, name) for name in _COLUMNS}


class Registry(Protocol):
    """What the CLI needs from the registry."""

    def setup(self) -> None:
        """Create the table if missing."""

    def create(
        self, thread_id: str, *, workflow: str, repo: str, model: str, context: dict[str, Any]
    ) -> ThreadRecord:
        """Insert a new running thread."""

    def update(self, thread_id: str, **fields: Any) -> None:
        """Update some columns (status, cost_usd, findings, error) and the timestamps."""

    def get(self, thread_id: str) -> ThreadRecord | None:
        """Return a thread, or None."""

    def list(self, *, status: str | None = None, limit: int = 50) -> list[ThreadRecord]:
        """Return threads, newest first."""

    def heartbeat(self, thread_id: str) -> None:
        """Record that the thread's process is alive."""

    def delete(self, thread_id: str) -> None:
        """Remove a thread's row."""


class _SqlRegistry:
    """Shared SQL; subclasses supply the parameter marker and the connection."""

    _mark = "?"

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        raise NotImplementedError

    def setup(self) -> None:
        """Create the table if missing."""
        self._execute(_DDL)

    def create(
        self, thread_id: str, *, workflow: str, repo: str, model: str, context: dict[str, Any]
    ) -> ThreadRecord:
        """Insert a new running thread."""
        now = _now()
        values = (
            thread_id,
            workflow,
            repo,
            "running",
            model,
            now,
            now,
            now,
            0.0,
            0,
            json.dumps(context),
            "",
        )
        marks = ", ".join([self._mark] * len(_COLUMNS))
        self._execute(f"INSERT INTO keel_threads ({', '.join(_COLUMNS)}) VALUES ({marks})", values)
        record = self.get(thread_id)
        assert record is not None  # noqa: S101 - just inserted
        return record

    def update(self, thread_id: str, **fields: Any) -> None:
        """Update some columns (status, cost_usd, findings, error) and the timestamps."""
        unknown = set(fields) - {"status", "cost_usd", "findings", "error", "model"}
        if unknown:
            raise ValueError(f"cannot update registry columns {sorted(unknown)}")
        now = _now()
        fields = {**fields, "updated_at": now, "heartbeat_at": now}
        assignments = ", ".join(f"{name} = {self._mark}" for name in fields)
        self._execute(
            f"UPDATE keel_threads SET {assignments} WHERE thread_id = {self._mark}",
            (*fields.values(), thread_id),
        )

    def get(self, thread_id: str) -> ThreadRecord | None:
        """Return a thread, or None."""
        rows = self._execute(
            f"SELECT {', '.join(_COLUMNS)} FROM keel_threads WHERE thread_id = {self._mark}",
            (thread_id,),
        )
        return _record(rows[0]) if rows else None

    def list(self, *, status: str | None = None, limit: int = 50) -> list[ThreadRecord]:
        """Return threads, newest first."""
        where, params = "", ()  # type: tuple[str, tuple[Any, ...]]
        if status:
            where, params = f"WHERE status = {self._mark}", (status,)
        rows = self._execute(
            f"SELECT {', '.join(_COLUMNS)} FROM keel_threads {where} "
            f"ORDER BY created_at DESC, thread_id LIMIT {int(limit)}",
            params,
        )
        return [_record(row) for row in rows]

    def heartbeat(self, thread_id: str) -> None:
        """Record that the thread's process is alive."""
        self._execute(
            f"UPDATE keel_threads SET heartbeat_at = {self._mark} WHERE thread_id = {self._mark}",
            (_now(), thread_id),
        )

    def delete(self, thread_id: str) -> None:
        """Remove a thread's row."""
        self._execute(f"DELETE FROM keel_threads WHERE thread_id = {self._mark}", (thread_id,))


def _record(row: dict[str, Any]) -> ThreadRecord:
    data = dict(row)
    data["context"] = json.loads(data.get("context") or "{}")
    data["cost_usd"] = float(data["cost_usd"])
    return ThreadRecord(**data)


class SqliteRegistry(_SqlRegistry):
    """Registry in the SQLite file (autocommit connection)."""

    _mark = "?"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        cursor = self._conn.execute(sql, params)
        if cursor.description is None:
            return []
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class PostgresRegistry(_SqlRegistry):
    """Registry in PostgreSQL, on the checkpointer's pool (autocommit, dict rows)."""

    _mark = "%s"

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self._pool.connection() as conn, conn.cursor() as cursor:
            cursor.execute(sql, params)
            if cursor.description is None:
                return []
            return [dict(row) for row in cursor.fetchall()]

"""Operations: the dead-letter list, health checks and retention.

* `dead_letters` — threads that need a person: `failed`, `halted`, `budget_exhausted`,
  `running` with no heartbeat for `stall_after_s` (the process died or hangs), and
  `awaiting_approval` for longer than `approval_sla_s`.
* `health` — database reachable, schema migrations applied, model endpoint answering,
  stalled threads under a limit, and with a queue in use the `keel worker` heartbeats and
  the queue's depth (`keel.queue`); usable by a monitor through `keel health`'s exit code.
* `prune` — delete finished threads older than N days with LangGraph's own
  `delete_thread` (checkpoints, writes, blobs), plus their ledger entries and registry
  row. The feedback log is kept: it is the training signal.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from keel.nodes.ledger import LEDGER_NAMESPACE
from keel.persistence import Persistence
from keel.queue import QueueSettings, QueueSettingsError, queue_checks
from keel.registry import ThreadRecord
from keel.settings import Settings
from keel.tools import snapshot
from keel.tools.git import GitError

__all__ = ["Check", "DeadLetter", "dead_letters", "health", "prune"]

FINISHED = ("done", "halted", "budget_exhausted")
_NEEDS_A_PERSON = ("failed", "halted", "budget_exhausted")


@dataclass(frozen=True)
class DeadLetter:
    """A thread that needs attention, and why."""

    record: ThreadRecord
    reason: str


@dataclass(frozen=True)
class Check:
    """One health check."""

    name: str
    ok: bool
    detail: str


def _age_s(stamp: str, now: datetime) -> float:
    return (now - datetime.fromisoformat(stamp)).total_seconds()


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def dead_letters(
    persistence: Persistence,
    *,
    stall_after_s: float,
    approval_sla_s: float,
    now: datetime | None = None,
) -> list[DeadLetter]:
    """Threads failed, halted, out of budget, stalled, or awaiting approval past the SLA."""
    now = now or datetime.now(UTC)
    found: list[DeadLetter] = []
    for record in persistence.registry.list(limit=100_000):
        if record.status in _NEEDS_A_PERSON:
            reason = record.status + (f": {record.error}" if record.error else "")
            found.append(DeadLetter(record, reason))
        elif record.status == "running":
            idle = _age_s(record.heartbeat_at, now)
            if idle > stall_after_s:
                found.append(DeadLetter(record, f"stalled: no heartbeat for {_hours(idle)}"))
        elif record.status == "awaiting_approval":
            waiting = _age_s(record.updated_at, now)
            if waiting > approval_sla_s:
                found.append(
                    DeadLetter(record, f"awaiting approval for {_hours(waiting)} (SLA exceeded)")
                )
    return found


def _migrations(persistence: Persistence) -> Check:
    saver: Any = persistence.checkpointer
    if persistence.kind == "postgres":
        with saver.conn.connection() as conn:
            row = conn.execute("SELECT max(v) AS v FROM checkpoint_migrations").fetchone()
        latest = len(saver.MIGRATIONS) - 1
        current = row["v"] if row else None
        ok = current == latest
        return Check("migrations", ok, f"checkpoint schema v{current} (expected v{latest})")
    rows = saver.conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name IN "
        "('checkpoints', 'writes', 'keel_threads', 'store')"
    ).fetchall()
    names = sorted(r[0] for r in rows)
    ok = len(names) == 4
    return Check("migrations", ok, f"tables present: {', '.join(names)}")


def _model(settings: Settings) -> Check:
    if settings.model == "offline":
        return Check("model", True, "offline policy model (no endpoint)")
    if settings.model.startswith("openai-compatible:"):
        url = (settings.openai_base_url or "").rstrip("/") + "/models"
        request = urllib.request.Request(  # noqa: S310 - the configured endpoint
            url, headers={"Authorization": f"Bearer {settings.openai_api_key or 'none'}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                json.load(response)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return Check("model", False, f"{url} did not answer: {exc}")
        return Check("model", True, f"{url} answered")
    provider = settings.model.split(":", 1)[0]
    has_key = provider != "openai" or bool(settings.openai_api_key)
    detail = f"{settings.model}: hosted provider, not called by health"
    return Check("model", has_key, detail + ("" if has_key else "; OPENAI_API_KEY is not set"))


def health(
    persistence: Persistence, settings: Settings, *, stall_after_s: float, max_stalled: int
) -> list[Check]:
    """Run every check (the database one passed if `persistence` is open)."""
    checks = [Check("database", True, f"{persistence.kind} reachable")]
    checks.append(_migrations(persistence))
    checks.append(_model(settings))
    stalled = [
        d
        for d in dead_letters(persistence, stall_after_s=stall_after_s, approval_sla_s=float("inf"))
        if d.reason.startswith("stalled")
    ]
    checks.append(
        Check(
            "stalled threads",
            len(stalled) <= max_stalled,
            f"{len(stalled)} stalled (limit {max_stalled})",
        )
    )
    try:
        stall_s = QueueSettings.load().stall_after_s
    except QueueSettingsError as exc:
        return [*checks, Check("queue settings", False, str(exc))]
    checks += [Check(*check) for check in queue_checks(persistence, stall_after_s=stall_s)]
    return checks


def prune(
    persistence: Persistence, *, older_than_days: float, dry_run: bool, now: datetime | None = None
) -> list[ThreadRecord]:
    """Delete finished threads not updated for `older_than_days`; return them."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days)
    doomed = [
        r
        for r in persistence.registry.list(limit=100_000)
        if r.status in FINISHED and datetime.fromisoformat(r.updated_at) <= cutoff
    ]
    if dry_run:
        return doomed
    for record in doomed:
        persistence.checkpointer.delete_thread(record.thread_id)
        namespace = (LEDGER_NAMESPACE, record.thread_id)
        for item in persistence.store.search(namespace, limit=1000):
            persistence.store.delete(namespace, item.key)
        persistence.registry.delete(record.thread_id)
        _drop_snapshot(record)
    return doomed


def _drop_snapshot(record: ThreadRecord) -> None:
    """Remove the thread's review snapshot, if it left one (a thread that never finalized)."""
    try:
        snapshot.remove(Path(record.repo), record.thread_id)
    except (GitError, OSError):
        pass  # the repository moved or is gone: nothing of ours is left in it

"""The queue page's rows: threads awaiting a human, with age, severity, triggers, repository.

`queue(runner, status=..., limit=...)` lists the registry's threads (the rows `keel
threads` prints) and, for each waiting one, reads its pending requests from the latest
checkpoint (`Runner.outcome`): the highest severity with a finding, the triggers that
fired, the guard that escalated (None at the review gate). `filter_rows` and `sort_rows`
are pure.

A row is cached by (thread id, registry `updated_at`): every status change of a thread
updates that column, so a cached row is never stale; the cache is dropped whole when it
outgrows `_CACHE_MAX`. Failure mode: a database error propagates to the caller.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from keel.core.vocabulary import SEVERITIES, SEVERITY_ORDER
from keel.registry import ThreadRecord
from keel.runner import Runner

__all__ = ["SORTS", "STATUSES", "QueueRow", "filter_rows", "now_utc", "queue", "sort_rows"]

STATUSES = ("awaiting_approval", "running", "done", "failed", "halted", "budget_exhausted")
"""The registry statuses the queue may show (the page adds `all`)."""

SORTS = ("age", "severity", "repo")
"""How the queue may be sorted: oldest first, most severe first, by repository."""

_CACHE_MAX = 5000
_cache: dict[tuple[str, str], QueueRow] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class QueueRow:
    """One thread in the queue."""

    record: ThreadRecord
    waiting: bool
    """Whether it awaits a human (pending requests in its checkpoint)."""
    severity: str | None
    """The highest severity with at least one finding, None when none."""
    counts: dict[str, int]
    """Findings per severity (the packet's summary or the report's counts)."""
    triggers: list[str]
    guard: str | None
    """The guard that escalated, None at the review gate."""
    actions: list[str]
    """The pending actions' names."""

    def age_s(self, now: datetime) -> float:
        """Seconds since the thread last changed (for a waiting one: since it paused)."""
        return (now - datetime.fromisoformat(self.record.updated_at)).total_seconds()

    def as_dict(self, now: datetime) -> dict[str, Any]:
        """JSON-able: the registry row plus the queue's fields."""
        return self.record.as_dict() | {
            "waiting": self.waiting,
            "severity": self.severity,
            "counts": self.counts,
            "triggers": self.triggers,
            "guard": self.guard,
            "actions": self.actions,
            "age_s": round(self.age_s(now), 1),
        }


def _highest(counts: Mapping[str, int]) -> str | None:
    for severity in reversed(SEVERITIES):
        if int(counts.get(severity, 0) or 0) > 0:
            return severity
    return None


def _row(runner: Runner, record: ThreadRecord) -> QueueRow:
    if record.status != "awaiting_approval":
        return QueueRow(record, False, None, {}, [], None, [])
    outcome = runner.outcome(record.thread_id)
    counts: dict[str, int] = {}
    report = (outcome.report or {}).get("data") or {}
    if isinstance(report.get("counts"), Mapping):
        counts = {str(k): int(v) for k, v in report["counts"].items()}
    triggers: list[str] = []
    guard: str | None = None
    actions: list[str] = []
    for _, request in outcome.interrupts:
        packet = request.get("packet") or {}
        if isinstance(packet.get("summary"), Mapping) and not counts:
            counts = {str(k): int(v) for k, v in packet["summary"].items()}
        triggers += [str(t) for t in packet.get("triggers", []) if str(t) not in triggers]
        guard = guard or (str(packet["guard"]) if packet.get("guard") else None)
        actions += [str(a["name"]) for a in request.get("action_requests", [])]
    return QueueRow(
        record, bool(outcome.interrupts), _highest(counts), counts, triggers, guard, actions
    )


def queue(
    runner: Runner, *, status: str | None = "awaiting_approval", limit: int = 200
) -> list[QueueRow]:
    """The registry's threads with `status` (None: all), newest first, as queue rows."""
    rows = []
    for record in runner.persistence.registry.list(status=status, limit=limit):
        key = (record.thread_id, record.updated_at)
        with _cache_lock:
            row = _cache.get(key)
        if row is None:
            row = _row(runner, record)
            with _cache_lock:
                if len(_cache) >= _CACHE_MAX:
                    _cache.clear()
                _cache[key] = row
        rows.append(row)
    return rows


def filter_rows(
    rows: Sequence[QueueRow],
    *,
    repo: str = "",
    min_severity: str = "",
    trigger: str = "",
) -> list[QueueRow]:
    """Rows matching every filter given (an empty filter is off).

    `repo`: a part of the repository path; `min_severity`: the highest severity at or
    above it; `trigger`: a part of one trigger's text.
    """
    rank = SEVERITY_ORDER
    out = []
    for row in rows:
        if repo and repo.lower() not in row.record.repo.lower():
            continue
        if min_severity and rank.get(row.severity or "", -1) < rank.get(min_severity, 0):
            continue
        if trigger and not any(trigger.lower() in t.lower() for t in row.triggers):
            continue
        out.append(row)
    return out


def sort_rows(rows: Sequence[QueueRow], by: str) -> list[QueueRow]:
    """Rows sorted by `by` (one of `SORTS`; unknown: age)."""
    rank = SEVERITY_ORDER
    if by == "severity":
        return sorted(rows, key=lambda r: (-rank.get(r.severity or "", -1), r.record.updated_at))
    if by == "repo":
        return sorted(rows, key=lambda r: (r.record.repo, r.record.updated_at))
    return sorted(rows, key=lambda r: (r.record.updated_at, r.record.thread_id))


def now_utc() -> datetime:
    """The current time, for ages."""
    return datetime.now(UTC)

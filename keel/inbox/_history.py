"""Earlier human decisions on a repository, from the feedback log.

`repo_decisions(runner, repo)` reads every entry of the feedback log (`keel feedback
export`'s source, `nodes/guards/feedback.py`) whose thread the registry records for the
same repository path, newest first, each reduced to what the thread page shows: when,
who, which thread, and per action the decision and its message. A thread whose registry
row was pruned is left out (its repository is no longer known). Database errors
propagate.
"""

from __future__ import annotations

from typing import Any

from keel.nodes.guards.feedback import iter_feedback
from keel.runner import Runner

__all__ = ["repo_decisions"]


def repo_decisions(runner: Runner, repo: str, *, limit: int = 25) -> list[dict[str, Any]]:
    """The newest `limit` decisions on threads of `repo`, newest first."""
    registry = runner.persistence.registry
    repos: dict[str, str | None] = {}
    found = []
    for entry in iter_feedback(runner.persistence.store):
        thread_id = str(entry.get("thread_id", ""))
        if thread_id not in repos:
            record = registry.get(thread_id)
            repos[thread_id] = record.repo if record else None
        if repos[thread_id] != repo:
            continue
        found.append(
            {
                "at": entry.get("at", ""),
                "thread_id": thread_id,
                "reviewer": entry.get("reviewer", ""),
                "triggers": list(entry.get("triggers", [])),
                "decisions": [
                    {
                        "name": d.get("name", ""),
                        "type": d.get("type", ""),
                        "message": d.get("message", ""),
                        "args": d.get("args"),
                    }
                    for d in entry.get("decisions", [])
                ],
                "dismissed": len(entry.get("dismissed", [])),
            }
        )
    found.reverse()
    return found[:limit]

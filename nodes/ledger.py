"""Idempotency ledger: each approved side effect happens once per thread.

LangGraph re-runs a node from its start on resume and promises at-least-once execution.
The ledger turns that into exactly-once *outcomes*. Entries live in the LangGraph store
(the same database as the checkpoints), keyed by thread id and the action's stable id:

1. `begin` records the intent (`started`, with an attempt count) before the effect;
2. the effect runs;
3. `finish` records the result (`done`).

A node that re-runs finds `done` and reuses the result. If it finds `started`, a previous
attempt died between intent and result: the executor first checks whether the effect is
already in place (a patch that applies in reverse, a report file with the same content)
and records it as done without repeating it. Only running the tests has no such check:
if a process dies after the tests finished but before `finish`, they run again (their
first result was never recorded).

Every executed effect can also be appended to a JSONL audit journal
(`KEEL_EFFECT_JOURNAL`), one line per execution — the crash harness counts them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.store.base import BaseStore

from keel.nodes.guards._verdict import utc_now

__all__ = ["LEDGER_NAMESPACE", "Ledger", "journal"]

LEDGER_NAMESPACE = "keel_ledger"


@dataclass(frozen=True)
class Ledger:
    """The ledger of one thread (a no-op without a store: state alone then)."""

    store: BaseStore | None
    thread_id: str

    @property
    def namespace(self) -> tuple[str, str]:
        """Store namespace of this thread's entries."""
        return (LEDGER_NAMESPACE, self.thread_id)

    def get(self, action_id: str) -> dict[str, Any] | None:
        """The entry of an action, or None."""
        if self.store is None:
            return None
        item = self.store.get(self.namespace, action_id)
        return dict(item.value) if item is not None else None

    def begin(self, action_id: str) -> int:
        """Record the intent to run; return the attempt number."""
        entry = self.get(action_id) or {}
        attempt = int(entry.get("attempts", 0)) + 1
        if self.store is not None:
            self.store.put(
                self.namespace,
                action_id,
                {"status": "started", "attempts": attempt, "started_at": utc_now()},
            )
        return attempt

    def finish(self, action_id: str, result: dict[str, Any], attempts: int) -> None:
        """Record the outcome."""
        if self.store is not None:
            self.store.put(
                self.namespace,
                action_id,
                {
                    "status": "done",
                    "attempts": attempts,
                    "finished_at": utc_now(),
                    "result": result,
                },
            )


def journal(path: str, thread_id: str, action_id: str, detail: str) -> None:
    """Append one executed effect to the audit journal (no-op when `path` is empty)."""
    if not path:
        return
    line = json.dumps(
        {
            "thread_id": thread_id,
            "action_id": action_id,
            "pid": os.getpid(),
            "at": utc_now(),
            "detail": detail,
        }
    )
    with Path(path).open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())

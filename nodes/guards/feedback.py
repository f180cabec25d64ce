"""Feedback log: every human decision with the packet it answered — the training signal.

Entries live in the LangGraph store under the namespace `("keel_feedback",)`, keyed by
thread and a hash of the request, so a node that re-runs after a crash writes the same
entry again instead of a duplicate. `keel feedback export` writes them as JSONL.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from langgraph.config import get_store
from langgraph.store.base import BaseStore

from keel.core.thread import current_thread_id

from ._verdict import utc_now

__all__ = ["FEEDBACK_NAMESPACE", "iter_feedback", "record_feedback"]

FEEDBACK_NAMESPACE = ("keel_feedback",)


def record_feedback(
    request: Mapping[str, Any],
    decisions: list[dict[str, Any]],
    reviewer: str,
    *,
    dismissed: Sequence[Mapping[str, Any]] = (),
) -> None:
    """Append a decision to the feedback log (no-op when the graph runs without a store).

    `dismissed`: the findings the reviewer dismissed with it (`nodes/baseline.py`), kept
    in the entry beside the packet they answered.
    """
    try:
        store = get_store()
    except RuntimeError:
        return
    if store is None:
        return
    thread_id = current_thread_id()
    digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
    store.put(
        FEEDBACK_NAMESPACE,
        f"{thread_id}:{digest[:16]}",
        {
            "thread_id": thread_id,
            "at": utc_now(),
            "reviewer": reviewer,
            "triggers": list(request.get("packet", {}).get("triggers", [])),
            "packet": {
                k: v for k, v in request.get("packet", {}).items() if k != "report_markdown"
            },
            "action_requests": list(request.get("action_requests", [])),
            "decisions": decisions,
            "dismissed": [dict(d) for d in dismissed],
        },
    )


def iter_feedback(store: BaseStore, *, page: int = 100) -> Iterator[dict[str, Any]]:
    """Every feedback entry, oldest first."""
    entries: list[dict[str, Any]] = []
    offset = 0
    while True:
        items = store.search(FEEDBACK_NAMESPACE, limit=page, offset=offset)
        entries.extend(item.value for item in items)
        if len(items) < page:
            break
        offset += page
    yield from sorted(entries, key=lambda e: (e.get("at", ""), e.get("thread_id", "")))

"""Run, resume and inspect review threads on a persistence backend.

The runner compiles the same graph builder that `langgraph.json` serves, with the
database's checkpointer and store, and keeps the registry row of each thread in step
with the checkpoints (status, cost, finding count).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, StateSnapshot

from keel.graphs.review import build_review_graph
from keel.models import bind_models, model_label
from keel.nodes.context import KeelContext
from keel.persistence import Persistence
from keel.settings import Settings

__all__ = ["Outcome", "ProgressCallback", "Runner", "new_thread_id"]

FINAL = ("done", "halted", "budget_exhausted")
"""Statuses a thread ends in."""

INPUT_KEY = "__input__"
"""Where the registry keeps a thread's input, to restart one killed before its first
checkpoint."""

HEARTBEAT_EVERY_S = 5.0
"""The registry's heartbeat is written per super-step, at most this often."""

ProgressCallback = Callable[[tuple[str, ...], str, dict[str, Any]], None]
"""Called with (subgraph namespace, node name, update) for each node that finishes."""


def _database_gone(exc: BaseException) -> bool:
    import sqlite3

    import psycopg
    from psycopg_pool import PoolTimeout

    return isinstance(exc, psycopg.OperationalError | PoolTimeout | sqlite3.OperationalError)


def new_thread_id() -> str:
    """Return a new thread id."""
    return f"kr-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Outcome:
    """Where a thread stands after a run."""

    thread_id: str
    status: str
    values: dict[str, Any]
    interrupts: list[tuple[str, dict[str, Any]]]
    """Pending interrupts as (interrupt id, request); several when guards escalate in
    parallel specialists."""

    @property
    def interrupt(self) -> dict[str, Any] | None:
        """The first pending request, if any."""
        return self.interrupts[0][1] if self.interrupts else None

    @property
    def report(self) -> dict[str, Any] | None:
        """The latest report (markdown + data), if any."""
        report: dict[str, Any] | None = self.values.get("report")
        return report


class Runner:
    """Runs the review workflow on one database."""

    def __init__(self, persistence: Persistence, settings: Settings) -> None:
        """Compile the review graph on `persistence`, its models bound to `settings`."""
        self.persistence = persistence
        models = bind_models(settings)
        self.graph = build_review_graph(models, label_for=model_label).compile(
            checkpointer=persistence.checkpointer, store=persistence.store, name="review"
        )

    @staticmethod
    def config(thread_id: str) -> RunnableConfig:
        """Return the run config of a thread."""
        return {"configurable": {"thread_id": thread_id}, "recursion_limit": 200}

    def snapshot(self, thread_id: str) -> StateSnapshot:
        """Return the latest checkpointed state of a thread."""
        return self.graph.get_state(self.config(thread_id))

    def outcome(self, thread_id: str) -> Outcome:
        """Read where a thread stands from its checkpoint."""
        snap = self.snapshot(thread_id)
        interrupts = [
            (item.id, item.value if isinstance(item.value, dict) else {"value": item.value})
            for item in snap.interrupts
        ]
        values = dict(snap.values or {})
        if interrupts:
            status = "awaiting_approval"
        elif snap.next:
            status = "failed"  # stopped mid-run: `keel resume` continues it
        else:
            status = str(values.get("status") or "failed")
        return Outcome(thread_id=thread_id, status=status, values=values, interrupts=interrupts)

    def _drive(
        self,
        thread_id: str,
        graph_input: Any,
        context: KeelContext,
        progress: ProgressCallback | None,
        start: RunnableConfig | None = None,
    ) -> Outcome:
        registry = self.persistence.registry
        registry.update(thread_id, status="running", error="")
        beat = time.monotonic()
        try:
            for namespace, chunk in self._stream(thread_id, graph_input, context, start):
                if time.monotonic() - beat >= HEARTBEAT_EVERY_S:
                    registry.heartbeat(thread_id)
                    beat = time.monotonic()
                for node, update in chunk.items():
                    if progress is not None and not node.startswith("__"):
                        progress(namespace, node, update if isinstance(update, dict) else {})
        except BaseException as exc:
            if not _database_gone(exc):  # with the database gone, the registry is too
                registry.update(
                    thread_id, status="failed", error=f"{type(exc).__name__}: {exc}"[:500]
                )
            raise
        result = self.outcome(thread_id)
        usage = result.values.get("usage") or {}
        data = (result.values.get("report") or {}).get("data") or {}
        shown = data["shown"] if "shown" in data else result.values.get("findings")
        registry.update(
            thread_id,
            status=result.status,
            cost_usd=float(usage.get("cost_usd", 0.0)),
            findings=len(shown or []),  # what the report lists (a review: its diff filter)
        )
        return result

    def _stream(
        self,
        thread_id: str,
        graph_input: Any,
        context: KeelContext,
        start: RunnableConfig | None = None,
    ) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
        config = self.config(thread_id)
        if start is not None:  # continue from an earlier checkpoint of the same thread
            config = {**config, "configurable": dict(start.get("configurable", {}))}
        for namespace, chunk in self.graph.stream(
            graph_input,
            config,
            context=context,
            stream_mode="updates",
            subgraphs=True,
        ):
            yield tuple(namespace), cast(dict[str, Any], chunk)

    def start(
        self,
        *,
        thread_id: str,
        graph_input: dict[str, Any],
        context: KeelContext,
        workflow: str,
        progress: ProgressCallback | None = None,
    ) -> Outcome:
        """Start a new thread and run it until it finishes or waits for review."""
        self.persistence.registry.create(
            thread_id,
            workflow=workflow,
            repo=str(graph_input["repo"]),
            model=context.model,
            context=context.to_dict() | {INPUT_KEY: graph_input},
        )
        return self._drive(thread_id, graph_input, context, progress)

    def resume(
        self,
        thread_id: str,
        *,
        context: KeelContext,
        decision: dict[str, Any] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Outcome:
        """Continue a thread: with decisions keyed by interrupt id, or from its last checkpoint.

        A thread killed before its first checkpoint restarts from its recorded input.
        """
        graph_input: Command[Any] | dict[str, Any] | None = (
            Command(resume=decision) if decision is not None else None
        )
        start: RunnableConfig | None = None
        if decision is None and not self.snapshot(thread_id).values:
            record = self.persistence.registry.get(thread_id)
            graph_input = (record.context if record else {}).get(INPUT_KEY)
        elif decision is None:
            start = self.stranded(thread_id)
        return self._drive(thread_id, graph_input, context, progress, start=start)

    def stranded(self, thread_id: str) -> RunnableConfig | None:
        """The newest earlier checkpoint with work left, for a thread stranded mid-run.

        A thread is stranded when its last checkpoint has no work left but it never
        finished (a write lost when the database went away mid-step). None otherwise.
        """
        snap = self.snapshot(thread_id)
        status = (snap.values or {}).get("status")
        if not snap.values or snap.next or snap.interrupts or status in FINAL:
            return None
        for earlier in self.graph.get_state_history(self.config(thread_id)):
            if earlier.next:
                return earlier.config
        return None

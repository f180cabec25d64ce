"""One attempt of a queued job: fenced, checked against the repository, resumed from the checkpoint.

Every job of a thread — `run` (the first run of a queued review or audit), `decide`
(approve / reject with the decision payload) and `resume` — is the same thing: continue
the thread from its last checkpoint (a thread with no checkpoint starts from the input
recorded at enqueue), with the decision when there is one still to deliver. LangGraph's
checkpoint stays the only state; a retried job needs no other memory.

An attempt:

1. bumps the thread's epoch (`keel.queue._fence.begin_attempt`);
2. refuses a repository that is gone or at another commit (`keel.queue._repo`): the
   thread becomes `failed` with the reason and the job succeeds, so nothing retries it;
3. runs the runner on a `FencedPool`, so a superseded attempt writes nothing;
4. on a drain (SIGTERM), stops after the node in progress (what finished is
   checkpointed) and re-queues the thread (`Drained`);
5. on an error, records it on the registry row: `queued` while attempts remain (the
   job is retried), `failed` on the last one (the thread is in `keel dlq list`).

`FencedError` is not handled here: the worker ends its process (`keel.queue._worker`).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.store.postgres import PostgresStore
from psycopg_pool import ConnectionPool

from keel.locks import postgres_lock
from keel.nodes.context import KeelContext
from keel.persistence import Persistence, safe_serializer
from keel.queue._fence import FencedError, FencedPool, begin_attempt, end_attempt
from keel.queue._repo import refusal
from keel.registry import PostgresRegistry
from keel.runner import INPUT_KEY, Runner
from keel.settings import Settings

__all__ = ["Attempt", "Drained", "fenced_cause", "run_attempt"]

log = logging.getLogger("keel.queue")


class Drained(Exception):  # noqa: N818 - a signal to stop, not a failure
    """The worker is draining: the attempt stopped after a node; the thread is re-queued."""


@dataclass(frozen=True)
class Attempt:
    """What one job attempt is about."""

    url: str
    task: str
    thread_id: str
    job_id: int
    attempts: int
    """Earlier attempts of this job (0 on the first)."""
    max_attempts: int
    worker: str
    frozen_after_s: float
    """A fenced session idle in a transaction this long is ended by the server."""
    settings: Settings
    """The worker's settings (its model endpoints, tools)."""
    decision: dict[str, Any] | None = None


@contextmanager
def fenced_runner(attempt: Attempt, epoch: int) -> Iterator[Runner]:
    """A runner whose every database operation is fenced on `epoch`."""
    pool = FencedPool(
        attempt.url,
        thread_id=attempt.thread_id,
        epoch=epoch,
        frozen_after_s=attempt.frozen_after_s,
        name=f"keel-fenced-{attempt.thread_id}",
    )
    pool.open(wait=True, timeout=30)
    try:
        persistence = Persistence(
            url=attempt.url,
            checkpointer=PostgresSaver(pool, serde=safe_serializer()),
            store=PostgresStore(pool),
            registry=PostgresRegistry(pool),
            lock=functools.partial(postgres_lock, pool),
        )
        yield Runner(persistence, attempt.settings)
    finally:
        pool.close(timeout=5)


def run_attempt(attempt: Attempt, ops: ConnectionPool[Any], draining: threading.Event) -> str:
    """Run one attempt; return how it ended (raises on a failure to retry, or `FencedError`)."""
    record = PostgresRegistry(ops).get(attempt.thread_id)
    if record is None:
        log.warning("job %s: unknown thread %s, nothing to do", attempt.job_id, attempt.thread_id)
        return "unknown thread"
    with ops.connection() as conn:
        epoch = begin_attempt(
            conn,
            thread_id=attempt.thread_id,
            job_id=attempt.job_id,
            task=attempt.task,
            worker=attempt.worker,
            lock_wait_s=attempt.frozen_after_s * 2,
        )
    log.info(
        "worker %s: %s thread %s (job %s, attempt %s, epoch %s)",
        attempt.worker,
        attempt.task,
        attempt.thread_id,
        attempt.job_id,
        attempt.attempts + 1,
        epoch,
    )
    outcome = "error"
    try:
        with fenced_runner(attempt, epoch) as runner:
            outcome = _drive(attempt, runner, record.context, draining)
        return outcome
    except Drained:
        outcome = "drained"
        raise
    except Exception as exc:
        if fenced_cause(exc) is not None:
            outcome = "fenced"
            raise
        outcome = f"error: {type(exc).__name__}: {exc}"
        raise
    finally:
        if outcome != "fenced":
            with ops.connection() as conn:
                end_attempt(conn, thread_id=attempt.thread_id, epoch=epoch, outcome=outcome)


def fenced_cause(exc: BaseException) -> FencedError | None:
    """The `FencedError` behind `exc` (itself, its cause or context), if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, FencedError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _drive(
    attempt: Attempt, runner: Runner, record_context: dict[str, Any], draining: threading.Event
) -> str:
    registry = runner.persistence.registry
    thread_id = attempt.thread_id
    graph_input = record_context.get(INPUT_KEY) or {}
    why = refusal(record_context, graph_input)
    if why is not None:
        registry.update(thread_id, status="failed", error=why[:500])
        log.error("thread %s: %s (no retry)", thread_id, why)
        return f"refused: {why}"
    context = KeelContext.from_dict(record_context)

    def progress(namespace: tuple[str, ...], node: str, update: dict[str, Any]) -> None:
        if draining.is_set():
            raise Drained(f"drained after node {node}")

    try:
        current = runner.outcome(thread_id)
        pending = {interrupt_id for interrupt_id, _ in current.interrupts}
        if attempt.decision and pending and set(attempt.decision) <= pending:
            result = runner.resume(
                thread_id, context=context, decision=attempt.decision, progress=progress
            )
        elif current.status == "awaiting_approval":
            registry.update(thread_id, status="awaiting_approval", error="")
            return "awaiting approval (nothing to run)"
        else:
            snapshot = runner.snapshot(thread_id)
            if snapshot.values and not snapshot.next and runner.stranded(thread_id) is None:
                registry.update(thread_id, status=current.status, error="")
                return f"nothing to resume ({current.status})"
            result = runner.resume(thread_id, context=context, progress=progress)
    except Drained:
        registry.update(thread_id, status="queued", error="")
        raise
    except Exception as exc:
        if fenced_cause(exc) is not None:
            raise
        last = attempt.attempts + 1 >= attempt.max_attempts
        error = (
            f"attempt {attempt.attempts + 1} of {attempt.max_attempts}: {type(exc).__name__}: {exc}"
        )
        if last:
            error += " (no attempts left: `keel dlq retry` re-queues it)"
        registry.update(thread_id, status="failed" if last else "queued", error=error[:500])
        raise
    log.info("thread %s: %s", thread_id, result.status)
    return result.status

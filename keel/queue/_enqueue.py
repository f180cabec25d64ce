"""Putting work on the queue: a thread's run, a decision, a resume, a batch of audits.

Every job of a thread is deferred with `lock=<thread id>`, so a thread's jobs run one at a
time, in the order they were queued, on whichever worker takes them. `queueing_lock`
keeps one waiting job of a kind per thread (`<thread>:run`, `<thread>:decide`,
`<thread>:resume`): a second one raises `AlreadyQueuedError` and changes nothing.

What is checked here, before anything is queued, is what the in-process commands check
(the CLI's handlers do the thread-state checks under the thread's lock); what can only
be checked where the job runs — the repository's content — is pinned here
(`keel.queue._repo.pin`) and compared by the worker.

Failure modes: `QueueUnavailableError` (not PostgreSQL), `AlreadyQueuedError`, psycopg's
errors for a database that fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from procrastinate import App, PsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued

from keel.nodes.context import KeelContext
from keel.persistence import Persistence, describe_url
from keel.queue._config import QueueSettings
from keel.queue._names import DECIDE, RESUME, RUN
from keel.queue._repo import QUEUE_KEY, pin
from keel.queue._schema import ensure_schema, schema_present
from keel.runner import INPUT_KEY

__all__ = [
    "AlreadyQueuedError",
    "QueueUnavailableError",
    "enqueue_decision",
    "enqueue_resume",
    "enqueue_run",
    "make_connector",
    "open_queue",
    "pending_jobs",
    "pool_of",
    "require_postgres",
]


class QueueUnavailableError(RuntimeError):
    """The queue needs PostgreSQL; the message says so and names the URL."""


class AlreadyQueuedError(RuntimeError):
    """A job of this kind already waits for the thread."""


def require_postgres(url: str) -> None:
    """Raise `QueueUnavailableError` unless `url` is PostgreSQL."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise QueueUnavailableError(
            f"the queue needs PostgreSQL (KEEL_DATABASE_URL is {describe_url(url)}): "
            "set KEEL_DATABASE_URL=postgresql://... ; SQLite runs reviews in-process only"
        )


def make_connector(url: str) -> PsycopgConnector:
    """The procrastinate connector on Keel's database."""
    return PsycopgConnector(conninfo=url, kwargs={"prepare_threshold": 0})


def pool_of(persistence: Persistence) -> Any:
    """The psycopg pool of a PostgreSQL persistence (its checkpointer's)."""
    require_postgres(persistence.url)
    return getattr(persistence.checkpointer, "conn")  # noqa: B009 - PostgresSaver's pool


@contextmanager
def open_queue(persistence: Persistence) -> Iterator[App]:
    """An App opened synchronously on the persistence's database, schema applied."""
    with pool_of(persistence).connection() as conn:
        ensure_schema(conn)
    app = App(connector=make_connector(persistence.url))
    with app.open():
        yield app


def _defer(app: App, task: str, queue: str, lock: str, qlock: str, **kwargs: Any) -> int:
    try:
        return app.configure_task(name=task, queue=queue, lock=lock, queueing_lock=qlock).defer(
            **kwargs
        )
    except AlreadyEnqueued:
        raise AlreadyQueuedError(
            f"thread {lock} already has a queued {task.removeprefix('keel.')} job"
        ) from None


def enqueue_run(
    app: App,
    persistence: Persistence,
    settings: QueueSettings,
    *,
    thread_id: str,
    graph_input: dict[str, Any],
    context: KeelContext,
    workflow: str,
    origin: dict[str, Any] | None = None,
) -> int:
    """Register the thread as `queued` and defer its first run; return the job id.

    `origin` is kept with what was pinned (the scheduled audit records its tick there).
    """
    pinned = pin(graph_input) | (origin or {})
    registry = persistence.registry
    registry.create(
        thread_id,
        workflow=workflow,
        repo=str(graph_input["repo"]),
        model=context.model,
        context=context.to_dict() | {INPUT_KEY: graph_input, QUEUE_KEY: pinned},
    )
    registry.update(thread_id, status="queued")
    try:
        return _defer(app, RUN, settings.queue, thread_id, f"{thread_id}:run", thread_id=thread_id)
    except BaseException as exc:
        registry.update(thread_id, status="failed", error=f"not queued: {exc}"[:500])
        raise


def enqueue_decision(
    app: App, persistence: Persistence, settings: QueueSettings, thread_id: str, decision: Any
) -> int:
    """Defer the delivery of `decision` (answers by interrupt id); return the job id."""
    job = _defer(
        app,
        DECIDE,
        settings.queue,
        thread_id,
        f"{thread_id}:decide",
        thread_id=thread_id,
        decision=decision,
    )
    persistence.registry.update(thread_id, status="queued")
    return job


def enqueue_resume(
    app: App, persistence: Persistence, settings: QueueSettings, thread_id: str
) -> int:
    """Defer a resume from the last checkpoint; return the job id."""
    job = _defer(app, RESUME, settings.queue, thread_id, f"{thread_id}:resume", thread_id=thread_id)
    persistence.registry.update(thread_id, status="queued", error="")
    return job


def pending_jobs(persistence: Persistence, thread_id: str) -> int:
    """How many of the thread's jobs wait or run (0 when the queue has no schema yet)."""
    with pool_of(persistence).connection() as conn:
        if not schema_present(conn):
            return 0
        row = conn.execute(
            "SELECT count(*) AS n FROM procrastinate_jobs WHERE lock = %s "
            "AND status IN ('todo', 'doing')",
            (thread_id,),
        ).fetchone()
    return int(row["n"])

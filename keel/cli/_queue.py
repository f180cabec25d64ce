"""The queue's side of the `keel` commands: `--queue`, `keel worker`, `keel batch audit`.

Each function is called by a command's handler once its usual checks passed (the
repository and range for a run; the thread's state, under its lock, for a decision).
Exit codes are the CLI's: 2 the queue needs PostgreSQL or a bad batch list, 5 a job of
that kind already waits for the thread, 6 the database fails.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from keel import queue
from keel.cli._common import (
    EXIT_DONE,
    EXIT_USAGE,
    EXIT_WRONG_STATE,
    Call,
    CliError,
    ThreadCall,
)
from keel.nodes.context import KeelContext
from keel.settings import Settings

__all__ = [
    "batch_audit",
    "enqueue_decision",
    "enqueue_resume",
    "enqueue_run",
    "queue_settings",
    "require_postgres",
    "worker",
]


def require_postgres(settings: Settings) -> None:
    """Exit 2 before any database is opened unless Keel's database is PostgreSQL."""
    try:
        queue.require_postgres(settings.database_url)
    except queue.QueueUnavailableError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None


def queue_settings() -> queue.QueueSettings:
    """`KEEL_QUEUE_*` (exit 2 when one is malformed)."""
    try:
        return queue.QueueSettings.load()
    except queue.QueueSettingsError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None


def _queued(call: Call, thread_id: str, job_id: int, what: str) -> int:
    if call.args.json:
        call.terminal.emit_json({"thread_id": thread_id, "status": "queued", "job_id": job_id})
    else:
        sys.stdout.write(f"{thread_id} queued\n")
        call.terminal.info(f"{what} of thread {thread_id} queued (job {job_id})")
    return EXIT_DONE


def enqueue_run(
    call: Call, thread_id: str, graph_input: dict[str, Any], context: KeelContext
) -> int:
    """`keel review|audit PATH --queue`: register the thread `queued`, defer its run."""
    if graph_input.get("staged"):
        raise CliError(
            EXIT_USAGE, "--staged cannot be queued: a staged change lives in one machine's index"
        )
    settings = queue_settings()
    persistence = call.runner.persistence
    with queue.open_queue(persistence) as app:
        job = queue.enqueue_run(
            app,
            persistence,
            settings,
            thread_id=thread_id,
            graph_input=graph_input,
            context=context,
            workflow=call.args.command,
        )
    return _queued(call, thread_id, job, call.args.command)


def enqueue_decision(call: ThreadCall, answers: dict[str, Any]) -> int:
    """`keel approve|reject THREAD --queue`: defer the checked decision."""
    settings = queue_settings()
    persistence = call.runner.persistence
    try:
        with queue.open_queue(persistence) as app:
            job = queue.enqueue_decision(app, persistence, settings, call.args.thread, answers)
    except queue.AlreadyQueuedError as exc:
        raise CliError(EXIT_WRONG_STATE, str(exc)) from None
    return _queued(call, call.args.thread, job, call.args.command)


def enqueue_resume(call: ThreadCall) -> int:
    """`keel resume THREAD --queue` (and `keel dlq retry` of a queued thread).

    Accepted behind the thread's queued jobs (it runs after them); otherwise the same
    checks as an in-process resume: exit 5 when it awaits approval or has nothing to resume.
    """
    args, runner = call.args, call.runner
    thread_id = args.thread
    if queue.pending_jobs(runner.persistence, thread_id) == 0:
        outcome = runner.outcome(thread_id)
        if outcome.status == "awaiting_approval":
            raise CliError(
                EXIT_WRONG_STATE,
                f"thread {thread_id} is awaiting approval: use `keel approve` or `keel reject`",
            )
        snapshot = runner.snapshot(thread_id)
        if snapshot.values and not snapshot.next and runner.stranded(thread_id) is None:
            raise CliError(
                EXIT_WRONG_STATE,
                f"thread {thread_id} has nothing to resume (status: {outcome.status})",
            )
    settings = queue_settings()
    try:
        with queue.open_queue(runner.persistence) as app:
            job = queue.enqueue_resume(app, runner.persistence, settings, thread_id)
    except queue.AlreadyQueuedError as exc:
        raise CliError(EXIT_WRONG_STATE, str(exc)) from None
    return _queued(call, thread_id, job, "resume")


def is_queued_thread(call: ThreadCall) -> bool:
    """Whether the thread was started through the queue (`keel dlq retry` re-queues it)."""
    return queue.QUEUE_KEY in call.record.context


def batch_audit(call: Call) -> int:
    """`keel batch audit FILE`: one queued audit per repository listed; a summary."""
    settings = queue_settings()
    try:
        roots = queue.read_repositories(call.args.file)
    except queue.BatchError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    except OSError as exc:
        raise CliError(EXIT_USAGE, f"cannot read {call.args.file}: {exc}") from None
    persistence = call.runner.persistence
    with queue.open_queue(persistence) as app:
        queued = queue.enqueue_repositories(app, persistence, settings, call.settings, roots)
    if call.args.json:
        call.terminal.emit_json(
            {
                "queued": len(queued),
                "threads": [{"repo": q.repo, "thread_id": q.thread_id} for q in queued],
            }
        )
    else:
        for item in queued:
            sys.stdout.write(f"{item.thread_id} queued {item.repo}\n")
        call.terminal.info(f"{len(queued)} audit(s) queued")
    return EXIT_DONE


def worker(call: Call) -> int:
    """`keel worker`: serve the queue until SIGTERM (exit 0 after draining)."""
    args = call.args
    if args.concurrency < 1:
        raise CliError(EXIT_USAGE, f"--concurrency must be at least 1, got {args.concurrency}")
    settings = queue_settings()
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    return queue.run_worker(
        call.settings, settings, concurrency=args.concurrency, queue=args.queue_name
    )

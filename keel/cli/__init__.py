"""The `keel` command.

    keel review PATH [--rev A..B | --staged]   review a change (--filter: which findings)
    keel audit PATH                            review the whole repository
    keel threads [--status S]                  list threads
    keel show THREAD [--format md|json|sarif]  where a thread stands, with its report
    keel approve THREAD [--edit JSON]          approve (or edit) the pending actions
    keel reject THREAD --reason TEXT           reject them
    keel resume THREAD                         continue a thread that stopped mid-run
    keel rereview THREAD                       review the repository as it is now, in a new thread
    keel history THREAD                        list a thread's checkpoints
    keel feedback export [--output FILE]       every human decision, as JSONL
    keel baseline show | clear REPO            findings dismissed in a repository's reviews
    keel dlq list | keel dlq retry THREAD      threads that need a person; re-drive one
    keel health                                database, migrations, model, stalled threads
    keel prune --older-than DAYS [--dry-run]   delete old finished threads
    keel inbox [--host H] [--port P]           the review inbox in the browser (docs/inbox.md)
    keel review|audit PATH --queue             queue the run for `keel worker` (PostgreSQL)
    keel approve|reject|resume THREAD --queue  queue the decision or the resume
    keel batch audit FILE                      queue an audit per repository listed
    keel worker [--concurrency N] [--queue Q]  run queued work until SIGTERM, then drain

Exit codes (also in the README):

| code | meaning |
|---:|---|
| 0 | done |
| 1 | the run failed (unexpected error; the thread is marked failed, `keel resume` retries) |
| 2 | usage error: bad arguments, not a git repository, unknown revision, malformed JSON,
|   | invalid decision, bad setting |
| 3 | awaiting approval (`keel approve` / `keel reject` continue it) |
| 4 | unknown thread |
| 5 | the thread is not in a state for this command (e.g. approve when nothing awaits approval) |
| 6 | database unavailable |
| 7 | halted by a guard, or the budget is exhausted (the report is partial) |
| 8 | the thread is being processed by another process (nothing changed; retry later); a
|   | `keel worker` fenced off a thread it no longer owns exits 8 |
| 9 | `--fail-on SEVERITY`: a finding at or above SEVERITY remains (0: none does) |
| 10 | stale approval: the repository moved since the review; nothing approved ran and the
|   | thread waits at a stale-approval request (`keel rereview` / `keel reject`) |

Each command is one handler in `COMMANDS`, named by its words on the command line. Its
entry says what it needs before it runs: `Run` (the repository, range and model checked
before the database is opened), `OnDatabase` (a runner) or `OnThread` (an existing thread's
record and settings; exit 4 for an unknown thread; `locked` handlers run under the thread's
lock, exit 8 while another process holds it). A database failure anywhere is exit 6.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from keel.cli import _decisions, _inbox, _queue, _runs, _views
from keel.cli._common import (
    EXIT_BUSY,
    EXIT_CODES,
    EXIT_DATABASE,
    EXIT_FAILED,
    EXIT_UNKNOWN_THREAD,
    EXIT_USAGE,
    Call,
    CliError,
    ThreadCall,
    database_errors,
    load_settings,
)
from keel.cli._parser import build_parser
from keel.console import Terminal
from keel.locks import ThreadBusyError
from keel.nodes.context import KeelContext
from keel.persistence import DatabaseUnavailableError, describe_url, open_persistence
from keel.runner import Runner
from keel.settings import Settings

__all__ = ["COMMANDS", "EXIT_CODES", "main"]


@dataclass(frozen=True)
class Run:
    """A command that starts a thread: `prepare` checks its input before the database opens."""

    handler: Callable[[Call, _runs.Prepared], int]
    prepare: Callable[[argparse.Namespace, Settings, Terminal], _runs.Prepared]


@dataclass(frozen=True)
class OnDatabase:
    """A command that needs the database but no particular thread."""

    handler: Callable[[Call], int]


@dataclass(frozen=True)
class OnThread:
    """A command on the existing thread `args.thread`; `locked`: under its lock."""

    handler: Callable[[ThreadCall], int]
    locked: bool = False


Command = Run | OnDatabase | OnThread

COMMANDS: dict[str, Command] = {
    "review": Run(_runs.review, prepare=_runs.prepare_run),
    "audit": Run(_runs.review, prepare=_runs.prepare_run),
    "threads": OnDatabase(_views.threads),
    "feedback": OnDatabase(_views.feedback),
    "health": OnDatabase(_views.health),
    "prune": OnDatabase(_views.prune),
    "baseline": OnDatabase(_views.baseline),
    "dlq list": OnDatabase(_views.dlq_list),
    "inbox": OnDatabase(_inbox.inbox),
    "show": OnThread(_views.show_thread),
    "history": OnThread(_views.history),
    "rereview": OnThread(_runs.rereview),
    "approve": OnThread(_decisions.decide, locked=True),
    "reject": OnThread(_decisions.decide, locked=True),
    "resume": OnThread(_decisions.resume, locked=True),
    "dlq retry": OnThread(_decisions.resume, locked=True),
    "worker": OnDatabase(_queue.worker),
    "batch audit": OnDatabase(_queue.batch_audit),
}
"""Every command's handler, by the words that name it on the command line."""


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point of the `keel` console script: exits with the command's code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # the pool retries and logs every failed connect; Keel reports one clear line instead
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
    terminal = Terminal(json_mode=args.json, quiet=args.quiet)
    try:
        code = _dispatch(args, terminal)
    except CliError as exc:
        terminal.error(str(exc))
        if args.json:
            terminal.emit_json({"error": str(exc), "exit_code": exc.code})
        code = exc.code
    except KeyboardInterrupt:
        terminal.error("interrupted; the thread keeps its last checkpoint (`keel resume`)")
        code = EXIT_FAILED
    sys.exit(code)


def _command_name(args: argparse.Namespace) -> str:
    """The words that name the command: `review`, `dlq list`, ..."""
    sub = getattr(args, "dlq_command", None) or getattr(args, "batch_command", None)
    return f"{args.command} {sub}" if sub else str(args.command)


def _dispatch(args: argparse.Namespace, terminal: Terminal) -> int:
    settings = load_settings(args)
    name = _command_name(args)
    command = COMMANDS.get(name)
    if command is None:
        raise CliError(EXIT_USAGE, f"unknown command {name}")
    if getattr(args, "queue", False) or name in ("worker", "batch audit"):
        _queue.require_postgres(settings)  # exit 2 before any database is opened
    prepared = command.prepare(args, settings, terminal) if isinstance(command, Run) else None
    try:
        with open_persistence(settings.database_url) as persistence:
            call = Call(args, terminal, settings, Runner(persistence, settings))
            if isinstance(command, Run):
                assert prepared is not None
                return command.handler(call, prepared)
            if isinstance(command, OnDatabase):
                return command.handler(call)
            return _on_thread(command, call)
    except ThreadBusyError as exc:
        raise CliError(EXIT_BUSY, str(exc)) from None
    except DatabaseUnavailableError as exc:
        raise CliError(EXIT_DATABASE, str(exc)) from None
    except database_errors() as exc:
        raise CliError(
            EXIT_DATABASE,
            f"database error on {describe_url(settings.database_url)}: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
        ) from None


def _on_thread(command: OnThread, call: Call) -> int:
    """Run `command` on `args.thread`: exit 4 when the registry does not know it."""
    thread_id = call.args.thread
    record = call.runner.persistence.registry.get(thread_id)
    if record is None:
        raise CliError(EXIT_UNKNOWN_THREAD, f"unknown thread: {thread_id}")
    thread = ThreadCall(
        call.args,
        call.terminal,
        call.settings,
        call.runner,
        record=record,
        context=KeelContext.from_dict(record.context),
    )
    if not command.locked:
        return command.handler(thread)
    with call.runner.persistence.lock(thread_id):
        # state is read again under the lock: a decision that landed meanwhile shows
        return command.handler(thread)

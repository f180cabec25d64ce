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
| 8 | the thread is being processed by another process (nothing changed; retry later) |
| 9 | `--fail-on SEVERITY`: a finding at or above SEVERITY remains (0: none does) |
| 10 | stale approval: the repository moved since the review; nothing approved ran and the
|   | thread waits at a stale-approval request (`keel rereview` / `keel reject`) |
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from graphs.context import DIFF_FILTERS, KeelContext
from graphs.review import SPECIALISTS
from graphs.state import SEVERITY_ORDER, severity_at_least
from keel import dismissals, ops, show
from keel.console import Terminal
from keel.locks import ThreadBusyError
from keel.models import ModelError, chat_model
from keel.outputs import render_report
from keel.persistence import DatabaseUnavailableError, describe_url, open_persistence
from keel.registry import ThreadRecord
from keel.runner import INPUT_KEY, Outcome, Runner, new_thread_id
from keel.settings import Settings, SettingsError
from nodes.actions import STALE_APPROVAL
from nodes.agents.supervisor import config_team
from nodes.guards.feedback import iter_feedback
from nodes.guards.review_gate import ReviewResponseError, parse_review_response
from tools import git, keel_config, reviewed_state

__all__ = ["EXIT_CODES", "main"]

EXIT_DONE, EXIT_FAILED, EXIT_USAGE, EXIT_AWAITING = 0, 1, 2, 3
EXIT_UNKNOWN_THREAD, EXIT_WRONG_STATE, EXIT_DATABASE, EXIT_HALTED = 4, 5, 6, 7
EXIT_BUSY = 8
EXIT_FINDINGS = 9
EXIT_STALE = 10
FORMATS = ["md", "json", "sarif"]

EXIT_CODES = {
    EXIT_DONE: "done",
    EXIT_FAILED: "failed",
    EXIT_USAGE: "usage error",
    EXIT_AWAITING: "awaiting approval",
    EXIT_UNKNOWN_THREAD: "unknown thread",
    EXIT_WRONG_STATE: "thread not in a state for this command",
    EXIT_DATABASE: "database unavailable",
    EXIT_HALTED: "halted by a guard",
    EXIT_BUSY: "thread busy in another process",
    EXIT_FINDINGS: "findings at or above --fail-on",
    EXIT_STALE: "stale approval: the repository moved since the review",
}


class CliError(Exception):
    """An error with an exit code and a one-line message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON to stdout")
    common.add_argument("--database", metavar="URL", help="override KEEL_DATABASE_URL")
    common.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument(
        "--format", choices=FORMATS, default="md", help="report format (default md)"
    )
    output.add_argument("--output", type=Path, metavar="FILE", help="write the report here")
    output.add_argument(
        "--fail-on",
        choices=list(SEVERITY_ORDER),
        metavar="SEVERITY",
        help="CI gate: exit 9 when a finding at or above SEVERITY remains, else 0",
    )

    parser = argparse.ArgumentParser(
        prog="keel",
        description="Guarded multi-agent code review on LangGraph.",
        epilog="Exit codes: " + ", ".join(f"{code} {text}" for code, text in EXIT_CODES.items()),
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def runnable(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", help="override KEEL_MODEL")
        p.add_argument(
            "--no-input",
            action="store_true",
            help="never prompt: leave the thread awaiting approval and print how to continue",
        )
        p.add_argument("--thread", metavar="ID", help="thread id to use (default: a new one)")

    review = sub.add_parser("review", parents=[common, output], help="review a change")
    review.add_argument("path", type=Path)
    scope = review.add_mutually_exclusive_group()
    scope.add_argument("--rev", metavar="A..B", help="revision range (default HEAD~1..HEAD)")
    scope.add_argument("--staged", action="store_true", help="review the staged change")
    scope.add_argument(
        "--since-last",
        action="store_true",
        help="review what changed since the last revision Keel reviewed in this repository",
    )
    review.add_argument(
        "--filter",
        dest="diff_filter",
        choices=DIFF_FILTERS,
        help="which findings the report lists, may trigger review and are SARIF results: "
        "added (introduced by the change), diff_context (also on its context lines), file "
        "(anywhere in the touched files) or all (default KEEL_DIFF_FILTER, else added)",
    )
    runnable(review)

    audit = sub.add_parser("audit", parents=[common, output], help="review the whole repository")
    audit.add_argument("path", type=Path)
    runnable(audit)

    threads = sub.add_parser("threads", parents=[common], help="list threads")
    threads.add_argument(
        "--status", choices=["running", "awaiting_approval", "done", "failed", "halted"]
    )
    threads.add_argument("--limit", type=int, default=50)

    show_parser = sub.add_parser(
        "show",
        parents=[common, output],
        help="where a thread stands: status, report, pending requests, guard events, usage",
    )
    show_parser.add_argument("thread")

    approve = sub.add_parser("approve", parents=[common, output], help="approve pending actions")
    approve.add_argument("thread")
    approve.add_argument(
        "--edit",
        metavar="JSON",
        help='edited arguments, e.g. \'{"publish_review": {"path": "docs/REVIEW.md"}}\'',
    )
    approve.add_argument("--reviewer", help="who decides (default KEEL_REVIEWER / $USER)")
    approve.add_argument("--reason", help="why the --dismiss findings are not problems")

    reject = sub.add_parser("reject", parents=[common, output], help="reject pending actions")
    reject.add_argument("thread")
    reject.add_argument("--reason", required=True)
    reject.add_argument("--reviewer", help="who decides (default KEEL_REVIEWER / $USER)")
    for decide in (approve, reject):
        decide.add_argument(
            "--dismiss",
            action="append",
            metavar="ID[,ID...]",
            help="dismiss these findings (ids from the report's JSON) with --reason: "
            "remembered for the repository, later reviews suppress them while their code "
            "is unchanged",
        )

    rereview = sub.add_parser(
        "rereview",
        parents=[common, output],
        help="review the repository as it is now in a new thread; the old one's approval closes",
    )
    rereview.add_argument("thread")
    rereview.add_argument("--model", help="override the old thread's model")
    rereview.add_argument(
        "--no-input",
        action="store_true",
        help="never prompt: leave the new thread awaiting approval and print how to continue",
    )
    rereview.add_argument("--reviewer", help="who decides (default KEEL_REVIEWER / $USER)")

    resume = sub.add_parser("resume", parents=[common, output], help="continue a stopped thread")
    resume.add_argument("thread")

    history = sub.add_parser("history", parents=[common], help="list a thread's checkpoints")
    history.add_argument("thread")

    dlq = sub.add_parser("dlq", parents=[common], help="threads that need a person")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_list = dlq_sub.add_parser("list", parents=[common], help="failed, halted, stalled, overdue")
    dlq_list.add_argument("--stall-minutes", type=float, default=15.0)
    dlq_list.add_argument("--approval-sla-hours", type=float, default=72.0)
    dlq_retry = dlq_sub.add_parser(
        "retry", parents=[common, output], help="re-drive from the last checkpoint"
    )
    dlq_retry.add_argument("thread")

    health = sub.add_parser("health", parents=[common], help="exit 0 when healthy, 1 when not")
    health.add_argument("--stall-minutes", type=float, default=15.0)
    health.add_argument("--max-stalled", type=int, default=0)

    prune = sub.add_parser("prune", parents=[common], help="delete old finished threads")
    prune.add_argument("--older-than", type=float, required=True, metavar="DAYS")
    prune.add_argument("--dry-run", action="store_true")

    base = sub.add_parser(
        "baseline", parents=[common], help="findings dismissed in a repository's reviews"
    )
    base.add_argument("action", choices=["show", "clear"])
    base.add_argument("repo", type=Path, metavar="REPO", help="a path in the git repository")

    feedback = sub.add_parser("feedback", parents=[common], help="the human-decision log")
    feedback.add_argument("action", choices=["export"])
    feedback.add_argument("--output", type=Path, help="write JSONL here (default stdout)")
    return parser


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point of the `keel` console script."""
    parser = _parser()
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


def _settings(args: argparse.Namespace) -> Settings:
    try:
        settings = Settings.load()
    except SettingsError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    overrides: dict[str, Any] = {}
    if getattr(args, "database", None):
        overrides["database_url"] = args.database
    if getattr(args, "model", None):
        overrides["model"] = args.model
    if overrides:
        from dataclasses import replace

        settings = replace(settings, **overrides)
    return settings


def _dispatch(args: argparse.Namespace, terminal: Terminal) -> int:
    settings = _settings(args)
    if args.command in ("review", "audit"):
        prepared = _prepare_run(args, settings, terminal)
    try:
        with open_persistence(settings.database_url) as persistence:
            runner = Runner(persistence)
            if args.command in ("review", "audit"):
                if getattr(args, "since_last", False):
                    prepared[0]["rev_range"] = _since_last(runner, prepared[0], terminal)
                return _cmd_run(args, terminal, runner, settings, *prepared)
            if args.command == "threads":
                return _cmd_threads(args, terminal, runner)
            if args.command == "feedback":
                return _cmd_feedback(args, terminal, runner)
            if args.command == "health":
                return _cmd_health(args, terminal, runner, settings)
            if args.command == "prune":
                return _cmd_prune(args, terminal, runner)
            if args.command == "baseline":
                return _cmd_baseline(args, terminal, runner)
            if args.command == "dlq" and args.dlq_command == "list":
                return _cmd_dlq_list(args, terminal, runner)
            if args.command == "dlq":
                args.command = "resume"
            record = runner.persistence.registry.get(args.thread)
            if record is None:
                raise CliError(EXIT_UNKNOWN_THREAD, f"unknown thread: {args.thread}")
            context = KeelContext.from_dict(record.context)
            if args.command == "show":
                return _cmd_show(args, terminal, runner, record)
            if args.command == "history":
                return _cmd_history(args, terminal, runner)
            if args.command == "rereview":
                return _cmd_rereview(args, terminal, runner, settings, record, context)
            with runner.persistence.lock(args.thread):
                # state is read again under the lock: a decision that landed meanwhile shows
                if args.command in ("approve", "reject"):
                    return _cmd_decide(args, terminal, runner, settings, context)
                if args.command == "resume":
                    return _cmd_resume(args, terminal, runner, context)
    except ThreadBusyError as exc:
        raise CliError(EXIT_BUSY, str(exc)) from None
    except DatabaseUnavailableError as exc:
        raise CliError(EXIT_DATABASE, str(exc)) from None
    except _database_errors() as exc:
        raise CliError(
            EXIT_DATABASE,
            f"database error on {describe_url(settings.database_url)}: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
        ) from None
    raise CliError(EXIT_USAGE, f"unknown command {args.command}")


def _database_errors() -> tuple[type[BaseException], ...]:
    import sqlite3

    import psycopg
    from psycopg_pool import PoolTimeout

    return (psycopg.OperationalError, PoolTimeout, sqlite3.OperationalError)


# ------------------------------------------------------------------ commands


def _prepare_run(
    args: argparse.Namespace, settings: Settings, terminal: Terminal
) -> tuple[dict[str, Any], KeelContext]:
    """Validate the repository, range and model before any thread is created."""
    try:
        root = git.repo_root(args.path.expanduser())
        graph_input: dict[str, Any] = {"repo": str(root), "mode": args.command}
        if not getattr(args, "staged", False):
            git.head_sha(root)  # no commits yet: a usage error that says so (exit 2)
        if args.command == "review":
            if args.staged:
                graph_input["staged"] = True
            elif not args.since_last:
                base, head = git.resolve_range(root, args.rev)
                graph_input["rev_range"] = f"{base}..{head}"
                if head != git.head_sha(root):
                    terminal.notice(
                        f"note: the range ends at {head[:12]}, the work tree is at "
                        f"{git.head_sha(root)[:12]}: the analyzers read a snapshot of "
                        f"{head[:12]} (a git worktree under .git/keel-snapshots, removed when "
                        "the review finishes)"
                    )
    except git.GitError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    try:
        chat_model(settings.model, settings)
    except ModelError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    context = KeelContext.from_settings(settings)
    if getattr(args, "diff_filter", None):
        from dataclasses import replace

        context = replace(context, diff_filter=args.diff_filter)
    return graph_input, context


def _since_last(runner: Runner, graph_input: dict[str, Any], terminal: Terminal) -> str:
    """The range from the last revision Keel reviewed in this repository to HEAD."""
    root = Path(graph_input["repo"])
    head = git.head_sha(root)
    for record in runner.persistence.registry.list(limit=100_000):
        if record.repo != str(root):
            continue
        earlier = (record.context.get(INPUT_KEY) or {}).get("rev_range")
        if earlier:
            base = str(earlier).split("..")[-1]
            terminal.info(
                f"incremental review: {base[:12]}..{head[:12]} "
                f"(since the last review, thread {record.thread_id})"
            )
            return f"{base}..{head}"
    base, head = git.resolve_range(root, None)
    terminal.info("no earlier review of this repository: reviewing the last commit")
    return f"{base}..{head}"


def _check_repo_config(graph_input: dict[str, Any]) -> None:
    """A malformed Keel configuration in the repository is a usage error (exit 2).

    The same reading intake does (`tools.keel_config.load_for_task`), before any thread.
    """
    base, _, head = str(graph_input.get("rev_range") or "").partition("..")
    try:
        keel_config.load_for_task(
            Path(graph_input["repo"]),
            mode=graph_input["mode"],
            staged=bool(graph_input.get("staged")),
            base=base or None,
            head=head or None,
            team=config_team(SPECIALISTS),
        )
    except keel_config.KeelConfigError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    except git.GitError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None


def _cmd_baseline(args: argparse.Namespace, terminal: Terminal, runner: Runner) -> int:
    """`keel baseline show | clear REPO`: a repository's remembered dismissals."""
    store = runner.persistence.store
    try:
        if args.action == "clear":
            cleared = dismissals.clear_baseline(store, args.repo)
            if args.json:
                terminal.emit_json(cleared)
            else:
                terminal.info(
                    f"forgot {cleared['cleared']} dismissal(s) of {cleared['repo']} "
                    f"({cleared['identified_by']}): later reviews raise those findings again"
                )
            return EXIT_DONE
        view = dismissals.baseline_view(store, args.repo)
    except git.GitError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    if args.json:
        terminal.emit_json(view)
        return EXIT_DONE
    terminal.table(
        f"Dismissed findings of {view['repo']} ({view['identified_by']})",
        ["file", "line", "rule", "severity", "reason", "reviewer", "at", "thread"],
        [
            [
                e["file"],
                str(e["line"]),
                e["rule"],
                e["severity"],
                e["reason"],
                e["reviewer"],
                e["at"],
                e["thread_id"],
            ]
            for e in view["entries"]
        ],
    )
    return EXIT_DONE


def _cmd_run(
    args: argparse.Namespace,
    terminal: Terminal,
    runner: Runner,
    settings: Settings,
    graph_input: dict[str, Any],
    context: KeelContext,
) -> int:
    thread_id = args.thread or new_thread_id()
    if runner.persistence.registry.get(thread_id) is not None:
        raise CliError(EXIT_USAGE, f"thread {thread_id} already exists")
    _check_repo_config(graph_input)
    terminal.info(
        f"keel {args.command} {graph_input['repo']} — thread {thread_id} — model {context.model}"
        f" — {runner.persistence.kind}"
    )
    try:
        outcome = runner.start(
            thread_id=thread_id,
            graph_input=graph_input,
            context=context,
            workflow=args.command,
            progress=terminal.progress,
        )
    except _database_errors():
        raise
    except Exception as exc:  # noqa: BLE001 - reported with the thread id, exit 1
        raise CliError(
            EXIT_FAILED, f"thread {thread_id} failed: {type(exc).__name__}: {exc}"
        ) from None
    return _conclude(args, terminal, runner, settings, outcome, context)


def _cmd_rereview(
    args: argparse.Namespace,
    terminal: Terminal,
    runner: Runner,
    settings: Settings,
    record: ThreadRecord,
    context: KeelContext,
) -> int:
    """Review the repository as it is now in a new thread; close the old thread's approval.

    The new thread repeats the old one's review (same mode, base and settings) over the
    repository now (`reviewed_state.rereview_input`). The old thread, if it waits at the
    review gate or at a stale approval, is answered first — `reject` ("superseded by
    re-review NEW") or `rereview` with the new thread id — so it can no longer be approved;
    waiting anywhere else, or finished, it is left as it is.
    """
    old = args.thread
    values = runner.outcome(old).values
    task = values.get("task") or record.context.get(INPUT_KEY)
    if not task or not task.get("repo"):
        raise CliError(EXIT_WRONG_STATE, f"thread {old} recorded no review to repeat")
    try:
        root = git.repo_root(Path(task["repo"]))
        graph_input = reviewed_state.rereview_input(
            {**task, "repo": str(root)}, values.get("reviewed"), git.head_sha(root)
        )
        if graph_input.get("rev_range"):
            git.resolve_range(root, graph_input["rev_range"])
    except git.GitError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    new_context = context
    if args.model:
        from dataclasses import replace

        new_context = replace(context, model=args.model)
    try:
        chat_model(new_context.model, settings)
    except ModelError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    thread_id = new_thread_id()
    reviewer = args.reviewer or settings.reviewer
    with runner.persistence.lock(old):
        closed = _supersede(runner, old, thread_id, reviewer, context, terminal)
    terminal.info(
        f"keel rereview {old} — {reviewed_state.rereview_command(graph_input)} — thread "
        f"{thread_id} — model {new_context.model} — {runner.persistence.kind}"
    )
    try:
        outcome = runner.start(
            thread_id=thread_id,
            graph_input=graph_input,
            context=new_context,
            workflow=graph_input["mode"],
            progress=terminal.progress,
        )
    except _database_errors():
        raise
    except Exception as exc:  # noqa: BLE001 - reported with the thread id, exit 1
        raise CliError(
            EXIT_FAILED, f"thread {thread_id} failed: {type(exc).__name__}: {exc}"
        ) from None
    extra = {"rereview_of": {"thread_id": old, "status": closed}}
    return _conclude(args, terminal, runner, settings, outcome, new_context, extra)


def _supersede(
    runner: Runner, old: str, new: str, reviewer: str, context: KeelContext, terminal: Terminal
) -> str:
    """Answer the old thread's review gate or stale approval; return its status after."""
    outcome = runner.outcome(old)  # read again under the lock
    if outcome.status != "awaiting_approval" or not outcome.interrupts:
        terminal.info(f"thread {old} is {outcome.status}: left as it is")
        return outcome.status
    answers: dict[str, Any] = {}
    for interrupt_id, request in outcome.interrupts:
        packet = request.get("packet") or {}
        if STALE_APPROVAL in packet:
            decisions = [{"type": "rereview", "thread_id": new}]
        elif packet.get("guard"):
            terminal.info(f"thread {old} waits at a guard escalation: left as it is")
            return outcome.status
        else:
            decisions = [
                {"type": "reject", "message": f"superseded by re-review in thread {new}"}
                for _ in request.get("action_requests", [])
            ]
        answers[interrupt_id] = {"decisions": decisions, "reviewer": reviewer}
    try:
        closed = runner.resume(old, context=context, decision=answers)
    except _database_errors():
        raise
    except Exception as exc:  # noqa: BLE001
        raise CliError(EXIT_FAILED, f"thread {old} failed: {type(exc).__name__}: {exc}") from None
    terminal.info(f"thread {old}: {closed.status}, superseded by re-review in thread {new}")
    return closed.status


def _conclude(
    args: argparse.Namespace,
    terminal: Terminal,
    runner: Runner,
    settings: Settings,
    outcome: Outcome,
    context: KeelContext,
    extra: dict[str, Any] | None = None,
) -> int:
    """Show the outcome; prompt for a decision on a terminal unless --no-input."""
    interactive = sys.stdin.isatty() and not getattr(args, "no_input", True) and not args.json
    while (
        outcome.status == "awaiting_approval"
        and interactive
        and outcome.interrupts
        and not _stale(outcome)
    ):
        if outcome.report:
            terminal.markdown(outcome.report["markdown"])
        answers: dict[str, Any] = {}
        for interrupt_id, request in outcome.interrupts:
            terminal.show_request(request)
            answers[interrupt_id] = terminal.ask_decisions(request) | {
                "reviewer": settings.reviewer
            }
        outcome = runner.resume(
            outcome.thread_id, context=context, decision=answers, progress=terminal.progress
        )
    return _print_outcome(args, terminal, outcome, extra)


def _stale(outcome: Outcome) -> list[dict[str, Any]]:
    """The stale-approval packets among the pending requests (`nodes/actions.py`)."""
    return [
        request["packet"][STALE_APPROVAL]
        for _, request in outcome.interrupts
        if STALE_APPROVAL in (request.get("packet") or {})
    ]


def _stale_message(thread_id: str, stale: list[dict[str, Any]]) -> str:
    """What moved, what did not run, and the commands that continue the thread."""
    lines = []
    for verdict in stale:
        lines.append(
            f"stale approval: the repository moved since thread {thread_id} was reviewed; "
            f"not run: {', '.join(verdict.get('not_run', [])) or 'nothing'}"
            + (f" (ran before it moved: {', '.join(verdict['ran'])})" if verdict.get("ran") else "")
        )
        lines += [f"  - {change}" for change in verdict.get("changes", [])]
        review = (verdict.get("rereview") or {}).get("review_command")
        lines.append(
            f"Thread {thread_id} waits for a decision on the stale approval. Continue with:\n"
            f"  keel rereview {thread_id}    # a new review of the repository as it is now"
            + (f" ({review})" if review else "")
            + f"\n  keel reject {thread_id} --reason '...'"
        )
    return "\n".join(lines)


def _print_outcome(
    args: argparse.Namespace,
    terminal: Terminal,
    outcome: Outcome,
    extra: dict[str, Any] | None = None,
) -> int:
    report = outcome.report
    stale = _stale(outcome)
    if args.json:
        terminal.emit_json(
            {
                "thread_id": outcome.thread_id,
                "status": outcome.status,
                "report": report["data"] if report else None,
                "review_request": outcome.interrupt,
                "review_requests": [
                    {"interrupt_id": interrupt_id, **request}
                    for interrupt_id, request in outcome.interrupts
                ],
            }
            | ({"stale_approval": stale[0]} if stale else {})
            | (extra or {})
        )
    elif report:
        _emit_report(args, terminal, report)
    if stale:  # before --fail-on: nothing approved ran, whatever the findings
        terminal.notice(_stale_message(outcome.thread_id, stale))
        return EXIT_STALE
    gate = _fail_on(args, terminal, outcome)
    if gate is not None:
        return gate
    if outcome.status == "awaiting_approval":
        for _, request in outcome.interrupts:
            terminal.show_request(request)
        terminal.info(
            f"\nThread {outcome.thread_id} is awaiting approval. Continue with:\n"
            f"  keel approve {outcome.thread_id}\n"
            f"  keel reject {outcome.thread_id} --reason '...'"
        )
        return EXIT_AWAITING
    if outcome.status == "done":
        return EXIT_DONE
    if outcome.status in ("halted", "budget_exhausted"):
        return EXIT_HALTED
    return EXIT_FAILED


def _write_output(terminal: Terminal, output: Path, text: str, what: str) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    terminal.info(f"{what} written to {output}")


def _emit_report(args: argparse.Namespace, terminal: Terminal, report: dict[str, Any]) -> None:
    """Write the report in the chosen format, to --output or stdout."""
    fmt = getattr(args, "format", "md")
    text = render_report(report, fmt)
    output: Path | None = getattr(args, "output", None)
    if output is not None:
        _write_output(terminal, output, text, f"{fmt} report")
    elif fmt == "md":
        terminal.markdown(text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def _fail_on(args: argparse.Namespace, terminal: Terminal, outcome: Outcome) -> int | None:
    """The CI gate: with --fail-on, the exit status is about the findings that remain.

    Those the report shows: in a review, what its diff filter selects (`--filter`).
    """
    threshold = getattr(args, "fail_on", None)
    if threshold is None or outcome.status in ("failed", "halted", "budget_exhausted"):
        return None
    report = outcome.report or {}
    data = report.get("data") or {}
    findings = data["shown"] if "shown" in data else data.get("findings") or []
    at_or_above = [f for f in findings if severity_at_least(f["severity"], threshold)]
    if outcome.status == "awaiting_approval":
        terminal.info(f"thread {outcome.thread_id} stays awaiting approval (keel approve / reject)")
    if at_or_above:
        terminal.notice(f"--fail-on {threshold}: {len(at_or_above)} finding(s) at or above it")
        return EXIT_FINDINGS
    terminal.notice(f"--fail-on {threshold}: no finding at or above it")
    return EXIT_DONE


def _cmd_threads(args: argparse.Namespace, terminal: Terminal, runner: Runner) -> int:
    records = runner.persistence.registry.list(status=args.status, limit=args.limit)
    if args.json:
        terminal.emit_json([r.as_dict() for r in records])
        return EXIT_DONE
    terminal.table(
        "Keel threads",
        ["thread", "workflow", "status", "findings", "cost", "model", "updated", "repo"],
        [
            [
                r.thread_id,
                r.workflow,
                r.status,
                str(r.findings),
                f"${r.cost_usd:.4f}",
                r.model,
                r.updated_at,
                r.repo,
            ]
            for r in records
        ],
    )
    return EXIT_DONE


def _cmd_health(
    args: argparse.Namespace, terminal: Terminal, runner: Runner, settings: Settings
) -> int:
    checks = ops.health(
        runner.persistence,
        settings,
        stall_after_s=args.stall_minutes * 60,
        max_stalled=args.max_stalled,
    )
    healthy = all(c.ok for c in checks)
    if args.json:
        terminal.emit_json({"healthy": healthy, "checks": [c.__dict__ for c in checks]})
    else:
        terminal.table(
            "Keel health — " + ("healthy" if healthy else "UNHEALTHY"),
            ["check", "ok", "detail"],
            [[c.name, "yes" if c.ok else "NO", c.detail] for c in checks],
        )
    return EXIT_DONE if healthy else EXIT_FAILED


def _cmd_prune(args: argparse.Namespace, terminal: Terminal, runner: Runner) -> int:
    pruned = ops.prune(runner.persistence, older_than_days=args.older_than, dry_run=args.dry_run)
    if args.json:
        terminal.emit_json({"dry_run": args.dry_run, "threads": [r.thread_id for r in pruned]})
    else:
        verb = "would delete" if args.dry_run else "deleted"
        terminal.info(
            f"{verb} {len(pruned)} finished thread(s) older than {args.older_than} day(s)"
        )
        for record in pruned:
            terminal.info(f"  {record.thread_id} {record.status} {record.updated_at}")
    return EXIT_DONE


def _cmd_dlq_list(args: argparse.Namespace, terminal: Terminal, runner: Runner) -> int:
    letters = ops.dead_letters(
        runner.persistence,
        stall_after_s=args.stall_minutes * 60,
        approval_sla_s=args.approval_sla_hours * 3600,
    )
    if args.json:
        terminal.emit_json(
            [
                {
                    "thread_id": d.record.thread_id,
                    "status": d.record.status,
                    "reason": d.reason,
                    "updated_at": d.record.updated_at,
                    "repo": d.record.repo,
                }
                for d in letters
            ]
        )
    else:
        terminal.table(
            "Dead-letter list",
            ["thread", "status", "reason", "updated", "repo"],
            [
                [d.record.thread_id, d.record.status, d.reason, d.record.updated_at, d.record.repo]
                for d in letters
            ],
        )
    return EXIT_DONE


def _cmd_feedback(args: argparse.Namespace, terminal: Terminal, runner: Runner) -> int:
    lines = [
        json.dumps(entry, sort_keys=True, default=str)
        for entry in iter_feedback(runner.persistence.store)
    ]
    text = "".join(line + "\n" for line in lines)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        terminal.info(f"{len(lines)} decision(s) written to {args.output}")
    else:
        sys.stdout.write(text)
    return EXIT_DONE


def _cmd_show(
    args: argparse.Namespace, terminal: Terminal, runner: Runner, record: ThreadRecord
) -> int:
    """Where any thread stands: status, report, pending requests, guard events, usage.

    Needs no report for Markdown and JSON; SARIF and `--fail-on` do (exit 5 without one).
    """
    view = show.thread_view(runner, record)
    report = view.report
    fmt = "json" if args.json else args.format
    needs_report = [
        what for what, asked in (("SARIF", fmt == "sarif"), ("--fail-on", args.fail_on)) if asked
    ]
    if report is None and needs_report:
        raise CliError(
            EXIT_WRONG_STATE,
            f"thread {args.thread} has no report yet (status {view.status}): "
            f"{' and '.join(needs_report)} {'need' if len(needs_report) > 1 else 'needs'} one; "
            f"`keel show {args.thread}` shows where it stands",
        )
    if fmt == "json":
        text = json.dumps(view.as_json(), indent=2, default=str) + "\n"
        if args.output is None or args.json:
            terminal.emit_json(view.as_json())
        else:
            _write_output(terminal, args.output, text, "thread status (json)")
    elif report is not None:
        _emit_report(args, terminal, report)
        if view.review_requests:
            for request in view.review_requests:
                terminal.show_request(request)
            terminal.info(
                f"\nThread {view.thread_id} is awaiting approval. Continue with:\n"
                + "\n".join(f"  {command}" for command in show.continue_commands(view))
            )
    elif args.output is not None:
        _write_output(terminal, args.output, show.render_markdown(view), "thread status (md)")
    else:
        terminal.markdown(show.render_markdown(view))
    if report is None:
        return EXIT_DONE
    gate = _fail_on(args, terminal, Outcome(view.thread_id, view.status, {"report": report}, []))
    return EXIT_DONE if gate is None else gate


def _cmd_history(args: argparse.Namespace, terminal: Terminal, runner: Runner) -> int:
    rows: list[dict[str, Any]] = []
    for snap in runner.graph.get_state_history(runner.config(args.thread)):
        meta = snap.metadata or {}
        rows.append(
            {
                "checkpoint_id": snap.config["configurable"].get("checkpoint_id"),
                "step": meta.get("step"),
                "source": meta.get("source"),
                "created_at": snap.created_at,
                "next": list(snap.next),
                "interrupts": len(snap.interrupts),
            }
        )
    rows.reverse()
    if args.json:
        terminal.emit_json(rows)
    else:
        terminal.table(
            f"History of {args.thread}",
            ["step", "source", "next", "created", "checkpoint"],
            [
                [
                    str(r["step"]),
                    str(r["source"]),
                    ", ".join(map(str, r["next"] or [])),
                    str(r["created_at"]),
                    str(r["checkpoint_id"]),
                ]
                for r in rows
            ],
        )
    return EXIT_DONE


def _parse_edit(raw: str, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Turn `--edit` JSON into one decision per action request."""
    try:
        edits = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CliError(
            EXIT_USAGE, f"--edit is not valid JSON: {exc.msg} at column {exc.colno}"
        ) from None
    if isinstance(edits, dict) and isinstance(edits.get("decisions"), list):
        return list(edits["decisions"])
    if not isinstance(edits, dict) or not all(isinstance(v, dict) for v in edits.values()):
        raise CliError(
            EXIT_USAGE,
            "--edit must map action names to argument objects, "
            'e.g. {"publish_review": {"path": "R.md"}}',
        )
    names = {r["name"] for r in requests}
    unknown = sorted(set(edits) - names)
    if unknown:
        raise CliError(
            EXIT_USAGE,
            f"--edit names no pending action: {', '.join(unknown)} "
            f"(pending: {', '.join(sorted(names))})",
        )
    decisions = []
    for request in requests:
        if request["name"] in edits:
            decisions.append(
                {
                    "type": "edit",
                    "edited_action": {"name": request["name"], "args": edits[request["name"]]},
                }
            )
        else:
            decisions.append({"type": "approve"})
    return decisions


def _cmd_decide(
    args: argparse.Namespace,
    terminal: Terminal,
    runner: Runner,
    settings: Settings,
    context: KeelContext,
) -> int:
    outcome = runner.outcome(args.thread)
    if outcome.status != "awaiting_approval" or not outcome.interrupts:
        raise CliError(
            EXIT_WRONG_STATE,
            f"thread {args.thread} is not awaiting approval (status: {outcome.status})",
        )
    stale = _stale(outcome)
    if args.command == "approve" and stale:
        raise CliError(EXIT_STALE, _stale_message(args.thread, stale))
    every_request = [r for _, req in outcome.interrupts for r in req.get("action_requests", [])]
    if args.command == "approve" and args.edit:
        edits = _parse_edit(args.edit, every_request)
    reviewer = args.reviewer or settings.reviewer
    answers: dict[str, Any] = {}
    position = 0
    for interrupt_id, request in outcome.interrupts:
        requests = list(request.get("action_requests", []))
        if args.command == "reject":
            decisions = [{"type": "reject", "message": args.reason} for _ in requests]
        elif args.edit:
            decisions = edits[position : position + len(requests)]
        else:
            decisions = [{"type": "approve"} for _ in requests]
        position += len(requests)
        answer = {"decisions": decisions, "reviewer": reviewer}
        try:
            parse_review_response(answer, requests)
        except ReviewResponseError as exc:
            raise CliError(EXIT_USAGE, f"invalid decision: {exc}") from None
        answers[interrupt_id] = answer
    if args.dismiss:
        try:
            gate = dismissals.gate_interrupt(outcome.interrupts)
            answers[gate]["dismiss"] = dismissals.dismiss_payload(
                args.dismiss, args.reason, outcome.values.get("findings") or []
            )
        except dismissals.DismissUsageError as exc:
            raise CliError(EXIT_USAGE, str(exc)) from None
    try:
        outcome = runner.resume(
            args.thread, context=context, decision=answers, progress=terminal.progress
        )
    except _database_errors():
        raise
    except Exception as exc:  # noqa: BLE001
        raise CliError(
            EXIT_FAILED, f"thread {args.thread} failed: {type(exc).__name__}: {exc}"
        ) from None
    return _print_outcome(args, terminal, outcome)


def _cmd_resume(
    args: argparse.Namespace, terminal: Terminal, runner: Runner, context: KeelContext
) -> int:
    outcome = runner.outcome(args.thread)
    if outcome.status == "awaiting_approval":
        raise CliError(
            EXIT_WRONG_STATE,
            f"thread {args.thread} is awaiting approval: use `keel approve` or `keel reject`",
        )
    snapshot = runner.snapshot(args.thread)
    if snapshot.values and not snapshot.next and runner.stranded(args.thread) is None:
        # finished: the registry may lag if a process died after the last checkpoint
        runner.persistence.registry.update(args.thread, status=outcome.status)
        raise CliError(
            EXIT_WRONG_STATE,
            f"thread {args.thread} has nothing to resume (status: {outcome.status})",
        )
    try:
        outcome = runner.resume(args.thread, context=context, progress=terminal.progress)
    except _database_errors():
        raise
    except Exception as exc:  # noqa: BLE001
        raise CliError(
            EXIT_FAILED, f"thread {args.thread} failed: {type(exc).__name__}: {exc}"
        ) from None
    return _print_outcome(args, terminal, outcome)


if __name__ == "__main__":
    main()

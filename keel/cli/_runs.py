"""The commands that start a review: `keel review`, `keel audit`, `keel rereview`."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from keel.cli import _queue
from keel.cli._common import (
    EXIT_FAILED,
    EXIT_USAGE,
    EXIT_WRONG_STATE,
    Call,
    CliError,
    ThreadCall,
    database_errors,
)
from keel.cli._outcome import conclude
from keel.console import Terminal
from keel.graphs.review import SPECIALISTS
from keel.models import ModelError, chat_model
from keel.nodes.actions import STALE_APPROVAL
from keel.nodes.agents.intake import config_team
from keel.nodes.context import KeelContext
from keel.runner import INPUT_KEY, Runner, new_thread_id
from keel.settings import Settings
from keel.tools import git, keel_config, reviewed_state

Prepared = tuple[dict[str, Any], KeelContext]
"""A run's graph input and settings, checked before any thread or database is touched."""


def prepare_run(
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
    context = settings.run_context()
    if getattr(args, "diff_filter", None):
        context = replace(context, diff_filter=args.diff_filter)
    return graph_input, context


def since_last(runner: Runner, graph_input: dict[str, Any], terminal: Terminal) -> str:
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


def check_repo_config(graph_input: dict[str, Any]) -> None:
    """A malformed Keel configuration in the repository is a usage error (exit 2).

    The same reading intake does (`keel.tools.keel_config.load_for_task`), before any thread.
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


def review(call: Call, prepared: Prepared) -> int:
    """`keel review` / `keel audit`: run the workflow in a new thread until it stops.

    Exit 2 when `--thread` names a thread that exists or the repository's Keel
    configuration is malformed, 1 when the run fails; otherwise the outcome's code.
    """
    args, terminal, runner, settings = call.args, call.terminal, call.runner, call.settings
    graph_input, context = prepared
    if getattr(args, "since_last", False):
        graph_input["rev_range"] = since_last(runner, graph_input, terminal)
    thread_id = args.thread or new_thread_id()
    if runner.persistence.registry.get(thread_id) is not None:
        raise CliError(EXIT_USAGE, f"thread {thread_id} already exists")
    check_repo_config(graph_input)
    if getattr(args, "queue", False):
        return _queue.enqueue_run(call, thread_id, graph_input, context)
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
    except database_errors():
        raise
    except Exception as exc:  # noqa: BLE001 - reported with the thread id, exit 1
        raise CliError(
            EXIT_FAILED, f"thread {thread_id} failed: {type(exc).__name__}: {exc}"
        ) from None
    return conclude(args, terminal, runner, settings, outcome, context)


def rereview(call: ThreadCall) -> int:
    """Review the repository as it is now in a new thread; close the old thread's approval.

    The new thread repeats the old one's review (same mode, base and settings) over the
    repository now (`reviewed_state.rereview_input`). The old thread, if it waits at the
    review gate or at a stale approval, is answered first — `reject` ("superseded by
    re-review NEW") or `rereview` with the new thread id — so it can no longer be approved;
    waiting anywhere else, or finished, it is left as it is.
    """
    args, terminal, runner, settings = call.args, call.terminal, call.runner, call.settings
    record, context = call.record, call.context
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
        new_context = replace(context, model=args.model)
    try:
        chat_model(new_context.model, settings)
    except ModelError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    thread_id = new_thread_id()
    reviewer = args.reviewer or settings.reviewer
    with runner.persistence.lock(old):
        closed = supersede(runner, old, thread_id, reviewer, context, terminal)
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
    except database_errors():
        raise
    except Exception as exc:  # noqa: BLE001 - reported with the thread id, exit 1
        raise CliError(
            EXIT_FAILED, f"thread {thread_id} failed: {type(exc).__name__}: {exc}"
        ) from None
    extra = {"rereview_of": {"thread_id": old, "status": closed}}
    return conclude(args, terminal, runner, settings, outcome, new_context, extra)


def supersede(
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
    except database_errors():
        raise
    except Exception as exc:  # noqa: BLE001
        raise CliError(EXIT_FAILED, f"thread {old} failed: {type(exc).__name__}: {exc}") from None
    terminal.info(f"thread {old}: {closed.status}, superseded by re-review in thread {new}")
    return closed.status

"""How a command ends: the outcome printed, the report written, the exit code chosen."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from keel.cli._common import (
    EXIT_AWAITING,
    EXIT_DONE,
    EXIT_FAILED,
    EXIT_FINDINGS,
    EXIT_HALTED,
    EXIT_STALE,
)
from keel.console import Terminal
from keel.core.state import severity_at_least
from keel.nodes.actions import STALE_APPROVAL
from keel.nodes.context import KeelContext
from keel.outputs import render_report
from keel.runner import Outcome, Runner
from keel.settings import Settings


def conclude(
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
        and not stale_packets(outcome)
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
    return print_outcome(args, terminal, outcome, extra)


def stale_packets(outcome: Outcome) -> list[dict[str, Any]]:
    """The stale-approval packets among the pending requests (`nodes/actions.py`)."""
    return [
        request["packet"][STALE_APPROVAL]
        for _, request in outcome.interrupts
        if STALE_APPROVAL in (request.get("packet") or {})
    ]


def stale_message(thread_id: str, stale: list[dict[str, Any]]) -> str:
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


def print_outcome(
    args: argparse.Namespace,
    terminal: Terminal,
    outcome: Outcome,
    extra: dict[str, Any] | None = None,
) -> int:
    """Print the outcome (JSON, or the report and how to continue) and return its exit code.

    A stale approval is exit 10 before `--fail-on` is looked at (nothing approved ran);
    then the `--fail-on` gate; then 3 awaiting approval, 0 done, 7 halted or out of
    budget, 1 otherwise.
    """
    report = outcome.report
    stale = stale_packets(outcome)
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
        emit_report(args, terminal, report)
    if stale:  # before --fail-on: nothing approved ran, whatever the findings
        terminal.notice(stale_message(outcome.thread_id, stale))
        return EXIT_STALE
    gate = fail_on(args, terminal, outcome)
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


def write_output(terminal: Terminal, output: Path, text: str, what: str) -> None:
    """Write `text` to `output` (its directories created) and say so on stderr."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    terminal.info(f"{what} written to {output}")


def emit_report(args: argparse.Namespace, terminal: Terminal, report: dict[str, Any]) -> None:
    """Write the report in the chosen format, to --output or stdout."""
    fmt = getattr(args, "format", "md")
    text = render_report(report, fmt)
    output: Path | None = getattr(args, "output", None)
    if output is not None:
        write_output(terminal, output, text, f"{fmt} report")
    elif fmt == "md":
        terminal.markdown(text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def fail_on(args: argparse.Namespace, terminal: Terminal, outcome: Outcome) -> int | None:
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

"""The commands that continue a paused or stopped thread: approve, reject, resume, dlq retry.

They run under the thread's lock (`keel.locks`), so the state they read is the state they
answer: a decision that landed from another process meanwhile shows.
"""

from __future__ import annotations

import json
from typing import Any

from keel import dismissals
from keel.cli import _queue
from keel.cli._common import (
    EXIT_FAILED,
    EXIT_STALE,
    EXIT_USAGE,
    EXIT_WRONG_STATE,
    CliError,
    ThreadCall,
    database_errors,
)
from keel.cli._outcome import print_outcome, stale_message, stale_packets
from keel.nodes.agents.review_gate import ReviewResponseError, parse_review_response


def parse_edit(raw: str, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
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


def decide(call: ThreadCall) -> int:
    """`keel approve` / `keel reject`: answer every pending request of the thread, resume it.

    Exit 5 when nothing awaits approval, 10 when approving a stale approval (nothing runs),
    2 for a malformed `--edit`, an invalid decision or a bad `--dismiss`.
    """
    args, runner, settings = call.args, call.runner, call.settings
    outcome = runner.outcome(args.thread)
    if outcome.status != "awaiting_approval" or not outcome.interrupts:
        raise CliError(
            EXIT_WRONG_STATE,
            f"thread {args.thread} is not awaiting approval (status: {outcome.status})",
        )
    stale = stale_packets(outcome)
    if args.command == "approve" and stale:
        raise CliError(EXIT_STALE, stale_message(args.thread, stale))
    every_request = [r for _, req in outcome.interrupts for r in req.get("action_requests", [])]
    if args.command == "approve" and args.edit:
        edits = parse_edit(args.edit, every_request)
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
    if getattr(args, "queue", False):
        return _queue.enqueue_decision(call, answers)
    return _resume(call, answers)


def resume(call: ThreadCall) -> int:
    """`keel resume` / `keel dlq retry`: continue a thread from its last checkpoint.

    Exit 5 when the thread awaits approval (approve or reject it) or has nothing to resume.
    """
    args, runner = call.args, call.runner
    if getattr(args, "queue", False) or _queue.is_queued_thread(call):
        return _queue.enqueue_resume(call)  # a thread started through the queue stays on it
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
    return _resume(call, None)


def _resume(call: ThreadCall, decision: dict[str, Any] | None) -> int:
    """Resume the thread (with the reviewer's answers, if any) and print where it ends.

    A database failure propagates (exit 6); any other error is exit 1, and the thread is
    left as its last checkpoint says (`keel resume` retries it).
    """
    args, terminal = call.args, call.terminal
    try:
        outcome = call.runner.resume(
            args.thread, context=call.context, decision=decision, progress=terminal.progress
        )
    except database_errors():
        raise
    except Exception as exc:  # noqa: BLE001
        raise CliError(
            EXIT_FAILED, f"thread {args.thread} failed: {type(exc).__name__}: {exc}"
        ) from None
    return print_outcome(args, terminal, outcome)

"""Apply a reviewer's decisions to a waiting thread, exactly as `keel approve` / `reject` do.

`decide(runner, thread_id, decisions, reviewer, interrupt_ids=...)` takes one decision per
pending action request, across every pending interrupt in order (the shape of
`keel approve --edit '{"decisions": [...]}'`), and:

1. takes the thread's lock (`keel.locks`): held by another process or reviewer ->
   `DecisionError(409)`, nothing changed;
2. re-reads the thread under the lock: not awaiting approval -> 409 with its status and
   who decided it; `interrupt_ids` given and no longer the pending ones (the form was
   answered meanwhile) -> 409 "already decided by ...";
3. refuses to approve or edit a stale approval (409, as `keel approve`'s exit 10);
4. validates every interrupt's answer with the review protocol and the action registry
   (`human_review.parse_review_response` + `actions.validate_decision_args`, the same
   checks the review gate applies) -> 400 on any problem, nothing sent;
5. resumes the thread in this process with `{"decisions", "reviewer"}` per interrupt —
   or, for a thread started through the queue (`keel review --queue`: workers are in
   use), defers the same answers to a `keel worker` (`keel.queue.enqueue_decision`, as
   `keel approve --queue`); while that job waits or runs, another decision is 409.

The review gate records the decision in the feedback log with the packet it answered.
Failure modes: a database error propagates (the caller shows it; the thread is untouched
when it happens before the resume); an exception inside the resumed run is
`DecisionError(500)` and the registry marks the thread failed (`keel resume` retries).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from keel import queue
from keel.inbox._errors import database_errors
from keel.locks import ThreadBusyError
from keel.nodes.actions import STALE_APPROVAL, validate_decision_args
from keel.nodes.context import KeelContext
from keel.nodes.guards.feedback import iter_feedback
from keel.nodes.guards.human_review import (
    ActionArgsError,
    ReviewResponseError,
    parse_review_response,
)
from keel.runner import Outcome, Runner

__all__ = ["Decided", "DecisionError", "decide", "decided_by", "pending_requests", "queued"]

_deciding: dict[str, str] = {}
"""Threads this process is resuming right now, with who decided (for the 409 message)."""
_deciding_lock = threading.Lock()


@dataclass(frozen=True)
class Decided:
    """What a decision did: resumed here (`outcome`) or queued for a worker (`job`)."""

    outcome: Outcome | None
    job: int | None


def queued(record_context: Mapping[str, Any]) -> bool:
    """Whether the thread was started through the queue, so a worker continues it."""
    return queue.QUEUE_KEY in record_context


class DecisionError(Exception):
    """A decision that was not applied: an HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def pending_requests(outcome: Outcome) -> list[dict[str, Any]]:
    """Every pending action request, across interrupts, in the order decisions answer them."""
    return [r for _, request in outcome.interrupts for r in request.get("action_requests", [])]


def decided_by(runner: Runner, thread_id: str, values: Mapping[str, Any]) -> str | None:
    """Who decided the thread last: its review record, else its newest feedback entry."""
    review = values.get("review")
    if isinstance(review, Mapping) and review.get("reviewer"):
        return str(review["reviewer"])
    entries = [e for e in iter_feedback(runner.persistence.store) if e["thread_id"] == thread_id]
    return str(entries[-1]["reviewer"]) if entries else None


def _answers(
    outcome: Outcome, decisions: Sequence[Any], reviewer: str
) -> dict[str, dict[str, Any]]:
    """One validated answer per pending interrupt; `DecisionError(400)` when one is invalid."""
    wanted = len(pending_requests(outcome))
    if len(decisions) != wanted:
        raise DecisionError(
            400, f"expected {wanted} decision(s), one per pending action, got {len(decisions)}"
        )
    answers: dict[str, dict[str, Any]] = {}
    position = 0
    for interrupt_id, request in outcome.interrupts:
        requests = list(request.get("action_requests", []))
        mine = list(decisions[position : position + len(requests)])
        position += len(requests)
        for action, decision in zip(requests, mine, strict=True):
            allowed = _allowed(request, str(action["name"]))
            kind = decision.get("type") if isinstance(decision, Mapping) else None
            if allowed and kind not in allowed:
                raise DecisionError(
                    400,
                    f"invalid decision: {action['name']} allows {', '.join(allowed)}, not {kind!r}",
                )
        answer = {"decisions": mine, "reviewer": reviewer}
        try:
            parse_review_response(answer, requests, validate_decision_args)
        except (ReviewResponseError, ActionArgsError) as exc:
            raise DecisionError(400, f"invalid decision: {exc}") from None
        answers[interrupt_id] = answer
    return answers


def _allowed(request: Mapping[str, Any], name: str) -> list[str]:
    for config in request.get("review_configs", []):
        if config.get("action_name") == name:
            return [str(d) for d in config.get("allowed_decisions", [])]
    return []


def _not_waiting(runner: Runner, thread_id: str, outcome: Outcome) -> DecisionError:
    who = decided_by(runner, thread_id, outcome.values)
    return DecisionError(
        409,
        f"thread {thread_id} is not awaiting approval (status: {outcome.status})"
        + (f"; already decided by {who}" if who else ""),
    )


def decide(
    runner: Runner,
    thread_id: str,
    decisions: Sequence[Any],
    reviewer: str,
    *,
    context: KeelContext,
    interrupt_ids: Sequence[str] | None = None,
    on_queue: bool = False,
) -> Decided:
    """Validate `decisions` and resume the thread with them; see the module docstring.

    `on_queue`: defer the resume to a worker (the thread was started through the queue).

    Raises:
        DecisionError: 400 invalid, 409 not waiting / already decided / busy / stale,
            500 the resumed run failed.
    """
    try:
        with runner.persistence.lock(thread_id):
            with _deciding_lock:
                _deciding[thread_id] = reviewer
            try:
                return _decide_locked(
                    runner, thread_id, decisions, reviewer, context, interrupt_ids, on_queue
                )
            finally:
                with _deciding_lock:
                    _deciding.pop(thread_id, None)
    except ThreadBusyError:
        with _deciding_lock:
            who = _deciding.get(thread_id)
        raise DecisionError(
            409,
            f"thread {thread_id} is already being decided by "
            + (who or "another process")
            + "; nothing was done — reload to see the outcome",
        ) from None


def _decide_locked(
    runner: Runner,
    thread_id: str,
    decisions: Sequence[Any],
    reviewer: str,
    context: KeelContext,
    interrupt_ids: Sequence[str] | None,
    on_queue: bool,
) -> Decided:
    if on_queue and queue.pending_jobs(runner.persistence, thread_id):
        raise DecisionError(
            409,
            f"thread {thread_id} was already decided: its decision is queued for a worker; "
            "reload to see the outcome",
        )
    outcome = runner.outcome(thread_id)
    if outcome.status != "awaiting_approval" or not outcome.interrupts:
        raise _not_waiting(runner, thread_id, outcome)
    pending = [interrupt_id for interrupt_id, _ in outcome.interrupts]
    if interrupt_ids is not None and sorted(interrupt_ids) != sorted(pending):
        who = decided_by(runner, thread_id, outcome.values)
        raise DecisionError(
            409,
            f"thread {thread_id} was already decided"
            + (f" by {who}" if who else "")
            + " and now waits at another request; reload to answer it",
        )
    stale = [r for _, r in outcome.interrupts if STALE_APPROVAL in (r.get("packet") or {})]
    approving = any(
        isinstance(d, Mapping) and d.get("type") in ("approve", "edit") for d in decisions
    )
    if stale and approving:
        raise DecisionError(
            409,
            f"stale approval: the repository moved since thread {thread_id} was reviewed; "
            f"nothing approved can run — reject it, or `keel rereview {thread_id}`",
        )
    answers = _answers(outcome, decisions, reviewer)
    if on_queue:
        return Decided(None, _enqueue(runner, thread_id, answers))
    try:
        return Decided(runner.resume(thread_id, context=context, decision=answers), None)
    except Exception as exc:
        if _database_error(exc):
            raise
        raise DecisionError(
            500, f"thread {thread_id} failed: {type(exc).__name__}: {exc}"
        ) from None


def _enqueue(runner: Runner, thread_id: str, answers: dict[str, Any]) -> int:
    try:
        settings = queue.QueueSettings.load()
        with queue.open_queue(runner.persistence) as app:
            return queue.enqueue_decision(app, runner.persistence, settings, thread_id, answers)
    except queue.AlreadyQueuedError as exc:
        raise DecisionError(409, str(exc)) from None
    except (queue.QueueSettingsError, queue.QueueUnavailableError) as exc:
        raise DecisionError(500, f"cannot queue the decision: {exc}") from None


def _database_error(exc: BaseException) -> bool:
    return isinstance(exc, database_errors())

"""Validator with repair: a specialist's final output must be a valid, grounded submission.

Token level: the `submit_findings` call must parse into the findings schema. On failure
the validation error goes back to the model as the tool's result (a repair turn), at most
`max_repairs` times; then a human is asked (respond with guidance / approve another try /
reject to stop the agent). Semantic level: every finding must cite a file inside the
repository and lines that exist; its evidence is re-quoted from the file. Ungrounded
findings are dropped, and the event says which and why.

Between stages (cascading failures): a stage's output is checked before the next one
consumes it — the supervisor's plan (unknown specialists and files outside the scope are
dropped; files no specialist got are routed by the specialists' globs), each
specialist's submission (here), and the report reads only grounded findings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from langchain_core.messages import HumanMessage, ToolMessage
from langgraph.types import Command
from pydantic import ValidationError

from ._escalate import escalate_or_halt
from ._verdict import Verdict, guard_event, prior_events
from .policy import GuardPolicy

__all__ = [
    "GUARD_NAME",
    "SubmissionInvalidError",
    "check_submission",
    "grounding_event",
    "validate_node",
]

GUARD_NAME: Final = "validate"


def _build_message(attempt: int, limit: int, error: str) -> str:
    return f"invalid submission (repair {attempt} of {limit}): {error}"


class SubmissionInvalidError(ValueError):
    """For callers that prefer an exception."""

    def __init__(self, attempt: int, limit: int, error: str) -> None:
        self.attempt, self.limit = attempt, limit
        super().__init__(_build_message(attempt, limit, error))


def _short(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'submission'}: {e['msg']}" for e in exc.errors()[:10]
    )


def check_submission(
    state: Mapping[str, Any],
    error: ValidationError,
    *,
    agent: str,
    call_id: str,
    policy: GuardPolicy,
) -> Verdict:
    """Verdict on an invalid submission: repair until `max_repairs`, then escalate."""
    attempt = prior_events(state, agent, (GUARD_NAME,)) + 1
    action: Literal["nudge", "escalate"] = "nudge" if attempt <= policy.max_repairs else "escalate"
    reason = _build_message(min(attempt, policy.max_repairs), policy.max_repairs, _short(error))
    return Verdict(GUARD_NAME, action, reason, {"call_id": call_id, "error": str(error)[:4000]})


def grounding_event(agent: str, dropped: Sequence[str]) -> Verdict:
    """The event recorded when ungrounded findings are dropped."""
    return Verdict(
        GUARD_NAME, "nudge", f"dropped {len(dropped)} ungrounded finding(s): " + "; ".join(dropped)
    )


def validate_node(agent: str, submit_tool: str, model_node: str = "agent") -> Any:
    """Return the `validate` guard node for an agent."""

    def validate(state: Mapping[str, Any]) -> Command[Literal["agent", "__end__"]]:
        pending = state.get("verdict")
        if not pending:
            raise RuntimeError("validate guard entered without a verdict")
        verdict = Verdict.from_pending(pending)
        outcome = escalate_or_halt(
            state, verdict, agent, [f"{agent} could not produce a valid submission"]
        )
        if isinstance(outcome, Command):
            return outcome
        advice = outcome
        error = ToolMessage(
            content=f"Invalid submission, fix it and call {submit_tool} again:\n"
            f"{verdict.detail['error']}",
            tool_call_id=verdict.detail["call_id"],
            name=submit_tool,
            status="error",
        )
        last = (state.get("messages") or [None])[-1]
        calls = getattr(last, "tool_calls", None) or []
        replies: list[Any] = [
            error
            if c["id"] == verdict.detail["call_id"]
            else ToolMessage(
                content="not run: the submission in the same turn was invalid; "
                "call it again if you still need it",
                tool_call_id=c["id"],
                name=c["name"],
                status="error",
            )
            for c in calls
        ]
        if not any(c["id"] == verdict.detail["call_id"] for c in calls):
            replies.append(error)
        if advice:
            replies.append(HumanMessage(f"A human reviewer says: {advice}"))
        return Command(
            goto=model_node,  # type: ignore[arg-type]
            update={
                "guard_events": [guard_event(verdict, agent)],
                "messages": replies,
                "verdict": None,
            },
        )

    return validate

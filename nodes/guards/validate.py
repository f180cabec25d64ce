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
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from langchain_core.messages import BaseMessage, ToolMessage
from pydantic import ValidationError

from keel.core.state import GuardedState

from ._escalate import Escalation, reviewer_advice
from ._verdict import OK, Verdict, prior_events
from .base import Ask, BaseGuard, GuardSettings, Ladder, Phase, Turn, Update, setting

__all__ = [
    "GUARD_NAME",
    "VALIDATE",
    "Validate",
    "ValidateSettings",
    "check_submission",
    "grounding_event",
]

GUARD_NAME: Final = "validate"


@dataclass(kw_only=True)
class ValidateSettings(GuardSettings):
    """Settings of the validator."""

    max_repairs: int = setting(
        2, "Invalid submissions sent back for repair before escalating.", at_least=1
    )

    def repair_ladder(self) -> Ladder:
        """`max_repairs` repairs, then a human is asked on every further invalid one."""
        return Ladder((GUARD_NAME,), self.max_repairs, escalations=None)


def _build_message(attempt: int, limit: int, error: str) -> str:
    return f"invalid submission (repair {attempt} of {limit}): {error}"


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
    policy: ValidateSettings,
) -> Verdict:
    """Verdict on an invalid submission: repair until `max_repairs`, then escalate."""
    attempt = prior_events(state, agent, (GUARD_NAME,)) + 1
    action = policy.repair_ladder().step(attempt - 1)
    reason = _build_message(min(attempt, policy.max_repairs), policy.max_repairs, _short(error))
    return Verdict(GUARD_NAME, action, reason, {"call_id": call_id, "error": str(error)[:4000]})


def grounding_event(agent: str, dropped: Sequence[str]) -> Verdict:
    """The event recorded when ungrounded findings are dropped."""
    return Verdict(
        GUARD_NAME, "nudge", f"dropped {len(dropped)} ungrounded finding(s): " + "; ".join(dropped)
    )


@dataclass(frozen=True)
class Validate(BaseGuard[ValidateSettings]):
    """An invalid submission goes back as its tool's error (repair), then to a human."""

    name: ClassVar[str] = GUARD_NAME
    phase: ClassVar[Phase] = "on_submission"

    def check(self, state: GuardedState, turn: Turn, settings: ValidateSettings) -> Verdict:
        """Judge the submission's validation error (none: ok)."""
        if turn.submission_error is None:
            return OK
        return check_submission(
            state, turn.submission_error, agent=turn.agent, call_id=turn.call_id, policy=settings
        )

    def escalation(self, state: GuardedState, verdict: Verdict, agent: str) -> Ask:
        """Ask whether the agent may try again."""
        return Ask(uncertainty=[f"{agent} could not produce a valid submission"])

    def recover(
        self, state: GuardedState, verdict: Verdict, agent: str, decision: Escalation | None
    ) -> Update:
        """The validation error as the submission's tool result; other calls "not run"."""
        messages = state.get("messages") or []
        last = messages[-1] if messages else None
        calls = getattr(last, "tool_calls", None) or []
        call_id = verdict.detail["call_id"]
        submit_tool = next((c["name"] for c in calls if c["id"] == call_id), None)
        error = ToolMessage(
            content=f"Invalid submission, fix it and call {submit_tool or 'the submit tool'} "
            f"again:\n{verdict.detail['error']}",
            tool_call_id=call_id,
            name=submit_tool,
            status="error",
        )
        replies: list[BaseMessage] = [
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
        replies.extend(reviewer_advice(decision))
        return {"messages": replies}


VALIDATE: Final = Validate(ValidateSettings())

"""Deadline: a per-thread wall-clock limit on active time.

Active time runs from the thread's start, or from the last human decision (time spent
waiting for a reviewer does not count). The check runs before each model request; on
expiry the agent halts with a partial report, or — with `deadline_action = "escalate"` —
a human may extend it (`extend_deadline`: approve restarts the clock, reject stops).

Within one step, time is bounded by each tool subprocess's own timeout
(`KEEL_TOOL_TIMEOUT`) and the model client's timeout. LangGraph's per-node
`TimeoutPolicy` is not used: LangGraph 1.2 refuses it on sync nodes ("sync Python
execution cannot be safely cancelled in-process"), and Keel's nodes are sync.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Literal

from langgraph.types import Command

from ._escalate import ask_human
from ._verdict import OK, Verdict, guard_event, halt_update, utc_now
from .policy import GuardPolicy

__all__ = ["GUARD_NAME", "DeadlineExceededError", "check_before_model_call", "deadline_node"]

GUARD_NAME: Final = "deadline"


def _build_message(elapsed: float, limit: float) -> str:
    return f"deadline passed: {elapsed:.0f}s of active time (limit {limit:.0f}s)"


class DeadlineExceededError(TimeoutError):
    """For callers that prefer an exception: carries the seconds."""

    def __init__(self, elapsed: float, limit: float) -> None:
        self.elapsed, self.limit = elapsed, limit
        super().__init__(_build_message(elapsed, limit))


def elapsed_since(clock_start: str | None, now: datetime) -> float:
    """Seconds since an ISO timestamp (0 when unknown)."""
    if not clock_start:
        return 0.0
    return max(0.0, (now - datetime.fromisoformat(clock_start)).total_seconds())


def check_before_model_call(
    *, clock_start: str | None, now: datetime, policy: GuardPolicy
) -> Verdict:
    """Fire when the active clock has run past `deadline_s`."""
    if policy.deadline_s <= 0:
        return OK
    elapsed = elapsed_since(clock_start, now)
    if elapsed < policy.deadline_s:
        return OK
    action: Literal["halt", "escalate"] = "halt" if policy.deadline_action == "halt" else "escalate"
    return Verdict(GUARD_NAME, action, _build_message(elapsed, policy.deadline_s))


def deadline_node(agent: str, model_node: str = "agent") -> Any:
    """Return the `deadline` guard node for an agent."""

    def deadline(state: Mapping[str, Any]) -> Command[Literal["agent", "__end__"]]:
        pending = state.get("verdict")
        if not pending:
            raise RuntimeError("deadline guard entered without a verdict")
        verdict = Verdict.from_pending(pending)
        if verdict.action == "halt":
            return Command(goto="__end__", update=halt_update(state, verdict, agent))
        decision = ask_human(
            guard=GUARD_NAME,
            agent=agent,
            action="extend_deadline",
            args={},
            reason=verdict.reason,
            confidence=1.0,
        )
        if not decision.carry_on:
            stopped = Verdict(GUARD_NAME, "halt", f"{verdict.reason}; not extended by reviewer")
            return Command(goto="__end__", update=halt_update(state, stopped, agent))
        return Command(
            goto=model_node,  # type: ignore[arg-type]
            update={
                "guard_events": [guard_event(verdict, agent)],
                "clock_start": utc_now(),
                "verdict": None,
            },
        )

    return deadline

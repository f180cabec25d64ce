"""Ask a human from inside a guard node, with the same HITL shape as the review gate.

The request carries one action (`continue_agent`, `grant_budget`, ...) with LangChain v1's
`action_requests` / `review_configs` and Keel's packet (summary, reasoning, confidence,
evidence, uncertainty, triggers). Decisions: `approve` (carry on as proposed), `edit`
(carry on with edited arguments), `reject` (stop the agent), `respond` (carry on, and
give the agent the reviewer's message).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.types import interrupt

from keel.nodes.guards.feedback import record_feedback
from keel.nodes.guards.human_review import (
    ALLOWED_DECISIONS,
    parse_review_response,
    resolve_reviewer,
    validate_guard_decision,
)

__all__ = ["Escalation", "ask_human", "reviewer_advice"]


@dataclass(frozen=True)
class Escalation:
    """What the human decided."""

    decision: str
    """approve / edit / reject / respond."""
    args: dict[str, Any]
    """Arguments approved or edited."""
    message: str
    """The reviewer's message (reject / respond)."""
    reviewer: str
    """Who decided."""

    @property
    def carry_on(self) -> bool:
        """Whether the agent may continue."""
        return self.decision in ("approve", "edit", "respond")


def reviewer_advice(decision: Escalation | None) -> list[HumanMessage]:
    """The reviewer's message for the agent, when the decision carries one."""
    if decision is None or not decision.message:
        return []
    return [HumanMessage(f"A human reviewer says: {decision.message}")]


def ask_human(
    *,
    guard: str,
    agent: str,
    action: str,
    args: Mapping[str, Any],
    reason: str,
    evidence: list[dict[str, Any]] | None = None,
    uncertainty: list[str] | None = None,
    confidence: float = 0.0,
) -> Escalation:
    """Pause the thread with an escalation request and return the decision.

    Call it only from a guard node, before anything that must not repeat: the node re-runs
    from its start when the thread resumes.
    """
    request: dict[str, Any] = {
        "action_requests": [
            {
                "id": f"{guard}:{agent}",
                "name": action,
                "args": dict(args),
                "description": f"[guard {guard}] {reason}",
            }
        ],
        "review_configs": [{"action_name": action, "allowed_decisions": list(ALLOWED_DECISIONS)}],
        "packet": {
            "summary": reason,
            "reasoning": [f"{guard} guard on {agent}: {reason}"],
            "confidence": confidence,
            "evidence": evidence or [],
            "uncertainty": uncertainty or [],
            "triggers": [f"guard: {guard}"],
            "guard": guard,
            "agent": agent,
        },
    }
    response = interrupt(request)
    decisions, claimed = parse_review_response(
        response, request["action_requests"], validate_guard_decision
    )
    reviewer = resolve_reviewer(claimed)
    record_feedback(request, decisions, reviewer)
    (decision,) = decisions
    return Escalation(
        decision=decision["type"],
        args=dict(decision.get("args", args)),
        message=str(decision.get("message", "")),
        reviewer=reviewer,
    )

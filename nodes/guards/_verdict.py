"""The shape every guard shares: a pure check returns a `Verdict`, a node records it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from keel.core.state import GuardEvent, Handoff, PendingVerdict, PlanStep

__all__ = [
    "OK",
    "Verdict",
    "VerdictAction",
    "answer_calls",
    "guard_event",
    "halt_update",
    "prior_events",
    "utc_now",
]

VerdictAction = Literal["ok", "nudge", "compress", "escalate", "halt"]
"""What a guard decides: carry on, nudge the agent, compress, ask a human, or stop."""


def utc_now() -> str:
    """Return the current UTC time as ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Verdict:
    """Result of a guard's check."""

    guard: str
    """Name of the guard node that acts on it."""
    action: VerdictAction
    """What to do."""
    reason: str
    """Human-readable, with the numbers."""
    detail: dict[str, Any] = field(default_factory=dict)
    """Guard-specific facts for the guard node."""

    @property
    def fired(self) -> bool:
        """Whether the guard's node must run."""
        return self.action != "ok"

    def pending(self) -> PendingVerdict:
        """The verdict as state, for the guard node."""
        if self.action == "ok":
            raise ValueError("an ok verdict is not handed to a guard node")
        return PendingVerdict(
            guard=self.guard, action=self.action, reason=self.reason, detail=dict(self.detail)
        )

    @classmethod
    def from_pending(cls, pending: PendingVerdict) -> Verdict:
        """Rebuild a verdict handed over in state."""
        return cls(pending["guard"], pending["action"], pending["reason"], dict(pending["detail"]))


OK = Verdict("none", "ok", "")
"""The verdict of a check that did not fire."""


def guard_event(verdict: Verdict, agent: str) -> GuardEvent:
    """Return the audit-trail entry for a fired verdict."""
    return GuardEvent(
        guard=verdict.guard,
        verdict=verdict.action,
        reason=verdict.reason,
        agent=agent,
        at=utc_now(),
    )


def prior_events(state: Mapping[str, Any], agent: str, guards: Sequence[str]) -> int:
    """How often these guards already fired on this agent (for recovery ladders)."""
    return sum(
        1 for e in state.get("guard_events") or [] if e["agent"] == agent and e["guard"] in guards
    )


def answer_calls(message: BaseMessage | None, content: str) -> list[ToolMessage]:
    """Error `ToolMessage`s for every tool call of `message` (calls must never dangle)."""
    if not isinstance(message, AIMessage):
        return []
    return [
        ToolMessage(content=content, tool_call_id=call["id"], name=call["name"], status="error")
        for call in message.tool_calls
    ]


def halt_update(state: Mapping[str, Any], verdict: Verdict, agent: str) -> dict[str, Any]:
    """State update that stops an agent: event, blocker, blocked step, zero-confidence handoff.

    The zero-confidence handoff makes the review gate ask a human about the partial result.
    """
    messages = state.get("messages") or []
    update: dict[str, Any] = {
        "guard_events": [guard_event(verdict, agent)],
        "blockers": [verdict.reason],
        "verdict": None,
        "handoffs": [
            Handoff(
                source=agent,
                target="report",
                summary=f"stopped by the {verdict.guard} guard: {verdict.reason}",
                evidence=[],
                open_questions=[f"{agent} did not finish; its files are not fully reviewed"],
                confidence=0.0,
            )
        ],
        "messages": answer_calls(messages[-1] if messages else None, f"not run: {verdict.reason}"),
    }
    step: PlanStep | None = state.get("step")
    if step:
        update["plan"] = [PlanStep(**{**step, "status": "blocked"})]
    return update

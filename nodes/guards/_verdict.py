"""The shape every guard shares: a pure check returns a `Verdict`, a node records it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from graphs.state import GuardEvent

__all__ = ["Verdict", "VerdictAction", "guard_event", "utc_now"]

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

    @property
    def fired(self) -> bool:
        """Whether the guard's node must run."""
        return self.action != "ok"


def guard_event(verdict: Verdict, agent: str) -> GuardEvent:
    """Return the audit-trail entry for a fired verdict."""
    return GuardEvent(
        guard=verdict.guard,
        verdict=verdict.action,
        reason=verdict.reason,
        agent=agent,
        at=utc_now(),
    )

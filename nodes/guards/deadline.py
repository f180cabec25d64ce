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

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Final, Literal

from keel.core.state import GuardedState

from ._escalate import Escalation
from ._verdict import OK, Verdict, utc_now
from .base import Ask, BaseGuard, GuardSettings, Phase, Turn, Update, setting

__all__ = [
    "DEADLINE",
    "GUARD_NAME",
    "Deadline",
    "DeadlineSettings",
    "check_before_model_call",
    "elapsed_since",
]

GUARD_NAME: Final = "deadline"


@dataclass(kw_only=True)
class DeadlineSettings(GuardSettings):
    """Settings of the deadline."""

    deadline_s: float = setting(
        1800.0, "Active wall-clock seconds per thread (human waits excluded).", at_least=0
    )
    deadline_action: str = setting("halt", "`halt` or `escalate` when the deadline passes.")

    def _validate(self) -> None:
        if self.deadline_action not in ("halt", "escalate"):
            raise ValueError(
                f"{type(self).__name__}.deadline_action must be halt or escalate, "
                f"got {self.deadline_action!r}"
            )


def elapsed_since(clock_start: str | None, now: datetime) -> float:
    """Seconds since an ISO timestamp (0 when unknown)."""
    if not clock_start:
        return 0.0
    return max(0.0, (now - datetime.fromisoformat(clock_start)).total_seconds())


def check_before_model_call(
    *, clock_start: str | None, now: datetime, policy: DeadlineSettings
) -> Verdict:
    """Fire when the active clock has run past `deadline_s`."""
    if policy.deadline_s <= 0:
        return OK
    elapsed = elapsed_since(clock_start, now)
    if elapsed < policy.deadline_s:
        return OK
    action: Literal["halt", "escalate"] = "halt" if policy.deadline_action == "halt" else "escalate"
    reason = f"deadline passed: {elapsed:.0f}s of active time (limit {policy.deadline_s:.0f}s)"
    return Verdict(GUARD_NAME, action, reason)


@dataclass(frozen=True)
class Deadline(BaseGuard[DeadlineSettings]):
    """Halts (or asks for more time) once the thread's active clock passes `deadline_s`."""

    name: ClassVar[str] = GUARD_NAME
    phase: ClassVar[Phase] = "before_model_call"

    def check(self, state: GuardedState, turn: Turn, settings: DeadlineSettings) -> Verdict:
        """Fire when the active clock has run past `deadline_s`."""
        return check_before_model_call(
            clock_start=state.get("clock_start"), now=turn.now, policy=settings
        )

    def escalation(self, state: GuardedState, verdict: Verdict, agent: str) -> Ask:
        """Ask to extend the deadline (approve restarts the clock)."""
        return Ask(
            action="extend_deadline", confidence=1.0, refused="{reason}; not extended by reviewer"
        )

    def recover(
        self, state: GuardedState, verdict: Verdict, agent: str, decision: Escalation | None
    ) -> Update:
        """Restart the active clock."""
        return {"clock_start": utc_now()}


DEADLINE: Final = Deadline(DeadlineSettings())

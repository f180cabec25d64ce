"""Step limit: stop an agent that takes too many model turns or tool calls.

Counts come from the agent's own `usage` (not from its messages, which the compressor
folds), so the check is O(1). It runs before each model request; the `step_limit` node
is entered only when it fires, and halts the agent with a partial report: event,
blocker, blocked plan step, zero-confidence handoff (which sends the result to human
review). The rest of the pipeline goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from keel.core.state import GuardedState, Usage

from ._verdict import OK, Verdict
from .base import BaseGuard, GuardSettings, Phase, Route, Turn, setting

__all__ = ["GUARD_NAME", "STEP_LIMIT", "StepLimit", "StepLimitSettings", "check_before_model_call"]

GUARD_NAME: Final = "step_limit"


@dataclass(kw_only=True)
class StepLimitSettings(GuardSettings):
    """Settings of the step limit."""

    max_agent_steps: int = setting(24, "Model turns one specialist may take.", at_least=1)
    max_tool_calls: int = setting(40, "Tool calls one specialist may make.", at_least=1)


def check_before_model_call(
    agent: str,
    usage: Usage | Mapping[str, Any] | None,
    *,
    pending_tool_calls: int = 0,
    max_steps: int,
    max_tool_calls: int,
) -> Verdict:
    """Halt when the next model call would exceed either limit."""
    if max_steps < 1 or max_tool_calls < 0:
        raise ValueError(f"limits must be positive, got {max_steps=} {max_tool_calls=}")
    turns = int((usage or {}).get("model_calls", 0))
    tools = int((usage or {}).get("tool_calls", 0)) + pending_tool_calls
    if turns >= max_steps or tools >= max_tool_calls:
        reason = (
            f"{agent} specialist stopped: {turns} model turns (limit {max_steps}), "
            f"{tools} tool calls (limit {max_tool_calls})"
        )
        return Verdict(GUARD_NAME, "halt", reason)
    return OK


@dataclass(frozen=True)
class StepLimit(BaseGuard[StepLimitSettings]):
    """Halts before the model call that would pass `max_agent_steps` or `max_tool_calls`."""

    name: ClassVar[str] = GUARD_NAME
    phase: ClassVar[Phase] = "before_model_call"
    routes: ClassVar[tuple[Route, ...]] = ("end",)

    def check(self, state: GuardedState, turn: Turn, settings: StepLimitSettings) -> Verdict:
        """Halt when the next model call would exceed either limit."""
        return check_before_model_call(
            turn.agent,
            state.get("usage"),
            pending_tool_calls=turn.pending_tool_calls,
            max_steps=settings.max_agent_steps,
            max_tool_calls=settings.max_tool_calls,
        )


STEP_LIMIT: Final = StepLimit(StepLimitSettings())

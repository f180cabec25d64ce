"""Step limit: stop an agent that takes too many model turns or tool calls.

Counts come from the agent's own `usage` (not from its messages, which the compressor
folds), so the check is O(1). It runs before each model request; the `step_limit` node
is entered only when it fires, and halts the agent with a partial report: event,
blocker, blocked plan step, zero-confidence handoff (which sends the result to human
review). The rest of the pipeline goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from langgraph.types import Command

from graphs.state import Usage

from ._verdict import OK, Verdict, halt_update

__all__ = ["GUARD_NAME", "StepLimitExceededError", "check_before_model_call", "step_limit_node"]

GUARD_NAME: Final = "step_limit"


def _build_message(agent: str, steps: int, tool_calls: int, max_steps: int, max_tools: int) -> str:
    return (
        f"{agent} specialist stopped: {steps} model turns (limit {max_steps}), "
        f"{tool_calls} tool calls (limit {max_tools})"
    )


class StepLimitExceededError(RuntimeError):
    """For callers that prefer an exception: carries the numbers."""

    def __init__(self, agent: str, steps: int, tool_calls: int, max_steps: int, max_tools: int):
        self.agent, self.steps, self.tool_calls = agent, steps, tool_calls
        self.max_steps, self.max_tool_calls = max_steps, max_tools
        super().__init__(_build_message(agent, steps, tool_calls, max_steps, max_tools))


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
        reason = _build_message(agent, turns, tools, max_steps, max_tool_calls)
        return Verdict(GUARD_NAME, "halt", reason)
    return OK


def step_limit_node(agent: str) -> Any:
    """Return the `step_limit` guard node for an agent."""

    def step_limit(state: Mapping[str, Any]) -> Command[Literal["__end__"]]:
        pending = state.get("verdict")
        if not pending:
            raise RuntimeError("step_limit guard entered without a verdict")
        verdict = Verdict.from_pending(pending)
        return Command(goto="__end__", update=halt_update(state, verdict, agent))

    return step_limit

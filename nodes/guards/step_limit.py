"""Step limit: stop a specialist that takes too many model turns or tool calls.

The check runs before each model request, inside the agent node (no extra super-step);
the `step_limit` node is entered only when it fires. It records a `GuardEvent`, marks
the specialist's plan step blocked, hands off a zero-confidence packet saying why, and
ends the specialist — its partial work is kept, the rest of the pipeline goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langgraph.runtime import Runtime

from graphs.context import KeelContext
from graphs.state import Handoff, PlanStep, SpecialistState

from ._verdict import Verdict, guard_event

__all__ = ["GUARD_NAME", "StepLimitExceededError", "check_before_model_call", "step_limit_node"]

GUARD_NAME: Final = "step_limit"


def _build_message(agent: str, steps: int, tool_calls: int, max_steps: int, max_tools: int) -> str:
    return (
        f"{agent} specialist stopped: {steps} model turns (limit {max_steps}), "
        f"{tool_calls} tool calls (limit {max_tools})"
    )


class StepLimitExceededError(RuntimeError):
    """Raised by callers that want an exception instead of a routed verdict."""

    def __init__(self, agent: str, steps: int, tool_calls: int, max_steps: int, max_tools: int):
        self.agent, self.steps, self.tool_calls = agent, steps, tool_calls
        self.max_steps, self.max_tool_calls = max_steps, max_tools
        super().__init__(_build_message(agent, steps, tool_calls, max_steps, max_tools))


def count_turns(messages: Sequence[BaseMessage]) -> tuple[int, int]:
    """Return (model turns, tool calls) in a specialist's messages."""
    turns = sum(isinstance(m, AIMessage) for m in messages)
    tools = sum(isinstance(m, ToolMessage) for m in messages)
    return turns, tools


def check_before_model_call(
    agent: str, messages: Sequence[BaseMessage], *, max_steps: int, max_tool_calls: int
) -> Verdict:
    """Halt when the next model call would exceed either limit."""
    if max_steps < 1 or max_tool_calls < 0:
        raise ValueError(f"limits must be positive, got {max_steps=} {max_tool_calls=}")
    turns, tools = count_turns(messages)
    if turns >= max_steps or tools >= max_tool_calls:
        return Verdict(
            GUARD_NAME, "halt", _build_message(agent, turns, tools, max_steps, max_tool_calls)
        )
    return Verdict(GUARD_NAME, "ok", "")


def step_limit_node(agent: str) -> Callable[..., dict[str, Any]]:
    """Return the guard node for one specialist."""

    def step_limit(state: SpecialistState, runtime: Runtime[KeelContext]) -> dict[str, Any]:
        context = runtime.context or KeelContext()
        turns, tools = count_turns(state.get("messages", []))
        reason = _build_message(
            agent, turns, tools, context.max_agent_steps, context.max_tool_calls
        )
        step = state["step"]
        verdict = Verdict(GUARD_NAME, "halt", reason)
        return {
            "guard_events": [guard_event(verdict, agent)],
            "blockers": [reason],
            "plan": [PlanStep(**{**step, "status": "blocked"})],
            "handoffs": [
                Handoff(
                    source=agent,
                    target="report",
                    summary=f"stopped before submitting: {reason}",
                    evidence=[],
                    open_questions=[f"{agent} did not finish; its files are not fully reviewed"],
                    confidence=0.0,
                )
            ],
        }

    return step_limit

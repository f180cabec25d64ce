"""The `step_limit` node's halt, called directly (the check: tests/unit/test_step_limit.py)."""

from __future__ import annotations

import pytest

from keel.nodes.guards.base import guard_node
from keel.nodes.guards.step_limit import STEP_LIMIT, check_before_model_call

from ._state import AGENT, READ, ai, assert_halt, history, step


def test_node_halts_the_agent_with_the_checks_reason() -> None:
    verdict = check_before_model_call(
        AGENT, {"model_calls": 3, "tool_calls": 1}, max_steps=3, max_tool_calls=10
    )
    reason = "security specialist stopped: 3 model turns (limit 3), 1 tool calls (limit 10)"
    assert verdict.reason == reason
    state = {
        "messages": [*history([READ]), ai([READ], prefix="last")],
        "step": step(),
        "verdict": verdict.pending(),
    }
    assert_halt(guard_node(STEP_LIMIT, AGENT)(state), state, guard="step_limit", reason=reason)


def test_node_halt_without_a_step_has_no_plan_update() -> None:
    verdict = check_before_model_call(AGENT, None, max_steps=1, max_tool_calls=0)
    command = guard_node(STEP_LIMIT, AGENT)({"messages": [], "verdict": verdict.pending()})
    assert command.goto == "__end__"
    assert "plan" not in command.update
    assert command.update["messages"] == []
    assert command.update["blockers"] == [verdict.reason]


def test_node_without_verdict_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="step_limit guard entered without a verdict"):
        guard_node(STEP_LIMIT, AGENT)({"messages": []})

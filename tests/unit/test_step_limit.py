"""Step limit check, called directly."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from nodes.guards.step_limit import check_before_model_call


def _turns(n: int) -> list:
    messages: list = [HumanMessage("go")]
    for i in range(n):
        messages += [
            AIMessage("", tool_calls=[{"name": "t", "args": {}, "id": str(i)}]),
            ToolMessage("{}", tool_call_id=str(i)),
        ]
    return messages


def test_under_limit_is_ok() -> None:
    verdict = check_before_model_call("security", _turns(2), max_steps=3, max_tool_calls=10)
    assert not verdict.fired


def test_turn_limit_halts_with_numbers() -> None:
    verdict = check_before_model_call("security", _turns(3), max_steps=3, max_tool_calls=10)
    assert verdict.action == "halt"
    assert verdict.reason == (
        "security specialist stopped: 3 model turns (limit 3), 3 tool calls (limit 10)"
    )


def test_tool_call_limit_halts() -> None:
    verdict = check_before_model_call("style", _turns(2), max_steps=9, max_tool_calls=2)
    assert verdict.fired


def test_invalid_limits() -> None:
    with pytest.raises(ValueError, match="limits must be positive"):
        check_before_model_call("x", [], max_steps=0, max_tool_calls=1)

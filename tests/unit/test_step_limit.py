"""Step limit check, called directly."""

from __future__ import annotations

import pytest

from keel.nodes.guards.step_limit import check_before_model_call


def _usage(model_calls: int, tool_calls: int) -> dict[str, int]:
    return {"model_calls": model_calls, "tool_calls": tool_calls}


def test_under_limit_is_ok() -> None:
    verdict = check_before_model_call("security", _usage(2, 2), max_steps=3, max_tool_calls=10)
    assert not verdict.fired


def test_turn_limit_halts_with_numbers() -> None:
    verdict = check_before_model_call(
        "security", _usage(3, 2), pending_tool_calls=1, max_steps=3, max_tool_calls=10
    )
    assert verdict.action == "halt"
    assert verdict.reason == (
        "security specialist stopped: 3 model turns (limit 3), 3 tool calls (limit 10)"
    )


def test_tool_call_limit_counts_pending_results() -> None:
    assert not check_before_model_call("s", _usage(1, 1), max_steps=9, max_tool_calls=2).fired
    verdict = check_before_model_call(
        "style", _usage(1, 1), pending_tool_calls=1, max_steps=9, max_tool_calls=2
    )
    assert verdict.fired


def test_invalid_limits() -> None:
    with pytest.raises(ValueError, match="limits must be positive"):
        check_before_model_call("x", None, max_steps=0, max_tool_calls=1)

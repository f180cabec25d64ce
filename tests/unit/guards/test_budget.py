"""Budget: `effective_limits`, `spend`, the guard's check on hand-built state, its node."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import ToolMessage

from keel.nodes.guards._verdict import Verdict
from keel.nodes.guards.base import Turn, guard_node
from keel.nodes.guards.budget import (
    BUDGET,
    effective_limits,
    share_limits,
    spend,
)
from keel.nodes.guards.policy import GuardPolicy

from ._state import AGENT, READ, ai, assert_halt, event, history, step

POLICY = GuardPolicy(
    budget_tokens=1000, budget_cost_usd=1.0, budget_model_calls=10, budget_tool_calls=20
)
LIMITS = {"tokens": 1000.0, "cost_usd": 1.0, "model_calls": 10.0, "tool_calls": 20.0}


def _usage(
    tokens: int = 0, cost: float = 0.0, model_calls: int = 0, tool_calls: int = 0
) -> dict[str, Any]:
    return {
        "input_tokens": tokens,
        "output_tokens": 0,
        "cost_usd": cost,
        "model_calls": model_calls,
        "tool_calls": tool_calls,
        "seconds": 0.0,
    }


def _check(
    usage: Any,
    *,
    spent: Any = None,
    pending: int = 0,
    grants: Any = None,
    soft_asked: int = 0,
    own_grants: int = 0,
    policy: GuardPolicy = POLICY,
    parallel: int = 1,
    upcoming_tokens: int = 0,
) -> Verdict:
    """The budget's check on hand-built state.

    `grants` come before the delegation, then `own_grants` (limit-less) grants and
    `soft_asked` escalations of this agent.
    """
    state: Any = {
        "usage": usage,
        "spent": spent,
        "parallel": parallel,
        "granted": list(grants or []),
        "budget_grants": [{}] * own_grants,
        "guard_events": [event("budget", verdict="escalate")] * soft_asked,
    }
    turn = Turn(agent=AGENT, pending_tool_calls=pending, prompt_tokens=upcoming_tokens)
    return BUDGET.check(state, turn, policy)


# ------------------------------------------------------------------ limits and spend


def test_effective_limits_are_the_policy_without_grants() -> None:
    assert effective_limits(POLICY, []) == LIMITS


def test_grants_raise_limits_and_never_lower_them() -> None:
    grants: list[Any] = [
        {"tokens": 1500, "cost_usd": 0.5},  # cost lower than the policy: ignored
        {"tokens": 1200, "model_calls": 0, "tool_calls": -5},  # lower / non-positive: ignored
        {"cost_usd": 2.5},
    ]
    assert effective_limits(POLICY, grants) == {
        "tokens": 1500.0,
        "cost_usd": 2.5,
        "model_calls": 10.0,
        "tool_calls": 20.0,
    }


def test_spend_sums_usage_records() -> None:
    a = {**_usage(100, 0.1, 2, 3), "output_tokens": 50}
    b = {**_usage(10, 0.2, 1, 4), "output_tokens": 5}
    assert spend(a, None, b, {}) == {
        "tokens": 165.0,
        "cost_usd": 0.3,
        "model_calls": 3.0,
        "tool_calls": 7.0,
    }
    assert spend() == {"tokens": 0.0, "cost_usd": 0.0, "model_calls": 0.0, "tool_calls": 0.0}


# ------------------------------------------------------------------ soft escalation


def _soft_reason(tokens: float, cost: float, model: float, tools: float) -> str:
    return (
        f"80% of the budget reached: tokens {tokens:g}/1000, cost_usd {cost:g}/1, "
        f"model_calls {model:g}/10, tool_calls {tools:g}/20"
    )


def test_soft_ratio_escalates_with_a_one_and_a_half_proposal() -> None:
    verdict = _check(_usage(tokens=800))
    assert (verdict.guard, verdict.action) == ("budget", "escalate")
    assert verdict.reason == _soft_reason(800, 0, 1, 0)
    assert verdict.detail == {
        "used": {"tokens": 800.0, "cost_usd": 0.0, "model_calls": 1.0, "tool_calls": 0.0},
        "limits": LIMITS,
        "proposal": {"tokens": 1500.0, "cost_usd": 1.5, "model_calls": 15.0, "tool_calls": 30.0},
    }


@pytest.mark.parametrize(
    ("below", "at", "reason"),
    [
        (_usage(tokens=799), _usage(tokens=800), _soft_reason(800, 0, 1, 0)),
        (_usage(cost=0.79), _usage(cost=0.8), _soft_reason(0, 0.8, 1, 0)),
        # the call about to be made counts: 6 done + 1 = 7 < 8; 7 done + 1 = 8
        (_usage(model_calls=6), _usage(model_calls=7), _soft_reason(0, 0, 8, 0)),
        (_usage(tool_calls=15), _usage(tool_calls=16), _soft_reason(0, 0, 1, 16)),
    ],
    ids=["tokens", "cost_usd", "model_calls", "tool_calls"],
)
def test_each_dimension_escalates_at_the_soft_ratio(
    below: dict[str, Any], at: dict[str, Any], reason: str
) -> None:
    assert not _check(below).fired
    verdict = _check(at)
    assert verdict.action == "escalate"
    assert verdict.reason == reason


def test_spend_at_delegation_and_pending_tool_calls_count() -> None:
    assert not _check(_usage(tool_calls=10), spent=_usage(tool_calls=5)).fired
    verdict = _check(_usage(tool_calls=10), spent=_usage(tool_calls=5), pending=1)
    assert verdict.reason == _soft_reason(0, 0, 1, 16)
    verdict = _check(_usage(tokens=500), spent=_usage(tokens=300))
    assert verdict.reason == _soft_reason(800, 0, 1, 0)


def test_no_second_ask_until_the_first_was_answered_with_a_grant() -> None:
    assert not _check(_usage(tokens=900), soft_asked=1, own_grants=0).fired
    assert _check(_usage(tokens=900), soft_asked=1, own_grants=1).action == "escalate"


def test_after_a_grant_the_soft_limit_moves() -> None:
    grants = [{"tokens": 1500}]
    assert not _check(_usage(tokens=1100), grants=grants, soft_asked=1, own_grants=1).fired
    verdict = _check(_usage(tokens=1200), grants=grants, soft_asked=1, own_grants=1)
    assert verdict.action == "escalate"
    assert verdict.reason == (
        "80% of the budget reached: tokens 1200/1500, cost_usd 0/1, model_calls 1/10, "
        "tool_calls 0/20"
    )
    assert verdict.detail["proposal"]["tokens"] == 2250.0


def test_soft_ratio_comes_from_the_policy() -> None:
    policy = GuardPolicy(budget_tokens=1000, budget_soft_ratio=0.5)
    assert not _check(_usage(tokens=499), policy=policy).fired
    assert _check(_usage(tokens=500), policy=policy).reason.startswith(
        "50% of the budget reached: tokens 500/1000,"
    )


# ------------------------------------------------------------------------ hard halt


def _halt_reason(tokens: float, cost: float, model: float, tools: float) -> str:
    return (
        f"budget exhausted: tokens {tokens:g}/1000, cost_usd {cost:g}/1, "
        f"model_calls {model:g}/10, tool_calls {tools:g}/20"
    )


@pytest.mark.parametrize(
    ("at_limit", "over", "reason"),
    [
        (_usage(tokens=1000), _usage(tokens=1001), _halt_reason(1001, 0, 1, 0)),
        (_usage(cost=1.0), _usage(cost=1.01), _halt_reason(0, 1.01, 1, 0)),
        (_usage(model_calls=9), _usage(model_calls=10), _halt_reason(0, 0, 11, 0)),
        (_usage(tool_calls=20), _usage(tool_calls=21), _halt_reason(0, 0, 1, 21)),
    ],
    ids=["tokens", "cost_usd", "model_calls", "tool_calls"],
)
def test_each_dimension_halts_above_its_limit(
    at_limit: dict[str, Any], over: dict[str, Any], reason: str
) -> None:
    assert _check(at_limit).action == "escalate"  # at 100%: still only the soft ask
    verdict = _check(over)
    assert (verdict.guard, verdict.action) == ("budget", "halt")
    assert verdict.reason == reason
    assert "proposal" not in verdict.detail


def test_halt_wins_even_when_a_soft_ask_is_outstanding() -> None:
    verdict = _check(_usage(tokens=2000), soft_asked=3, own_grants=0)
    assert verdict.action == "halt"


def test_pending_tool_calls_can_push_over_the_hard_limit() -> None:
    assert _check(_usage(tool_calls=20), pending=1).reason == _halt_reason(0, 0, 1, 21)


def test_a_zero_limit_disables_its_dimension() -> None:
    policy = GuardPolicy(budget_tokens=1000, budget_tool_calls=0)
    verdict = _check(_usage(tokens=100, tool_calls=10_000), policy=policy)
    assert not verdict.fired
    verdict = _check(_usage(tokens=1001, tool_calls=10_000), policy=policy)
    assert verdict.reason == "budget exhausted: tokens 1001/1000, cost_usd 0/2, model_calls 1/80"


def test_reason_shows_large_token_counts_exactly() -> None:
    policy = GuardPolicy(budget_tokens=1_000_000)
    verdict = _check(_usage(tokens=1_234_567), policy=policy)
    assert verdict.action == "halt"
    assert "tokens 1234567/1000000" in verdict.reason, verdict.reason


# ----------------------------------------------------------------------------- node


def test_node_halt_stops_the_agent() -> None:
    reason = _halt_reason(1001, 0, 1, 0)
    state = {
        "messages": [*history([READ]), ai([READ], prefix="last")],
        "step": step(),
        "verdict": Verdict("budget", "halt", reason, {"used": {}, "limits": LIMITS}).pending(),
    }
    assert_halt(guard_node(BUDGET, AGENT)(state), state, guard="budget", reason=reason)


def test_node_halt_before_a_model_call_has_no_calls_to_answer() -> None:
    reason = _halt_reason(1001, 0, 1, 0)
    messages = history([READ])
    assert isinstance(messages[-1], ToolMessage)
    state = {
        "messages": messages,
        "step": step(),
        "verdict": Verdict("budget", "halt", reason).pending(),
    }
    command = guard_node(BUDGET, AGENT)(state)
    assert_halt(command, state, guard="budget", reason=reason)
    assert command.update["messages"] == []


def test_node_without_verdict_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="budget guard entered without a verdict"):
        guard_node(BUDGET, AGENT)({"messages": []})


# ------------------------------------------------------------------ parallel shares


def test_share_limits_split_what_was_left_at_delegation() -> None:
    spent = spend(_usage(tokens=400, model_calls=1))
    shares = share_limits(LIMITS, spent, 3)
    assert shares["tokens"] == 600.0  # 400 + (1000 - 400) / 3
    assert shares["model_calls"] == 4.0  # 1 + (10 - 1) / 3
    assert share_limits(LIMITS, spent, 1) == LIMITS


def test_parallel_agent_asks_a_human_near_its_share_though_the_thread_has_room() -> None:
    spent = _usage(tokens=400, model_calls=1)
    alone = _check(_usage(tokens=90, model_calls=1), spent=spent)  # well under the thread's 1000
    assert not alone.fired
    one_of_three = _check(_usage(tokens=90 + 10, model_calls=1), spent=spent, parallel=3)
    # share 600: 80% of it is 480 and 400 + 100 = 500 is past that
    assert (one_of_three.guard, one_of_three.action) == ("budget", "escalate")
    assert "share: 1 of 3" in one_of_three.reason
    assert one_of_three.detail["limits"]["tokens"] == 600.0
    # the proposal raises the thread's limits (grants are thread limits), not the share
    assert one_of_three.detail["proposal"]["tokens"] == 1500.0


def test_parallel_agent_past_its_share_is_asked_not_halted() -> None:
    verdict = _check(_usage(tokens=350), spent=_usage(tokens=400), parallel=3)
    assert verdict.action == "escalate"


def test_parallel_agent_halts_only_past_the_thread_limit() -> None:
    verdict = _check(
        _usage(tokens=700), spent=_usage(tokens=400), parallel=3, soft_asked=1, own_grants=1
    )
    assert verdict.action == "halt"
    assert verdict.detail["limits"]["tokens"] == 1000.0


def test_the_next_prompt_counts_so_the_human_is_asked_before_the_call() -> None:
    assert not _check(_usage(tokens=700), upcoming_tokens=50).fired  # 750 < 800
    verdict = _check(_usage(tokens=700), upcoming_tokens=150)  # 850 >= 800
    assert verdict.action == "escalate"
    assert verdict.reason.startswith("the next call (~150 prompt tokens) would pass 80% of it")
    assert verdict.detail["used"]["tokens"] == 700  # what was spent, not the estimate

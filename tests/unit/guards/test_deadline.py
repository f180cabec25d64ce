"""Deadline check and the halt path of the `deadline` node, on hand-built state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from keel.nodes.guards._verdict import Verdict
from keel.nodes.guards.base import guard_node
from keel.nodes.guards.deadline import DEADLINE, check_before_model_call, elapsed_since
from keel.nodes.guards.policy import GuardPolicy

from ._state import AGENT, READ, ai, assert_halt, history, step

START = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
POLICY = GuardPolicy(deadline_s=600)


def _check(seconds: float, policy: GuardPolicy = POLICY) -> Verdict:
    now = START + timedelta(seconds=seconds)
    return check_before_model_call(clock_start=START.isoformat(), now=now, policy=policy)


def test_before_the_limit_is_ok() -> None:
    assert not _check(0).fired
    assert not _check(599.9).fired


def test_at_the_limit_halts_with_the_seconds() -> None:
    verdict = _check(600)
    assert (verdict.guard, verdict.action) == ("deadline", "halt")
    assert verdict.reason == "deadline passed: 600s of active time (limit 600s)"


def test_after_the_limit_halts_with_the_seconds() -> None:
    assert _check(3725.4).reason == "deadline passed: 3725s of active time (limit 600s)"


def test_escalate_action_asks_instead_of_halting() -> None:
    verdict = _check(601, GuardPolicy(deadline_s=600, deadline_action="escalate"))
    assert (verdict.guard, verdict.action) == ("deadline", "escalate")
    assert verdict.reason == "deadline passed: 601s of active time (limit 600s)"
    assert not _check(599, GuardPolicy(deadline_s=600, deadline_action="escalate")).fired


def test_zero_deadline_disables_the_check() -> None:
    assert not _check(10 * 365 * 86400, GuardPolicy(deadline_s=0)).fired


def test_unknown_clock_start_counts_as_no_time() -> None:
    assert elapsed_since(None, START) == 0.0
    assert not check_before_model_call(clock_start=None, now=START, policy=POLICY).fired


def test_elapsed_since_is_never_negative() -> None:
    assert elapsed_since((START + timedelta(seconds=30)).isoformat(), START) == 0.0
    assert elapsed_since(START.isoformat(), START + timedelta(seconds=42.5)) == 42.5


def test_node_halt_stops_the_agent() -> None:
    reason = "deadline passed: 601s of active time (limit 600s)"
    state = {
        "messages": [*history([READ]), ai([READ, READ], prefix="last")],
        "step": step(),
        "verdict": Verdict("deadline", "halt", reason).pending(),
    }
    assert_halt(guard_node(DEADLINE, AGENT)(state), state, guard="deadline", reason=reason)


def test_node_without_verdict_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="deadline guard entered without a verdict"):
        guard_node(DEADLINE, AGENT)({"messages": [], "verdict": None})

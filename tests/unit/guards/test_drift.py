"""Goal-drift monitor: `path_args`, `check_after_model_call` and the `drift` node."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from keel.nodes.guards._verdict import Verdict
from keel.nodes.guards.base import guard_node
from keel.nodes.guards.drift import DRIFT, check_after_model_call, path_args
from keel.nodes.guards.policy import GuardPolicy

from ._state import (
    AGENT,
    OTHER_AGENT,
    TASK,
    Call,
    ai,
    assert_calls_answered,
    assert_halt,
    event,
    history,
    step,
)

POLICY = GuardPolicy()  # window 12, drift_limit 2


def _read(path: str) -> Call:
    return ("read_file", {"path": path})


def _check(
    earlier: list[str],
    new: list[str],
    *,
    events: list[dict[str, Any]] | None = None,
    files: tuple[str, ...] = ("a.py", "b.py"),
    policy: GuardPolicy = POLICY,
) -> Verdict:
    state = {
        "messages": history([_read(p) for p in earlier]),
        "step": step(files),
        "guard_events": events or [],
    }
    response = ai([_read(p) for p in new], prefix="new")
    return check_after_model_call(state, response, agent=AGENT, policy=policy)


# ---------------------------------------------------------------------------- paths


def test_path_args_collects_and_normalises_every_path_key() -> None:
    args = {
        "path": " ./src/a.py ",
        "paths": ["./b.py", "", "   ", 3, "c.py"],
        "file": None,
        "files": "d.py",
        "pattern": "e.py",
    }
    assert path_args(args) == ["src/a.py", "b.py", "c.py", "d.py"]
    assert path_args({"pattern": "x"}) == []


# ---------------------------------------------------------------------------- check


def test_a_single_out_of_scope_read_does_not_fire() -> None:
    assert not _check([], ["utils.py"]).fired
    assert not _check(["a.py", "b.py"], ["utils.py"]).fired


def test_mostly_out_of_scope_recent_paths_fire() -> None:
    verdict = _check(["a.py", "x.py"], ["y.py"])
    assert (verdict.guard, verdict.action) == ("drift", "nudge")
    assert verdict.reason == (
        "2 of the last 12 calls' paths are outside the assignment (vs 1 inside): x.py, y.py"
    )


def test_outside_paths_must_outnumber_inside_ones() -> None:
    assert not _check(["a.py", "b.py", "x.py"], ["y.py"]).fired  # 2 outside vs 2 inside
    verdict = _check(["a.py", "x.py", "x.py"], ["y.py"])  # 3 vs 1; repeats count
    assert verdict.reason == (
        "3 of the last 12 calls' paths are outside the assignment (vs 1 inside): x.py, y.py"
    )


def test_two_out_of_scope_paths_in_one_turn_fire() -> None:
    verdict = _check([], ["./z.py", "y.py"])
    assert verdict.reason == (
        "2 of the last 12 calls' paths are outside the assignment (vs 0 inside): y.py, z.py"
    )


def test_reason_names_at_most_five_paths() -> None:
    verdict = _check([f"o{i}.py" for i in range(7)], ["o7.py"])
    assert verdict.reason.endswith(": o0.py, o1.py, o2.py, o3.py, o4.py")
    assert verdict.reason.startswith("8 of the last 12 calls' paths")


def test_new_calls_inside_the_assignment_never_fire() -> None:
    assert not _check(["x.py", "y.py", "z.py"], ["./a.py"]).fired


def test_no_assignment_or_no_paths_never_fires() -> None:
    assert not _check(["x.py", "y.py"], ["z.py"], files=()).fired
    state = {"messages": history([_read("x.py"), _read("y.py")]), "step": step()}
    response = ai([("grep", {"pattern": "TODO"})])
    assert not check_after_model_call(state, response, agent=AGENT, policy=POLICY).fired


def test_paths_older_than_the_window_do_not_count() -> None:
    earlier = ["x.py", "y.py", "a.py", "b.py"]
    assert not _check(earlier, ["z.py"], policy=GuardPolicy(drift_window=3)).fired
    verdict = _check(earlier, ["z.py"], policy=GuardPolicy(drift_window=5))
    assert verdict.reason == (
        "3 of the last 5 calls' paths are outside the assignment (vs 2 inside): x.py, y.py, z.py"
    )


@pytest.mark.parametrize(
    ("limit", "prior", "action"),
    [
        (2, 0, "nudge"),
        (2, 1, "nudge"),
        (2, 2, "escalate"),
        (2, 3, "halt"),
        (0, 0, "escalate"),
        (0, 1, "halt"),
    ],
)
def test_recovery_ladder_follows_drift_limit(limit: int, prior: int, action: str) -> None:
    events = [event("drift") for _ in range(prior)]
    verdict = _check(["x.py"], ["y.py"], events=events, policy=GuardPolicy(drift_limit=limit))
    assert verdict.action == action


def test_ladder_counts_only_this_agents_drift_events() -> None:
    events = [event("drift", agent=OTHER_AGENT)] * 3 + [event("loop"), event("tool_misuse")] * 2
    assert _check(["x.py"], ["y.py"], events=events).action == "nudge"


# ----------------------------------------------------------------------------- node


def _node_state(action: Literal["nudge", "halt"]) -> dict[str, Any]:
    reason = "2 of the last 12 calls' paths are outside the assignment (vs 0 inside): x.py, y.py"
    return {
        "messages": [*history([_read("a.py")]), ai([_read("x.py"), _read("y.py")], prefix="l")],
        "task": TASK,
        "step": step(),
        "verdict": Verdict("drift", action, reason).pending(),
    }


def test_node_nudge_answers_the_calls_and_re_injects_the_task() -> None:
    state = _node_state("nudge")
    reason = state["verdict"]["reason"]
    command = guard_node(DRIFT, AGENT)(state)
    assert command.goto == "agent"
    update = command.update
    assert update["verdict"] is None
    (recorded,) = update["guard_events"]
    assert (recorded["guard"], recorded["verdict"], recorded["reason"], recorded["agent"]) == (
        "drift",
        "nudge",
        reason,
        AGENT,
    )
    last = state["messages"][-1]
    assert isinstance(last, AIMessage)
    answers = assert_calls_answered(last, update["messages"])
    assert all(m.content == f"not run: {reason}" for m in answers)
    refresh = update["messages"][-1]
    assert isinstance(refresh, HumanMessage)
    assert refresh.content == (
        "Keel drift guard — back to your task. Task: Review the last commit. "
        "Your assignment: Check a.py and b.py for injection. Files: a.py, b.py. "
        "Work on these files; then call submit_findings."
    )
    assert len(update["messages"]) == 3


def test_node_halt_stops_the_agent() -> None:
    state = _node_state("halt")
    command = guard_node(DRIFT, AGENT)(state)
    assert_halt(command, state, guard="drift", reason=state["verdict"]["reason"])


def test_node_without_verdict_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="drift guard entered without a verdict"):
        guard_node(DRIFT, AGENT)({"messages": []})

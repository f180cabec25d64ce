"""Loop detector: `check_after_model_call` and the `loop` node, on hand-built state."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from keel.nodes.guards._verdict import Verdict
from keel.nodes.guards.base import guard_node
from keel.nodes.guards.loop import LADDER_GUARDS, LOOP, check_after_model_call, normalize_call
from keel.nodes.guards.policy import GuardPolicy

from ._state import (
    AGENT,
    OTHER_AGENT,
    Call,
    ai,
    assert_calls_answered,
    assert_halt,
    event,
    history,
    opening,
    step,
    turn,
)

POLICY = GuardPolicy()  # repeat 3, window 12, no progress 6
READ_A: Call = ("read_file", {"path": "a.py"})
READ_B: Call = ("read_file", {"path": "b.py"})
A = 'read_file({"path": "a.py"})'
B = 'read_file({"path": "b.py"})'


def _check(
    messages: list[Any],
    calls: list[Call],
    *,
    events: list[dict[str, Any]] | None = None,
    policy: GuardPolicy = POLICY,
) -> Any:
    state = {"messages": messages, "guard_events": events or []}
    return check_after_model_call(state, ai(calls, prefix="new"), agent=AGENT, policy=policy)


def _distinct(n: int, start: int = 0) -> list[Call]:
    return [("grep", {"pattern": f"p{i}"}) for i in range(start, start + n)]


# ------------------------------------------------------------------- normalisation


def test_normalize_call_ignores_key_order_case_and_whitespace() -> None:
    canonical = normalize_call("read_file", {"path": "src/a.py", "start": 1})
    assert canonical == 'read_file({"path": "src/a.py", "start": 1})'
    assert normalize_call("read_file", {"Start": 1, "PATH": "  SRC/A.py "}) == canonical
    assert normalize_call("grep", {"q": "a   b\n c"}) == 'grep({"q": "a b c"})'
    assert normalize_call("x", {"paths": ["A", {"K": " V "}]}) == 'x({"paths": ["a", {"k": "v"}]})'
    assert normalize_call("read_file", {"path": "src/b.py", "start": 1}) != canonical
    assert normalize_call("read_file", {"path": "src/a.py", "start": 2}) != canonical


# ---------------------------------------------------------------------- repetition


def test_third_identical_call_fires_with_the_numbers() -> None:
    verdict = _check(history([READ_A, READ_A]), [READ_A])
    assert (verdict.guard, verdict.action) == ("loop", "nudge")
    assert verdict.reason == f"repeated call: {A} 3 times in the last 3 tool calls"
    assert verdict.detail == {"pattern": "repeat", "call": A}


def test_second_identical_call_is_below_the_limit() -> None:
    assert not _check(history([READ_A]), [READ_A]).fired
    assert not _check(history([READ_A, READ_B, ("grep", {"pattern": "x"})]), [READ_A]).fired


def test_near_identical_calls_count_as_identical() -> None:
    earlier: list[Call] = [
        ("read_file", {"start": 1, "path": "A.py"}),
        ("read_file", {"PATH": " a.py  ", "start": 1}),
    ]
    verdict = _check(history(earlier), [("read_file", {"path": "a.PY", "start": 1})])
    call = 'read_file({"path": "a.py", "start": 1})'
    assert verdict.reason == f"repeated call: {call} 3 times in the last 3 tool calls"


def test_repeats_inside_one_parallel_turn_count() -> None:
    verdict = _check(history([READ_A]), [READ_A, READ_A])
    assert verdict.reason == f"repeated call: {A} 3 times in the last 3 tool calls"


def test_only_the_new_calls_are_judged() -> None:
    # a.py was read three times earlier (a loop already handled); a new, different call is fine
    assert not _check(history([READ_A, READ_A, READ_A]), [READ_B]).fired


def test_repetition_older_than_the_window_does_not_count() -> None:
    calls = [READ_A, READ_A, *_distinct(3)]
    policy = GuardPolicy(loop_window=4)
    assert not _check(history(calls), [READ_A], policy=policy).fired
    policy = GuardPolicy(loop_window=6)
    verdict = _check(history(calls), [READ_A], policy=policy)
    assert verdict.reason == f"repeated call: {A} 3 times in the last 6 tool calls"


def test_window_is_bounded_when_a_turn_has_as_many_calls_as_the_window() -> None:
    # window 2: the last two calls are the new [a.py, grep]; the older a.py is outside it
    policy = GuardPolicy(loop_window=2, loop_repeat_limit=2)
    verdict = _check(history([READ_A]), [READ_A, ("grep", {"pattern": "x"})], policy=policy)
    assert not verdict.fired, verdict.reason  # fires: "... 2 times in the last 3 tool calls"


# --------------------------------------------------------------------- oscillation


def test_a_b_a_b_oscillation_fires() -> None:
    verdict = _check(history([READ_A, READ_B, READ_A]), [READ_B])
    assert (verdict.guard, verdict.action) == ("loop", "nudge")
    assert verdict.reason == f"oscillation: {A} and {B} alternate in the last 4 tool calls"
    assert verdict.detail == {"pattern": "oscillation"}


def test_oscillation_needs_two_full_cycles_of_two_different_calls() -> None:
    assert not _check(history([READ_B, READ_A]), [READ_B]).fired  # B-A-B: three calls
    grep: Call = ("grep", {"pattern": "x"})
    assert not _check(history([READ_A, READ_B, READ_A]), [grep]).fired  # A-B-A-C
    assert not _check(history([READ_A, READ_A, READ_B]), [READ_B]).fired  # A-A-B-B


# --------------------------------------------------------------------- no progress


def _same_result_turns(n: int) -> list[Any]:
    """Return n turns of distinct calls that all return the same text."""
    return history(_distinct(n), ["No such file."] * n)


def test_no_progress_fires_after_k_turns_of_old_results() -> None:
    # turn 1 returns a result; the next 6 turns (= loop_no_progress_turns) return only it again
    verdict = _check(_same_result_turns(7), _distinct(1, start=7))
    assert (verdict.guard, verdict.action) == ("loop", "nudge")
    assert verdict.reason == (
        "no progress: 6 tool turns in a row returned only results seen before"
    )
    assert verdict.detail == {"pattern": "no_progress"}


def test_no_progress_below_k_turns_does_not_fire() -> None:
    # only 5 turns in a row repeat turn 1's result
    assert not _check(_same_result_turns(6), _distinct(1, start=6)).fired


def test_a_new_result_in_the_last_turns_is_progress() -> None:
    messages = _same_result_turns(6) + turn(_distinct(1, 6), ["found it"], prefix="last")
    assert not _check(messages, _distinct(1, start=7)).fired


def test_no_progress_counts_turns_with_parallel_results() -> None:
    messages = opening() + turn(_distinct(2), ["x", "y"], prefix="t0-")
    for i in range(1, 4):
        messages += turn(_distinct(2, 10 * i), ["y", "x"], prefix=f"t{i}-")
    policy = GuardPolicy(loop_no_progress_turns=3)
    verdict = _check(messages, _distinct(1, start=99), policy=policy)
    assert verdict.reason == (
        "no progress: 3 tool turns in a row returned only results seen before"
    )
    messages += turn(_distinct(2, 50), ["x", "new"], prefix="t5-")  # one new result
    assert not _check(messages, _distinct(1, start=99), policy=policy).fired


def test_legitimate_distinct_calls_never_fire() -> None:
    calls: list[Call] = []
    for i in range(30):
        calls.append(("read_file", {"path": f"src/m{i}.py"}))
        calls.append(("grep", {"pattern": f"def f{i}"}))
    for n in range(len(calls)):
        verdict = _check(history(calls[:n]), [calls[n]])
        assert not verdict.fired, (n, verdict.reason)


def test_a_turn_without_tool_calls_is_ok() -> None:
    assert not _check(history([READ_A, READ_A]), []).fired


# ---------------------------------------------------------------------------- ladder


@pytest.mark.parametrize(
    ("events", "action"),
    [
        ([], "nudge"),
        ([event("loop")], "escalate"),
        ([event("loop"), event("loop", verdict="escalate")], "halt"),
        ([event("tool_misuse")], "escalate"),
        ([event("tool_misuse"), event("loop")], "halt"),
        ([event("loop", agent=OTHER_AGENT), event("tool_misuse", agent=OTHER_AGENT)], "nudge"),
        ([event("drift"), event("budget"), event("validate")], "nudge"),
    ],
)
def test_recovery_ladder(events: list[dict[str, Any]], action: str) -> None:
    verdict = _check(history([READ_A, READ_A]), [READ_A], events=events)
    assert verdict.action == action
    assert verdict.reason == f"repeated call: {A} 3 times in the last 3 tool calls"


def test_ladder_guards_include_tool_misuse() -> None:
    assert LADDER_GUARDS == ("loop", "tool_misuse")


# ----------------------------------------------------------------------------- node


def _node_state(action: Literal["nudge", "halt"]) -> dict[str, Any]:
    reason = f"repeated call: {A} 3 times in the last 3 tool calls"
    last = ai([READ_A, READ_B], prefix="last")
    return {
        "messages": [*history([READ_A, READ_A]), last],
        "step": step(),
        "guard_events": [],
        "verdict": Verdict("loop", action, reason, {"pattern": "repeat"}).pending(),
    }


def test_node_nudge_answers_every_call_and_asks_for_another_approach() -> None:
    state = _node_state("nudge")
    reason = state["verdict"]["reason"]
    command = guard_node(LOOP, AGENT, model_node="model")(state)
    assert command.goto == "model"
    update = command.update
    assert update["verdict"] is None
    (recorded,) = update["guard_events"]
    assert (recorded["guard"], recorded["verdict"], recorded["agent"]) == ("loop", "nudge", AGENT)
    assert recorded["reason"] == reason
    last = state["messages"][-1]
    assert isinstance(last, AIMessage)
    answers = assert_calls_answered(last, update["messages"])
    assert all(m.content == f"not run: {reason}" for m in answers)
    *_, nudge = update["messages"]
    assert isinstance(nudge, HumanMessage)
    assert nudge.content == (
        f"Keel loop guard: {reason}. Repeating it will not give a different result. "
        "Use what you already have, try a different approach, or call submit_findings."
    )
    assert len(update["messages"]) == 3


def test_node_halt_stops_the_agent_with_a_partial_report() -> None:
    state = _node_state("halt")
    command = guard_node(LOOP, AGENT)(state)
    assert_halt(command, state, guard="loop", reason=state["verdict"]["reason"])


def test_node_without_verdict_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="loop guard entered without a verdict"):
        guard_node(LOOP, AGENT)({"messages": [], "verdict": None})


def test_tool_message_results_are_fingerprinted_by_content() -> None:
    # same content under different tool names and ids is still "seen before"
    messages = opening() + turn([READ_A], ["same"], prefix="x")
    for i in range(3):
        messages += [
            ai([("grep", {"pattern": f"q{i}"})], prefix=f"g{i}-"),
            ToolMessage("same", tool_call_id=f"g{i}-0", name="grep"),
        ]
    verdict = _check(messages, [READ_B], policy=GuardPolicy(loop_no_progress_turns=3))
    assert verdict.detail == {"pattern": "no_progress"}

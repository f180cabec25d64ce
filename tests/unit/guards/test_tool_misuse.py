"""Tool misuse: `check_after_model_call` against small `@tool` schemas, and the node."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool, tool

from keel.nodes.guards._verdict import Verdict
from keel.nodes.guards.base import guard_node
from keel.nodes.guards.tool_misuse import TOOL_MISUSE, check_after_model_call

from ._state import (
    AGENT,
    OTHER_AGENT,
    READ,
    Call,
    ai,
    assert_calls_answered,
    assert_halt,
    event,
    history,
    step,
)


@tool
def read_file(path: str, start: int = 1, end: int | None = None) -> str:
    """Read lines of a repository file."""
    return path


@tool
def grep(pattern: str, paths: list[str]) -> str:
    """Search files for a pattern."""
    return pattern


TOOLS: dict[str, BaseTool] = {"read_file": read_file, "grep": grep}
SUBMIT = "submit_findings"
UNKNOWN = "delete_file is not one of your tools (grep, read_file)"
NOT_INT = "Input should be a valid integer, unable to parse string as an integer"


def _check(calls: list[Call], *, events: list[dict[str, Any]] | None = None) -> Verdict:
    state = {"messages": history([("read_file", {"path": "a.py"})]), "guard_events": events or []}
    response = ai(calls, prefix="new")
    return check_after_model_call(state, response, agent=AGENT, tools=TOOLS, skip=(SUBMIT,))


def test_valid_calls_do_not_fire() -> None:
    verdict = _check(
        [
            ("read_file", {"path": "a.py"}),
            ("read_file", {"path": "a.py", "start": "3", "end": 9}),  # lax: "3" is an int
            ("grep", {"pattern": "eval", "paths": ["a.py", "b.py"]}),
        ]
    )
    assert not verdict.fired


def test_unknown_tool_fires_and_names_the_agents_tools() -> None:
    verdict = _check([("delete_file", {"path": "a.py"})])
    assert (verdict.guard, verdict.action) == ("tool_misuse", "nudge")
    assert verdict.reason == f"1 invalid tool call(s): {UNKNOWN}"
    assert verdict.detail == {"problems": {"new0": [UNKNOWN]}}


def test_arguments_failing_the_schema_fire_with_every_error() -> None:
    verdict = _check([("read_file", {"start": "x"})])
    expected = f"read_file: path: Field required; start: {NOT_INT}"
    assert verdict.reason == f"1 invalid tool call(s): {expected}"
    assert verdict.detail == {"problems": {"new0": [expected]}}


def test_each_bad_call_is_reported_under_its_id() -> None:
    verdict = _check(
        [
            ("read_file", {"path": "a.py"}),
            ("grep", {"pattern": "x", "paths": "a.py"}),
            ("delete_file", {}),
        ]
    )
    bad_grep = "grep: paths: Input should be a valid list"
    assert verdict.reason == f"2 invalid tool call(s): {bad_grep}; {UNKNOWN}"
    assert verdict.detail["problems"] == {"new1": [bad_grep], "new2": [UNKNOWN]}


def test_the_submit_tool_is_skipped() -> None:
    assert not _check([(SUBMIT, {"nonsense": True})]).fired
    verdict = _check([(SUBMIT, {}), ("delete_file", {})])
    assert verdict.detail["problems"] == {"new1": [UNKNOWN]}


@pytest.mark.parametrize(
    ("events", "action"),
    [
        ([], "nudge"),
        ([event("tool_misuse")], "nudge"),
        ([event("tool_misuse"), event("tool_misuse")], "escalate"),
        ([event("loop"), event("tool_misuse")], "escalate"),
        ([event("tool_misuse")] * 2 + [event("loop", verdict="escalate")], "halt"),
        ([event("tool_misuse", agent=OTHER_AGENT)] * 3, "nudge"),
        ([event("drift"), event("validate"), event("budget")], "nudge"),
    ],
)
def test_recovery_ladder_shared_with_the_loop_guard(
    events: list[dict[str, Any]], action: str
) -> None:
    verdict = _check([("delete_file", {})], events=events)
    assert verdict.action == action
    assert verdict.reason == f"1 invalid tool call(s): {UNKNOWN}"


# ----------------------------------------------------------------------------- node


def _node_state(action: Literal["nudge", "halt"]) -> dict[str, Any]:
    last = ai([("delete_file", {}), ("read_file", {"path": "a.py"}), (SUBMIT, {})], prefix="l")
    reason = f"1 invalid tool call(s): {UNKNOWN}"
    verdict = Verdict("tool_misuse", action, reason, {"problems": {"l0": [UNKNOWN]}})
    return {
        "messages": [*history([("read_file", {"path": "b.py"})]), last],
        "step": step(),
        "verdict": verdict.pending(),
    }


def test_node_nudge_answers_bad_calls_with_the_error_and_the_rest_as_not_run() -> None:
    state = _node_state("nudge")
    command = guard_node(TOOL_MISUSE, AGENT, model_node="model")(state)
    assert command.goto == "model"
    update = command.update
    assert update["verdict"] is None
    (recorded,) = update["guard_events"]
    assert (recorded["guard"], recorded["verdict"], recorded["agent"]) == (
        "tool_misuse",
        "nudge",
        AGENT,
    )
    last = state["messages"][-1]
    assert isinstance(last, AIMessage)
    answers = assert_calls_answered(last, update["messages"])
    not_run = "not run: another call in the same turn was invalid; repeat it if needed"
    assert [m.content for m in answers] == [
        f"Error: {UNKNOWN}. Fix the call and try again.",
        not_run,
        not_run,
    ]
    assert all(isinstance(m, ToolMessage) for m in update["messages"])
    assert not any(isinstance(m, HumanMessage) for m in update["messages"])


def test_node_halt_stops_the_agent() -> None:
    state = _node_state("halt")
    command = guard_node(TOOL_MISUSE, AGENT)(state)
    assert_halt(command, state, guard="tool_misuse", reason=state["verdict"]["reason"])


def test_node_without_verdict_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="tool_misuse guard entered without a verdict"):
        guard_node(TOOL_MISUSE, AGENT)({"messages": []})


# ------------------------------------------------------------------ malformed calls

NOT_JSON = "{not json,"


def _malformed(
    *calls: tuple[str | None, str | None, str | None], valid: list[Call] | None = None
) -> AIMessage:
    """A reply whose `invalid_tool_calls` are `(id, name, raw arguments)`, as the client parses."""
    message = ai(valid or [], prefix="v")
    return AIMessage(
        content="",
        id="msg-1",
        tool_calls=message.tool_calls,
        invalid_tool_calls=[
            {"type": "invalid_tool_call", "id": i, "name": n, "args": a, "error": "parse"}
            for i, n, a in calls
        ],
    )


def _check_reply(response: AIMessage, events: list[dict[str, Any]] | None = None) -> Verdict:
    state = {"messages": history([READ]), "guard_events": events or []}
    return check_after_model_call(state, response, agent=AGENT, tools=TOOLS, skip=(SUBMIT,))


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        (
            "grep",
            NOT_JSON,
            "grep: arguments that are not JSON (Expecting property name enclosed in double "
            "quotes at char 1): '{not json,'; send one JSON object with pattern, paths",
        ),
        ("read_file", None, "read_file: no arguments; send one JSON object with path, start, end"),
        ("read_file", "  ", "read_file: no arguments; send one JSON object with path, start, end"),
        (
            "grep",
            "[1, 2]",
            "grep: arguments that are not a JSON object: '[1, 2]'; send one JSON object with "
            "pattern, paths",
        ),
        (
            "rm",
            NOT_JSON,
            "rm: arguments that are not JSON (Expecting property name enclosed in double quotes "
            "at char 1): '{not json,'; rm is not one of your tools (grep, read_file)",
        ),
        (
            None,
            NOT_JSON,
            "a tool call without a tool name (arguments '{not json,'); name one of your tools",
        ),
        # the submit tool's schema is the validate guard's, but unparsable is malformed
        (
            SUBMIT,
            NOT_JSON,
            "submit_findings: arguments that are not JSON (Expecting property "
            "name enclosed in double quotes at char 1): '{not json,'; send one JSON object",
        ),
    ],
)
def test_malformed_call_fires_with_the_parse_error(
    name: str | None, raw: str | None, expected: str
) -> None:
    verdict = _check_reply(_malformed(("bad1", name, raw)))
    assert (verdict.guard, verdict.action) == ("tool_misuse", "nudge")
    assert verdict.reason == f"1 invalid tool call(s): {expected}"
    assert verdict.detail == {"problems": {"bad1": [expected]}}


def test_malformed_calls_without_ids_are_keyed_by_position_beside_valid_ones() -> None:
    reply = _malformed((None, "grep", NOT_JSON), (None, "read_file", None), valid=[READ])
    verdict = _check_reply(reply)
    assert list(verdict.detail["problems"]) == ["invalid:0", "invalid:1"]
    assert verdict.reason.startswith("2 invalid tool call(s): grep: arguments that are not JSON")


def test_long_raw_arguments_are_quoted_short() -> None:
    verdict = _check_reply(_malformed(("b", "grep", "{" + "x" * 500)))
    assert len(verdict.reason) < 250 and "…'" in verdict.reason


@pytest.mark.parametrize(
    ("events", "action"),
    [
        ([], "nudge"),
        ([event("tool_misuse")], "nudge"),
        ([event("tool_misuse")] * 2, "escalate"),
        ([event("loop"), event("tool_misuse", verdict="escalate")], "escalate"),
        ([event("tool_misuse")] * 2 + [event("tool_misuse", verdict="escalate")], "halt"),
    ],
)
def test_malformed_calls_climb_the_loop_ladder(events: list[dict[str, Any]], action: str) -> None:
    # nudge, nudge, escalate, halt: at most four malformed turns per agent
    assert _check_reply(_malformed(("b", "grep", NOT_JSON)), events).action == action


def _malformed_state(action: Literal["nudge", "halt"], last: AIMessage) -> dict[str, Any]:
    verdict = _check_reply(last)
    pending = Verdict("tool_misuse", action, verdict.reason, verdict.detail).pending()
    return {"messages": [*history([READ]), last], "step": step(), "verdict": pending}


def test_node_repairs_the_history_and_answers_every_malformed_call() -> None:
    last = _malformed(("b1", "grep", NOT_JSON), (None, None, "{"), valid=[READ])
    command = guard_node(TOOL_MISUSE, AGENT)(_malformed_state("nudge", last))
    assert command.goto == "agent"
    repaired, *answers = command.update["messages"]
    # same message id: the channel replaces the model's message instead of appending one
    assert isinstance(repaired, AIMessage) and repaired.id == "msg-1"
    assert repaired.tool_calls == last.tool_calls
    (first, second) = repaired.invalid_tool_calls
    assert (first["id"], first["name"], first["args"]) == ("b1", "grep", "{}")
    assert second["name"] == "unnamed_tool_call" and second["args"] == "{}"
    assert second["id"].startswith("call_") and len(second["id"]) <= 40
    # every call id of the repaired message has exactly one answer, in order
    ids = [c["id"] for c in repaired.tool_calls] + [c["id"] for c in repaired.invalid_tool_calls]
    assert [m.tool_call_id for m in answers] == ids
    assert all(isinstance(m, ToolMessage) and m.status == "error" for m in answers)
    assert answers[0].content.startswith("not run: another call in the same turn was invalid")
    assert answers[1].content.startswith("Error: grep: arguments that are not JSON")
    assert "'{not json,'" in answers[1].content  # the model sees what it sent
    assert answers[2].content.startswith("Error: a tool call without a tool name")
    (recorded,) = command.update["guard_events"]
    assert (recorded["guard"], recorded["verdict"]) == ("tool_misuse", "nudge")


def test_node_halt_answers_the_malformed_calls_too() -> None:
    last = _malformed(("b1", "grep", NOT_JSON))
    state = _malformed_state("halt", last)
    command = guard_node(TOOL_MISUSE, AGENT)(state)
    assert command.goto == "__end__"
    repaired, answer = command.update["messages"]
    assert isinstance(repaired, AIMessage) and repaired.invalid_tool_calls[0]["args"] == "{}"
    assert answer.tool_call_id == "b1"
    assert answer.content == f"not run: {state['verdict']['reason']}"
    assert command.update["plan"] == [{**state["step"], "status": "blocked"}]
    assert command.update["handoffs"][0]["confidence"] == 0.0

"""Hand-built state for the guard tests: messages, plan steps, events, and node checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.types import Command

AGENT = "security"
OTHER_AGENT = "style"

Call = tuple[str, dict[str, Any]]


def opening() -> list[BaseMessage]:
    """System prompt + task, as the specialist's first two messages."""
    return [SystemMessage("You are the security specialist."), HumanMessage("Review a.py, b.py.")]


def ai(calls: Sequence[Call], *, prefix: str = "c", content: str = "") -> AIMessage:
    """An AIMessage whose tool calls get ids `{prefix}0`, `{prefix}1`, ..."""
    return AIMessage(
        content=content,
        tool_calls=[
            {"name": name, "args": args, "id": f"{prefix}{i}", "type": "tool_call"}
            for i, (name, args) in enumerate(calls)
        ],
    )


def turn(calls: Sequence[Call], results: Sequence[str], *, prefix: str) -> list[BaseMessage]:
    """One tool turn: the model's calls and one ToolMessage per call."""
    message = ai(calls, prefix=prefix)
    return [
        message,
        *(
            ToolMessage(content=result, tool_call_id=call["id"], name=call["name"])
            for call, result in zip(message.tool_calls, results, strict=True)
        ),
    ]


def history(calls: Iterable[Call], results: Iterable[str] | None = None) -> list[BaseMessage]:
    """Opening + one single-call turn per call (results default to distinct texts)."""
    calls = list(calls)
    results = list(results) if results is not None else [f"result {i}" for i in range(len(calls))]
    messages = opening()
    for i, (call, result) in enumerate(zip(calls, results, strict=True)):
        messages += turn([call], [result], prefix=f"t{i}-")
    return messages


def event(guard: str, agent: str = AGENT, verdict: str = "nudge") -> dict[str, Any]:
    """A prior guard event, as the state's audit trail holds it."""
    return {"guard": guard, "verdict": verdict, "reason": "earlier", "agent": agent, "at": "t"}


def step(files: Sequence[str] = ("a.py", "b.py")) -> dict[str, Any]:
    """The specialist's plan step."""
    return {
        "id": AGENT,
        "specialist": AGENT,
        "files": list(files),
        "instructions": "Check a.py and b.py for injection.",
        "status": "active",
    }


TASK = {
    "goal": "Review the last commit.",
    "repo": "/repo",
    "mode": "review",
    "rev_range": "HEAD~1..HEAD",
    "staged": False,
}


def assert_calls_answered(last: AIMessage, replies: Sequence[BaseMessage]) -> list[ToolMessage]:
    """Every tool call of `last` is answered exactly once, in order, by an error ToolMessage."""
    answers = [m for m in replies if isinstance(m, ToolMessage)]
    assert [m.tool_call_id for m in answers] == [c["id"] for c in last.tool_calls]
    assert [m.name for m in answers] == [c["name"] for c in last.tool_calls]
    assert all(m.status == "error" for m in answers)
    return answers


def assert_halt(
    command: Command[Any], state: Mapping[str, Any], *, guard: str, reason: str
) -> None:
    """A halt: END, event, blocker, zero-confidence handoff, blocked step, calls answered."""
    assert command.goto == "__end__"
    update = command.update
    assert isinstance(update, dict)
    assert update["verdict"] is None
    (recorded,) = update["guard_events"]
    assert {k: recorded[k] for k in ("guard", "verdict", "reason", "agent")} == {
        "guard": guard,
        "verdict": "halt",
        "reason": reason,
        "agent": AGENT,
    }
    assert recorded["at"]
    assert update["blockers"] == [reason]
    assert update["handoffs"] == [
        {
            "source": AGENT,
            "target": "report",
            "summary": f"stopped by the {guard} guard: {reason}",
            "evidence": [],
            "open_questions": [f"{AGENT} did not finish; its files are not fully reviewed"],
            "confidence": 0.0,
        }
    ]
    assert update["plan"] == [{**state["step"], "status": "blocked"}]
    last = state["messages"][-1]
    if isinstance(last, AIMessage) and last.tool_calls:
        answers = assert_calls_answered(last, update["messages"])
        assert all(m.content == f"not run: {reason}" for m in answers)
        assert len(update["messages"]) == len(answers)
    else:
        assert update["messages"] == []


READ: Call = ("read_file", {"path": "a.py"})
"""A typical in-scope call."""

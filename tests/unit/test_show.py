"""`keel show`'s view of a thread: in-flight subgraphs, continue commands, Markdown.

The in-flight test runs a real two-level graph on an in-memory checkpointer: one
subgraph finishes in the step in which the other waits at a guard's `interrupt()`.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send, interrupt
from typing_extensions import TypedDict

from keel.core.state import GuardEvent, PendingVerdict, Usage, add_usage
from keel.registry import ThreadRecord
from keel.show import SHOW_KEYS, ThreadView, continue_commands, in_flight, render_markdown


def _usage(tokens: int) -> Usage:
    return Usage(
        input_tokens=tokens, output_tokens=0, cost_usd=0.0, model_calls=1, tool_calls=0, seconds=0
    )


def _event(agent: str) -> GuardEvent:
    return GuardEvent(
        guard="loop", verdict="nudge", reason="3 repeats", agent=agent, at="2026-01-01T00:00:00"
    )


class _Parent(TypedDict):
    usage: Annotated[Usage, add_usage]
    guard_events: Annotated[list[GuardEvent], operator.add]


class _Agent(TypedDict):
    name: str
    usage: Annotated[Usage, add_usage]
    guard_events: Annotated[list[GuardEvent], operator.add]
    verdict: PendingVerdict | None


def _agent_graph() -> Any:
    def agent(state: _Agent) -> dict[str, Any]:
        update: dict[str, Any] = {"usage": _usage(10), "guard_events": [_event(state["name"])]}
        if state["name"] == "slow":
            update["verdict"] = PendingVerdict(
                guard="budget", action="escalate", reason="80% of it: tokens 8/10", detail={}
            )
        return update

    def budget(state: _Agent) -> dict[str, Any]:
        interrupt({"packet": {"guard": "budget", "agent": state["name"]}})
        return {"verdict": None}

    builder = StateGraph(_Agent)
    builder.add_node("agent", agent)
    builder.add_node("budget", budget)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", lambda s: "budget" if s.get("verdict") else END)
    builder.add_edge("budget", END)
    return builder.compile()


def _pipeline() -> Any:
    sub = _agent_graph()
    builder = StateGraph(_Parent)
    builder.add_node("start", lambda state: {"usage": _usage(100)})
    builder.add_node("fast", sub)
    builder.add_node("slow", sub)
    builder.add_edge(START, "start")
    builder.add_conditional_edges(
        "start",
        lambda state: [Send("fast", {"name": "fast"}), Send("slow", {"name": "slow"})],
        ["fast", "slow"],
    )
    builder.add_edge("fast", END)
    builder.add_edge("slow", END)
    return builder.compile(checkpointer=InMemorySaver())


def test_in_flight_counts_a_finished_sibling_once_and_shows_the_pending_verdict() -> None:
    graph = _pipeline()
    config: Any = {"configurable": {"thread_id": "t"}}
    graph.invoke({}, config)
    snapshot = graph.get_state(config, subgraphs=True)
    assert len(snapshot.interrupts) == 1
    flight = in_flight(snapshot)
    parent = snapshot.values
    events = [*parent["guard_events"], *flight.guard_events]
    # `fast` finished in the open step: its writes are folded into the parent values
    assert [e["agent"] for e in parent["guard_events"]] == ["fast"]
    assert [(e["agent"], e["guard"], e.get("pending")) for e in flight.guard_events] == [
        ("slow", "loop", False),
        ("slow", "budget", True),
    ]
    assert [e["agent"] for e in events].count("fast") == 1
    assert flight.guard_events[1]["verdict"] == "escalate"
    assert flight.guard_events[1]["reason"] == "80% of it: tokens 8/10"
    total = add_usage(parent["usage"], flight.usage)
    assert total["input_tokens"] == 100 + 10 + 10 and total["model_calls"] == 3
    assert flight.errors == []


def _record(status: str = "awaiting_approval") -> ThreadRecord:
    return ThreadRecord(
        thread_id="kr-1",
        workflow="review",
        repo="/r",
        status=status,
        model="offline",
        created_at="2026-01-01T00:00:00+00:00",
        updated_at="2026-01-01T00:00:00+00:00",
        heartbeat_at="2026-01-01T00:00:00+00:00",
        cost_usd=0.0,
        findings=0,
        context={},
        error="",
    )


def _budget_request() -> dict[str, Any]:
    return {
        "interrupt_id": "i1",
        "action_requests": [
            {
                "id": "budget:security",
                "name": "grant_budget",
                "args": {"tokens": 1800, "cost_usd": 3.0, "model_calls": 120, "tool_calls": 300},
                "description": "[guard budget] 80% of it",
            }
        ],
        "review_configs": [
            {"action_name": "grant_budget", "allowed_decisions": ["approve", "edit", "reject"]}
        ],
        "packet": {"summary": "80% of it", "guard": "budget", "agent": "security"},
    }


def _view(status: str, requests: list[dict[str, Any]], report: Any = None) -> ThreadView:
    return ThreadView(
        thread_id="kr-1",
        status=status,
        report=report,
        review_requests=requests,
        guard_events=[dict(_event("security")) | {"pending": True}],
        usage=_usage(5),
        record=_record("failed" if status == "failed" else "awaiting_approval"),
        task_errors=[],
    )


def test_continue_commands_follow_the_status() -> None:
    waiting = continue_commands(_view("awaiting_approval", [_budget_request()]))
    assert waiting == [
        "keel approve kr-1",
        """keel approve kr-1 --edit '{"grant_budget": {"tokens": 1800}}'""",
        "keel reject kr-1 --reason '...'",
    ]
    assert continue_commands(_view("failed", [])) == ["keel resume kr-1"]
    assert continue_commands(_view("done", [])) == []
    stale = {
        "interrupt_id": "i2",
        "action_requests": [{"id": "stale_approval", "name": "stale_approval", "args": {}}],
    }
    assert continue_commands(_view("awaiting_approval", [stale])) == [
        "keel rereview kr-1",
        "keel reject kr-1 --reason '...'",
    ]


def test_markdown_names_the_guard_the_request_and_the_commands() -> None:
    text = render_markdown(_view("awaiting_approval", [_budget_request()]))
    assert "**Status: awaiting_approval** — waiting for a human at a guard escalation (budget)" in (
        text
    )
    assert "No report yet" in text
    assert "### 1. budget guard on security" in text
    assert "| loop | nudge (pending) | security |" in text
    assert "keel approve kr-1 --edit" in text and "keel reject kr-1 --reason" in text


def test_json_has_exactly_the_six_keys_with_or_without_a_report() -> None:
    bare = _view("awaiting_approval", [_budget_request()]).as_json()
    assert tuple(bare) == SHOW_KEYS and bare["report"] is None
    reported = _view("done", [], report={"markdown": "# r", "data": {"findings": []}}).as_json()
    assert tuple(reported) == SHOW_KEYS and reported["report"] == {"findings": []}

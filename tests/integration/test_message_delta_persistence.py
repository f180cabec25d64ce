"""The agents' delta channels (`messages`, `guard_events`) on SQLite and PostgreSQL.

Both a real SQLite file and a real PostgreSQL server.

A guarded agent loop whose compressor fires again and again (each firing writes
`RemoveMessage(REMOVE_ALL_MESSAGES)` and the rebuilt channel, and appends a guard event)
runs twice, side by side: once on `GuardedState` (the `DeltaChannel`s) and once on the
same state with the old `Annotated[list, add_messages]` / `Annotated[list, operator.add]`
channels. Every checkpoint of the two threads, read back through fresh database handles
(as another process would), must hold the same messages, guard events and usage;
a resumed thread must go on agreeing; and `keel prune` deleting another thread must not
break the reconstruction of a surviving one (deleting rows a delta channel replays would
silently empty it).
"""

from __future__ import annotations

import operator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from langchain_core.messages import AnyMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode
from langgraph.types import Command

from bench._model import FakeToolModel, lookup
from keel.core.state import GuardedState, GuardEvent
from keel.nodes.guards.attach import GUARD_NODES, attach_guards
from keel.nodes.guards.policy import GuardPolicy
from keel.ops import prune
from keel.persistence import open_persistence


class LegacyState(GuardedState):
    """`GuardedState` with the channels it had before: the whole list in every checkpoint."""

    messages: Annotated[list[AnyMessage], add_messages]  # type: ignore[misc]
    guard_events: Annotated[list[GuardEvent], operator.add]  # type: ignore[misc]


POLICY = GuardPolicy(
    compress_at_tokens=500,
    compress_keep_last=4,
    max_agent_steps=10**6,
    max_tool_calls=10**6,
    budget_model_calls=10**6,
    budget_tool_calls=10**6,
    budget_tokens=10**9,
)
TURNS = 40
USAGE = {
    "input_tokens": 1,
    "output_tokens": 1,
    "cost_usd": 0.0,
    "model_calls": 1,
    "tool_calls": 1,
    "seconds": 0.0,
}


def _graph(state: type[Any], model: FakeToolModel, saver: BaseCheckpointSaver[Any]) -> Any:
    """The guarded model -> tools loop (as bench/_graphs.py builds it) on `state`."""
    builder = StateGraph(state)

    def agent(s: dict[str, Any]) -> Command[Any]:
        verdict = guards.before_model_call(s, POLICY)  # type: ignore[arg-type]
        if verdict.fired:
            return Command(goto=verdict.guard, update={"verdict": verdict.pending()})
        response = model.invoke(s.get("messages", []))
        update = {"messages": [response], "usage": USAGE}
        return Command(goto="tools" if response.tool_calls else END, update=update)

    builder.add_node("agent", agent, destinations=("tools", END, *GUARD_NODES))
    builder.add_node("tools", ToolNode([lookup]))
    guards = attach_guards(builder, agent="bench", tools=[lookup], submit_tool="none")
    builder.add_edge(START, "agent")
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=saver)


def _config(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}, "recursion_limit": 10_000}


def _start() -> dict[str, Any]:
    return {"messages": [SystemMessage("audit"), HumanMessage("audit it")], "clock_start": ""}


def _plain(messages: list[BaseMessage]) -> list[tuple[str, Any, Any, Any]]:
    """A message without its id: the two threads' ids are random and differ."""
    return [
        (m.type, m.content, getattr(m, "tool_calls", None), getattr(m, "tool_call_id", None))
        for m in messages
    ]


def _history(url: str, state: type[Any], thread: str) -> list[list[BaseMessage]]:
    """Messages at every checkpoint of `thread`, oldest first, read on fresh handles."""
    with open_persistence(url) as p:
        graph = _graph(state, FakeToolModel(), p.checkpointer)
        snapshots = list(graph.get_state_history(_config(thread)))
    return [list(s.values.get("messages", [])) for s in reversed(snapshots)]


def _audit_history(url: str, state: type[Any], thread: str) -> list[tuple[Any, Any]]:
    """Guard events and usage at every checkpoint of `thread`, oldest first.

    Read on fresh handles; events without their timestamps, which differ between threads.
    """
    with open_persistence(url) as p:
        graph = _graph(state, FakeToolModel(), p.checkpointer)
        snapshots = list(graph.get_state_history(_config(thread)))
    return [
        (
            [{k: v for k, v in e.items() if k != "at"} for e in s.values.get("guard_events", [])],
            s.values.get("usage"),
        )
        for s in reversed(snapshots)
    ]


def _run(url: str, state: type[Any], thread: str, turns: int, first: bool) -> list[BaseMessage]:
    with open_persistence(url) as p:
        model = FakeToolModel()
        model.calls = 0 if first else 10_000  # distinct tool calls on the resumed leg
        graph = _graph(state, model, p.checkpointer)
        model.script(turns)
        payload = _start() if first else {"messages": [HumanMessage("continue")]}
        out = graph.invoke(payload, _config(thread), durability="sync")
        saved = graph.get_state(_config(thread)).values
    events = saved["guard_events"]
    assert sum(e["guard"] == "compress" for e in events) >= 3, "the compressor must fire"
    # the trail and the spend read back from the database are what the live run held
    assert events == out["guard_events"]
    assert saved["usage"] == out["usage"]
    return list(out["messages"])


def test_delta_channel_rebuilds_what_the_old_channel_stored(db_url: str) -> None:
    live = _run(db_url, GuardedState, "delta", TURNS, first=True)
    _run(db_url, LegacyState, "legacy", TURNS, first=True)
    delta, legacy = _history(db_url, GuardedState, "delta"), _history(db_url, LegacyState, "legacy")
    assert len(delta) == len(legacy) > 2 * TURNS
    assert [_plain(m) for m in delta] == [_plain(m) for m in legacy]
    # ids survive the replay: the rebuilt head equals what the run itself returned
    assert [m.model_dump() for m in delta[-1]] == [m.model_dump() for m in live]
    assert [m.id for m in _history(db_url, GuardedState, "delta")[-1]] == [m.id for m in live]
    audit = _audit_history(db_url, GuardedState, "delta")
    assert audit == _audit_history(db_url, LegacyState, "legacy")
    assert len({len(events) for events, _ in audit}) >= 4  # the trail grew along the way

    # resume both threads in a new "process" and compare again
    live = _run(db_url, GuardedState, "delta", 15, first=False)
    _run(db_url, LegacyState, "legacy", 15, first=False)
    delta, legacy = _history(db_url, GuardedState, "delta"), _history(db_url, LegacyState, "legacy")
    assert [_plain(m) for m in delta] == [_plain(m) for m in legacy]
    assert [m.model_dump() for m in delta[-1]] == [m.model_dump() for m in live]
    assert _audit_history(db_url, GuardedState, "delta") == _audit_history(
        db_url, LegacyState, "legacy"
    )


def test_prune_of_other_threads_leaves_a_survivor_whole(db_url: str) -> None:
    for thread in ("victim", "keeper"):
        _run(db_url, GuardedState, thread, 30, first=True)
    before = _history(db_url, GuardedState, "keeper")
    audit_before = _audit_history(db_url, GuardedState, "keeper")
    with open_persistence(db_url) as p:
        for thread, status in (("victim", "done"), ("keeper", "running")):
            p.registry.create(thread, workflow="bench", repo="/r", model="fake", context={})
            p.registry.update(thread, status=status)
        doomed = prune(p, older_than_days=0, dry_run=False, now=datetime.now(UTC) + timedelta(1))
        assert [r.thread_id for r in doomed] == ["victim"]
        assert p.checkpointer.get_tuple(_config("victim")) is None
    after = _history(db_url, GuardedState, "keeper")
    assert [[m.model_dump() for m in ms] for ms in after] == [
        [m.model_dump() for m in ms] for ms in before
    ]
    assert len(after[-1]) > 4
    assert _audit_history(db_url, GuardedState, "keeper") == audit_before


def test_a_thread_checkpointed_with_the_old_channel_reads_and_resumes(db_url: str) -> None:
    """Threads saved before the change: the old list blobs seed the delta channels."""
    _run(db_url, LegacyState, "old", TURNS, first=True)
    old = _history(db_url, LegacyState, "old")
    read_as_delta = _history(db_url, GuardedState, "old")
    assert [[m.model_dump() for m in ms] for ms in read_as_delta] == [
        [m.model_dump() for m in ms] for ms in old
    ]
    old_events = _audit_history(db_url, LegacyState, "old")
    assert _audit_history(db_url, GuardedState, "old") == old_events
    live = _run(db_url, GuardedState, "old", 15, first=False)
    after = _history(db_url, GuardedState, "old")
    assert [m.model_dump() for m in after[-1]] == [m.model_dump() for m in live]
    assert any(m.content == "continue" for ms in after for m in ms)
    # the old trail carries on: its first checkpoints read as before, then it grows
    resumed = _audit_history(db_url, GuardedState, "old")
    assert resumed[: len(old_events)] == old_events
    assert len(resumed[-1][0]) > len(old_events[-1][0])

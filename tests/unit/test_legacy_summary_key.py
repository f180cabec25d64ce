"""A checkpoint that holds a state key the current schema no longer declares still resumes.

Keel's compressor once kept a copy of its running summary in the agent state's `summary`
key (as well as in the message channel, where it still is). Dropping that key from
`GuardedState` must not strand a thread whose checkpoints have it: a channel value in the
checkpoint, or a pending write of a task that finished in the step that paused. The
"previous" graph here is the agent state plus `summary`; the current one is
`SpecialistState` without it (whether or not keel/core/state.py still declares it), both on
Keel's own SQLite checkpointer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_type_hints

from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from typing_extensions import TypedDict

from keel.core.state import SpecialistState
from keel.persistence import open_persistence

SUMMARY = "## Summary of earlier turns\n- called run_bandit"


class PreviousSpecialistState(SpecialistState):
    """The agent state as a Keel that copied the compressor's summary wrote it."""

    summary: str


CurrentSpecialistState = TypedDict(  # type: ignore[misc]
    "CurrentSpecialistState",
    {
        key: hint
        for key, hint in get_type_hints(SpecialistState, include_extras=True).items()
        if key != "summary"
    },
)
"""`SpecialistState` with the legacy key dropped."""


def _graph(schema: type[Any], *, writes_summary: bool) -> StateGraph[Any]:
    """Two tasks in one step: `fold` (writes the summary) and `gate` (pauses)."""

    def fold(state: dict[str, Any]) -> dict[str, Any]:
        update: dict[str, Any] = {"messages": [HumanMessage(SUMMARY, id="summary")]}
        if writes_summary:
            update["summary"] = SUMMARY
        return update

    def gate(state: dict[str, Any]) -> dict[str, Any]:
        interrupt({"question": "continue?"})
        return {"handoffs": [{"source": "gate", "summary": "approved"}]}

    builder = StateGraph(schema)
    builder.add_node("fold", fold)
    builder.add_node("gate", gate)
    builder.add_edge(START, "fold")
    builder.add_edge(START, "gate")
    builder.add_edge("fold", END)
    builder.add_edge("gate", END)
    return builder


def test_a_thread_with_the_summary_key_resumes_on_the_current_state(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keel.db'}"
    config: Any = {"configurable": {"thread_id": "legacy-summary"}}
    with open_persistence(url) as persistence:
        previous = _graph(PreviousSpecialistState, writes_summary=True).compile(
            checkpointer=persistence.checkpointer
        )
        # the input step checkpoints a `summary` value; `fold`'s write of it is pending
        paused = previous.invoke({"messages": [], "summary": "earlier"}, config)
        assert paused["__interrupt__"]
        stored = previous.get_state(config)
        assert stored.next == ("gate",) and "summary" in stored.values

    with open_persistence(url) as persistence:
        current = _graph(CurrentSpecialistState, writes_summary=False).compile(
            checkpointer=persistence.checkpointer
        )
        waiting = current.get_state(config)
        assert waiting.next == ("gate",) and len(waiting.interrupts) == 1
        done = current.invoke(Command(resume="yes"), config)
        assert [m.content for m in done["messages"]] == [SUMMARY]
        assert done["handoffs"] == [{"source": "gate", "summary": "approved"}]
        final = current.get_state(config)
        assert final.next == ()
        assert len(list(current.get_state_history(config))) >= 2
        assert "summary" not in done and "summary" not in final.values

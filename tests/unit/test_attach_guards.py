"""`attach_guards` on a second, minimal graph: a plain agent loop that is not a Keel specialist.

The graph is ~20 lines: a model node that calls the two checks where it routes, a tool
node, and the guard nodes `attach_guards` adds. No supervisor, no report, no review gate.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Command

from graphs.state import GuardedState
from nodes.guards.attach import GUARD_NODES, attach_guards
from nodes.guards.policy import GuardPolicy
from tests.support.scripted import ScriptedChatModel


@tool
def weather(city: str) -> str:
    """Look up the weather."""
    return json.dumps({"city": city, "sky": "grey"})


def build(model: ScriptedChatModel, policy: GuardPolicy) -> Any:
    builder = StateGraph(GuardedState)

    def agent(state: GuardedState) -> Command[Any]:
        messages = state.get("messages", [])
        verdict = guards.before_model_call(state, policy)
        if verdict.fired:
            return Command(goto=verdict.guard, update={"verdict": verdict.pending()})
        response = model.invoke(messages)
        usage = {
            "input_tokens": 1,
            "output_tokens": 1,
            "cost_usd": 0.0,
            "model_calls": 1,
            "tool_calls": 0,
            "seconds": 0.0,
        }
        update = {"messages": [response], "usage": usage}
        if not response.tool_calls:
            return Command(goto=END, update=update)
        verdict = guards.after_model_call(state, response, policy)
        if verdict.fired:
            return Command(goto=verdict.guard, update=update | {"verdict": verdict.pending()})
        return Command(goto="tools", update=update)

    builder.add_node("agent", agent, destinations=("tools", END, *GUARD_NODES))
    builder.add_node("tools", ToolNode([weather]))
    guards = attach_guards(builder, agent="forecaster", tools=[weather], submit_tool="none")
    builder.add_edge(START, "agent")
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=InMemorySaver())


def _ask(city: str, i: int) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": "weather", "args": {"city": city}, "id": f"w{i}"}])


START_STATE = {"messages": [HumanMessage("weather in Oslo?")], "clock_start": ""}


def test_guard_nodes_are_named_in_the_minimal_graph() -> None:
    graph = build(ScriptedChatModel(responses=[]), GuardPolicy())
    assert set(GUARD_NODES) <= set(graph.get_graph().nodes)


def test_loop_guard_nudges_a_repeating_minimal_agent() -> None:
    model = ScriptedChatModel(
        responses=[
            _ask("Oslo", 0),
            _ask(" oslo ", 1),
            _ask("OSLO", 2),
            AIMessage("grey skies"),
        ]
    )
    graph = build(model, GuardPolicy())
    result = graph.invoke(START_STATE, {"configurable": {"thread_id": "m1"}})
    (event,) = result["guard_events"]
    assert (event["guard"], event["verdict"], event["agent"]) == ("loop", "nudge", "forecaster")
    assert "3 times" in event["reason"]
    assert result["messages"][-1].content == "grey skies"
    model.assert_complete()


def test_step_limit_halts_the_minimal_agent() -> None:
    model = ScriptedChatModel(responses=[_ask("Oslo", 0), _ask("Bergen", 1)])
    graph = build(model, GuardPolicy(max_agent_steps=2))
    result = graph.invoke(START_STATE, {"configurable": {"thread_id": "m2"}})
    assert [(e["guard"], e["verdict"]) for e in result["guard_events"]] == [("step_limit", "halt")]
    assert result["handoffs"][0]["confidence"] == 0.0
    model.assert_complete()

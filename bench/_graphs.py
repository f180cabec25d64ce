"""The loops being compared: bare LangGraph, Keel's guarded loop, LangChain's `create_agent`.

All three run the same `FakeToolModel` and the same `lookup` tool through a model → tools
loop. Keel's loop is the one of `tests/unit/test_attach_guards.py`: the guard checks run
inside the model node and the guard nodes (added by `attach_guards`) are entered only when
a check fires.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import Command

from keel.core.state import GuardedState
from keel.nodes.guards.attach import attach_guards
from keel.nodes.guards.policy import GuardPolicy

from ._model import FakeToolModel, lookup

__all__ = [
    "QUIET",
    "build_bare",
    "build_keel",
    "build_langchain",
    "opening",
    "quiet_policy",
]

_HUGE = 10**9


def quiet_policy(**overrides: Any) -> GuardPolicy:
    """A policy under which no guard fires on a long benign loop (limits out of reach)."""
    settings: dict[str, Any] = {
        "max_agent_steps": _HUGE,
        "max_tool_calls": _HUGE,
        "budget_tokens": _HUGE,
        "budget_cost_usd": float(_HUGE),
        "budget_model_calls": _HUGE,
        "budget_tool_calls": _HUGE,
        "deadline_s": float(_HUGE),
        "compress_at_tokens": _HUGE,
    }
    settings.update(overrides)
    return GuardPolicy(**settings)


QUIET = quiet_policy()
"""The default no-fire policy."""


def opening(task: str = "audit the repository") -> list[BaseMessage]:
    """System prompt and task: the two opening messages the compressor keeps."""
    return [SystemMessage("You are a code auditor. Use lookup."), HumanMessage(task)]


def build_bare(model: FakeToolModel, checkpointer: BaseCheckpointSaver[Any] | None = None) -> Any:
    """The bare model → tools loop (`MessagesState`, `tools_condition`)."""

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode([lookup]))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition, {"tools": "tools", END: END})
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=checkpointer)


_USAGE = {
    "input_tokens": 1,
    "output_tokens": 1,
    "cost_usd": 0.0,
    "model_calls": 1,
    "tool_calls": 0,
    "seconds": 0.0,
}


def build_keel(
    model: FakeToolModel,
    policy: GuardPolicy = QUIET,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
) -> Any:
    """Keel's guarded loop: checks in the model node, guard nodes from `attach_guards`."""
    builder = StateGraph(GuardedState)
    guards = attach_guards(builder, agent="bench", tools=[lookup], submit_tool="none")

    def respond(channel: list[BaseMessage]) -> tuple[BaseMessage, dict[str, Any]]:
        response = model.invoke(channel)
        tool_calls = len(getattr(response, "tool_calls", []) or [])
        return response, {"messages": [response], "usage": _USAGE | {"tool_calls": tool_calls}}

    def agent(state: GuardedState) -> Command[str]:
        return guards.model_turn(state, policy, respond)

    builder.add_node("agent", agent, destinations=("tools", END, *guards.model_routes))
    builder.add_node("tools", ToolNode([lookup]))
    builder.add_edge(START, "agent")
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=checkpointer)


def build_langchain(
    model: FakeToolModel, checkpointer: BaseCheckpointSaver[Any] | None = None
) -> Any:
    """LangChain v1 `create_agent` with four middlewares, none of which fires."""
    from langchain.agents import create_agent
    from langchain.agents.middleware import (
        HumanInTheLoopMiddleware,
        ModelCallLimitMiddleware,
        SummarizationMiddleware,
        ToolCallLimitMiddleware,
    )

    middleware: list[Any] = [
        ModelCallLimitMiddleware(thread_limit=_HUGE, run_limit=_HUGE),
        ToolCallLimitMiddleware(thread_limit=_HUGE, run_limit=_HUGE),
        SummarizationMiddleware(model=model, trigger=("tokens", _HUGE)),
        HumanInTheLoopMiddleware(interrupt_on={"lookup": False}),
    ]
    return create_agent(model, [lookup], middleware=middleware, checkpointer=checkpointer)


def start_state(kind: str, task: str = "audit the repository") -> dict[str, Any]:
    """The input for a fresh thread of loop `kind` (`bare`, `keel` or `langchain`)."""
    state: dict[str, Any] = {"messages": opening(task)}
    if kind == "keel":
        state["clock_start"] = ""
    return state

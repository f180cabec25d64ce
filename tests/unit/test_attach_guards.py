"""`attach_guards` on a second, minimal graph: a plain agent loop that is not a Keel specialist.

The graph is ~20 lines: a model node that routes with `AgentGuards.model_turn`, a tool
node, and the guard nodes `attach_guards` adds. No supervisor, no report, no review gate.
A guard defined in this file (`StayOnEarth`) joins it as one more entry in the list.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Command

from keel.core.state import GuardedState
from keel.nodes.guards.attach import DEFAULT_GUARDS, GUARD_NODES, attach_guards
from keel.nodes.guards.base import (
    OK,
    BaseGuard,
    Escalation,
    Guard,
    GuardSettings,
    Phase,
    SettingsEnvError,
    Turn,
    Verdict,
    answer_calls,
    setting,
    settings_from_env,
)
from keel.nodes.guards.policy import GuardPolicy
from tests.support.scripted import ScriptedChatModel


@tool
def weather(city: str) -> str:
    """Look up the weather."""
    return json.dumps({"city": city, "sky": "grey"})


def build(
    model: ScriptedChatModel,
    policy: GuardPolicy,
    guards: Sequence[Guard[Any]] = DEFAULT_GUARDS,
) -> Any:
    builder = StateGraph(GuardedState)
    attached = attach_guards(
        builder, agent="forecaster", tools=[weather], submit_tool="none", guards=guards
    )

    def respond(channel: list[BaseMessage]) -> tuple[BaseMessage, dict[str, Any]]:
        response = model.invoke(channel)
        usage = {
            "input_tokens": 1,
            "output_tokens": 1,
            "cost_usd": 0.0,
            "model_calls": 1,
            "tool_calls": 0,
            "seconds": 0.0,
        }
        return response, {"messages": [response], "usage": usage}

    def agent(state: GuardedState) -> Command[str]:
        return attached.model_turn(state, policy, respond)

    builder.add_node("agent", agent, destinations=("tools", END, *attached.model_routes))
    builder.add_node("tools", ToolNode([weather]))
    builder.add_edge(START, "agent")
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=InMemorySaver())


# ------------------------------------------------------- a guard written in this file


@dataclass(kw_only=True)
class StayOnEarthSettings(GuardSettings):
    """Settings of the stay-on-earth guard."""

    stay_on_earth_places: tuple[str, ...] = setting(
        ("mars", "venus"), "Places the forecaster has no weather for."
    )
    stay_on_earth_halt: bool = setting(False, "Halt at once instead of nudging.")


@dataclass(frozen=True)
class StayOnEarth(BaseGuard[StayOnEarthSettings]):
    """Nudges a forecaster that asks for the weather somewhere it has none."""

    name: ClassVar[str] = "stay_on_earth"
    phase: ClassVar[Phase] = "after_model_call"

    def check(self, state: GuardedState, turn: Turn, settings: StayOnEarthSettings) -> Verdict:
        calls = turn.response.tool_calls if turn.response is not None else []
        away = [c["args"].get("city", "") for c in calls]
        away = [city for city in away if city.strip().lower() in settings.stay_on_earth_places]
        if not away:
            return OK
        action = "halt" if settings.stay_on_earth_halt else "nudge"
        return Verdict(self.name, action, f"no weather for {', '.join(away)}")

    def recover(
        self, state: GuardedState, verdict: Verdict, agent: str, decision: Escalation | None
    ) -> dict[str, Any]:
        messages = state.get("messages") or []
        last = messages[-1] if messages else None
        return {
            "messages": [
                *answer_calls(last, f"not run: {verdict.reason}"),
                HumanMessage("Only places on Earth, please."),
            ]
        }


STAY_ON_EARTH = StayOnEarth(StayOnEarthSettings())


def test_a_guard_defined_here_checks_pure_state() -> None:
    state: Any = {"messages": []}
    turn = Turn(agent="forecaster", response=_ask(" Mars", 0))
    verdict = STAY_ON_EARTH.check(state, turn, StayOnEarthSettings())
    assert (verdict.guard, verdict.action, verdict.reason) == (
        "stay_on_earth",
        "nudge",
        "no weather for  Mars",
    )
    turn = Turn(agent="forecaster", response=_ask("Oslo", 1))
    assert not STAY_ON_EARTH.check(state, turn, StayOnEarthSettings()).fired
    halting = StayOnEarthSettings(stay_on_earth_halt=True)
    venus = Turn(agent="forecaster", response=_ask("venus", 2))
    assert STAY_ON_EARTH.check(state, venus, halting).action == "halt"


def test_a_guard_defined_here_is_one_more_list_entry_in_the_minimal_graph() -> None:
    model = ScriptedChatModel(responses=[_ask("Mars", 0), _ask("Oslo", 1), AIMessage("grey")])
    graph = build(model, GuardPolicy(), guards=[*DEFAULT_GUARDS, STAY_ON_EARTH])
    assert "stay_on_earth" in graph.get_graph().nodes
    result = graph.invoke(START_STATE, {"configurable": {"thread_id": "earth"}})
    (event,) = result["guard_events"]
    assert (event["guard"], event["verdict"], event["agent"]) == (
        "stay_on_earth",
        "nudge",
        "forecaster",
    )
    assert event["reason"] == "no weather for Mars"
    answered = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert [(m.tool_call_id, m.status) for m in answered] == [("w0", "error"), ("w1", "success")]
    assert answered[0].content == "not run: no weather for Mars"
    assert result["messages"][-1].content == "grey"
    model.assert_complete()


def test_a_guard_defined_here_reads_its_settings_from_the_environment() -> None:
    env = {"KEEL_GUARD_STAY_ON_EARTH_HALT": "yes", "KEEL_GUARD_STAY_ON_EARTH_PLACES": "mars, moon"}
    settings = settings_from_env(StayOnEarthSettings, env)
    assert settings.stay_on_earth_halt is True
    assert settings.stay_on_earth_places == ("mars", "moon")
    off = settings_from_env(StayOnEarthSettings, {"KEEL_GUARD_STAY_ON_EARTH_HALT": "false"})
    assert off.stay_on_earth_halt is False  # a bool, not the string "false"
    with pytest.raises(SettingsEnvError, match="KEEL_GUARD_STAY_ON_EARTH_HALT='maybe'"):
        settings_from_env(StayOnEarthSettings, {"KEEL_GUARD_STAY_ON_EARTH_HALT": "maybe"})
    # the run's policy does not carry these settings: the guard uses its own
    assert STAY_ON_EARTH.settings_for(GuardPolicy()) is STAY_ON_EARTH.settings


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

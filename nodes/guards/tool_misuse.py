"""Tool misuse: calls to tools that do not exist or are not the agent's, or bad arguments.

Tool arguments are validated against each tool's schema right after the model answers,
before any tool runs. A misuse is answered with an error `ToolMessage` that names the
agent's tools and the schema errors (guidance, not a crash), and it counts toward the
loop detector's ladder: repeated misuse escalates to a human, then halts the agent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.types import Command
from pydantic import ValidationError

from ._escalate import escalate_or_halt
from ._verdict import OK, Verdict, guard_event, halt_update, prior_events
from .loop import LADDER_GUARDS

__all__ = ["GUARD_NAME", "ToolMisuseError", "check_after_model_call", "tool_misuse_node"]

GUARD_NAME: Final = "tool_misuse"


def _build_message(problems: Sequence[str]) -> str:
    return f"{len(problems)} invalid tool call(s): " + "; ".join(problems)


class ToolMisuseError(ValueError):
    """For callers that prefer an exception."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(_build_message(problems))


def _problems(call: Mapping[str, Any], tools: Mapping[str, BaseTool]) -> list[str]:
    tool = tools.get(call["name"])
    if tool is None:
        return [f"{call['name']} is not one of your tools ({', '.join(sorted(tools))})"]
    try:
        tool.tool_call_schema.model_validate(call["args"])  # type: ignore[union-attr]
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()
        )
        return [f"{call['name']}: {errors}"]
    return []


def check_after_model_call(
    state: Mapping[str, Any],
    response: AIMessage,
    *,
    agent: str,
    tools: Mapping[str, BaseTool],
    skip: Sequence[str] = (),
) -> Verdict:
    """Fire when a new call names an unknown tool or fails its tool's schema."""
    problems: dict[str, list[str]] = {}
    for call in response.tool_calls:
        if call["name"] in skip:
            continue
        found = _problems(call, tools)
        if found:
            problems[call["id"] or call["name"]] = found
    if not problems:
        return OK
    fired = prior_events(state, agent, LADDER_GUARDS)
    action: Literal["nudge", "escalate", "halt"] = (
        "nudge" if fired < 2 else "escalate" if fired == 2 else "halt"
    )
    flat = [p for found in problems.values() for p in found]
    return Verdict(GUARD_NAME, action, _build_message(flat), {"problems": problems})


def tool_misuse_node(agent: str, model_node: str = "agent") -> Any:
    """Return the `tool_misuse` guard node for an agent."""

    def tool_misuse(state: Mapping[str, Any]) -> Command[Literal["agent", "__end__"]]:
        pending = state.get("verdict")
        if not pending:
            raise RuntimeError("tool_misuse guard entered without a verdict")
        verdict = Verdict.from_pending(pending)
        if verdict.action == "halt":
            return Command(goto="__end__", update=halt_update(state, verdict, agent))
        outcome = escalate_or_halt(state, verdict, agent)
        if isinstance(outcome, Command):
            return outcome
        advice = outcome
        problems: dict[str, list[str]] = verdict.detail.get("problems", {})
        last = (state.get("messages") or [None])[-1]
        replies = []
        for call in last.tool_calls if isinstance(last, AIMessage) else []:
            found = problems.get(call["id"] or call["name"])
            text = (
                "Error: " + "; ".join(found) + ". Fix the call and try again."
                if found
                else "not run: another call in the same turn was invalid; repeat it if needed"
            )
            replies.append(
                ToolMessage(
                    content=text, tool_call_id=call["id"], name=call["name"], status="error"
                )
            )
        if advice:
            from langchain_core.messages import HumanMessage

            replies.append(HumanMessage(f"A human reviewer says: {advice}"))  # type: ignore[arg-type]
        return Command(
            goto=model_node,  # type: ignore[arg-type]
            update={
                "guard_events": [guard_event(verdict, agent)],
                "messages": replies,
                "verdict": None,
            },
        )

    return tool_misuse

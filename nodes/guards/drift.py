"""Goal-drift monitor: an agent working on something other than its task.

Offline the measure is lexical and about scope: the path arguments of the agent's recent
tool calls (`path`, `paths`, `file`, `files`) are compared with the files it was
assigned. Reading one neighbouring file for context is normal; the guard fires when, in
the last `loop_window` calls, at least two path arguments fall outside the assignment
and they outnumber the ones inside it.

Recovery: the off-scope calls are answered with an error, and the original task (never
rewritten) is re-injected — a context refresh; after `drift_limit` refreshes a human is
asked (continue / respond with advice / stop); past that the agent halts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.types import Command

from ._escalate import escalate_or_halt
from ._verdict import OK, Verdict, answer_calls, guard_event, halt_update, prior_events
from .policy import GuardPolicy

__all__ = ["GUARD_NAME", "DriftDetectedError", "check_after_model_call", "drift_node", "path_args"]

GUARD_NAME: Final = "drift"
_PATH_KEYS: Final = ("path", "paths", "file", "files")


def _build_message(outside: Sequence[str], inside: int, window: int) -> str:
    shown = ", ".join(sorted(set(outside))[:5])
    return (
        f"{len(outside)} of the last {window} calls' paths are outside the assignment "
        f"(vs {inside} inside): {shown}"
    )


class DriftDetectedError(RuntimeError):
    """For callers that prefer an exception."""

    def __init__(self, outside: Sequence[str], inside: int, window: int) -> None:
        self.outside, self.inside = list(outside), inside
        super().__init__(_build_message(outside, inside, window))


def path_args(args: Mapping[str, Any]) -> list[str]:
    """Every path named in a call's arguments, normalised (`./a.py` → `a.py`)."""
    found: list[str] = []
    for key in _PATH_KEYS:
        value = args.get(key)
        values: Iterable[Any] = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str) and item.strip():
                found.append(item.strip().removeprefix("./"))
    return found


def _recent_paths(messages: Sequence[BaseMessage], response: AIMessage, window: int) -> list[str]:
    paths: list[str] = []
    seen_calls = 0
    for message in [response, *reversed(messages)]:
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                paths.extend(path_args(call["args"]))
                seen_calls += 1
            if seen_calls >= window:
                break
    return paths


def check_after_model_call(
    state: Mapping[str, Any], response: AIMessage, *, agent: str, policy: GuardPolicy
) -> Verdict:
    """Fire when the agent's recent paths are mostly outside its assignment."""
    step = state.get("step") or {}
    scope = set(step.get("files") or [])
    if not scope:
        return OK
    new_paths = [p for call in response.tool_calls for p in path_args(call["args"])]
    if not new_paths or all(p in scope for p in new_paths):
        return OK
    paths = _recent_paths(state.get("messages") or [], response, policy.loop_window)
    outside = [p for p in paths if p not in scope]
    inside = len(paths) - len(outside)
    if len(outside) < 2 or len(outside) <= inside:
        return OK
    fired = prior_events(state, agent, (GUARD_NAME,))
    action: Literal["nudge", "escalate", "halt"] = (
        "nudge"
        if fired < policy.drift_limit
        else "escalate"
        if fired == policy.drift_limit
        else "halt"
    )
    return Verdict(GUARD_NAME, action, _build_message(outside, inside, policy.loop_window))


def _refresh(state: Mapping[str, Any]) -> str:
    task = state.get("task") or {}
    step = state.get("step") or {}
    files = ", ".join(step.get("files") or [])
    return (
        f"Keel drift guard — back to your task. Task: {task.get('goal', '')} "
        f"Your assignment: {step.get('instructions', '')} Files: {files}. "
        "Work on these files; then call submit_findings."
    )


def drift_node(agent: str, model_node: str = "agent") -> Any:
    """Return the `drift` guard node for an agent."""

    def drift(state: Mapping[str, Any]) -> Command[Literal["agent", "__end__"]]:
        pending = state.get("verdict")
        if not pending:
            raise RuntimeError("drift guard entered without a verdict")
        verdict = Verdict.from_pending(pending)
        if verdict.action == "halt":
            return Command(goto="__end__", update=halt_update(state, verdict, agent))
        outcome = escalate_or_halt(
            state, verdict, agent, [f"{agent} kept leaving its assignment after {verdict.reason}"]
        )
        if isinstance(outcome, Command):
            return outcome
        advice = outcome
        messages = state.get("messages") or []
        replies: list[BaseMessage] = [
            *answer_calls(messages[-1] if messages else None, f"not run: {verdict.reason}"),
            HumanMessage(_refresh(state)),
        ]
        if advice:
            replies.append(HumanMessage(f"A human reviewer says: {advice}"))
        return Command(
            goto=model_node,  # type: ignore[arg-type]
            update={
                "guard_events": [guard_event(verdict, agent)],
                "messages": replies,
                "verdict": None,
            },
        )

    return drift

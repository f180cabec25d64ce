"""Goal-drift monitor: an agent working on something other than its task.

Offline the measure is lexical and about scope: the path arguments of the agent's recent
tool calls (`path`, `paths`, `file`, `files`) are compared with the files it was
assigned. Reading one neighbouring file for context is normal; the guard fires when, in
the last `drift_window` calls, at least two path arguments fall outside the assignment
and they outnumber the ones inside it. The scan is bounded by the window (at most
`_SCAN_PER_CALL` messages per call), and it runs only when a new call names a path
outside the assignment.

Recovery: the off-scope calls are answered with an error, and the original task (never
rewritten) is re-injected — a context refresh; after `drift_limit` refreshes a human is
asked (continue / respond with advice / stop) `drift_escalations` times; past that the
agent halts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from keel.core.state import GuardedState

from ._escalate import Escalation, reviewer_advice
from ._verdict import OK, Verdict, answer_calls
from .base import Ask, BaseGuard, GuardSettings, Ladder, Phase, Turn, Update, setting

__all__ = [
    "DRIFT",
    "GUARD_NAME",
    "Drift",
    "DriftSettings",
    "check_after_model_call",
    "path_args",
]

GUARD_NAME: Final = "drift"
_PATH_KEYS: Final = ("path", "paths", "file", "files")
_SCAN_PER_CALL: Final = 4
"""Messages looked at per call of the window (a call, its result, a reminder, a reply)."""


@dataclass(kw_only=True)
class DriftSettings(GuardSettings):
    """Settings of the drift monitor."""

    drift_window: int = setting(
        12, "How many recent tool calls the drift monitor looks at.", at_least=1
    )
    drift_limit: int = setting(
        2, "Off-scope calls answered with the task before escalating.", at_least=0
    )
    drift_escalations: int = setting(
        1, "Then how many times a human is asked before the agent halts.", at_least=0
    )

    def drift_ladder(self) -> Ladder:
        """`drift_limit` refreshes, then `drift_escalations` asks, then halt."""
        return Ladder((GUARD_NAME,), self.drift_limit, self.drift_escalations)


def _build_message(outside: Sequence[str], inside: int, window: int) -> str:
    shown = ", ".join(sorted(set(outside))[:5])
    return (
        f"{len(outside)} of the last {window} calls' paths are outside the assignment "
        f"(vs {inside} inside): {shown}"
    )


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
    for message in [response, *reversed(messages[-_SCAN_PER_CALL * window :])]:
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                paths.extend(path_args(call["args"]))
                seen_calls += 1
            if seen_calls >= window:
                break
    return paths


def check_after_model_call(
    state: Mapping[str, Any], response: AIMessage, *, agent: str, policy: DriftSettings
) -> Verdict:
    """Fire when the agent's recent paths are mostly outside its assignment."""
    step = state.get("step") or {}
    scope = set(step.get("files") or [])
    if not scope:
        return OK
    new_paths = [p for call in response.tool_calls for p in path_args(call["args"])]
    if not new_paths or all(p in scope for p in new_paths):
        return OK
    paths = _recent_paths(state.get("messages") or [], response, policy.drift_window)
    outside = [p for p in paths if p not in scope]
    inside = len(paths) - len(outside)
    if len(outside) < 2 or len(outside) <= inside:
        return OK
    action = policy.drift_ladder().climb(state, agent)
    return Verdict(GUARD_NAME, action, _build_message(outside, inside, policy.drift_window))


def _refresh(state: Mapping[str, Any]) -> str:
    task = state.get("task") or {}
    step = state.get("step") or {}
    files = ", ".join(step.get("files") or [])
    return (
        f"Keel drift guard — back to your task. Task: {task.get('goal', '')} "
        f"Your assignment: {step.get('instructions', '')} Files: {files}. "
        "Work on these files; then call submit_findings."
    )


@dataclass(frozen=True)
class Drift(BaseGuard[DriftSettings]):
    """Recent path arguments mostly outside the assignment: re-inject the task."""

    name: ClassVar[str] = GUARD_NAME
    phase: ClassVar[Phase] = "after_model_call"

    def check(self, state: GuardedState, turn: Turn, settings: DriftSettings) -> Verdict:
        """Fire when the agent's recent paths are mostly outside its assignment."""
        if turn.response is None:
            return OK
        return check_after_model_call(state, turn.response, agent=turn.agent, policy=settings)

    def escalation(self, state: GuardedState, verdict: Verdict, agent: str) -> Ask:
        """Ask whether the agent may carry on."""
        return Ask(uncertainty=[f"{agent} kept leaving its assignment after {verdict.reason}"])

    def recover(
        self, state: GuardedState, verdict: Verdict, agent: str, decision: Escalation | None
    ) -> Update:
        """Answer the off-scope calls, re-inject the task, pass on the reviewer's advice."""
        messages = state.get("messages") or []
        replies: list[BaseMessage] = [
            *answer_calls(messages[-1] if messages else None, f"not run: {verdict.reason}"),
            HumanMessage(_refresh(state)),
        ]
        replies.extend(reviewer_advice(decision))
        return {"messages": replies}


DRIFT: Final = Drift(DriftSettings())

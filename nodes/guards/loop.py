"""Loop detector: an agent repeating itself instead of making progress.

Measured here: a bare LangGraph agent that repeats one tool call runs 9,999 super-steps
and 5,000 model calls before `GraphRecursionError`; a call-count cap also stops
legitimate repetition. This guard looks at behaviour in a bounded window instead:

* **repetition** — the same call (tool name + arguments normalised: key order, case,
  whitespace) `loop_repeat_limit` times among the last `loop_window` calls;
* **oscillation** — the last four calls alternate between two calls (A-B-A-B);
* **no progress** — `loop_no_progress_turns` turns in a row whose tool results are all
  ones the agent has already seen.

The check runs in the agent node right after the model answers (no extra super-step),
and costs the messages new since the previous check (the windows are `ChannelFold`s).
Recovery ladder, counted per agent over loop and tool-misuse events: `loop_nudges`
nudges (the repeated calls are answered with an error naming the repetition, and the
agent is asked for a different approach), then `loop_escalations` escalations to a human
(continue / respond with advice / stop), then a halt with a partial report.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from keel.core.state import GuardedState

from ._escalate import Escalation, reviewer_advice
from ._memo import ChannelFold, fingerprint
from ._verdict import OK, Verdict, answer_calls
from .base import Ask, BaseGuard, GuardSettings, Ladder, Phase, Turn, Update, setting

__all__ = [
    "GUARD_NAME",
    "LADDER_GUARDS",
    "LOOP",
    "Loop",
    "LoopSettings",
    "check_after_model_call",
    "normalize_call",
]

GUARD_NAME: Final = "loop"
LADDER_GUARDS: Final = ("loop", "tool_misuse")
"""Events that climb the loop ladder (tool misuse counts toward it)."""


@dataclass(kw_only=True)
class LoopSettings(GuardSettings):
    """Settings of the loop detector."""

    loop_repeat_limit: int = setting(
        3, "Identical (normalised) tool calls in the window that fire.", at_least=1
    )
    loop_window: int = setting(
        12, "How many recent tool calls the loop detector looks at.", at_least=1
    )
    loop_no_progress_turns: int = setting(
        6, "Turns without a new distinct tool result that fire.", at_least=1
    )
    loop_nudges: int = setting(
        1, "Loop-ladder events (loop or tool misuse) answered with a nudge.", at_least=0
    )
    loop_escalations: int = setting(
        1, "Then how many times a human is asked before the agent halts.", at_least=0
    )

    def loop_ladder(self) -> Ladder:
        """Nudge, then ask, then halt; counted with the tool-misuse guard's events."""
        return Ladder(LADDER_GUARDS, self.loop_nudges, self.loop_escalations)


def _build_message(kind: str, call: str, count: int, window: int) -> str:
    return f"{kind}: {call} {count} times in the last {window} tool calls"


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.split()).lower()
    if isinstance(value, Mapping):
        return {str(k).lower(): _norm(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_norm(v) for v in value]
    return value


def normalize_call(name: str, args: Mapping[str, Any]) -> str:
    """Canonical text of a call: equal for calls that differ only in case, spacing, order."""
    return f"{name}({json.dumps(_norm(args), sort_keys=True, default=str)})"


_last_normalized: tuple[str | None, Hashable, tuple[str, ...]] = (None, None, ())
"""The latest response's normalised calls: it is checked, then folded in the next check."""


def _calls_of(message: BaseMessage) -> tuple[str, ...]:
    global _last_normalized
    if not isinstance(message, AIMessage) or not message.tool_calls:
        return ()
    key = fingerprint(message)
    last_id, last_key, last_calls = _last_normalized
    if key is not None and last_id == message.id and last_key == key:
        return last_calls
    calls = tuple(normalize_call(call["name"], call["args"]) for call in message.tool_calls)
    _last_normalized = (message.id, key, calls)
    return calls


def _result_of(message: ToolMessage) -> str:
    text = message.content if isinstance(message.content, str) else str(message.content)
    return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 - a fingerprint


_Window = tuple[tuple[str, ...], tuple[frozenset[str], ...]]
"""The last N normalised calls, and the result fingerprints of the last M tool turns."""
_windows: dict[tuple[int, int], ChannelFold[_Window]] = {}


def _window_fold(calls: int, turns: int) -> ChannelFold[_Window]:
    """The fold keeping the last `calls` calls and `turns` turns (one per pair of sizes).

    A turn is the results after an AI message with tool calls. Each check folds only the
    messages new since the previous one (each call normalised, each result hashed once),
    so its cost is bounded by the turn, not the history.
    """
    fold = _windows.get((calls, turns))
    if fold is None:

        def add(window: _Window, message: BaseMessage) -> _Window:
            recent, results = window
            if isinstance(message, ToolMessage):
                if not results:
                    return window
                return recent, (*results[:-1], results[-1] | {_result_of(message)})
            new = _calls_of(message)
            if not new:
                return window
            return (*recent, *new)[-calls:], (*results, frozenset[str]())[-turns:]

        fold = _windows[(calls, turns)] = ChannelFold(((), ()), add)
    return fold


def _recent_calls(messages: Sequence[BaseMessage], limit: int) -> list[str]:
    """The last `limit` tool calls (normalised), oldest first."""
    if limit <= 0:
        return []
    return list(_window_fold(limit, 1)(messages)[0])


def _result_turns(messages: Sequence[BaseMessage], turns: int) -> list[set[str]]:
    """Result fingerprints of the last `turns` tool turns, oldest first."""
    return [set(turn) for turn in _window_fold(1, turns)(messages)[1]]


def check_after_model_call(
    state: Mapping[str, Any],
    response: AIMessage,
    *,
    agent: str,
    policy: LoopSettings,
) -> Verdict:
    """Judge the model's new tool calls against the recent window (pure).

    The action follows the policy's ladder (default: nudge, escalate, halt).
    """
    if not response.tool_calls:
        return OK
    size, k = policy.loop_window, policy.loop_no_progress_turns
    recent, turns = _window_fold(size, 2 * k)(state.get("messages") or [])
    new = _calls_of(response)
    window = [*recent, *new][-size:]
    pattern: dict[str, str] | None = None
    for call in dict.fromkeys(window[-min(len(new), len(window)) :]):
        count = window.count(call)
        if count >= policy.loop_repeat_limit:
            reason = _build_message("repeated call", call, count, len(window))
            pattern = {"pattern": "repeat", "call": call}
            break
    if pattern is None:
        tail = window[-4:]
        if len(tail) == 4 and tail[0] == tail[2] != tail[1] == tail[3]:
            reason = f"oscillation: {tail[0]} and {tail[1]} alternate in the last 4 tool calls"
            pattern = {"pattern": "oscillation"}
    if pattern is None and len(turns) > k:
        earlier = frozenset[str]().union(*turns[:-k])
        if all(turn <= earlier for turn in turns[-k:]):
            reason = f"no progress: {k} tool turns in a row returned only results seen before"
            pattern = {"pattern": "no_progress"}
    if pattern is None:
        return OK
    return Verdict(GUARD_NAME, policy.loop_ladder().climb(state, agent), reason, pattern)


def _nudge_text(reason: str) -> str:
    return (
        f"Keel loop guard: {reason}. Repeating it will not give a different result. "
        "Use what you already have, try a different approach, or call submit_findings."
    )


@dataclass(frozen=True)
class Loop(BaseGuard[LoopSettings]):
    """Repetition, oscillation and no progress in a bounded window of recent tool calls."""

    name: ClassVar[str] = GUARD_NAME
    phase: ClassVar[Phase] = "after_model_call"

    def check(self, state: GuardedState, turn: Turn, settings: LoopSettings) -> Verdict:
        """Judge the response's calls against the last `loop_window` calls."""
        if turn.response is None:
            return OK
        return check_after_model_call(state, turn.response, agent=turn.agent, policy=settings)

    def escalation(self, state: GuardedState, verdict: Verdict, agent: str) -> Ask:
        """Ask whether the agent may carry on."""
        return Ask(uncertainty=[f"{agent} repeated itself after a nudge"])

    def recover(
        self, state: GuardedState, verdict: Verdict, agent: str, decision: Escalation | None
    ) -> Update:
        """Answer the repeated calls with an error, nudge, pass on the reviewer's advice."""
        messages = state.get("messages") or []
        last = messages[-1] if messages else None
        replies: list[BaseMessage] = [*answer_calls(last, f"not run: {verdict.reason}")]
        replies.append(HumanMessage(_nudge_text(verdict.reason)))
        replies.extend(reviewer_advice(decision))
        return {"messages": replies}


LOOP: Final = Loop(LoopSettings())

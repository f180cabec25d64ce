"""Loop detector: an agent repeating itself instead of making progress.

Measured here: a bare LangGraph agent that repeats one tool call runs 9,999 super-steps
and 5,000 model calls before `GraphRecursionError`; a call-count cap also stops
legitimate repetition. This guard looks at behaviour in a bounded window instead:

* **repetition** — the same call (tool name + arguments normalised: key order, case,
  whitespace) `loop_repeat_limit` times among the last `loop_window` calls;
* **oscillation** — the last four calls alternate between two calls (A-B-A-B);
* **no progress** — `loop_no_progress_turns` turns in a row whose tool results are all
  ones the agent has already seen.

The check runs in the agent node right after the model answers (no extra super-step).
Recovery ladder, counted per agent over loop and tool-misuse events: first a nudge (the
repeated calls are answered with an error naming the repetition, and the agent is asked
for a different approach), then an escalation to a human (continue / respond with advice
/ stop), then a halt with a partial report.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Final, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langgraph.types import Command

from ._escalate import escalate_or_halt
from ._memo import ChannelFold, fingerprint
from ._verdict import OK, Verdict, answer_calls, guard_event, halt_update, prior_events
from .policy import GuardPolicy

__all__ = [
    "GUARD_NAME",
    "LADDER_GUARDS",
    "LoopDetectedError",
    "check_after_model_call",
    "loop_node",
    "normalize_call",
]

GUARD_NAME: Final = "loop"
LADDER_GUARDS: Final = ("loop", "tool_misuse")
"""Events that climb the loop ladder (tool misuse counts toward it)."""


def _build_message(kind: str, call: str, count: int, window: int) -> str:
    return f"{kind}: {call} {count} times in the last {window} tool calls"


class LoopDetectedError(RuntimeError):
    """For callers that prefer an exception to a routed verdict."""

    def __init__(self, kind: str, call: str, count: int, window: int) -> None:
        self.kind, self.call, self.count, self.window = kind, call, count, window
        super().__init__(_build_message(kind, call, count, window))


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


_Calls = tuple[str, ...]
_Turns = tuple[frozenset[str], ...]
_call_windows: dict[int, ChannelFold[_Calls]] = {}
_turn_windows: dict[int, ChannelFold[_Turns]] = {}


def _recent_calls(messages: Sequence[BaseMessage], limit: int) -> list[str]:
    """The last `limit` tool calls (normalised), oldest first.

    A `ChannelFold` that keeps only the last `limit` calls: each check folds the messages
    new since the previous one, so its cost is bounded by the turn, not the history.
    """
    if limit <= 0:
        return []
    fold = _call_windows.get(limit)
    if fold is None:

        def add(window: _Calls, message: BaseMessage) -> _Calls:
            calls = _calls_of(message)
            return (*window, *calls)[-limit:] if calls else window

        fold = _call_windows[limit] = ChannelFold((), add)
    return list(fold(messages))


def _result_turns(messages: Sequence[BaseMessage], turns: int) -> list[set[str]]:
    """Result fingerprints of the last `turns` tool turns, oldest first.

    A turn is the results after an AI message with tool calls. A `ChannelFold` keeping
    the last `turns` of them (each result hashed once).
    """
    fold = _turn_windows.get(turns)
    if fold is None:

        def add(window: _Turns, message: BaseMessage) -> _Turns:
            if isinstance(message, ToolMessage):
                return (*window[:-1], window[-1] | {_result_of(message)}) if window else window
            if isinstance(message, AIMessage) and message.tool_calls:
                return (*window, frozenset[str]())[-turns:]
            return window

        fold = _turn_windows[turns] = ChannelFold((), add)
    return [set(turn) for turn in fold(messages)]


def _ladder(state: Mapping[str, Any], agent: str) -> Literal["nudge", "escalate", "halt"]:
    fired = prior_events(state, agent, LADDER_GUARDS)
    return "nudge" if fired == 0 else "escalate" if fired == 1 else "halt"


def check_after_model_call(
    state: Mapping[str, Any],
    response: AIMessage,
    *,
    agent: str,
    policy: GuardPolicy,
) -> Verdict:
    """Judge the model's new tool calls against the recent window."""
    if not response.tool_calls:
        return OK
    messages: Sequence[BaseMessage] = state.get("messages") or []
    window = _recent_calls(messages, policy.loop_window - len(response.tool_calls))
    window += _calls_of(response)
    window = window[-policy.loop_window :]
    action = _ladder(state, agent)
    for call in dict.fromkeys(window[-min(len(response.tool_calls), len(window)) :]):
        count = window.count(call)
        if count >= policy.loop_repeat_limit:
            reason = _build_message("repeated call", call, count, len(window))
            return Verdict(GUARD_NAME, action, reason, {"pattern": "repeat", "call": call})
    tail = window[-4:]
    if len(tail) == 4 and tail[0] == tail[2] != tail[1] == tail[3]:
        reason = f"oscillation: {tail[0]} and {tail[1]} alternate in the last 4 tool calls"
        return Verdict(GUARD_NAME, action, reason, {"pattern": "oscillation"})
    k = policy.loop_no_progress_turns
    turns = _result_turns(messages, 2 * k)
    if len(turns) > k:
        earlier = set().union(*turns[:-k])
        if all(turn <= earlier for turn in turns[-k:]):
            reason = f"no progress: {k} tool turns in a row returned only results seen before"
            return Verdict(GUARD_NAME, action, reason, {"pattern": "no_progress"})
    return OK


def _nudge_text(reason: str) -> str:
    return (
        f"Keel loop guard: {reason}. Repeating it will not give a different result. "
        "Use what you already have, try a different approach, or call submit_findings."
    )


def loop_node(agent: str, model_node: str = "agent") -> Any:
    """Return the `loop` guard node for an agent."""

    def loop(state: Mapping[str, Any]) -> Command[Literal["agent", "__end__"]]:
        pending = state.get("verdict")
        if not pending:
            raise RuntimeError("loop guard entered without a verdict")
        verdict = Verdict.from_pending(pending)
        messages = state.get("messages") or []
        last = messages[-1] if messages else None
        if verdict.action == "halt":
            return Command(goto="__end__", update=halt_update(state, verdict, agent))
        outcome = escalate_or_halt(
            state, verdict, agent, [f"{agent} repeated itself after a nudge"]
        )
        if isinstance(outcome, Command):
            return outcome
        advice = outcome
        replies: list[BaseMessage] = [*answer_calls(last, f"not run: {verdict.reason}")]
        replies.append(HumanMessage(_nudge_text(verdict.reason)))
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

    return loop

"""Tool misuse: unknown tools, arguments failing a tool's schema, malformed tool calls.

Tool arguments are validated against each tool's schema right after the model answers,
before any tool runs. Malformed calls — arguments that are not JSON, a tool name with no
arguments, a call with no tool name — never reach `AIMessage.tool_calls`: the client
parses them into `AIMessage.invalid_tool_calls`, and they are checked here too (a model
whose calls never parse would otherwise look like one that answered in prose, and be
reminded to submit until the budget stopped it).

A misuse is answered with an error `ToolMessage` per call id that names the agent's tools,
the schema errors or the parse error (guidance, not a crash), and it counts toward the
loop detector's ladder (`loop.LADDER_GUARDS`): by default nudge, nudge, escalate to a
human, halt — so a model that only ever produces malformed calls is stopped within four
turns.

Contract for malformed calls: the next request must be valid. OpenAI-compatible clients
(langchain-openai) send an assistant message's `invalid_tool_calls` back as tool calls
with their raw `arguments`, and servers refuse a tool call without its tool answer (400)
or one whose arguments are not JSON (llama.cpp's server: 500). So the node replaces the
model's message in the channel (same message id) by a copy whose malformed calls carry an
id, a name and `{}` as arguments, and answers each of them; the raw text is quoted in the
answer and in the event. A message without an id (state not built by `add_messages`)
cannot be replaced and keeps its raw calls.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    InvalidToolCall,
    ToolMessage,
)
from langchain_core.tools import BaseTool
from pydantic import ValidationError

from keel.core.state import GuardedState

from ._escalate import Escalation, reviewer_advice
from ._verdict import OK, Verdict, halt_update
from .base import BaseGuard, GuardSettings, Ladder, Phase, Turn, Update, setting
from .loop import LADDER_GUARDS

__all__ = [
    "GUARD_NAME",
    "TOOL_MISUSE",
    "ToolMisuse",
    "ToolMisuseSettings",
    "check_after_model_call",
]

GUARD_NAME: Final = "tool_misuse"


@dataclass(kw_only=True)
class ToolMisuseSettings(GuardSettings):
    """Settings of the tool-misuse guard (its rungs on the loop ladder)."""

    tool_misuse_nudges: int = setting(
        2, "Loop-ladder events (loop or tool misuse) answered with guidance.", at_least=0
    )
    tool_misuse_escalations: int = setting(
        1, "Then how many times a human is asked before the agent halts.", at_least=0
    )

    def tool_misuse_ladder(self) -> Ladder:
        """Nudge, then ask, then halt; counted with the loop guard's events."""
        return Ladder(LADDER_GUARDS, self.tool_misuse_nudges, self.tool_misuse_escalations)


def _build_message(problems: Sequence[str]) -> str:
    return f"{len(problems)} invalid tool call(s): " + "; ".join(problems)


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


NAMELESS: Final = "unnamed_tool_call"
"""The name a malformed call without one is given in the repaired history."""

_QUOTE_LIMIT = 80


def _quote(raw: str) -> str:
    return repr(raw if len(raw) <= _QUOTE_LIMIT else raw[: _QUOTE_LIMIT - 1] + "…")


def _malformed_key(call: InvalidToolCall, index: int) -> str:
    """How a malformed call is keyed in the verdict's `problems` (its id, else its index)."""
    return call.get("id") or f"invalid:{index}"


def _malformed_problems(
    call: InvalidToolCall, tools: Mapping[str, BaseTool], skip: Sequence[str]
) -> list[str]:
    """Why a call in `invalid_tool_calls` did not parse, and what to send instead."""
    name, raw = call.get("name"), call.get("args")
    if not name:
        shown = _quote(raw) if raw else "none"
        return [f"a tool call without a tool name (arguments {shown}); name one of your tools"]
    if raw is None or not raw.strip():
        what = "no arguments"
    else:
        try:
            json.loads(raw)
        except json.JSONDecodeError as exc:
            what = f"arguments that are not JSON ({exc.msg} at char {exc.pos}): {_quote(raw)}"
        else:
            what = f"arguments that are not a JSON object: {_quote(raw)}"
    tool = tools.get(name)
    if tool is None and name not in skip:
        return [f"{name}: {what}; {name} is not one of your tools ({', '.join(sorted(tools))})"]
    fields = f" with {', '.join(tool.args)}" if tool is not None and tool.args else ""
    return [f"{name}: {what}; send one JSON object{fields}"]


def check_after_model_call(
    state: Mapping[str, Any],
    response: AIMessage,
    *,
    agent: str,
    tools: Mapping[str, BaseTool],
    skip: Sequence[str] = (),
    settings: ToolMisuseSettings | None = None,
) -> Verdict:
    """Fire when a new call names an unknown tool, fails its tool's schema or is malformed.

    `skip` (the submit tool) is exempt from the schema check — its validation is the
    `validate` guard's — but not from the malformed-call check: unparsable arguments
    are malformed whatever the tool. The action follows the ladder of `settings`
    (default: nudge, nudge, escalate, halt).
    """
    problems: dict[str, list[str]] = {}
    for call in response.tool_calls:
        if call["name"] in skip:
            continue
        found = _problems(call, tools)
        if found:
            problems[call["id"] or call["name"]] = found
    for index, invalid in enumerate(response.invalid_tool_calls):
        problems[_malformed_key(invalid, index)] = _malformed_problems(invalid, tools, skip)
    if not problems:
        return OK
    action = (settings or ToolMisuseSettings()).tool_misuse_ladder().climb(state, agent)
    flat = [p for found in problems.values() for p in found]
    return Verdict(GUARD_NAME, action, _build_message(flat), {"problems": problems})


def _repaired_id(message: AIMessage, call: InvalidToolCall, index: int) -> str:
    """The malformed call's id, or one derived from its message (≤ 40 chars, as OpenAI asks)."""
    if call.get("id"):
        return str(call["id"])
    digest = hashlib.sha256(f"{message.id}:{index}".encode()).hexdigest()[:24]
    return f"call_{digest}"


def _answers(
    last: BaseMessage | None, problems: Mapping[str, Sequence[str]], not_run: str
) -> list[BaseMessage]:
    """The tool answers for every call of `last`, valid or malformed, in order.

    Calls with problems get the error; the rest get `not_run`. When `last` has malformed
    calls (and an id), the repaired copy of it comes first, replacing it in the channel.
    """
    if not isinstance(last, AIMessage):
        return []
    replies: list[BaseMessage] = []
    for call in last.tool_calls:
        found = problems.get(call["id"] or call["name"])
        text = "Error: " + "; ".join(found) + ". Fix the call and try again." if found else not_run
        replies.append(
            ToolMessage(content=text, tool_call_id=call["id"], name=call["name"], status="error")
        )
    repaired: list[InvalidToolCall] = []
    for index, invalid in enumerate(last.invalid_tool_calls):
        call_id, name = _repaired_id(last, invalid, index), invalid.get("name") or NAMELESS
        repaired.append(InvalidToolCall(**{**invalid, "id": call_id, "name": name, "args": "{}"}))
        found = problems.get(_malformed_key(invalid, index))
        text = "Error: " + "; ".join(found) + "." if found else not_run
        replies.append(ToolMessage(content=text, tool_call_id=call_id, name=name, status="error"))
    if repaired and last.id is not None:
        replies.insert(0, last.model_copy(update={"invalid_tool_calls": repaired}))
    return replies


@dataclass(frozen=True)
class ToolMisuse(BaseGuard[ToolMisuseSettings]):
    """Answers invalid and malformed tool calls with guidance, on the loop ladder."""

    name: ClassVar[str] = GUARD_NAME
    phase: ClassVar[Phase] = "after_model_call"

    def check(self, state: GuardedState, turn: Turn, settings: ToolMisuseSettings) -> Verdict:
        """Judge the response's calls against the agent's tools (the submit tool exempt)."""
        if turn.response is None:
            return OK
        return check_after_model_call(
            state,
            turn.response,
            agent=turn.agent,
            tools=turn.tools,
            skip=(turn.submit_tool,),
            settings=settings,
        )

    def recover(
        self, state: GuardedState, verdict: Verdict, agent: str, decision: Escalation | None
    ) -> Update:
        """An answer per call: the problems, or "not run"; the reviewer's advice, if any."""
        messages = state.get("messages") or []
        last = messages[-1] if messages else None
        problems: dict[str, list[str]] = verdict.detail.get("problems", {})
        replies = _answers(
            last,
            problems,
            "not run: another call in the same turn was invalid; repeat it if needed",
        )
        replies.extend(reviewer_advice(decision))
        return {"messages": replies}

    def halt(self, state: GuardedState, verdict: Verdict, agent: str) -> Update:
        """The partial report, every call (malformed ones repaired) answered "not run"."""
        update = halt_update(state, verdict, agent)
        messages = state.get("messages") or []
        last = messages[-1] if messages else None
        update["messages"] = _answers(last, {}, f"not run: {verdict.reason}")
        return update


TOOL_MISUSE: Final = ToolMisuse(ToolMisuseSettings())

"""Context compressor: keep a specialist's message channel bounded.

Fires before a model request when the channel holds more than `compress_at_tokens`
tokens (counted with `count_tokens_approximately`; tiktoken cannot fetch its files
offline) and there is something to fold. Keeps the opening (system prompt and task) and
the last `compress_keep_last` messages verbatim — moving the cut so a tool call is never
separated from its `ToolMessage` — and folds the rest into a running, extractive summary:
the calls made, and every issue the tools reported, compactly (file:line, rule, message),
so facts found early still reach the final report. The structured state (task, plan,
findings, blockers) is never touched.

The summary message carries a fenced `keel-notes` JSON block (`called`, `issues`) that the
offline policy model reads like tool results.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, RemoveMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from langgraph.types import Command

from ._verdict import OK, Verdict, guard_event
from .policy import GuardPolicy

__all__ = ["GUARD_NAME", "NOTES_FENCE", "check_before_model_call", "compress_node", "fold"]

GUARD_NAME: Final = "compress"
NOTES_FENCE: Final = "keel-notes"
_OPENING = 2  # system prompt + task
_MAX_ISSUES = 400


def _cut(messages: Sequence[BaseMessage], keep_last: int) -> int:
    """Index of the first kept message: never a ToolMessage (its call stays with it)."""
    cut = max(_OPENING, len(messages) - keep_last)
    while cut > _OPENING and isinstance(messages[cut], ToolMessage):
        cut -= 1
    return cut


def _is_summary(message: BaseMessage) -> bool:
    """Whether `message` is the running summary a previous compression left."""
    return isinstance(message, HumanMessage) and str(message.content).startswith(
        "Summary of earlier work"
    )


def check_before_model_call(messages: Sequence[BaseMessage], policy: GuardPolicy) -> Verdict:
    """Fire when the channel is over the threshold and some messages can be folded."""
    if len(messages) <= _OPENING + policy.compress_keep_last:
        return OK
    tokens = count_tokens_approximately(messages)
    if tokens < policy.compress_at_tokens:
        return OK
    cut = _cut(messages, policy.compress_keep_last)
    if not any(not _is_summary(m) for m in messages[_OPENING:cut]):
        # Only the previous summary would be folded: nothing shrinks, and firing again
        # would send the agent round compress -> model node -> compress without end.
        return OK
    reason = (
        f"context {tokens} tokens (limit {policy.compress_at_tokens}); folding "
        f"{cut - _OPENING} of {len(messages)} messages"
    )
    return Verdict(GUARD_NAME, "compress", reason, {"tokens": tokens, "cut": cut})


def _notes(summary: str) -> dict[str, Any]:
    start = summary.find(f"```{NOTES_FENCE}")
    if start < 0:
        return {"called": [], "issues": []}
    body = summary[start + len(NOTES_FENCE) + 3 :]
    try:
        data = json.loads(body[: body.find("```")])
    except json.JSONDecodeError:
        return {"called": [], "issues": []}
    return data if isinstance(data, dict) else {"called": [], "issues": []}


def fold(previous_summary: str, folded: Sequence[BaseMessage]) -> str:
    """Extend the running summary with the folded messages (extractive, no model)."""
    notes = _notes(previous_summary)
    called: list[str] = list(notes.get("called", []))
    issues: list[dict[str, Any]] = list(notes.get("issues", []))
    lines: list[str] = []
    for message in folded:
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                called.append(call["name"])
            text = message.content if isinstance(message.content, str) else ""
            if text.strip():
                lines.append(f"- you said: {text.strip()[:200]}")
        elif isinstance(message, ToolMessage):
            text = message.content if isinstance(message.content, str) else str(message.content)
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                data = None
            if isinstance(data, dict) and isinstance(data.get("issues"), list):
                issues.extend(
                    {
                        k: i.get(k)
                        for k in (
                            "tool",
                            "rule",
                            "file",
                            "line",
                            "end_line",
                            "severity",
                            "category",
                            "message",
                            "code",
                            "confidence",
                        )
                    }
                    for i in data["issues"]
                    if isinstance(i, dict)
                )
                lines.append(f"- {message.name}: {len(data['issues'])} issue(s) recorded below")
            else:
                lines.append(f"- {message.name}: {text.strip()[:300]}")
        elif isinstance(message, HumanMessage):
            text = message.content if isinstance(message.content, str) else ""
            if not text.startswith("Summary of earlier work"):
                lines.append(f"- note: {text.strip()[:200]}")
    kept_lines = [ln for ln in previous_summary.splitlines() if ln.startswith("- ")]
    body = "\n".join([*kept_lines, *lines][-60:])
    payload = json.dumps({"called": sorted(set(called)), "issues": issues[-_MAX_ISSUES:]})
    payload = payload.replace("`", "\\u0060")  # a fence inside a message must not end the block
    return (
        "Summary of earlier work (older messages were compressed):\n"
        f"{body}\n```{NOTES_FENCE}\n{payload}\n```"
    )


def compress_node(agent: str, model_node: str = "agent") -> Any:
    """Return the `compress` guard node for an agent."""

    def compress(state: Mapping[str, Any]) -> Command[Literal["agent"]]:
        pending = state.get("verdict")
        if not pending:
            raise RuntimeError("compress guard entered without a verdict")
        verdict = Verdict.from_pending(pending)
        messages: list[BaseMessage] = list(state.get("messages") or [])
        cut = int(verdict.detail["cut"])
        summary = fold(state.get("summary") or "", messages[_OPENING:cut])
        rebuilt: list[BaseMessage] = [
            RemoveMessage(id=REMOVE_ALL_MESSAGES),
            *messages[:_OPENING],
            HumanMessage(summary),
            *messages[cut:],
        ]
        return Command(
            goto=model_node,  # type: ignore[arg-type]
            update={
                "messages": rebuilt,
                "summary": summary,
                "guard_events": [guard_event(verdict, agent)],
                "verdict": None,
            },
        )

    return compress

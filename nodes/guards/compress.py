"""Context compressor: keep a specialist's message channel bounded.

Fires before a model request when the channel holds more than `compress_at_tokens`
tokens (counted with `count_tokens_approximately`; tiktoken cannot fetch its files
offline) and there is something to fold. Keeps the opening (system prompt and task) and
the last `compress_keep_last` messages verbatim — moving the cut so a tool call is never
separated from its `ToolMessage` — and folds the rest into a running, extractive summary:
the calls made, and every issue the tools reported, compactly (file:line, rule, message),
so facts found early still reach the final report. The structured state (task, plan,
findings, blockers) is never touched.

The summary is bounded, or compression would only move the context into the summary: a
tool result without issues becomes a one-line digest (the tool, its first line cut short,
its size), and the prose part of the summary is kept within `compress_summary_tokens`
(default: an eighth of `compress_at_tokens`) by dropping its oldest lines first and
counting them in a `- (N older lines dropped)` line. The tool-reported issues are never
dropped for the budget (only the `_MAX_ISSUES` cap applies): they are the facts the report
needs, and a summary over budget because of them is the right trade.

The summary message carries a fenced `keel-notes` JSON block (`called`, `issues`) that the
offline policy model reads like tool results.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, RemoveMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from langgraph.types import Command

from ._verdict import OK, Verdict, guard_event
from .policy import GuardPolicy

__all__ = [
    "GUARD_NAME",
    "NOTES_FENCE",
    "check_before_model_call",
    "compress_node",
    "fold",
    "summary_budget",
]

GUARD_NAME: Final = "compress"
NOTES_FENCE: Final = "keel-notes"
_OPENING = 2  # system prompt + task
_MAX_ISSUES = 400
_MAX_LINES = 60
_DIGEST_CHARS = 100
"""Characters of a digested tool result's first line (or a model's text) kept."""
_NOTE_CHARS = 200
"""Characters of a human/guard note kept (nudges are short and worth keeping whole)."""
_CHARS_PER_TOKEN = 4
"""`count_tokens_approximately`'s rate: the budget is checked in characters."""
_HEADER = "Summary of earlier work (older messages were compressed):"
_DROPPED_RE = re.compile(r"^- \((\d+) older lines? dropped\)$")
_ISSUE_KEYS = (
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


def check_before_model_call(
    messages: Sequence[BaseMessage], policy: GuardPolicy, tokens: int | None = None
) -> Verdict:
    """Fire when the channel is over the threshold and some messages can be folded.

    `tokens`: the channel's count if the caller already made it (one count per call).
    """
    if len(messages) <= _OPENING + policy.compress_keep_last:
        return OK
    tokens = count_tokens_approximately(messages) if tokens is None else tokens
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
    detail = {"tokens": tokens, "cut": cut, "summary_tokens": summary_budget(policy)}
    return Verdict(GUARD_NAME, "compress", reason, detail)


def summary_budget(policy: GuardPolicy) -> int:
    """Token budget of the running summary's prose: the policy's, or an eighth of the limit.

    An eighth leaves most of the threshold to the verbatim tail and new work, so a
    compression frees enough room for several turns before the next one.
    """
    return policy.compress_summary_tokens or max(1, policy.compress_at_tokens // 8)


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


def _clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis when something was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _digest(name: str | None, text: str) -> str:
    """One line for a tool result without issues: tool, first line (cut), total size.

    The full result was already shown to the model once; what later turns need is that
    the call happened and roughly what came back, not the bytes again.
    """
    stripped = text.strip()
    first = stripped.splitlines()[0] if stripped else ""
    return f"- {name or 'tool'}: {_clip(first, _DIGEST_CHARS)} ({len(stripped)} chars)"


def fold(
    previous_summary: str, folded: Sequence[BaseMessage], budget_tokens: int | None = None
) -> str:
    """Extend the running summary with the folded messages (extractive, no model).

    `budget_tokens` bounds the whole summary: the oldest prose lines are dropped (and
    counted) until it fits; the `keel-notes` issues are always kept, even over budget.
    None means no budget (only the `_MAX_LINES` cap on prose lines).
    """
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
                lines.append(f"- you said: {_clip(text.strip(), _DIGEST_CHARS)}")
        elif isinstance(message, ToolMessage):
            text = message.content if isinstance(message.content, str) else str(message.content)
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                data = None
            if isinstance(data, dict) and isinstance(data.get("issues"), list):
                issues.extend(
                    {k: i.get(k) for k in _ISSUE_KEYS}
                    for i in data["issues"]
                    if isinstance(i, dict)
                )
                lines.append(f"- {message.name}: {len(data['issues'])} issue(s) recorded below")
            else:
                lines.append(_digest(message.name, text))
        elif isinstance(message, HumanMessage):
            text = message.content if isinstance(message.content, str) else ""
            if not _is_summary(message):
                lines.append(f"- note: {_clip(text.strip(), _NOTE_CHARS)}")
    dropped = 0
    kept_lines: list[str] = []
    for line in previous_summary.splitlines():
        if match := _DROPPED_RE.match(line):
            dropped += int(match.group(1))
        elif line.startswith("- "):
            kept_lines.append(line)
    prose = [*kept_lines, *lines]
    if len(prose) > _MAX_LINES:
        dropped += len(prose) - _MAX_LINES
        prose = prose[-_MAX_LINES:]
    payload = json.dumps({"called": sorted(set(called)), "issues": issues[-_MAX_ISSUES:]})
    payload = payload.replace("`", "\\u0060")  # a fence inside a message must not end the block
    notes_block = f"```{NOTES_FENCE}\n{payload}\n```"
    if budget_tokens is not None:
        room = budget_tokens * _CHARS_PER_TOKEN - len(_HEADER) - len(notes_block) - 2
        size = sum(len(line) + 1 for line in prose)
        marker = 40  # room for the "- (N older lines dropped)" line
        while prose and size + (marker if dropped else 0) > room:
            size -= len(prose.pop(0)) + 1
            dropped += 1
    if dropped:
        prose.insert(0, f"- ({dropped} older line{'s' if dropped != 1 else ''} dropped)")
    body = "\n".join(prose)
    return f"{_HEADER}\n{body}\n{notes_block}"


def _previous_summary(messages: Sequence[BaseMessage], stored: str) -> str:
    """The running summary so far: the newest summary message in the channel.

    The summary lives only in the message channel. It used to be copied into the state's
    `summary` key as well, which cost a second copy in every checkpoint (PostgreSQL stores
    a string channel inline in each checkpoint row, SQLite stores every channel in every
    checkpoint) while nothing but this node read it; `stored` is that key, still honoured
    for a thread compressed before the change whose summary message is gone.
    """
    for message in reversed(messages):
        if _is_summary(message):
            return str(message.content)
    return stored


def compress_node(agent: str, model_node: str = "agent") -> Any:
    """Return the `compress` guard node for an agent.

    Its update rewrites the channel (`RemoveMessage(REMOVE_ALL_MESSAGES)`, the opening, the
    new summary, the kept tail) and records the guard event; the summary is not written to
    any other key (see `_previous_summary`).
    """

    def compress(state: Mapping[str, Any]) -> Command[Literal["agent"]]:
        pending = state.get("verdict")
        if not pending:
            raise RuntimeError("compress guard entered without a verdict")
        verdict = Verdict.from_pending(pending)
        messages: list[BaseMessage] = list(state.get("messages") or [])
        cut = int(verdict.detail["cut"])
        budget = verdict.detail.get("summary_tokens")
        summary = fold(
            _previous_summary(messages[:cut], state.get("summary") or ""),
            messages[_OPENING:cut],
            int(budget) if budget is not None else None,
        )
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
                "guard_events": [guard_event(verdict, agent)],
                "verdict": None,
            },
        )

    return compress

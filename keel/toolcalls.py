"""Recover tool calls a local model wrote as text instead of in its native format.

llama.cpp's server (`--jinja`) turns a Qwen model's native `<tool_call>{...}</tool_call>`
output into OpenAI `tool_calls`. Small models do not always use it: Qwen2.5-Coder-0.5B
often answers with the same JSON object in a Markdown fence, or bare, followed by prose.
`recover_tool_calls` finds such objects in the text of an answer that has no native call.

Contract:

* Only an answer without native tool calls is looked at; the first candidates win, in
  this order: `<tool_call>` blocks (closed or not), fenced code blocks, then bare JSON
  objects in the text.
* A candidate is a JSON object with a string `name` and an `arguments` (or `parameters`)
  object — or a JSON string holding one. It becomes a `ToolCall` when `name` is one of the
  offered tools.
* Text that names an offered tool in a `{"name": ...}` object but does not parse becomes an
  `InvalidToolCall` with the parse error, so the tool-misuse guard answers it and counts it
  instead of the call silently disappearing.
* Nothing else is changed: an answer with no candidate stays a plain text answer.

The source of each answer's calls (`native`, `constrained` — the answer was decoded under
the call's JSON schema —, `recovered` or `none`) is recorded in the message's
`response_metadata["keel_tool_calls"]`, so the parse rate can be measured.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Collection
from typing import Any

from langchain_core.messages import AIMessage, InvalidToolCall, ToolCall
from langchain_core.messages.tool import invalid_tool_call, tool_call

__all__ = ["SOURCE_KEY", "recover_tool_calls", "with_recovered_calls"]

SOURCE_KEY = "keel_tool_calls"
"""`response_metadata` key: `native`, `constrained`, `recovered` or `none`."""

_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_FENCED = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_NAME = re.compile(r'"name"\s*:\s*"([^"]+)"')


def _balanced_objects(text: str) -> list[str]:
    """Top-level `{...}` spans of `text` (string-aware brace matching)."""
    spans: list[str] = []
    depth, start, in_string, escaped = 0, -1, False, False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"' and depth > 0:
            in_string = True
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                spans.append(text[start : i + 1])
    if depth > 0 and start >= 0:
        spans.append(text[start:])  # unclosed: reported as invalid if it names a tool
    return spans


def _candidates(content: str) -> list[str]:
    tagged = [m.group(1) for m in _TAGGED.finditer(content) if m.group(1).strip()]
    if tagged:
        return tagged
    fenced = [m.group(1) for m in _FENCED.finditer(content) if "{" in m.group(1)]
    if fenced:
        return [span for block in fenced for span in _balanced_objects(block)]
    return _balanced_objects(content)


def _call_of(data: Any) -> tuple[str, dict[str, Any]] | None:
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return None
    args = data.get("arguments", data.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError:
            return None
    if not isinstance(args, dict):
        return None
    return data["name"], args


def recover_tool_calls(
    content: str, tools: Collection[str]
) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    """Return the tool calls written as text in `content` (see the module docstring)."""
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for raw in _candidates(content):
        named = _NAME.search(raw)
        if not named or named.group(1) not in tools:
            continue
        call_id = f"call_{uuid.uuid4().hex[:12]}"
        try:
            parsed = _call_of(json.loads(raw))
        except json.JSONDecodeError as exc:
            invalid.append(
                invalid_tool_call(
                    name=named.group(1), args=raw[:2000], id=call_id, error=f"not JSON: {exc}"
                )
            )
            continue
        if parsed is None:
            invalid.append(
                invalid_tool_call(
                    name=named.group(1),
                    args=raw[:2000],
                    id=call_id,
                    error='expected {"name": ..., "arguments": {...}}',
                )
            )
            continue
        calls.append(tool_call(name=parsed[0], args=parsed[1], id=call_id))
    return calls, invalid


def with_recovered_calls(
    message: AIMessage, tools: Collection[str], *, recovered: str = "recovered"
) -> AIMessage:
    """Return `message` with text-written tool calls recovered, its source recorded.

    `recovered` names the source of calls found in the text (`constrained` when the whole
    answer was decoded under the call's JSON schema).
    """
    metadata = dict(message.response_metadata or {})
    if message.tool_calls or message.invalid_tool_calls:
        metadata[SOURCE_KEY] = "native"
        return message.model_copy(update={"response_metadata": metadata})
    text = message.content if isinstance(message.content, str) else ""
    calls, invalid = recover_tool_calls(text, tools) if tools else ([], [])
    metadata[SOURCE_KEY] = recovered if calls or invalid else "none"
    if not (calls or invalid):
        return message.model_copy(update={"response_metadata": metadata})
    return message.model_copy(
        update={
            "tool_calls": calls,
            "invalid_tool_calls": invalid,
            "response_metadata": metadata,
        }
    )

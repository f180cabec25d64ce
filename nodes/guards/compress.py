"""Context compressor: keep a specialist's message channel under `compress_at_tokens`.

Fires before a model request when the channel holds at least `compress_at_tokens` tokens
(counted with `count_tokens_approximately`'s formula, the one counter used throughout —
tiktoken cannot fetch its files offline — incrementally: `_memo.channel_tokens`) and
compressing would either get it under that limit or save at least an eighth of it. One
compression does two things:

1. **Fold.** Keep the opening (system prompt and task) and the last `compress_keep_last`
   messages — moving the cut so a tool call is never separated from its `ToolMessage` —
   and fold the rest into a running, extractive summary: the calls made, and every issue
   the tools reported, compactly (file:line, rule, message), so facts found early still
   reach the final report.
2. **Cut.** If the channel is still at or above its goal — room for one more turn as large
   as the newest one (`compress_at_tokens` minus the newest AI message and what follows
   it), but at least a quarter of the limit — the largest messages are cut, all to the
   same size (the largest size that meets the goal, by bisection on the same count), never
   below `_MIN_KEEP_CHARS` of their own text. The messages the model has read are cut to
   meet the goal; if they cannot, they stay at that minimum and the newest turn's results
   (after the last AI message), which it has not read yet, are cut only as far as the
   limit needs. Cut: an AI message's text, a tool result, a human message that is not
   the opening. A plain text keeps its head and tail around a note
   (`[keel: cut 28,112 of 30,000 characters from this tool result]`); a JSON-object tool
   result stays a JSON object — its `issues` and short values are kept whole, a long
   string keeps its head and tail, a long list its leading items — with the note under
   `keel_cut`. A message cut again is cut from what it kept, and its note still counts
   against the original size.

Never changed: the system prompt, the task, the summary message, tool calls (ids, names,
arguments), a `ToolMessage`'s call id, name and status, content that is not a string
(content blocks), message ids, and tool-reported issues (in a kept result or in the
summary's `keel-notes`). So every tool call is still followed by its results, and the
node can write the new channel whole (`RemoveMessage(REMOVE_ALL_MESSAGES)`, then the
messages; a cut message keeps its id). The structured state (task, plan, findings,
blockers) is never touched.

After one compression the channel is under the limit, unless its irreducible part is not:
the opening, tool-call arguments, issues, short JSON values and the minimal excerpts.
Then the compression still runs, its reason says so with the numbers (tokens after, the
opening's size), and the check stays quiet until compressing would save an eighth of the
limit again — until the channel has grown by about that much. A channel at its floor
is therefore not re-compressed every turn, and compress → model node → compress cannot
loop (a compressed channel has nothing left to save).

The summary is bounded, or compression would only move the context into the summary: a
tool result without issues becomes a one-line digest (the tool, its first line cut short,
its size), and the prose part of the summary is kept within `compress_summary_tokens`
(default: an eighth of `compress_at_tokens`) by dropping its oldest lines first and
counting them in a `- (N older lines dropped)` line. The tool-reported issues are never
dropped for the budget (only the `_MAX_ISSUES` cap applies): they are the facts the report
needs, and a summary over budget because of them is the right trade — as is a cut tool
result that stays large because of its issues.

The summary message carries a fenced `keel-notes` JSON block (`called`, `issues`) that the
offline policy model reads like tool results.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, RemoveMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately
from langgraph.graph.message import REMOVE_ALL_MESSAGES

from keel.core.state import GuardedState

from ._escalate import Escalation
from ._memo import channel_tokens, forget
from ._verdict import OK, Verdict
from .base import BaseGuard, GuardSettings, Phase, Route, Turn, Update, setting

__all__ = [
    "COMPRESS",
    "CUT_KEY",
    "GUARD_NAME",
    "NOTES_FENCE",
    "Compress",
    "CompressSettings",
    "check_before_model_call",
    "fold",
    "summary_budget",
]

GUARD_NAME: Final = "compress"
NOTES_FENCE: Final = "keel-notes"
CUT_KEY: Final = "keel_cut"
"""The key under which a cut JSON tool result carries its note."""
_OPENING = 2  # system prompt + task
_MAX_ISSUES = 400
_MAX_LINES = 60
_DIGEST_CHARS = 100
"""Characters of a digested tool result's first line (or a model's text) kept."""
_NOTE_CHARS = 200
"""Characters of a human/guard note kept (nudges are short and worth keeping whole)."""
_CHARS_PER_TOKEN = 4
"""`count_tokens_approximately`'s rate: the budget is checked in characters."""
_MIN_KEEP_CHARS = 400
"""Fewest characters of its own text a cut message keeps (head and tail halves)."""
_SHORT_VALUE_CHARS = 200
"""A cut JSON tool result keeps values up to this size (as JSON) whole."""
_GOAL_SHARE = 4
"""The goal after a compression is at least 1/4 of the limit (however large the turns)."""
_REFIRE_SHARE = 8
"""A compression that cannot get under the limit fires only if it saves 1/8 of it."""
_BISECT_CHARS = 16
"""Precision of the common size cut messages get."""
_HEADER = "Summary of earlier work (older messages were compressed):"
_DROPPED_RE = re.compile(r"^- \((\d+) older lines? dropped\)$")
_GAP_RE = re.compile(r"\n\n\[keel: cut [\d,]+ of ([\d,]+) characters from this [a-z ]+\]\n\n")
_TOTAL_RE = re.compile(r" of ([\d,]+) characters ")
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


def _newest_turn(messages: Sequence[BaseMessage]) -> int:
    """Index of the last AI message after the opening (`len(messages)` if there is none)."""
    for index in range(len(messages) - 1, _OPENING - 1, -1):
        if isinstance(messages[index], AIMessage):
            return index
    return len(messages)


def _goal(messages: Sequence[BaseMessage], limit: int) -> int:
    """Tokens a compression aims below: room for one more turn like the newest one.

    At least `limit / _GOAL_SHARE`, so one huge turn does not ask for an empty channel.
    """
    newest = count_tokens_approximately(messages[_newest_turn(messages) :])
    return max(limit // _GOAL_SHARE, limit - newest)


def check_before_model_call(
    messages: Sequence[BaseMessage], policy: CompressSettings, tokens: int | None = None
) -> Verdict:
    """Fire when the channel is at or over the limit and compressing it is worth it.

    Worth it: the compressed channel would be under `compress_at_tokens`, or at least an
    eighth of it smaller (a channel whose irreducible part is over the limit is compressed
    once, then again only after it has grown by about that much). The verdict's detail is
    what the node needs to compress exactly as planned here (`cut`, `summary_tokens`,
    `goal_tokens`, `limit_tokens`) and the expected result (`after_tokens`).

    `tokens`: the channel's count if the caller already made it (one count per call).
    """
    limit = policy.compress_at_tokens
    tokens = channel_tokens(messages) if tokens is None else tokens
    if tokens < limit:
        return OK
    budget = summary_budget(policy)
    goal = _goal(messages, limit)
    cut = _cut(messages, policy.compress_keep_last)
    plan = _plan(messages, cut, budget, goal, limit=limit)
    saved = tokens - plan.tokens
    resave = max(1, limit // _REFIRE_SHARE)
    if plan.tokens >= limit and saved < resave:
        # At its floor, or nothing shrinks: firing would send the agent round
        # compress -> model node -> compress without end.
        return OK
    reason = (
        f"context {tokens} tokens (limit {limit}); folding {plan.cut - _OPENING} of "
        f"{len(messages)} messages"
    )
    if plan.shortened:
        reason += f", cutting {plan.shortened} ({plan.cut_chars} characters)"
    reason += f"; {plan.tokens} tokens after"
    if plan.tokens >= limit:
        opening = count_tokens_approximately(messages[:_OPENING])
        reason += (
            f", still over the limit (the opening alone is {opening}; tool calls, issues and "
            f"{_MIN_KEEP_CHARS}-character excerpts are kept); not compressed again until "
            f"that would save {resave}"
        )
    detail = {
        "tokens": tokens,
        "cut": plan.cut,
        "summary_tokens": budget,
        "goal_tokens": goal,
        "limit_tokens": limit,
        "after_tokens": plan.tokens,
    }
    return Verdict(GUARD_NAME, "compress", reason, detail)


def summary_budget(policy: CompressSettings) -> int:
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


# ---------------------------------------------------------------------------- cutting


def _excerpt(text: str, keep: int, what: str) -> str:
    """`text` as its first and last `keep / 2` characters around a note of the cut.

    A text cut before is cut from the head and tail it kept, and its note keeps counting
    against the original size. Returns `text` itself when cutting would not shorten it.
    """
    match = _GAP_RE.search(text)
    if match:
        head_src, tail_src = text[: match.start()], text[match.end() :]
        total = int(match.group(1).replace(",", ""))
    else:
        head_src = tail_src = text
        total = len(text)
    head_len = min(len(head_src), (keep + 1) // 2)
    tail_len = min(len(tail_src), keep - head_len)
    if not match and head_len + tail_len >= len(text):
        return text
    head, tail = head_src[:head_len], tail_src[len(tail_src) - tail_len :]
    note = f"[keel: cut {total - head_len - tail_len:,} of {total:,} characters from this {what}]"
    out = f"{head}\n\n{note}\n\n{tail}"
    return out if len(out) < len(text) else text


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _leading(items: list[Any], room: int) -> list[Any]:
    """The leading items of `items` whose JSON fits in `room` characters."""
    kept: list[Any] = []
    size = 2
    for item in items:
        size += len(_dumps(item)) + 2
        if size > room:
            break
        kept.append(item)
    return kept


def _cut_json(data: dict[str, Any], text: str, keep: int) -> str:
    """A JSON-object tool result cut to about `keep` characters; still a JSON object.

    `issues` and values up to `_SHORT_VALUE_CHARS` are kept whole; the long values share
    the rest in proportion to their size (a string keeps its head and tail, a list its
    leading items, anything else becomes an excerpt of its JSON); `CUT_KEY` notes the cut.
    """
    prior = data.get(CUT_KEY)
    match = _TOTAL_RE.search(prior) if isinstance(prior, str) else None
    total = int(match.group(1).replace(",", "")) if match else len(text)
    body = {k: v for k, v in data.items() if k != CUT_KEY}
    sizes = {k: len(_dumps(v)) for k, v in body.items() if k != "issues"}
    long = {k: n for k, n in sizes.items() if n > _SHORT_VALUE_CHARS}
    if not long:
        return text
    fixed = len(_dumps({k: v for k, v in body.items() if k not in long})) + 100  # + the note
    room = max(keep - fixed, _MIN_KEEP_CHARS)
    whole = sum(long.values())
    out: dict[str, Any] = {}
    lists: list[str] = []
    for key, value in body.items():
        if key not in long:
            out[key] = value
            continue
        share = max(1, room * long[key] // whole)
        if isinstance(value, list):
            out[key] = _leading(value, share)
            if len(out[key]) < len(value):
                lists.append(f"; {key!r} keeps its first {len(out[key])} items")
        else:
            out[key] = _excerpt(value if isinstance(value, str) else _dumps(value), share, "value")
    kept = len(_dumps(out))
    out[CUT_KEY] = (
        f"[keel: cut {max(0, total - kept):,} of {total:,} characters from this tool result"
        f"{''.join(lists)}]"
    )
    new = _dumps(out)
    return new if len(new) < len(text) else text


def _shortened(message: BaseMessage, keep: int) -> BaseMessage:
    """`message` with its text cut to about `keep` characters; everything else as it was."""
    text = message.content
    if not isinstance(text, str):
        return message
    if isinstance(message, ToolMessage):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            new = _cut_json(data, text, keep)
        else:
            new = _excerpt(text, keep, "tool result")
    else:
        new = _excerpt(text, keep, "reply" if isinstance(message, AIMessage) else "message")
    return message if new == text else message.model_copy(update={"content": new})


def _cuttable(index: int, message: BaseMessage) -> int:
    """Characters of `message` that may be cut (0: never cut it)."""
    if index < _OPENING or _is_summary(message) or not isinstance(message.content, str):
        return 0
    if not isinstance(message, (AIMessage, ToolMessage, HumanMessage)):
        return 0
    return len(message.content)


def _fill(
    messages: list[BaseMessage], sizes: Mapping[int, int], goal: int
) -> tuple[list[BaseMessage], bool]:
    """Cut the messages at `sizes`' indexes to one common size, the largest meeting `goal`.

    Returns the messages and whether the goal was met; when it cannot be, every one of
    them is cut to `_MIN_KEEP_CHARS`.
    """

    def at(size: int) -> list[BaseMessage]:
        return [
            _shortened(m, size) if sizes.get(i, 0) > size else m for i, m in enumerate(messages)
        ]

    if count_tokens_approximately(messages) < goal:
        return messages, True
    low, high = _MIN_KEEP_CHARS, max(sizes.values(), default=0)
    if high <= low:
        return messages, False
    floor = at(low)
    if count_tokens_approximately(floor) >= goal:
        return floor, False
    best = floor
    while high - low > _BISECT_CHARS:  # invariant: at(low) meets the goal, at(high) does not
        middle = (low + high) // 2
        candidate = at(middle)
        if count_tokens_approximately(candidate) < goal:
            low, best = middle, candidate
        else:
            high = middle
    return best, True


@dataclass(frozen=True)
class _Plan:
    """A compression worked out: the new channel and what it took."""

    messages: list[BaseMessage]
    tokens: int
    cut: int
    """Index of the first message not folded (`_OPENING`: nothing folded)."""
    shortened: int
    cut_chars: int


def _plan(
    messages: Sequence[BaseMessage],
    cut: int,
    summary_tokens: int | None,
    goal: int | None,
    stored: str = "",
    limit: int | None = None,
) -> _Plan:
    """The channel compressed: messages before `cut` folded, then cut below `goal`.

    Folding only the previous summary folds nothing (the summary stays where it is). The
    messages the model has read are cut to meet `goal`; if that is not enough, they stay
    at their minimum and the newest turn's results (after the last AI message), which it
    has not read, are cut only as far as `limit` (default `goal`) needs. `goal` None:
    fold only.
    """
    if any(not _is_summary(m) for m in messages[_OPENING:cut]):
        previous = _previous_summary(messages[:cut], stored)
        summary = fold(previous, messages[_OPENING:cut], summary_tokens)
        base = [*messages[:_OPENING], HumanMessage(summary), *messages[cut:]]
    else:
        cut, base = _OPENING, list(messages)
    result = base
    if goal is not None and count_tokens_approximately(base) >= goal:
        fresh = _newest_turn(base) + 1
        sizes = {i: n for i, m in enumerate(base) if (n := _cuttable(i, m))}
        read = {i: n for i, n in sizes.items() if i < fresh}
        result, met = _fill(result, read, goal)
        if not met:
            unread = {i: n for i, n in sizes.items() if i >= fresh}
            result, _ = _fill(result, unread, goal if limit is None else limit)
    changed = [(old, new) for old, new in zip(base, result, strict=True) if new is not old]
    return _Plan(
        messages=result,
        tokens=count_tokens_approximately(result),
        cut=cut,
        shortened=len(changed),
        cut_chars=sum(len(str(old.content)) - len(str(new.content)) for old, new in changed),
    )


# ----------------------------------------------------------------------------- node


def _previous_summary(messages: Sequence[BaseMessage], stored: str) -> str:
    """The running summary so far: the newest summary message in the channel.

    The summary lives only in the message channel; `stored` (the state's legacy `summary`
    key) is used only when the channel holds no summary message, for a thread compressed
    by a Keel that kept it there.
    """
    for message in reversed(messages):
        if _is_summary(message):
            return str(message.content)
    return stored


@dataclass(kw_only=True)
class CompressSettings(GuardSettings):
    """Settings of the context compressor."""

    compress_at_tokens: int = setting(
        12_000, "Tokens in a specialist's channel that trigger compression.", at_least=0
    )
    compress_keep_last: int = setting(6, "Messages kept verbatim when compressing.")
    compress_summary_tokens: int = setting(
        0,
        "Token budget of the running summary (oldest prose lines dropped first; "
        "tool-reported issues always kept); 0 = an eighth of compress_at_tokens.",
        at_least=0,
    )

    def _validate(self) -> None:
        if self.compress_keep_last < 2:
            raise ValueError(f"{type(self).__name__}.compress_keep_last must be at least 2")


@dataclass(frozen=True)
class Compress(BaseGuard[CompressSettings]):
    """Folds and cuts a channel at `compress_at_tokens` (see the module docstring)."""

    name: ClassVar[str] = GUARD_NAME
    phase: ClassVar[Phase] = "before_model_call"
    routes: ClassVar[tuple[Route, ...]] = ("model",)

    def check(self, state: GuardedState, turn: Turn, settings: CompressSettings) -> Verdict:
        """Fire when the channel is at or over the limit and compressing it is worth it."""
        return check_before_model_call(turn.messages, settings, turn.tokens)

    def recover(
        self, state: GuardedState, verdict: Verdict, agent: str, decision: Escalation | None
    ) -> Update:
        """The channel compressed as the verdict planned, written whole.

        It compresses as its verdict planned (`cut`, `summary_tokens`, `goal_tokens`; a
        verdict without `goal_tokens` only folds) and writes the new channel whole
        (`RemoveMessage(REMOVE_ALL_MESSAGES)`, the opening, the summary, the kept and cut
        messages, each with its id); the summary is not written to any other key (see
        `_previous_summary`).
        """
        detail = verdict.detail
        budget, goal, limit = (
            detail.get(key) for key in ("summary_tokens", "goal_tokens", "limit_tokens")
        )
        plan = _plan(
            list(state.get("messages") or []),
            int(detail["cut"]),
            int(budget) if budget is not None else None,
            int(goal) if goal is not None else None,
            str(state.get("summary") or ""),  # legacy key (older threads)
            int(limit) if limit is not None else None,
        )
        forget(plan.messages)  # kept under their ids, at new places or with cut text
        return {"messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES), *plan.messages]}


COMPRESS: Final = Compress(CompressSettings())

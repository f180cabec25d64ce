"""Incremental guard checks: a fold over a message channel, remembered at its tail.

A check before every model request must not cost a pass over the whole history. What a
check derives from the channel — its token count, its last N tool calls, the results of
its last N tool turns — is a left fold over the messages. `ChannelFold` remembers the
fold's value at the channel's last message; the next check of the same channel (grown by
a turn) walks back to that message and folds only what is new: O(new messages) a check,
O(history) once per process and channel.

`count_tokens_approximately` (the one counter Keel uses; tiktoken cannot fetch its files
offline) rounds per message, so a channel's count is exactly the sum of its messages'
counts, and `channel_tokens` is such a fold.

Contract: a remembered value is used only for a message with an id, at the same position
and with the same fingerprint (its type, the hash of its text, its tool call ids and
names, its name) as when it was remembered; so a channel whose earlier messages were
removed, or whose tail was replaced, is folded again. Only the tail is fingerprinted, so
a check costs O(the tail's text), not O(history). Two channels that share a message id at
the same position with the same text and calls (ids are unique per model response and
per `add_messages` write; only hand-set ids repeat) share the remembered value. A writer
that replaces messages *before* the tail under their ids (the compressor does) must call
`forget` with them.
Messages without ids (hand-built state) are folded from the start every time. Each fold
remembers at most `CACHE_SIZE` channels (least recently used dropped first), so a
long-lived server's memory stays bounded.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Final, Generic, TypeVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately

__all__ = [
    "CACHE_SIZE",
    "ChannelFold",
    "channel_tokens",
    "fingerprint",
    "forget",
    "message_tokens",
]

CACHE_SIZE: Final = 20_000
"""Channel tails one fold remembers."""

A = TypeVar("A")


def fingerprint(message: BaseMessage) -> Hashable | None:
    """What must not change for a value remembered at `message` to hold (None: never)."""
    content = message.content
    if message.id is None or not isinstance(content, str):
        return None
    calls = (
        tuple((c["id"], c["name"]) for c in message.tool_calls)
        if isinstance(message, AIMessage)
        else ()
    )
    return (message.type, hash(content), calls, message.name)


_FOLDS: list[ChannelFold[Any]] = []


class ChannelFold(Generic[A]):
    """`functools.reduce(step, messages, initial)`, resumed from the last channel's tail.

    `step` must be pure and must not mutate its accumulator (values are shared between
    the channels remembered): return a new one.
    """

    def __init__(
        self, initial: A, step: Callable[[A, BaseMessage], A], size: int = CACHE_SIZE
    ) -> None:
        self._initial = initial
        self._step = step
        self._size = size
        self._tails: OrderedDict[str, tuple[int, Hashable, A]] = OrderedDict()
        _FOLDS.append(self)  # so that forget() reaches every fold

    def __call__(self, messages: Sequence[BaseMessage]) -> A:
        """The fold over `messages`, computing only the messages after a remembered tail."""
        start, value = len(messages), self._initial
        while start > 0:
            message = messages[start - 1]
            message_id = message.id
            hit = self._tails.get(message_id) if message_id is not None else None
            if hit is not None and hit[0] == start - 1 and hit[1] == fingerprint(message):
                value = hit[2]
                self._tails.move_to_end(message_id)  # type: ignore[arg-type]
                break
            start -= 1
        if start == len(messages):
            return value
        for message in messages[start:]:
            value = self._step(value, message)
        tail = messages[-1]
        key = fingerprint(tail)
        if key is not None and tail.id is not None:
            self._tails[tail.id] = (len(messages) - 1, key, value)
            if len(self._tails) > self._size:
                self._tails.popitem(last=False)
        return value

    def forget(self, ids: Iterable[str]) -> None:
        """Drop the values remembered at these message ids."""
        for message_id in ids:
            self._tails.pop(message_id, None)


def forget(messages: Iterable[BaseMessage]) -> None:
    """Drop every fold's values remembered at `messages` (their channel was rewritten)."""
    ids = [m.id for m in messages if m.id is not None]
    for fold in _FOLDS:
        fold.forget(ids)


_ROLES: Final = {AIMessage: "assistant", HumanMessage: "user", ToolMessage: "tool"}
_CHARS_PER_TOKEN: Final = 4
_TOKENS_PER_MESSAGE: Final = 3


def message_tokens(message: BaseMessage) -> int:
    """`count_tokens_approximately([message])` (its default rates), without its overhead.

    The same formula for the messages an agent loop holds — AI, human and tool messages
    with text content: characters of the text, the tool calls' repr, the tool call id,
    the role and the name, a token per 4 of them rounded up, plus 3 per message. Any other
    message goes to `count_tokens_approximately` itself (tests hold the two equal).
    """
    role = _ROLES.get(type(message))
    content = message.content
    if role is None or not isinstance(content, str):
        return count_tokens_approximately([message])
    chars = len(content) + len(role) + len(message.name or "")
    if isinstance(message, AIMessage) and message.tool_calls:
        chars += len(repr(message.tool_calls))
    elif isinstance(message, ToolMessage):
        chars += len(message.tool_call_id)
    return -(-chars // _CHARS_PER_TOKEN) + _TOKENS_PER_MESSAGE


channel_tokens: ChannelFold[int] = ChannelFold(
    0, lambda total, message: total + message_tokens(message)
)
"""`count_tokens_approximately(messages)`, counting only the messages new since last time."""

"""Incremental checks: `ChannelFold` resumes at the last channel's tail, and stays exact."""

from __future__ import annotations

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately

from keel.nodes.guards._memo import ChannelFold, channel_tokens, forget, message_tokens

from ._state import history


def _with_ids(messages: list[BaseMessage], prefix: str) -> list[BaseMessage]:
    return [m.model_copy(update={"id": f"{prefix}{i}"}) for i, m in enumerate(messages)]


def _counting_fold() -> tuple[ChannelFold[int], list[str]]:
    seen: list[str] = []

    def step(total: int, message: BaseMessage) -> int:
        seen.append(str(message.id))
        return total + 1

    return ChannelFold(0, step), seen


def test_a_grown_channel_folds_only_its_new_messages() -> None:
    fold, seen = _counting_fold()
    channel = _with_ids(history([("grep", {"q": str(i)}) for i in range(5)]), "g")
    assert fold(channel) == len(channel)
    seen.clear()
    grown = [*channel, *_with_ids([HumanMessage("more"), AIMessage("done")], "new")]
    assert fold(grown) == len(grown)
    assert seen == ["new0", "new1"]


def test_a_changed_tail_or_a_shorter_channel_is_folded_again() -> None:
    fold, seen = _counting_fold()
    channel = _with_ids(history([("grep", {"q": "a"}), ("grep", {"q": "b"})]), "c")
    fold(channel)
    seen.clear()
    replaced = [*channel[:-1], channel[-1].model_copy(update={"content": "other text"})]
    assert fold(replaced) == len(channel)
    assert len(seen) == len(channel)  # the tail's fingerprint changed: from the start
    seen.clear()
    fold(channel)
    seen.clear()
    tail = channel[-1]
    same_size = "x" * len(str(tail.content))
    assert fold([*channel[:-1], tail.model_copy(update={"content": same_size})]) == len(channel)
    assert len(seen) == len(channel)  # same length, other text: folded again
    seen.clear()
    assert fold(channel[:-2]) == len(channel) - 2  # nothing remembered at that tail
    assert len(seen) == len(channel) - 2


def test_messages_without_ids_are_folded_every_time() -> None:
    fold, seen = _counting_fold()
    channel = history([("grep", {"q": "a"})])
    fold(channel)
    fold(channel)
    assert len(seen) == 2 * len(channel)


def test_channel_tokens_equals_the_whole_count_as_the_channel_grows_and_is_rewritten() -> None:
    channel = _with_ids(history([("grep", {"q": str(i)}) for i in range(8)]), "t")
    for end in range(1, len(channel) + 1):
        assert channel_tokens(channel[:end]) == count_tokens_approximately(channel[:end])
    # the compressor rewrites earlier messages under their ids, then forgets them
    rewritten = [
        m.model_copy(update={"content": "cut"}) if isinstance(m, ToolMessage) else m
        for m in channel
    ]
    forget(rewritten)
    assert channel_tokens(rewritten) == count_tokens_approximately(rewritten)


def test_message_tokens_is_count_tokens_approximately_for_each_kind_of_message() -> None:
    messages: list[BaseMessage] = [
        *history([("grep", {"q": "x" * 37}), ("read_file", {"path": "a.py", "start": 3})]),
        AIMessage("prose", name="security"),
        AIMessage(""),
        HumanMessage("note " * 11, name="reviewer"),
        ToolMessage("", tool_call_id="call_0123456789", name="scan", status="error"),
        HumanMessage([{"type": "text", "text": "blocks"}]),  # not a string: the library's
    ]
    for message in messages:
        assert message_tokens(message) == count_tokens_approximately([message]), message
    assert channel_tokens(messages) == count_tokens_approximately(messages)

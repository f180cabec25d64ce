"""The agents' `messages` delta channel: its reducer and its snapshot in a checkpoint.

`DeltaChannel` replays saved writes in batches that need not match the super-steps that
made them, so the reducer must be batching-invariant, and it must agree with the
`add_messages` channel it replaced — including the compressor's
`RemoveMessage(REMOVE_ALL_MESSAGES)` rewrite. The snapshot blob must round-trip through
Keel's strict serializer (msgpack, no pickle).
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    AnyMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from langgraph.graph.message import REMOVE_ALL_MESSAGES, add_messages

from keel.core.state import MESSAGE_SNAPSHOT_EVERY, GuardedState, add_message_writes
from keel.persistence import safe_serializer


def _ai(n: int) -> AIMessage:
    call = {"name": "lookup", "args": {"q": f"q{n}"}, "id": f"c{n}", "type": "tool_call"}
    return AIMessage("", tool_calls=[call], id=f"ai{n}")


def _tool(n: int) -> ToolMessage:
    return ToolMessage(f"result {n}", tool_call_id=f"c{n}", name="lookup", id=f"t{n}")


def _writes() -> list[Any]:
    """A compressed thread's writes: turns, a replace by id, a removal, two compressions."""
    opening: list[AnyMessage] = [SystemMessage("sys", id="s"), HumanMessage("task", id="h")]
    writes: list[Any] = [opening]
    for n in range(6):
        writes += [[_ai(n)], [_tool(n)]]
    writes.append([AIMessage("edited", id="ai5")])  # replace by id
    writes.append([RemoveMessage(id="t0")])
    writes.append(
        [RemoveMessage(id=REMOVE_ALL_MESSAGES), *opening, HumanMessage("Summary 1", id="sum1")]
    )
    for n in range(6, 9):
        writes += [[_ai(n)], _tool(n)]  # a bare message, not a list, is a write too
    writes.append(
        [
            RemoveMessage(id=REMOVE_ALL_MESSAGES),
            *opening,
            HumanMessage("Summary 2", id="sum2"),
            _ai(8),
            _tool(8),
        ]
    )
    writes += [[_ai(9)], [_tool(9)]]
    return writes


def _dump(messages: list[AnyMessage]) -> list[dict[str, Any]]:
    return [m.model_dump() for m in messages]


def _sequential(writes: list[Any]) -> list[AnyMessage]:
    """What the old `Annotated[list, add_messages]` channel held: one write at a time."""
    value: list[AnyMessage] = []
    for write in writes:
        value = add_messages(value, write)  # type: ignore[assignment,arg-type]
    return value


def test_matches_the_add_messages_channel_write_by_write() -> None:
    writes = _writes()
    got = add_message_writes([], writes)
    assert _dump(got) == _dump(_sequential(writes))
    assert [m.id for m in got] == ["s", "h", "sum2", "ai8", "t8", "ai9", "t9"]


@pytest.mark.parametrize("seed", range(20))
def test_is_batching_invariant(seed: int) -> None:
    """reducer(reducer(s, xs), ys) == reducer(s, xs + ys) for every split into batches."""
    writes = _writes()
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(writes)), rng.randint(1, 6)))
    batches = [writes[a:b] for a, b in itertools.pairwise([0, *cuts, len(writes)])]
    value: list[AnyMessage] = []
    for batch in batches:
        value = add_message_writes(value, batch)
    assert _dump(value) == _dump(add_message_writes([], writes))


def test_keeps_add_messages_errors_and_chunk_conversion() -> None:
    with pytest.raises(ValueError, match="Attempting to delete a message with an ID"):
        add_message_writes([HumanMessage("a", id="a")], [[RemoveMessage(id="missing")]])
    (message,) = add_message_writes([], [[AIMessageChunk("part", id="x")]])
    assert type(message) is AIMessage


def test_does_not_change_the_value_it_was_given() -> None:
    state: list[AnyMessage] = [HumanMessage("a", id="a")]
    add_message_writes(state, [[RemoveMessage(id=REMOVE_ALL_MESSAGES)], [HumanMessage("b")]])
    assert [m.id for m in state] == ["a"]


def test_guarded_state_declares_the_delta_channel() -> None:
    from langgraph.graph import StateGraph

    builder = StateGraph(GuardedState)
    channel = builder.channels["messages"]
    assert isinstance(channel, DeltaChannel)
    assert channel.reducer is add_message_writes
    assert channel.snapshot_frequency == MESSAGE_SNAPSHOT_EVERY


def test_snapshot_round_trips_through_the_strict_serializer() -> None:
    serde = safe_serializer()
    value = add_message_writes([], _writes())
    kind, blob = serde.dumps_typed(_DeltaSnapshot(value))
    assert kind == "msgpack"  # never pickle
    loaded = serde.loads_typed((kind, blob))
    assert isinstance(loaded, _DeltaSnapshot)
    assert _dump(loaded.value) == _dump(value)
    assert [type(m) for m in loaded.value] == [type(m) for m in value]


def test_strict_serializer_still_refuses_pickle() -> None:
    import pickle

    serde = safe_serializer()
    with pytest.raises(Exception, match="pickle|Unknown serialization"):
        serde.loads_typed(("pickle", pickle.dumps(_DeltaSnapshot([]))))

"""The agents' `guard_events` delta channel: its reducer and its declaration.

`DeltaChannel` replays saved writes in batches that need not match the super-steps that
made them, so the reducer must be batching-invariant and agree with the
`Annotated[list, operator.add]` channel it replaced.
"""

from __future__ import annotations

import itertools
import operator
import random
from typing import Any

import pytest
from langgraph.channels.binop import BinaryOperatorAggregate
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from langgraph.graph import StateGraph

from keel.core.state import (
    GUARD_EVENT_SNAPSHOT_EVERY,
    GuardedState,
    GuardEvent,
    PipelineState,
    SpecialistState,
    add_event_writes,
    add_usage,
)
from keel.persistence import safe_serializer


def _event(n: int) -> GuardEvent:
    return GuardEvent(guard="compress", verdict="compress", reason=f"r{n}", agent="a", at=f"t{n}")


def _writes() -> list[list[GuardEvent]]:
    """One list per write, as guard nodes write them (an empty list is a write too)."""
    return [[_event(0)], [], [_event(1), _event(2)], [_event(3)], [_event(4)], [_event(5)]]


def test_matches_the_operator_add_channel_write_by_write() -> None:
    sequential: list[GuardEvent] = []
    for write in _writes():
        sequential = operator.add(sequential, write)
    assert add_event_writes([], _writes()) == sequential
    assert [e["reason"] for e in sequential] == [f"r{n}" for n in range(6)]


@pytest.mark.parametrize("seed", range(20))
def test_is_batching_invariant(seed: int) -> None:
    writes = _writes()
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(writes)), rng.randint(1, 4)))
    value: list[GuardEvent] = []
    for a, b in itertools.pairwise([0, *cuts, len(writes)]):
        value = add_event_writes(value, writes[a:b])
    assert value == add_event_writes([], writes)


def test_does_not_change_the_value_it_was_given() -> None:
    state = [_event(0)]
    add_event_writes(state, [[_event(1)]])
    assert state == [_event(0)]


@pytest.mark.parametrize("state", [GuardedState, SpecialistState])
def test_agent_states_declare_the_delta_channel(state: type[Any]) -> None:
    channels = StateGraph(state).channels
    events = channels["guard_events"]
    assert isinstance(events, DeltaChannel)
    assert events.reducer is add_event_writes
    assert events.snapshot_frequency == GUARD_EVENT_SNAPSHOT_EVERY
    # usage stays a plain reducer channel: a small fixed-size record (see state.py)
    assert isinstance(channels["usage"], BinaryOperatorAggregate)
    assert channels["usage"].operator is add_usage


def test_pipeline_state_keeps_its_channels() -> None:
    """The pipeline's trail is written a few times per thread: no delta channel there."""
    channels = StateGraph(PipelineState).channels
    assert isinstance(channels["guard_events"], BinaryOperatorAggregate)
    assert isinstance(channels["usage"], BinaryOperatorAggregate)


def test_snapshot_round_trips_through_the_strict_serializer() -> None:
    serde = safe_serializer()
    value = add_event_writes([], _writes())
    kind, blob = serde.dumps_typed(_DeltaSnapshot(value))
    assert kind == "msgpack"
    loaded = serde.loads_typed((kind, blob))
    assert isinstance(loaded, _DeltaSnapshot)
    assert loaded.value == value

"""Checkpoint cost: steps/s with InMemorySaver vs SQLite vs PostgreSQL at each durability.

Ratios are in-memory steps/s over the backend's (how many times slower), for the bare
loop and for Keel's guarded loop (no guard firing, the same growing message list). Keel's
ratios should match bare LangGraph's: the guards add no writes that scale with steps.
Keel's `messages` channel is a `DeltaChannel` (a checkpoint stores the new messages),
bare's a plain `add_messages` list (the whole list in every checkpoint, also in memory):
Keel's in-memory time is the lower one, which raises its ratio; the steps/s columns are
the absolute comparison.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from ._graphs import build_bare, build_keel, start_state
from ._harness import Env, Table, alternate, median, persistence, timed
from ._model import FakeToolModel
from ._report import Durability

__all__ = ["TITLE", "run"]

TITLE = "checkpoint cost"
_DURABILITIES: tuple[Durability, ...] = ("sync", "async", "exit")


def _runner(kind: str, steps: int, saver: Any, durability: Durability) -> Callable[[], float]:
    model = FakeToolModel()
    graph = (build_bare if kind == "bare" else build_keel)(model, checkpointer=saver)

    def once() -> float:
        model.script(steps)
        config = {"configurable": {"thread_id": uuid.uuid4().hex}, "recursion_limit": 10**6}
        state = start_state(kind)
        return timed(lambda: graph.invoke(state, config, durability=durability))

    return once


def run(env: Env) -> list[Table]:
    """Steps/s per backend and durability; ratios to in-memory, bare vs Keel."""
    steps = 30 if env.quick else 100
    rounds = 2 if env.quick else 5
    table = Table(
        TITLE,
        [
            "backend",
            "durability",
            "bare steps/s",
            "keel steps/s",
            "bare ratio",
            "keel ratio",
            "keel/bare ratio",
            "met",
        ],
    )
    with persistence(env.sqlite_url()) as lite, persistence(env.pg_url()) as pg:
        savers = {
            "memory": InMemorySaver(),
            "sqlite": lite.checkpointer,
            "postgres": pg.checkpointer,
        }
        variants: dict[str, Callable[[], float]] = {}
        for backend, saver in savers.items():
            for durability in _DURABILITIES if backend != "memory" else ("sync",):
                for kind in ("bare", "keel"):
                    variants[f"{backend}/{durability}/{kind}"] = _runner(
                        kind, steps, saver, durability
                    )
        for once in variants.values():
            once()
        res = {k: median(v) for k, v in alternate(variants, rounds).items()}
    for backend in ("memory", "sqlite", "postgres"):
        for durability in _DURABILITIES if backend != "memory" else ("sync",):
            bare, keel = res[f"{backend}/{durability}/bare"], res[f"{backend}/{durability}/keel"]
            bare_r = bare / res["memory/sync/bare"]
            keel_r = keel / res["memory/sync/keel"]
            table.rows.append(
                [
                    backend,
                    durability,
                    f"{steps / bare:.0f}",
                    f"{steps / keel:.0f}",
                    f"{bare_r:.2f}",
                    f"{keel_r:.2f}",
                    f"{keel_r / bare_r:.2f}",
                    "yes" if keel_r <= bare_r * 1.10 else "NO",
                ]
            )
    table.notes += [
        f"{steps} tool turns per thread, medians of {rounds} alternated rounds; ratio = time "
        "with the backend / time with InMemorySaver (durability sync) for the same loop",
        "goal: Keel's ratio no worse than bare LangGraph's (met = within 10% measurement noise)",
        "Keel's messages are a DeltaChannel, bare's a plain list copied into every checkpoint "
        "(in memory too): Keel's faster in-memory baseline raises its ratio; compare steps/s",
    ]
    return [table]

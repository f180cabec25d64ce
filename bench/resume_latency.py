"""Resume latency vs history depth: `get_state` and a resume at 10 vs 1,000 checkpoints.

Bare loop (its message list grows with every step) vs Keel's guarded loop with the
compressor firing (its channel stays bounded), on PostgreSQL via `open_persistence`.
A resume appends a human message to the thread and runs one more tool turn.
"""

from __future__ import annotations

import uuid
from statistics import median
from typing import Any

from langchain_core.messages import HumanMessage

from ._graphs import build_bare, build_keel, quiet_policy, start_state
from ._harness import Env, Table, persistence, timed
from ._model import FakeToolModel

__all__ = ["TITLE", "compressing_policy", "run"]

TITLE = "resume latency vs history depth"
_GOAL = 1.5


def compressing_policy() -> Any:
    """Keel's policy with a compressor small enough to fire on the benchmark threads."""
    return quiet_policy(compress_at_tokens=6000, compress_keep_last=6)


def _measure(kind: str, saver: Any, depth: int, repeats: int) -> tuple[float, float, int]:
    """Build a thread of about `depth` checkpoints; median get_state and resume seconds."""
    model = FakeToolModel()
    if kind == "bare":
        graph = build_bare(model, checkpointer=saver)
    else:
        graph = build_keel(model, compressing_policy(), checkpointer=saver)
    config: dict[str, Any] = {
        "configurable": {"thread_id": uuid.uuid4().hex},
        "recursion_limit": 10**6,
    }
    model.script(max(1, (depth - 3) // 2))  # each tool turn is two checkpoints
    graph.invoke(start_state(kind), config, durability="sync")
    found = sum(1 for _ in saver.list(config))
    get = [timed(lambda: graph.get_state(config)) for _ in range(repeats)]
    resume = []
    for _ in range(repeats):
        model.script(1)
        resume.append(timed(lambda: graph.invoke({"messages": [HumanMessage("continue")]}, config)))
    return median(get), median(resume), found


def run(env: Env) -> list[Table]:
    """Ratios of get_state / resume time at the deep vs the shallow thread."""
    shallow, deep = 10, 100 if env.quick else 1000
    repeats = 3 if env.quick else 7
    table = Table(
        TITLE,
        [
            "loop",
            "checkpoints",
            "get_state ms",
            "resume ms",
            "get_state ratio",
            "resume ratio",
            "goal",
            "met",
        ],
    )
    with persistence(env.pg_url()) as pg:
        for kind in ("bare", "keel"):
            g0, r0, n0 = _measure(kind, pg.checkpointer, shallow, repeats)
            g1, r1, n1 = _measure(kind, pg.checkpointer, deep, repeats)
            label = "bare (growing list)" if kind == "bare" else "keel (compressed channel)"
            goal = f"<= {_GOAL}" if kind == "keel" else "-"
            met = "-" if kind == "bare" else "yes" if max(g1 / g0, r1 / r0) <= _GOAL else "NO"
            table.rows.append(
                [label, str(n0), f"{g0 * 1e3:.1f}", f"{r0 * 1e3:.1f}", "", "", "", ""]
            )
            table.rows.append(
                [
                    label,
                    str(n1),
                    f"{g1 * 1e3:.1f}",
                    f"{r1 * 1e3:.1f}",
                    f"{g1 / g0:.2f}",
                    f"{r1 / r0:.2f}",
                    goal,
                    met,
                ]
            )
    table.notes.append(
        f"PostgreSQL, medians of {repeats}; ratio = deep / shallow; Keel's compressor at "
        "6,000 tokens, last 6 messages kept"
    )
    return [table]

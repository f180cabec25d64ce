"""Guard overhead: Keel's guarded loop and LangChain's middleware agent vs the bare loop.

Same fake model, same tool, N tool turns then an answer; nothing fires. Without a
checkpointer and on PostgreSQL (durability `sync`, Keel's `open_persistence`).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any

from ._graphs import build_bare, build_keel, build_langchain, start_state
from ._harness import Env, Table, alternate, median, persistence, timed
from ._model import FakeToolModel

__all__ = ["TITLE", "run"]

TITLE = "guard overhead"
_GOALS = {"none": 1.10, "postgres": 1.15}
_BUILDERS: dict[str, Callable[..., Any]] = {
    "bare": build_bare,
    "keel": build_keel,
    "langchain": build_langchain,
}


def _runner(kind: str, steps: int, batch: int, checkpointer: Any) -> Callable[[], float]:
    model = FakeToolModel()
    graph = _BUILDERS[kind](model, checkpointer=checkpointer)

    def once() -> float:
        total = 0.0
        for _ in range(batch):
            model.script(steps)
            config = {"configurable": {"thread_id": uuid.uuid4().hex}, "recursion_limit": 10**6}
            state = start_state(kind)
            # durability= without a checkpointer raises AttributeError in LangGraph 1.2.24
            kwargs: dict[str, Any] = {} if checkpointer is None else {"durability": "sync"}
            total += timed(functools.partial(graph.invoke, state, config, **kwargs))
        return total / batch

    return once


def run(env: Env) -> list[Table]:
    """Median seconds per run and ratios to the bare loop."""
    rounds = 2 if env.quick else 7
    table = Table(
        TITLE,
        [
            "backend",
            "steps",
            "bare ms",
            "keel ms",
            "langchain ms",
            "keel/bare",
            "goal",
            "met",
            "langchain/bare",
        ],
    )
    with persistence(env.pg_url()) as pg:
        for backend, saver in (("none", None), ("postgres", pg.checkpointer)):
            for steps in (10, 100):
                batch = 30 if steps == 10 else 1  # 10-step runs take ~15 ms: average 30
                if env.quick:
                    batch = max(1, batch // 5)
                variants = {k: _runner(k, steps, batch, saver) for k in _BUILDERS}
                for once in variants.values():
                    once()  # warm-up: imports, prepared paths, first connections
                res = {k: median(v) for k, v in alternate(variants, rounds).items()}
                keel, lc = res["keel"] / res["bare"], res["langchain"] / res["bare"]
                goal = _GOALS[backend]
                table.rows.append(
                    [
                        backend,
                        str(steps),
                        f"{res['bare'] * 1e3:.1f}",
                        f"{res['keel'] * 1e3:.1f}",
                        f"{res['langchain'] * 1e3:.1f}",
                        f"{keel:.2f}",
                        f"<= {goal:.2f}",
                        "yes" if keel <= goal else "NO",
                        f"{lc:.2f}",
                    ]
                )
    table.notes.append(
        f"medians of {rounds} alternated rounds (a 10-step round averages 30 runs); a step "
        "is one model turn with one tool call; "
        "langchain = create_agent + ModelCallLimit, ToolCallLimit, Summarization, "
        "HumanInTheLoop middlewares (none firing)"
    )
    return [table]

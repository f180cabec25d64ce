"""Concurrency: many threads across 1, 2, 4 worker processes, PostgreSQL vs no checkpointer.

Keel's guarded loop with a simulated model latency (a fixed sleep per call). Workers
build their graph, warm up, meet at a barrier, then run their share of the threads;
throughput is threads over the span from the first start to the last finish.
"""

from __future__ import annotations

import multiprocessing as mp
import time
import uuid
from typing import Any

from ._graphs import build_keel, start_state
from ._harness import Env, Table, persistence
from ._model import FakeToolModel

__all__ = ["TITLE", "run"]

TITLE = "concurrency"
_TURNS = 5
_LATENCY_S = 0.020


def _work(url: str | None, threads: int, barrier: Any, out: Any) -> None:
    def go(saver: Any) -> None:
        model = FakeToolModel(latency_s=_LATENCY_S)
        graph = build_keel(model, checkpointer=saver)

        def one() -> None:
            model.script(_TURNS)
            config = {"configurable": {"thread_id": uuid.uuid4().hex}}
            graph.invoke(start_state("keel"), config)

        one()  # warm-up
        barrier.wait()
        start = time.perf_counter()
        for _ in range(threads):
            one()
        out.put((start, time.perf_counter()))

    if url is None:
        go(None)
    else:
        with persistence(url) as p:
            go(p.checkpointer)


def _throughput(url: str | None, total: int, workers: int) -> float:
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(workers), ctx.Queue()
    share = [total // workers + (i < total % workers) for i in range(workers)]
    procs = [ctx.Process(target=_work, args=(url, n, barrier, out)) for n in share]
    for proc in procs:
        proc.start()
    spans = [out.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    return float(total / (max(e for _, e in spans) - min(s for s, _ in spans)))


def run(env: Env) -> list[Table]:
    """Threads/s per worker count, with and without PostgreSQL."""
    total = 8 if env.quick else 100
    url = env.pg_url()
    with persistence(url):
        pass  # create the tables once, before workers race to
    table = Table(
        TITLE,
        [
            "workers",
            "threads",
            "none thr/s",
            "postgres thr/s",
            "postgres/none",
            "speed-up (postgres)",
        ],
    )
    base: float | None = None
    for workers in (1, 2, 4):
        none = _throughput(None, total, workers)
        pg = _throughput(url, total, workers)
        base = base or pg
        table.rows.append(
            [
                str(workers),
                str(total),
                f"{none:.1f}",
                f"{pg:.1f}",
                f"{pg / none:.2f}",
                f"{pg / base:.2f}",
            ]
        )
    table.notes.append(
        f"Keel's guarded loop, {_TURNS} tool turns per thread, {_LATENCY_S * 1e3:.0f} ms "
        "simulated model latency per call, durability async (the default); 2 cores"
    )
    return [table]

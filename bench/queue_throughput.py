"""Queue throughput: threads/minute at 1, 2 and 4 `keel worker`s vs the in-process CLI.

Each thread is a real `keel audit` of a small repository (one file with a `shell=True`
call), the offline policy model served over HTTP with a simulated latency per call
(20 ms). The in-process row runs `keel audit PATH` once per repository, one after the
other, as a single user would; the queue rows enqueue the same audits with
`keel batch audit` and time from the enqueue to the last thread's end, with the workers
already started (their start-up is not counted).

Per-job queue overhead: a job's time outside its attempt (defer, fetch, lock check,
finish) — the 1-worker span per thread minus the mean attempt duration
(`keel_queue_attempts`).

Run: `python -m bench.queue_throughput [--quick]` (PostgreSQL as the other benchmarks:
`KEEL_BENCH_DATABASE_URL` or a throwaway server).
"""

from __future__ import annotations

import argparse
import signal
import tempfile
import time
from pathlib import Path

from ._harness import Env, Table

__all__ = ["TITLE", "run"]

TITLE = "queue throughput"
_LATENCY_S = 0.020


def _repos(root: Path, count: int) -> list[Path]:
    from tests.support.gitrepo import commit_files, init_repo

    repos = []
    for n in range(count):
        repo = init_repo(root / f"r{n}")
        commit_files(
            repo,
            {
                f"app_{n}.py": "import subprocess\n\n\n"
                f"def run_{n}(c):\n    return subprocess.call(c, shell=True)\n"
            },
            "one",
        )
        repos.append(repo)
    return repos


def _finished(cluster: object, threads: list[str]) -> bool:
    from tests.support.queue import QueueCluster

    assert isinstance(cluster, QueueCluster)
    rows = cluster.query(
        "SELECT count(*) AS n FROM keel_threads WHERE thread_id = ANY(%s) "
        "AND status IN ('done', 'awaiting_approval')",
        threads,
    )
    return int(rows[0]["n"]) == len(threads)


def run(env: Env) -> list[Table]:
    """Threads/minute per worker count and in-process; per-job overhead."""
    from tests.support.queue import QueueCluster, slow_offline_model

    total = 4 if env.quick else 12
    root = Path(tempfile.mkdtemp(prefix="keel-bench-queue-", dir=env.tmp))
    table = Table(
        TITLE, ["runner", "threads", "seconds", "threads/min", "vs in-process", "per-job overhead"]
    )
    with slow_offline_model(_LATENCY_S) as model:
        cluster = QueueCluster(env.pg_url(), root / "cluster", env=model)
        repos = _repos(root / "inproc", total)
        start = time.perf_counter()
        for repo in repos:
            result = cluster.keel("audit", str(repo), "--no-input", "--json", "-q")
            assert result.code in (0, 3), result.stderr
        inproc = time.perf_counter() - start
        base = total / inproc * 60
        table.rows.append(
            ["in-process CLI", str(total), f"{inproc:.1f}", f"{base:.1f}", "1.00", "-"]
        )
        for workers in (1, 2, 4):
            repos = _repos(root / f"q{workers}", total)
            listing = root / f"q{workers}.txt"
            listing.write_text("".join(f"{r}\n" for r in repos))
            started = [cluster.start_worker() for _ in range(workers)]
            time.sleep(3)  # every worker connected and idle
            t0 = time.perf_counter()
            batch = cluster.keel("batch", "audit", str(listing), "--json")
            assert batch.code == 0, batch.stderr
            threads = [t["thread_id"] for t in batch.json()["threads"]]
            while not _finished(cluster, threads):
                time.sleep(0.05)
            span = time.perf_counter() - t0
            overhead = "-"
            if workers == 1:
                rows = cluster.query(
                    "SELECT avg(EXTRACT(EPOCH FROM ended_at - started_at)) AS s "
                    "FROM keel_queue_attempts WHERE thread_id = ANY(%s)",
                    threads,
                )
                overhead = f"{(span / total - float(rows[0]['s'])) * 1000:.0f} ms"
            for worker in started:
                worker.signal(signal.SIGTERM)
            for worker in started:
                worker.wait(timeout=60)
            rate = total / span * 60
            table.rows.append(
                [
                    f"queue, {workers} worker(s)",
                    str(total),
                    f"{span:.1f}",
                    f"{rate:.1f}",
                    f"{rate / base:.2f}",
                    overhead,
                ]
            )
        cluster.stop_all()
    table.notes.append(
        f"real `keel audit` of a one-file repository, offline policy over HTTP with "
        f"{_LATENCY_S * 1e3:.0f} ms per model call, PostgreSQL ({env.pg_note}); the in-process "
        "row includes each command's start-up (~1 s of imports), as a user pays it; 2 cores "
        "shared with the workers, the model server and PostgreSQL"
    )
    return [table]


def main() -> None:
    """`python -m bench.queue_throughput [--quick]`."""
    parser = argparse.ArgumentParser(prog="python -m bench.queue_throughput")
    parser.add_argument("--quick", action="store_true", help="4 threads instead of 12")
    env = Env(quick=parser.parse_args().quick)
    try:
        for table in run(env):
            print(table.text(), flush=True)
    finally:
        env.close()


if __name__ == "__main__":
    main()

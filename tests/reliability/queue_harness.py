"""Crash harness for the queue: SIGKILL `keel worker`s at random while queued threads run.

`QueueHarness(db_url, workdir, threads=N, target_kills=K).run()` queues N reviews (one
sample repository each), keeps `workers` `keel worker` processes alive, and every
0.3-1.2 s (seeded) SIGKILLs a worker that is running an attempt, starting a replacement
as systemd would. Threads that reach the review gate are approved through the queue
(the crash harness's decision: autofix and publish approved, tests rejected). Kills stop
at K; then every thread must finish. `check()` returns the broken invariants:

* lost: a thread not `done`;
* duplicated: an approved effect executed more than once for a thread (the effect
  journal), or not at all; the rejected `run_tests` executed;
* epochs: a thread's attempt epochs are not 1, 2, 3, ... (two attempts shared one).

Big runs: `python -m tests.reliability.queue_harness --kills 100`.
"""

from __future__ import annotations

import argparse
import collections
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from keel.sample import build_sample_repo
from tests.support.queue import DECISIONS, QueueCluster, slow_offline_model

APPROVED = ("apply_autofix", "publish_review")


@dataclass
class QueueHarness:
    """One crash run (see the module docstring)."""

    db_url: str
    workdir: Path
    threads: int = 4
    target_kills: int = 10
    workers: int = 3
    seed: int = 1
    latency_s: float = 0.1
    timeout_s: float = 600.0
    kills: int = 0
    """Workers killed, each while running an attempt."""
    thread_ids: list[str] = field(default_factory=list)
    cluster: QueueCluster | None = None

    def run(self) -> QueueHarness:
        rng = random.Random(self.seed)
        with slow_offline_model(self.latency_s) as model:
            cluster = QueueCluster(
                self.db_url, self.workdir, env=model | {"KEEL_QUEUE_MAX_ATTEMPTS": "1000"}
            )
            self.cluster = cluster
            for n in range(self.threads):
                repo = build_sample_repo(self.workdir / f"repo{n}")
                queued = cluster.keel("review", str(repo), "--queue", "--json")
                assert queued.code == 0, queued.stderr
                self.thread_ids.append(queued.json()["thread_id"])
            approved: set[str] = set()
            deadline = time.monotonic() + self.timeout_s
            next_kill = time.monotonic() + rng.uniform(0.3, 1.2)
            try:
                alive = [cluster.start_worker() for _ in range(self.workers)]
                while time.monotonic() < deadline:
                    statuses = {t: cluster.status(t) for t in self.thread_ids}
                    for thread, status in statuses.items():
                        if status == "awaiting_approval" and thread not in approved:
                            result = cluster.keel("approve", thread, "--queue", "--edit", DECISIONS)
                            assert result.code in (0, 5), result.stderr
                            approved.add(thread)
                    if all(s == "done" for s in statuses.values()):
                        break  # (fewer kills than the target if the work ran out first)
                    if self.kills < self.target_kills and time.monotonic() >= next_kill:
                        alive = self._kill_one(cluster, alive, rng)
                        next_kill = time.monotonic() + rng.uniform(0.3, 1.2)
                    time.sleep(0.05)
            finally:
                cluster.stop_all()
        return self

    def _kill_one(self, cluster: QueueCluster, alive: list, rng: random.Random) -> list:
        running = cluster.query(
            "SELECT DISTINCT ON (thread_id) thread_id, worker, ended_at FROM keel_queue_attempts "
            "ORDER BY thread_id, id DESC"
        )
        busy = {r["worker"].rsplit(":", 1)[1] for r in running if r["ended_at"] is None}
        candidates = [w for w in alive if str(w.pid) in busy and w.proc.poll() is None]
        if not candidates:
            return alive
        victim = rng.choice(candidates)
        victim.signal(signal.SIGKILL)
        victim.wait(timeout=10)
        self.kills += 1
        return [w for w in alive if w is not victim] + [cluster.start_worker()]

    def check(self) -> list[str]:
        assert self.cluster is not None
        cluster = self.cluster
        problems: list[str] = []
        runs = collections.Counter(
            (e["thread_id"], e["action_id"]) for e in cluster.journal_lines()
        )
        for thread in self.thread_ids:
            status = cluster.status(thread)
            if status != "done":
                problems.append(f"{thread}: lost ({status})")
            for action in APPROVED:
                if runs[(thread, action)] != 1:
                    problems.append(f"{thread}: {action} ran {runs[(thread, action)]} times")
            if runs[(thread, "run_tests")]:
                problems.append(f"{thread}: rejected run_tests ran")
            epochs = [a["epoch"] for a in cluster.attempts(thread)]
            if epochs != list(range(1, len(epochs) + 1)):
                problems.append(f"{thread}: attempt epochs {epochs}")
        return problems


def main() -> int:
    """`python -m tests.reliability.queue_harness --kills 100` on a throwaway server."""
    import tempfile

    from tests._pg import PgServer

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--threads", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.monotonic()
    with PgServer() as server:
        server.create_database("keel")
        workdir = Path(tempfile.mkdtemp(prefix="keel-queue-harness-"))
        harness = QueueHarness(
            server.url("keel"),
            workdir,
            threads=args.threads,
            target_kills=args.kills,
            seed=args.seed,
            timeout_s=3600,
        ).run()
        problems = harness.check()
        assert harness.cluster is not None
        attempts = sum(len(harness.cluster.attempts(t)) for t in harness.thread_ids)
    print(
        f"queue crash run: {harness.kills} worker kills (all mid-job), {args.threads} threads, "
        f"{attempts} attempts, {time.monotonic() - started:.0f} s; "
        f"lost {sum('lost' in p for p in problems)}, "
        f"duplicated {sum(p.endswith(' times') and ' ran 0 ' not in p for p in problems)}"
    )
    for problem in problems:
        print("  " + problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""Fan-out: 20 queued audits over three `keel worker` processes, each audit run once."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.gitrepo import commit_files, init_repo
from tests.support.queue import QueueCluster, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _repo(root: Path, n: int) -> Path:
    init_repo(root)
    commit_files(
        root,
        {
            f"app_{n}.py": (
                "import subprocess\n\n\n"
                f"def run_{n}(cmd):\n    return subprocess.call(cmd, shell=True)\n"
            )
        },
        "one",
    )
    return root


def test_twenty_audits_fan_out_over_three_workers(pg_url: str, tmp_path: Path) -> None:
    cluster = QueueCluster(pg_url, tmp_path)
    repos = [_repo(tmp_path / "repos" / f"r{n}", n) for n in range(20)]
    listing = tmp_path / "repos.txt"
    listing.write_text("".join(f"{repo}\n" for repo in repos))
    batch = cluster.keel("batch", "audit", str(listing), "--json")
    assert batch.code == 0, batch.stderr
    threads = [t["thread_id"] for t in batch.json()["threads"]]
    assert len(set(threads)) == 20
    assert [t["repo"] for t in batch.json()["threads"]] == [str(r) for r in repos]
    try:
        workers = [cluster.start_worker() for _ in range(3)]

        def finished() -> bool:
            return all(cluster.status(t) in ("done", "awaiting_approval") for t in threads)

        wait_for("20 audits to finish", finished, timeout=150)
        listed = {row["thread_id"]: row for row in cluster.keel("threads", "--json").json()}
        assert all(listed[t]["findings"] > 0 for t in threads)  # each found the shell=True
        runs = cluster.query(
            "SELECT thread_id, worker, outcome FROM keel_queue_attempts ORDER BY id"
        )
        assert sorted(r["thread_id"] for r in runs) == sorted(threads)  # each ran once
        assert all(r["outcome"] in ("done", "awaiting_approval") for r in runs)
        assert len({r["worker"] for r in runs}) >= 2, runs  # the work was shared
        health = {c["name"]: c for c in cluster.keel("health", "--json").json()["checks"]}
        assert health["queue workers"]["ok"] and health["queue workers"]["detail"].startswith(
            "3 alive, 0 stalled"
        )
        assert health["queue depth"]["detail"].startswith("0 waiting, 0 running, 0 failed")
        for worker in workers:
            worker.signal(signal.SIGTERM)
        assert [w.wait(timeout=30) for w in workers] == [0, 0, 0]
    finally:
        cluster.stop_all()

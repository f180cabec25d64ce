"""`pg_ctl restart` while `keel worker`s run queued reviews: they reconnect, every thread ends.

A private server this test restarts (tests/_pg.py), two workers, two queued reviews on
the offline policy over HTTP (slow enough that the restart lands mid-run). After the
restart a worker whose listener died stops heartbeating and, once its job is done, logs
that it lost PostgreSQL and reconnects; if the sweep retried its job elsewhere meanwhile,
its next write is fenced and it exits 8 (a replacement is started, as systemd would).
Every thread reaches the review gate, and work queued after the restart is served.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from keel.sample import build_sample_repo
from tests._pg import PgServer
from tests.support.queue import QueueCluster, Worker, slow_offline_model, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_workers_reconnect_after_pg_restart(private_pg: PgServer, tmp_path: Path) -> None:
    repos = [build_sample_repo(tmp_path / f"repo{n}") for n in range(2)]
    with slow_offline_model(0.1) as model:
        cluster = QueueCluster(private_pg.url("keel"), tmp_path, env=model)
        threads = [
            cluster.keel("review", str(r), "--queue", "--json").json()["thread_id"] for r in repos
        ]
        try:
            workers = [cluster.start_worker(), cluster.start_worker()]
            wait_for(
                "a review mid-run",
                lambda: any(cluster.status(t) == "running" for t in threads),
                60,
                every=0.05,
            )
            private_pg.halt("fast")
            time.sleep(1.0)
            private_pg.resume_serving()

            def settled() -> bool:
                return all(cluster.status(t) == "awaiting_approval" for t in threads)

            wait_for("every review after the restart", settled, 120, every=0.5)

            # a worker whose listener died with the old server stops and, once its job is
            # done, reconnects; if its job was retried elsewhere meanwhile (its heartbeat
            # stopped with the listener), its next write is fenced and it exits 8
            def noticed(worker: Worker) -> bool:
                return "reconnecting" in worker.text() or worker.proc.poll() == 8

            def recovered() -> bool:
                # a worker that started after the restart never lost its connection
                hit = [w for w in workers if "Side task listener failed" in w.text()]
                return bool(hit) and all(noticed(w) for w in hit)

            wait_for("the workers to recover", recovered, 60, 0.5)
            fenced = [w for w in workers if w.proc.poll() is not None]
            assert all(w.proc.poll() == 8 and "FENCED" in w.text() for w in fenced)
            serving = [cluster.start_worker() for _ in fenced]  # as systemd would
            later = [
                cluster.keel("audit", str(r), "--queue", "--json").json()["thread_id"]
                for r in repos[:1]
            ]
            wait_for(
                "work queued after the restart",
                lambda: all(cluster.status(t) == "awaiting_approval" for t in later),
                90,
                every=0.5,
            )
            alive = [w for w in workers + serving if w.proc.poll() is None]
            assert alive, [w.text() for w in workers]
        finally:
            cluster.stop_all()
    logs = "".join(w.text() for w in workers)
    assert "lost PostgreSQL" in logs or "FENCED" in logs, logs[-3000:]
    for thread in threads:
        attempts = cluster.attempts(thread)
        assert attempts[-1]["outcome"].startswith("awaiting"), attempts
        assert [a["epoch"] for a in attempts] == list(range(1, len(attempts) + 1))

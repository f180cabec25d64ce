"""The scheduled audit: a procrastinate periodic task configured by KEEL_QUEUE_NIGHTLY_*."""

from __future__ import annotations

import collections
import json
import signal
from pathlib import Path

import pytest

from tests.support.gitrepo import commit_files, init_repo
from tests.support.queue import QueueCluster, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_periodic_audit_queues_the_list_once_per_tick_with_two_workers(
    pg_url: str, tmp_path: Path
) -> None:
    repos = []
    for n in range(2):
        repo = init_repo(tmp_path / f"r{n}")
        commit_files(repo, {"a.py": "import os\n\n\ndef f(x):\n    return os.system(x)\n"}, "one")
        repos.append(repo)
    listing = tmp_path / "nightly.txt"
    listing.write_text("# the scheduled audit\n" + "".join(f"{r}\n" for r in repos))
    schedule = {"KEEL_QUEUE_NIGHTLY_CRON": "* * * * * */3", "KEEL_QUEUE_NIGHTLY_FILE": str(listing)}
    cluster = QueueCluster(pg_url, tmp_path, env=schedule)
    assert cluster.keel("threads").code == 0  # the registry exists before the workers
    try:
        workers = [cluster.start_worker(), cluster.start_worker()]
        wait_for(
            "two ticks of the schedule",
            lambda: len(cluster.query("SELECT thread_id FROM keel_threads")) >= 4,
            60,
            every=0.2,
        )
        for worker in workers:
            worker.signal(signal.SIGTERM)
        assert [w.wait(timeout=60) for w in workers] == [0, 0]
    finally:
        cluster.stop_all()
    rows = cluster.query("SELECT repo, workflow, status, created_at FROM keel_threads")
    per_repo = collections.Counter(r["repo"] for r in rows)
    assert set(per_repo) == {str(r) for r in repos}
    assert per_repo[str(repos[0])] == per_repo[str(repos[1])] >= 2, per_repo
    assert {r["workflow"] for r in rows} == {"audit"}
    # each tick queued the list once although two workers run the schedule
    ticks = collections.defaultdict(list)
    for row in cluster.query("SELECT repo, context FROM keel_threads"):
        ticks[json.loads(row["context"])["__queue__"]["scheduled"]].append(row["repo"])
    assert len(ticks) >= 2
    assert all(sorted(repos_) == sorted(map(str, repos)) for repos_ in ticks.values()), ticks
    statuses = {r["status"] for r in rows}
    assert statuses <= {"queued", "running", "awaiting_approval", "done"}, rows

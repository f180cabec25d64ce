"""The queue's commands without a worker: enqueue, what they print, and their bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.queue import QueueCluster

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "args",
    [
        ("review", "REPO", "--queue"),
        ("audit", "REPO", "--queue"),
        ("worker",),
        ("batch", "audit", "LIST"),
        ("resume", "kr-none", "--queue"),
    ],
    ids=["review", "audit", "worker", "batch", "resume"],
)
def test_queue_on_sqlite_is_a_usage_error(
    args: tuple[str, ...], sample_repo: Path, tmp_path: Path
) -> None:
    database = tmp_path / "keel.db"
    cluster = QueueCluster(f"sqlite:///{database}", tmp_path)
    listing = tmp_path / "repos.txt"
    listing.write_text(f"{sample_repo}\n")
    argv = [str(sample_repo) if a == "REPO" else str(listing) if a == "LIST" else a for a in args]
    result = cluster.keel(*argv)
    assert result.code == 2, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "the queue needs PostgreSQL" in lines[0], result.stderr
    assert not database.exists()  # refused before the database was opened


@pytest.mark.postgres
def test_enqueue_prints_the_thread_and_queued(
    pg_url: str, sample_repo: Path, tmp_path: Path
) -> None:
    cluster = QueueCluster(pg_url, tmp_path)
    queued = cluster.keel("audit", str(sample_repo), "--queue", "--json")
    assert queued.code == 0, queued.stderr
    payload = queued.json()
    assert payload["status"] == "queued" and payload["thread_id"].startswith("kr-")
    thread = payload["thread_id"]
    plain = cluster.keel("review", str(sample_repo), "--queue")
    assert plain.code == 0, plain.stderr
    assert plain.stdout.split() == [plain.stdout.split()[0], "queued"]
    listed = cluster.keel("threads", "--status", "queued", "--json").json()
    assert {row["thread_id"] for row in listed} == {thread, plain.stdout.split()[0]}
    assert all(row["worker"] is None for row in listed)  # no worker took them yet
    # a queued thread does not await approval: refused at enqueue, as in-process (exit 5)
    approve = cluster.keel("approve", thread, "--queue")
    assert approve.code == 5, approve
    assert f"thread {thread} is not awaiting approval" in approve.stderr
    health = cluster.keel("health", "--json").json()
    checks = {c["name"]: c for c in health["checks"]}
    assert checks["queue depth"]["detail"].startswith("2 waiting, 0 running")
    assert not checks["queue depth"]["ok"]  # work waits and no worker is alive
    rows = cluster.query("SELECT lock, queueing_lock, task_name FROM procrastinate_jobs")
    assert {(r["lock"], r["task_name"]) for r in rows} >= {(thread, "keel.run")}
    assert all(r["queueing_lock"] == f"{r['lock']}:run" for r in rows)


@pytest.mark.postgres
def test_staged_cannot_be_queued(pg_url: str, sample_repo: Path, tmp_path: Path) -> None:
    cluster = QueueCluster(pg_url, tmp_path)
    result = cluster.keel("review", str(sample_repo), "--staged", "--queue")
    assert result.code == 2 and "--staged cannot be queued" in result.stderr, result


@pytest.mark.postgres
def test_batch_with_a_bad_line_queues_nothing(
    pg_url: str, sample_repo: Path, tmp_path: Path
) -> None:
    cluster = QueueCluster(pg_url, tmp_path)
    listing = tmp_path / "repos.txt"
    listing.write_text(f"# nightly\n{sample_repo}\n\n{tmp_path / 'nowhere'}\n")
    result = cluster.keel("batch", "audit", str(listing))
    assert result.code == 2, result
    assert f"{listing}:4:" in result.stderr and "not queued" in result.stderr
    assert cluster.keel("threads", "--json").json() == []


def test_worker_without_a_database_server(tmp_path: Path) -> None:
    cluster = QueueCluster("postgresql://keel@127.0.0.1:9/none", tmp_path)
    result = cluster.keel("worker")
    assert result.code == 6, result
    assert "cannot reach PostgreSQL at postgresql://keel@127.0.0.1:9/none" in result.stderr

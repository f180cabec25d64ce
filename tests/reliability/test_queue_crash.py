"""Queue crash recovery on loopback: SIGKILL, a SIGSTOP zombie, SIGTERM drain, a poison job.

Workers are real `keel worker` processes with test-size heartbeats (`FAST`); the model is
the offline policy served over HTTP with a simulated latency, so a review lasts seconds
and can be interrupted in the middle.
"""

from __future__ import annotations

import collections
import signal
from pathlib import Path
from typing import Any

import pytest

from keel.sample import build_sample_repo
from tests.support.queue import DECISIONS, QueueCluster, Worker, slow_offline_model, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _open_attempt(cluster: QueueCluster, thread: str, epoch: int) -> dict[str, object] | None:
    rows = [a for a in cluster.attempts(thread) if a["epoch"] == epoch and not a["ended_at"]]
    return rows[0] if rows else None


def _attempt(cluster: QueueCluster, thread: str, epoch: int) -> dict[str, Any] | None:
    rows = [a for a in cluster.attempts(thread) if a["epoch"] == epoch]
    return rows[0] if rows else None


def _worker_named(workers: list[Worker], name: str) -> Worker:
    pids = {str(w.pid): w for w in workers}
    return pids[name.rsplit(":", 1)[1]]


def test_sigkill_mid_job_recovers_without_repeating_effects(pg_url: str, tmp_path: Path) -> None:
    repos = [build_sample_repo(tmp_path / f"repo{n}") for n in range(2)]
    with slow_offline_model(0.15) as model:
        cluster = QueueCluster(pg_url, tmp_path, env=model)
        threads: list[str] = []
        kills, mid_job = 0, 0
        try:
            cluster.start_worker()
            cluster.start_worker()
            for repo in repos:
                thread = cluster.keel("review", str(repo), "--queue", "--json").json()["thread_id"]
                threads.append(thread)
                # kill whoever runs the review, then whoever runs the approval
                for phase in ("review", "approve"):
                    epoch = 1
                    if phase == "approve":
                        wait_for(
                            "the review",
                            lambda t=thread: cluster.status(t) == "awaiting_approval",
                            90,
                        )
                        epoch = len(cluster.attempts(thread)) + 1
                        queued = cluster.keel("approve", thread, "--queue", "--edit", DECISIONS)
                        assert queued.code == 0, queued.stderr
                    attempt = wait_for(
                        f"{phase} of {thread} to start",
                        lambda t=thread, e=epoch: _attempt(cluster, t, e),
                        60,
                        every=0.02,
                    )
                    victim = _worker_named(cluster.workers, str(attempt["worker"]))
                    victim.signal(signal.SIGKILL)
                    victim.wait(timeout=10)
                    kills += 1
                    # mid-job: the killed attempt never recorded its end
                    mid_job += _attempt(cluster, thread, epoch)["ended_at"] is None
                    cluster.start_worker()  # a replacement, as systemd would
            for thread in threads:
                wait_for("every thread done", lambda t=thread: cluster.status(t) == "done", 120)
        finally:
            cluster.stop_all()
    assert kills == 4 and mid_job >= 2, (kills, mid_job)  # the slow reviews: always mid-job
    effects = collections.Counter((e["thread_id"], e["action_id"]) for e in cluster.journal_lines())
    expected = {(t, a) for t in threads for a in ("apply_autofix", "publish_review")}
    assert set(effects) <= expected and all(n == 1 for n in effects.values()), effects
    for thread in threads:
        attempts = cluster.attempts(thread)
        assert len(attempts) >= 3, attempts  # killed review, its retry, the approval (+ retry)
        assert [a["epoch"] for a in attempts] == list(range(1, len(attempts) + 1))
        shown = cluster.keel("show", thread, "--json").json()
        assert shown["status"] == "done"
    # applied or found already in place by the ledger's check: never twice
    for repo in repos:
        assert (repo / "KEEL_REVIEW.md").exists()


def _writes(cluster: QueueCluster, thread: str) -> tuple[int, int, int, str]:
    checkpoints = cluster.query(
        "SELECT count(*) AS n FROM checkpoints WHERE thread_id = %s", thread
    )[0]["n"]
    writes = cluster.query(
        "SELECT count(*) AS n FROM checkpoint_writes WHERE thread_id = %s", thread
    )[0]["n"]
    store = cluster.query("SELECT count(*) AS n FROM store WHERE prefix LIKE %s", f"%{thread}%")[0][
        "n"
    ]
    updated = cluster.query(
        "SELECT updated_at || heartbeat_at || status AS s FROM keel_threads WHERE thread_id = %s",
        thread,
    )[0]["s"]
    return int(checkpoints), int(writes), int(store), str(updated)


def test_sigstop_zombie_woken_after_retry_does_not_write(pg_url: str, tmp_path: Path) -> None:
    repo = build_sample_repo(tmp_path / "repo")
    with slow_offline_model(0.15) as model:
        cluster = QueueCluster(pg_url, tmp_path, env=model)
        thread = cluster.keel("review", str(repo), "--queue", "--json").json()["thread_id"]
        try:
            zombie = cluster.start_worker()
            wait_for("the first attempt", lambda: _open_attempt(cluster, thread, 1), 60)
            wait_for("a checkpoint", lambda: _writes(cluster, thread)[0] > 0, 30, every=0.05)
            zombie.signal(signal.SIGSTOP)
            other = cluster.start_worker()
            wait_for("the retry", lambda: len(cluster.attempts(thread)) == 2, 60)
            wait_for(
                "the retry to finish",
                lambda: (
                    cluster.status(thread) == "awaiting_approval"
                    and cluster.attempts(thread)[1]["ended_at"]
                ),
                90,
            )
            before = _writes(cluster, thread)
            zombie.signal(signal.SIGCONT)
            code = zombie.wait(timeout=60)
            after = _writes(cluster, thread)
            assert other.proc.poll() is None
        finally:
            cluster.stop_all()
    assert code == 8, zombie.text()
    assert "FENCED" in zombie.text() and "superseded by epoch 2" in zombie.text(), zombie.text()
    assert after == before  # no checkpoint, pending write, ledger entry or registry change
    attempts = cluster.attempts(thread)
    assert [(a["epoch"], a["worker"].endswith(f":{zombie.pid}")) for a in attempts] == [
        (1, True),
        (2, False),
    ]
    assert attempts[0]["ended_at"] is None and attempts[1]["outcome"] == "awaiting_approval"


def test_sigterm_drains_and_another_worker_continues(pg_url: str, tmp_path: Path) -> None:
    repo = build_sample_repo(tmp_path / "repo")
    with slow_offline_model(0.15) as model:
        cluster = QueueCluster(pg_url, tmp_path, env=model)
        thread = cluster.keel("review", str(repo), "--queue", "--json").json()["thread_id"]
        try:
            first = cluster.start_worker()
            wait_for("the first attempt", lambda: _open_attempt(cluster, thread, 1), 60)
            wait_for("a checkpoint", lambda: _writes(cluster, thread)[0] > 2, 30, every=0.05)
            first.signal(signal.SIGTERM)
            assert first.wait(timeout=30) == 0, first.text()
            assert cluster.status(thread) == "queued"
            checkpoints_at_drain = _writes(cluster, thread)[0]
            cluster.start_worker()
            wait_for("the review", lambda: cluster.status(thread) == "awaiting_approval", 90)
        finally:
            cluster.stop_all()
    assert f"drained thread {thread}, re-queued" in first.text(), first.text()
    attempts = cluster.attempts(thread)
    assert [(a["task"], a["outcome"]) for a in attempts] == [
        ("keel.run", "drained"),
        ("keel.resume", "awaiting_approval"),
    ]
    assert checkpoints_at_drain > 2  # the second worker resumed from these, not from scratch
    first_run = cluster.query(
        "SELECT count(*) AS n FROM checkpoints WHERE thread_id = %s AND "
        "checkpoint_ns = '' AND metadata->>'source' = 'input'",
        thread,
    )[0]["n"]
    assert first_run == 1  # one start: the input was never fed twice


def test_poison_job_lands_in_the_dlq_and_dlq_retry_requeues_it(pg_url: str, tmp_path: Path) -> None:
    repo = build_sample_repo(tmp_path / "repo")
    broken = {"KEEL_MODEL": "openai-compatible:offline", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    cluster = QueueCluster(pg_url, tmp_path, env=broken)
    thread = cluster.keel("audit", str(repo), "--queue", "--json").json()["thread_id"]
    try:
        cluster.start_worker()
        cluster.start_worker()
        wait_for("the DLQ", lambda: cluster.status(thread) == "failed", 90)
        jobs = cluster.query("SELECT status::text AS s, attempts FROM procrastinate_jobs")
        assert jobs == [{"s": "failed", "attempts": 3}], jobs
        letters = cluster.keel("dlq", "list", "--json").json()
        assert [d["thread_id"] for d in letters] == [thread]
        assert "attempt 3 of 3: OpenAIConnectionError" in letters[0]["reason"]
        assert "keel dlq retry" in letters[0]["reason"]
        assert len(cluster.attempts(thread)) == 3  # bounded: no retry storm
        cluster.stop_all()
        with slow_offline_model(0.0) as model:
            cluster.env = model
            cluster.start_worker()
            retry = cluster.keel("dlq", "retry", thread)
            assert retry.code == 0 and retry.stdout.strip() == f"{thread} queued", retry
            wait_for("the retried audit", lambda: cluster.status(thread) == "awaiting_approval", 60)
    finally:
        cluster.stop_all()
    assert cluster.keel("dlq", "list", "--json").json() == []


def test_a_repository_gone_fails_the_thread_once(pg_url: str, tmp_path: Path) -> None:
    repo = build_sample_repo(tmp_path / "repo")
    cluster = QueueCluster(pg_url, tmp_path)
    thread = cluster.keel("audit", str(repo), "--queue", "--json").json()["thread_id"]
    moved = cluster.keel("audit", str(build_sample_repo(tmp_path / "moved")), "--queue", "--json")
    other = moved.json()["thread_id"]
    (tmp_path / "moved" / "NEW.txt").write_text("a later commit\n")
    from tests.support.gitrepo import git

    git(tmp_path / "moved", "add", "NEW.txt")
    git(tmp_path / "moved", "commit", "-qm", "later")
    import shutil

    shutil.rmtree(repo)
    try:
        cluster.start_worker()
        wait_for(
            "both refused",
            lambda: {cluster.status(thread), cluster.status(other)} == {"failed"},
            60,
        )
        wait_for(
            "attempts to end",
            lambda: all(a["ended_at"] for t in (thread, other) for a in cluster.attempts(t)),
            30,
        )
    finally:
        cluster.stop_all()
    records = {r["thread_id"]: r for r in cluster.keel("threads", "--json").json()}
    assert records[thread]["error"].startswith(f"repository gone: {repo} does not exist")
    assert "refusing to review a different checkout" in records[other]["error"]
    assert len(cluster.attempts(thread)) == 1 and len(cluster.attempts(other)) == 1
    assert cluster.query(
        "SELECT count(*) AS n FROM procrastinate_jobs WHERE status <> 'succeeded'"
    ) == [{"n": 0}]

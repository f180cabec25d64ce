"""Per-thread order: review → approve → resume, queued, run one at a time in that order."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.queue import DECISIONS, QueueCluster, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_review_approve_resume_run_in_order_once_each(
    pg_url: str, sample_repo: Path, tmp_path: Path
) -> None:
    cluster = QueueCluster(pg_url, tmp_path)
    thread = cluster.keel("review", str(sample_repo), "--queue", "--json").json()["thread_id"]
    try:
        first = cluster.start_worker()
        wait_for("the review", lambda: cluster.status(thread) == "awaiting_approval", 60)
        first.signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
        # with no worker running, queue the decision and a resume behind it
        approve = cluster.keel("approve", thread, "--queue", "--edit", DECISIONS, "--json")
        assert approve.code == 0 and approve.json()["status"] == "queued", approve.stderr
        again = cluster.keel("approve", thread, "--queue")
        # still awaiting at the checkpoint; the second decision is refused while one waits
        # (exit 5), or it is not awaiting any more (also 5) if the first already ran
        assert again.code == 5, again
        resume = cluster.keel("resume", thread, "--queue")  # behind the decision: accepted
        assert resume.code == 0, resume.stderr
        cluster.start_worker()
        cluster.start_worker()  # two workers compete for the thread's two jobs
        wait_for("the thread to finish", lambda: cluster.status(thread) == "done", 60)
        wait_for(
            "every attempt to end", lambda: all(a["ended_at"] for a in cluster.attempts(thread)), 30
        )
    finally:
        cluster.stop_all()
    attempts = cluster.attempts(thread)
    assert [a["task"] for a in attempts] == ["keel.run", "keel.decide", "keel.resume"]
    assert [a["epoch"] for a in attempts] == [1, 2, 3]
    for earlier, later in zip(attempts, attempts[1:], strict=False):
        assert earlier["ended_at"] <= later["started_at"], attempts  # never two at once
    assert attempts[0]["outcome"] == "awaiting_approval"
    assert attempts[1]["outcome"] == "done"
    assert attempts[2]["outcome"].startswith("nothing to resume")
    effects = sorted(line["action_id"] for line in cluster.journal_lines())
    assert effects == ["apply_autofix", "publish_review"]

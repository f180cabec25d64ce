"""The inbox on a thread started through the queue: the decision goes to a `keel worker`.

A review queued with `keel review --queue` is run by a real worker process until it pauses
at the gate; the inbox (Starlette's TestClient on the same PostgreSQL) validates the
reviewer's decisions as for an in-process thread and defers them to the queue, as
`keel approve --queue` does. While the job waits or runs, a second decision is 409; the
worker resumes the thread, which ends `done` with the review written where the edit said,
and the feedback log holds the inbox reviewer's one decision.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from keel.inbox import create_app
from keel.inbox._auth import CSRF_COOKIE
from keel.nodes.guards.feedback import iter_feedback
from keel.persistence import open_persistence
from keel.runner import Runner
from keel.settings import Settings
from tests.support.queue import QueueCluster, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_a_queued_thread_is_decided_in_the_inbox_and_resumed_by_a_worker(
    pg_url: str, sample_repo: Path, tmp_path: Path
) -> None:
    cluster = QueueCluster(pg_url, tmp_path)
    queued = cluster.keel("review", str(sample_repo), "--queue", "--json")
    assert queued.code == 0, queued.stderr
    thread = queued.json()["thread_id"]
    settings = Settings.load(env={"KEEL_DATABASE_URL": pg_url}, dotenv=tmp_path / "no.env")
    try:
        cluster.start_worker()
        wait_for("the review to pause", lambda: cluster.status(thread) == "awaiting_approval", 90)
        with open_persistence(pg_url) as persistence:
            client = TestClient(
                create_app(Runner(persistence, settings), settings, tokens={}),
                follow_redirects=False,
            )
            assert client.get("/").status_code == 200
            token = client.cookies.get(CSRF_COOKIE) or ""
            decisions = [
                {"type": "approve"},
                {"type": "reject", "message": "not here"},
                {
                    "type": "edit",
                    "edited_action": {"name": "publish_review", "args": {"path": "Q.md"}},
                },
            ]
            url = f"/api/threads/{thread}/decisions"
            bad = client.post(
                url,
                json={"decisions": decisions[:2], "reviewer": "quinn"},
                headers={"X-CSRF-Token": token},
            )
            assert bad.status_code == 400  # validated here, before anything is queued
            answer = client.post(
                url,
                json={"decisions": decisions, "reviewer": "quinn"},
                headers={"X-CSRF-Token": token},
            )
            assert answer.status_code == 200, answer.text
            assert isinstance(answer.json()["queued_job"], int)
            again = client.post(
                url,
                json={"decisions": decisions, "reviewer": "mallory"},
                headers={"X-CSRF-Token": token},
            )
            assert again.status_code == 409, again.text
            assert "already" in again.json()["error"]
            wait_for("the worker to finish", lambda: cluster.status(thread) == "done", 90)
            page = client.get(f"/threads/{thread}")
            assert 'id="thread-status">done<' in page.text
            assert "review written to Q.md" in page.text
            entries = [e for e in iter_feedback(persistence.store) if e["thread_id"] == thread]
    finally:
        cluster.stop_all()
    assert (sample_repo / "Q.md").is_file()
    assert [e["reviewer"] for e in entries] == ["quinn"]
    assert [d["type"] for d in entries[0]["decisions"]] == ["approve", "reject", "edit"]

"""Durable threads: `langgraph dev` with Keel's Postgres checkpointer survives a restart.

What lives where (langgraph-api 0.16.7, in-memory runtime):

* checkpoints (thread state, pending interrupts) and the store (idempotency ledger,
  feedback log) are in PostgreSQL, through `keel.server:checkpointer` / `:store`;
* the server's thread / run / assistant records are the in-memory runtime's own, pickled
  to `.langgraph_api/` in its working directory (on shutdown and every 10 s).

So a server restarted in the same working directory finds the thread and resumes it; a
server in a fresh directory does not know the thread (404) until it is created again with
the same id (and `metadata.graph_id`, which tells the server which graph reads the
state; a run would set it), after which its state comes back from Postgres and it resumes
to the end.
The control: the same fresh-directory restart without Postgres finds no state at all.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import psycopg
import pytest
from langgraph_sdk import get_sync_client

from keel.sample import build_sample_repo
from tests.support.devserver import DevServer, resume, run_to_interrupt, same_decision

pytestmark = pytest.mark.postgres

TOKEN = "carol-token"


def test_threads_survive_a_restart_with_the_postgres_checkpointer(
    pg_url: str, tmp_path: Path
) -> None:
    env = {"KEEL_DATABASE_URL": pg_url, "KEEL_API_TOKENS": f"{TOKEN}:carol"}
    first = build_sample_repo(tmp_path / "first")
    second = build_sample_repo(tmp_path / "second")
    with DevServer(workdir=tmp_path / "server-a", env=env) as server:
        client = get_sync_client(url=server.url, headers=server.auth(TOKEN))
        kept, kept_request = run_to_interrupt(client, first)
        moved, moved_request = run_to_interrupt(client, second)
    assert "keel: checkpoints in PostgreSQL" in server.log()
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT thread_id, count(*) FROM checkpoints GROUP BY thread_id"
        ).fetchall()
    assert {kept, moved} <= {str(row[0]) for row in rows}

    # same working directory: the thread record and its Postgres state are both there
    with DevServer(workdir=tmp_path / "server-a", env=env) as server:
        client = get_sync_client(url=server.url, headers=server.auth(TOKEN))
        assert client.threads.get(kept)["status"] == "interrupted"
        assert client.threads.get_state(kept)["next"] == ["review_gate"]
        values = resume(
            client, kept, {"decisions": same_decision(kept_request, {"type": "approve"})}
        )
        assert values["status"] == "done"
        assert values["review"]["reviewer"] == "carol"
        assert (first / "KEEL_REVIEW.md").is_file()

    # fresh working directory (no .langgraph_api): only Postgres remembers the thread
    with DevServer(workdir=tmp_path / "server-b", env=env) as server:
        client = get_sync_client(url=server.url, headers=server.auth(TOKEN))
        missing = httpx.get(f"{server.url}/threads/{moved}", headers=server.auth(TOKEN))
        assert missing.status_code == 404
        # graph_id tells the server which graph reads the state (a run would set it too)
        client.threads.create(thread_id=moved, metadata={"graph_id": "review"})
        state = client.threads.get_state(moved)
        assert state["next"] == ["review_gate"]
        restored = state["values"]
        assert restored["status"] == "awaiting_approval"
        assert restored["report"]["markdown"].startswith("# Keel review")
        values = resume(
            client, moved, {"decisions": same_decision(moved_request, {"type": "reject"})}
        )
        assert values["status"] == "done"
        assert [d["type"] for d in values["review"]["decisions"]] == ["reject"] * len(
            moved_request["action_requests"]
        )
    with psycopg.connect(pg_url) as conn:
        feedback = conn.execute(
            "SELECT count(*) FROM store WHERE prefix = 'keel_feedback'"
        ).fetchone()
    assert feedback is not None and feedback[0] == 2  # both decisions, in Postgres


def test_without_postgres_a_fresh_server_has_no_state(tmp_path: Path) -> None:
    repo = build_sample_repo(tmp_path / "sample")
    with DevServer(workdir=tmp_path / "server-a") as server:
        client = get_sync_client(url=server.url)
        thread_id, _ = run_to_interrupt(client, repo)
    assert "dev server's in-memory saver" in server.log()
    with DevServer(workdir=tmp_path / "server-b") as server:
        client = get_sync_client(url=server.url)
        client.threads.create(thread_id=thread_id, metadata={"graph_id": "review"})
        state = client.threads.get_state(thread_id)
        assert not state["values"]
        assert state["next"] == []

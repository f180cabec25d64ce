"""The inbox's pages and JSON API over a real database holding a real paused review.

Each test reviews a freshly built sample repository with the real CLI (offline model) in
a subprocess, so the thread is paused at the review gate exactly as `make run` leaves it,
then drives the Starlette app with its TestClient on the same database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from keel.inbox import create_app
from keel.inbox._auth import CSRF_COOKIE
from keel.nodes.guards.feedback import iter_feedback
from keel.persistence import Persistence, open_persistence
from keel.runner import Runner
from keel.sample import build_sample_repo
from keel.settings import Settings
from keel.show import SHOW_KEYS
from tests._pg import database_url, drop_database


def _keel(
    tmp_path: Path, db: str, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "OPENAI_"))}
    env |= {
        "KEEL_DATABASE_URL": db,
        "KEEL_HOME": str(tmp_path / "home"),
        "KEEL_REVIEWER": "cli-reviewer",
    } | (extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "keel.cli", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout


@dataclass
class Paused:
    """A paused review and an inbox app on its database."""

    thread_id: str
    repo: Path
    persistence: Persistence
    runner: Runner
    settings: Settings
    tmp_path: Path
    db: str

    def client(self, tokens: dict[str, str] | None = None) -> TestClient:
        app = create_app(self.runner, self.settings, tokens=tokens or {})
        return TestClient(app, follow_redirects=False)

    def status(self) -> str:
        return self.runner.outcome(self.thread_id).status

    def feedback(self) -> list[dict[str, Any]]:
        return [
            e for e in iter_feedback(self.persistence.store) if e["thread_id"] == self.thread_id
        ]


def _review(tmp_path: Path, db: str, repo: Path, extra_env: dict[str, str] | None = None) -> str:
    done = _keel(
        tmp_path, db, "review", str(repo), "--no-input", "--json", "--quiet", extra_env=extra_env
    )
    assert done.returncode == 3, done.stderr
    thread_id: str = json.loads(done.stdout)["thread_id"]
    return thread_id


@pytest.fixture
def paused(tmp_path: Path, db_url: str) -> Iterator[Paused]:
    repo = build_sample_repo(tmp_path / "sample")
    thread_id = _review(tmp_path, db_url, repo)
    settings = Settings.load(
        env={"KEEL_DATABASE_URL": db_url, "KEEL_HOME": str(tmp_path / "home")},
        dotenv=tmp_path / "no.env",
    )
    with open_persistence(db_url) as persistence:
        yield Paused(
            thread_id, repo, persistence, Runner(persistence, settings), settings, tmp_path, db_url
        )


def _csrf(client: TestClient) -> str:
    page = client.get("/")
    assert page.status_code == 200
    token = client.cookies.get(CSRF_COOKIE)
    assert token
    return token


def _approve_all(n: int = 3) -> list[dict[str, Any]]:
    return [{"type": "approve"} for _ in range(n)]


def _edit_publish(path: str) -> list[dict[str, Any]]:
    return [
        {"type": "approve"},
        {"type": "approve"},
        {"type": "edit", "edited_action": {"name": "publish_review", "args": {"path": path}}},
    ]


# ------------------------------------------------------------------ reading


def test_queue_and_api_show_the_paused_review_like_the_cli(paused: Paused) -> None:
    client = paused.client()
    page = client.get("/")
    assert page.status_code == 200
    assert paused.thread_id in page.text
    assert "Open inbox" in page.text  # no tokens: the page says so

    rows = client.get("/api/threads", params={"status": "awaiting_approval"}).json()
    (row,) = [r for r in rows if r["thread_id"] == paused.thread_id]
    assert row["severity"] == "high"
    assert row["waiting"] is True
    assert any("side effect proposed" in t for t in row["triggers"])
    assert row["actions"] == ["apply_autofix", "run_tests", "publish_review"]
    assert row["repo"] == str(paused.repo)

    shown = client.get(f"/api/threads/{paused.thread_id}").json()
    assert tuple(shown) == SHOW_KEYS
    cli = _keel(paused.tmp_path, paused.db, "show", paused.thread_id, "--json")
    assert cli.returncode == 0, cli.stderr
    assert shown == json.loads(cli.stdout)

    assert client.get("/api/threads", params={"status": "nonsense"}).status_code == 400

    def listed(**params: str) -> bool:
        answer = client.get("/", params=params)
        assert answer.status_code == 200
        return f"/threads/{paused.thread_id}" in answer.text

    assert listed(severity="high", trigger="side effect", repo=paused.repo.name, sort="severity")
    assert not listed(severity="critical")
    assert not listed(trigger="guard:")
    assert not listed(repo="no-such-repository")
    assert not listed(status="done")
    assert listed(status="all", sort="repo")


def test_thread_page_shows_evidence_as_code_with_lines_and_hunk(paused: Paused) -> None:
    page = paused.client().get(f"/threads/{paused.thread_id}")
    assert page.status_code == 200
    text = page.text
    assert "inventory/reports.py:12" in text
    # the flagged line, its number, its neighbours, and the hunk that added it
    assert 'class="hit"><td class="ln"></td><td class="ln">12</td>' in text
    assert "SELECT sku, quantity FROM items WHERE category" in text
    assert "cur = conn.cursor()" in text  # line 11, context
    assert "Diff hunk" in text
    assert "Confidence" in text and "agreement with tool evidence" in text
    # secrets stay masked in code as in the reports
    assert "AKIA****" in text
    assert "AKIA" + "4R7TXQ2MZ9LKD3WB" not in text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")


def test_a_script_in_a_repository_file_is_shown_as_text(tmp_path: Path, sqlite_url: str) -> None:
    repo = build_sample_repo(tmp_path / "sample")
    source = repo / "inventory" / "reports.py"
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[9] = '    """Return <script>alert("xss")</script> items."""\n'  # line 10, near 12
    source.write_text("".join(lines), encoding="utf-8")
    _git(repo, "commit", "-q", "-a", "--amend", "--no-edit")
    thread_id = _review(tmp_path, sqlite_url, repo)
    settings = Settings.load(env={"KEEL_DATABASE_URL": sqlite_url}, dotenv=tmp_path / "no.env")
    with open_persistence(sqlite_url) as persistence:
        app = create_app(Runner(persistence, settings), settings, tokens={})
        page = TestClient(app).get(f"/threads/{thread_id}")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;" in page.text
    assert "<script>alert" not in page.text
    # the only script elements are the inbox's own
    assert page.text.count("<script") == 1
    assert '<script src="/static/inbox.js" defer></script>' in page.text


# ------------------------------------------------------------------ bad input


def test_unknown_thread_is_a_404_page_and_a_404_in_the_api(paused: Paused) -> None:
    client = paused.client()
    page = client.get("/threads/kr-nope")
    assert page.status_code == 404
    assert "unknown thread: kr-nope" in page.text
    assert client.get("/api/threads/kr-nope").status_code == 404
    token = _csrf(client)
    posted = client.post(
        "/api/threads/kr-nope/decisions",
        json={"decisions": []},
        headers={"X-CSRF-Token": token},
    )
    assert posted.status_code == 404


def test_post_without_csrf_token_is_refused_and_changes_nothing(paused: Paused) -> None:
    client = paused.client()
    form = {f"decision-{i}": "approve" for i in range(3)}
    assert client.post(f"/threads/{paused.thread_id}/decide", data=form).status_code == 403
    token = _csrf(client)
    wrong = client.post(
        f"/threads/{paused.thread_id}/decide", data=form | {"csrf_token": token + "x"}
    )
    assert wrong.status_code == 403
    api = client.post(f"/api/threads/{paused.thread_id}/decisions", json={"decisions": []})
    assert api.status_code == 403
    assert paused.status() == "awaiting_approval"
    assert paused.feedback() == []


def test_malformed_edit_json_shows_the_form_error_and_sends_nothing(paused: Paused) -> None:
    client = paused.client()
    token = _csrf(client)
    form = {
        "csrf_token": token,
        "decision-0": "approve",
        "decision-1": "approve",
        "decision-2": "edit",
        "args-2": '{"path": "docs/',
    }
    page = client.post(f"/threads/{paused.thread_id}/decide", data=form)
    assert page.status_code == 400
    assert "nothing was sent" in page.text
    assert "not valid JSON" in page.text
    assert "{&#34;path&#34;: &#34;docs/" in page.text  # the form keeps what was typed
    assert paused.status() == "awaiting_approval"
    assert paused.feedback() == []
    api = client.post(
        f"/api/threads/{paused.thread_id}/decisions",
        content=b'{"decisions": [',
        headers={"X-CSRF-Token": token, "content-type": "application/json"},
    )
    assert api.status_code == 400
    assert paused.status() == "awaiting_approval"


def test_edit_that_does_not_fit_the_action_schema_is_400(paused: Paused) -> None:
    client = paused.client()
    token = _csrf(client)
    answer = client.post(
        f"/api/threads/{paused.thread_id}/decisions",
        json={"decisions": _edit_publish("")},
        headers={"X-CSRF-Token": token},
    )
    assert answer.status_code == 400
    assert "invalid arguments for publish_review" in answer.json()["error"]
    short = client.post(
        f"/api/threads/{paused.thread_id}/decisions",
        json={"decisions": _approve_all(2)},
        headers={"X-CSRF-Token": token},
    )
    assert short.status_code == 400
    assert "expected 3 decision(s)" in short.json()["error"]
    assert paused.status() == "awaiting_approval"
    assert paused.feedback() == []


# ------------------------------------------------------------------ deciding


def test_rejection_leaves_the_repository_untouched(paused: Paused) -> None:
    before = _git(paused.repo, "rev-parse", "HEAD")
    client = paused.client()
    token = _csrf(client)
    form = {"csrf_token": token, "reviewer": "dora"}
    for i in range(3):
        form |= {f"decision-{i}": "reject", f"message-{i}": "not on a Friday"}
    done = client.post(f"/threads/{paused.thread_id}/decide", data=form)
    assert done.status_code == 303
    assert done.headers["location"] == f"/threads/{paused.thread_id}"
    assert paused.status() == "done"
    assert _git(paused.repo, "status", "--porcelain") == ""
    assert _git(paused.repo, "rev-parse", "HEAD") == before
    assert not (paused.repo / "KEEL_REVIEW.md").exists()
    (entry,) = paused.feedback()
    assert entry["reviewer"] == "dora"
    assert [d["type"] for d in entry["decisions"]] == ["reject"] * 3
    assert entry["decisions"][0]["message"] == "not on a Friday"
    assert entry["packet"]["triggers"]  # the packet it answered
    page = client.get(f"/threads/{paused.thread_id}")
    assert "No action ran." in page.text
    assert "dora" in page.text  # decided by, and in the repository's history


def test_a_second_decision_is_409_with_the_status_and_who_decided(paused: Paused) -> None:
    client = paused.client()
    token = _csrf(client)
    url = f"/api/threads/{paused.thread_id}/decisions"
    first = client.post(
        url,
        json={"decisions": _edit_publish("docs/R.md"), "reviewer": "alice"},
        headers={"X-CSRF-Token": token},
    )
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "done"
    assert first.json()["reviewer"] == "alice"
    assert (paused.repo / "docs" / "R.md").is_file()
    again = client.post(
        url,
        json={"decisions": _approve_all(), "reviewer": "bob"},
        headers={"X-CSRF-Token": token},
    )
    assert again.status_code == 409
    assert "status: done" in again.json()["error"]
    assert "already decided by alice" in again.json()["error"]
    assert len(paused.feedback()) == 1


def test_two_reviewers_at_once_one_wins_nothing_done_twice(paused: Paused) -> None:
    token = _csrf(paused.client())
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def decide(reviewer: str, path: str) -> None:
        client = paused.client()
        client.cookies.set(CSRF_COOKIE, token)
        barrier.wait()
        results[reviewer] = client.post(
            f"/api/threads/{paused.thread_id}/decisions",
            json={"decisions": _edit_publish(path), "reviewer": reviewer},
            headers={"X-CSRF-Token": token},
        )

    workers = [
        threading.Thread(target=decide, args=("alice", "A.md")),
        threading.Thread(target=decide, args=("bob", "B.md")),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=240)
    codes = sorted(r.status_code for r in results.values())
    assert codes == [200, 409], {k: r.text for k, r in results.items()}
    winner = next(k for k, r in results.items() if r.status_code == 200)
    loser = next(k for k, r in results.items() if r.status_code == 409)
    assert "already" in results[loser].json()["error"]
    written = {p.name for p in paused.repo.glob("*.md") if p.name in ("A.md", "B.md")}
    assert written == {"A.md" if winner == "alice" else "B.md"}
    (entry,) = paused.feedback()
    assert entry["reviewer"] == winner


def test_a_thread_held_by_another_process_is_409_and_untouched(paused: Paused) -> None:
    client = paused.client()
    token = _csrf(client)
    with paused.persistence.lock(paused.thread_id):
        busy = client.post(
            f"/api/threads/{paused.thread_id}/decisions",
            json={"decisions": _approve_all()},
            headers={"X-CSRF-Token": token},
        )
    assert busy.status_code == 409
    assert "already being decided by another process" in busy.json()["error"]
    assert paused.status() == "awaiting_approval"
    assert paused.feedback() == []


def test_a_stale_form_is_409_already_decided(paused: Paused) -> None:
    client = paused.client()
    token = _csrf(client)
    url = f"/api/threads/{paused.thread_id}/decisions"
    wrong = client.post(
        url,
        json={"decisions": _approve_all(), "interrupt_ids": ["not-the-pending-one"]},
        headers={"X-CSRF-Token": token},
    )
    assert wrong.status_code == 409
    assert paused.status() == "awaiting_approval"


def test_a_guard_escalation_is_decided_on_the_same_page(tmp_path: Path, sqlite_url: str) -> None:
    repo = build_sample_repo(tmp_path / "sample")
    thread_id = _review(tmp_path, sqlite_url, repo, {"KEEL_GUARD_BUDGET_TOKENS": "1200"})
    settings = Settings.load(env={"KEEL_DATABASE_URL": sqlite_url}, dotenv=tmp_path / "no.env")
    with open_persistence(sqlite_url) as persistence:
        runner = Runner(persistence, settings)
        client = TestClient(create_app(runner, settings, tokens={}), follow_redirects=False)
        (row,) = client.get("/api/threads", params={"status": "awaiting_approval"}).json()
        assert row["guard"] == "budget"
        asks = len(row["actions"])
        assert asks >= 1 and set(row["actions"]) == {"grant_budget"}
        page = client.get(f"/threads/{thread_id}")
        assert "Waiting: budget guard on" in page.text
        token = client.cookies.get(CSRF_COOKIE)
        form = {"csrf_token": token, "reviewer": "erin"}
        form |= {f"decision-{i}": "edit" for i in range(asks)}
        bad = form | {f"args-{i}": '{"tokens": -5}' for i in range(asks)}
        refused = client.post(f"/threads/{thread_id}/decide", data=bad)
        assert refused.status_code == 400
        assert "invalid arguments for grant_budget" in refused.text
        assert runner.outcome(thread_id).status == "awaiting_approval"
        good = form | {f"args-{i}": '{"tokens": 50000}' for i in range(asks)}
        assert client.post(f"/threads/{thread_id}/decide", data=good).status_code == 303
        gate = client.get(f"/api/threads/{thread_id}").json()
        assert gate["status"] == "awaiting_approval"  # now at the review gate
        names = [a["name"] for r in gate["review_requests"] for a in r["action_requests"]]
        assert names == ["apply_autofix", "run_tests", "publish_review"]
        assert {"tokens": 50000}.items() <= gate["report"]["budget_grants"][0].items()
        done = client.post(
            f"/api/threads/{thread_id}/decisions",
            json={"decisions": [{"type": "reject", "message": "no"}] * 3, "reviewer": "erin"},
            headers={"X-CSRF-Token": token or ""},
        )
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "done"
        entries = list(iter_feedback(persistence.store))
        assert {e["reviewer"] for e in entries} == {"erin"}
        assert len(entries) == asks + 1  # each escalation, then the gate
    assert _git(repo, "status", "--porcelain") == ""


# ------------------------------------------------------------------ auth


def test_tokens_guard_every_route_and_the_reviewer_is_the_token_user(paused: Paused) -> None:
    client = paused.client(tokens={"tok-alice": "alice"})
    assert client.get("/").status_code == 303
    assert client.get("/").headers["location"] == "/login"
    assert client.get(f"/threads/{paused.thread_id}").status_code == 303
    assert client.get("/api/threads").status_code == 401
    bad = {"Authorization": "Bearer tok-mallory"}
    assert client.get("/api/threads", headers=bad).status_code == 401
    assert (
        client.post(
            f"/api/threads/{paused.thread_id}/decisions",
            json={"decisions": _approve_all()},
            headers=bad,
        ).status_code
        == 401
    )
    good = {"Authorization": "Bearer tok-alice"}
    assert client.get("/api/threads", headers=good).status_code == 200

    # the browser: log in with the token, then decide through the page's form
    login = client.get("/login")
    assert "Open inbox" not in login.text
    token = client.cookies.get(CSRF_COOKIE)
    assert client.post("/login", data={"token": "nope", "csrf_token": token}).status_code == 401
    assert client.post("/login", data={"token": "tok-alice"}).status_code == 403
    logged = client.post("/login", data={"token": "tok-alice", "csrf_token": token})
    assert logged.status_code == 303
    page = client.get(f"/threads/{paused.thread_id}")
    assert page.status_code == 200
    assert "signed in as <strong>alice</strong>" in page.text
    form = {"csrf_token": token, "reviewer": "mallory"}
    form |= {f"decision-{i}": "reject" for i in range(3)}
    form |= {f"message-{i}": "no" for i in range(3)}
    assert client.post(f"/threads/{paused.thread_id}/decide", data=form).status_code == 303
    (entry,) = paused.feedback()
    assert entry["reviewer"] == "alice"  # the typed name does not override the token's user
    assert paused.runner.outcome(paused.thread_id).values["review"]["reviewer"] == "alice"


def test_bearer_api_decision_records_the_token_user(paused: Paused) -> None:
    client = paused.client(tokens={"tok-alice": "alice"})
    answer = client.post(
        f"/api/threads/{paused.thread_id}/decisions",
        json={"decisions": _edit_publish("docs/BY-API.md"), "reviewer": "mallory"},
        headers={"Authorization": "Bearer tok-alice"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["reviewer"] == "alice"
    assert (paused.repo / "docs" / "BY-API.md").is_file()
    (entry,) = paused.feedback()
    assert entry["reviewer"] == "alice"


# ------------------------------------------------------------------ database gone


@pytest.mark.postgres
def test_a_database_that_went_away_is_a_clear_error_page(tmp_path: Path, pg_admin_url: str) -> None:
    from tests._pg import create_database

    name = "keel_test_inbox_gone"
    drop_database(pg_admin_url, name)
    create_database(pg_admin_url, name)
    url = database_url(pg_admin_url, name)
    try:
        repo = build_sample_repo(tmp_path / "sample")
        thread_id = _review(tmp_path, url, repo)
        settings = Settings.load(env={"KEEL_DATABASE_URL": url}, dotenv=tmp_path / "no.env")
        with open_persistence(url) as persistence:
            client = TestClient(create_app(Runner(persistence, settings), settings, tokens={}))
            assert client.get(f"/threads/{thread_id}").status_code == 200
            drop_database(pg_admin_url, name)
            page = client.get("/")
            assert page.status_code == 503
            assert "Database unavailable" in page.text
            assert f"/{name}" in page.text
            api = client.get(f"/api/threads/{thread_id}")
            assert api.status_code == 503
            assert "database unavailable" in api.json()["error"]
    finally:
        drop_database(pg_admin_url, name)


def test_an_argument_holding_a_secret_is_masked_and_left_out_of_the_edit_box() -> None:
    from keel.inbox._packet import _editable

    key = "AKIA" + "4R7TXQ2MZ9LKD3WB"
    args = {"path": "R.md", "diff": f'+S3_ACCESS_KEY_ID = "{key}"\n'}
    assert json.loads(_editable(args)) == {"path": "R.md"}

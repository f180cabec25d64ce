"""Dead-letter list, retry, health and prune through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import psycopg

from tests.e2e.conftest import KeelRunner, _keel_command


def _rows(db_url: str, thread: str) -> int:
    """Checkpoint rows of any kind left for a thread."""
    if db_url.startswith("sqlite:///"):
        with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
            return sum(
                conn.execute(f"SELECT count(*) FROM {t} WHERE thread_id = ?", (thread,)).fetchone()[
                    0
                ]  # noqa: S608
                for t in ("checkpoints", "writes")
            )
    with psycopg.connect(db_url, autocommit=True) as conn:
        return sum(
            conn.execute(f"SELECT count(*) FROM {t} WHERE thread_id = %s", (thread,)).fetchone()[0]  # noqa: S608
            for t in ("checkpoints", "checkpoint_writes", "checkpoint_blobs")
        )


def _registered(db_url: str, thread: str) -> bool:
    query = "SELECT count(*) FROM keel_threads WHERE thread_id = "
    try:
        if db_url.startswith("sqlite:///"):
            with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
                return bool(conn.execute(query + "?", (thread,)).fetchone()[0])
        with psycopg.connect(db_url, autocommit=True) as conn:
            return bool(conn.execute(query + "%s", (thread,)).fetchone()[0])
    except (sqlite3.Error, psycopg.Error):
        return False


def test_prune_deletes_finished_threads_without_orphans(
    keel: KeelRunner, sample_repo: Path, db_url: str
) -> None:
    done = keel("review", str(sample_repo), "--no-input", "--json").json()["thread_id"]
    assert keel("reject", done, "--reason", "x").code == 0
    waiting = keel("review", str(sample_repo), "--no-input", "--json").json()["thread_id"]
    assert _rows(db_url, done) > 0
    dry = keel("prune", "--older-than", "0", "--dry-run", "--json")
    assert dry.json() == {"dry_run": True, "threads": [done]}
    assert _rows(db_url, done) > 0
    pruned = keel("prune", "--older-than", "0", "--json")
    assert pruned.json() == {"dry_run": False, "threads": [done]}
    assert _rows(db_url, done) == 0
    assert _rows(db_url, waiting) > 0
    assert [t["thread_id"] for t in keel("threads", "--json").json()] == [waiting]
    assert keel("show", done).code == 4
    assert keel("prune", "--older-than", "30", "--json").json()["threads"] == []


def test_killed_run_is_listed_as_stalled_and_retried(
    keel: KeelRunner, sample_repo: Path, db_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env |= {"KEEL_DATABASE_URL": db_url, "KEEL_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [*_keel_command(), "review", str(sample_repo), "--no-input", "--thread", "kr-killed"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not _registered(db_url, "kr-killed") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # inside the run: intake / supervisor / tools
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    listed = keel("dlq", "list", "--stall-minutes", "0", "--json").json()
    assert [(d["thread_id"], d["status"]) for d in listed] == [("kr-killed", "running")]
    assert listed[0]["reason"].startswith("stalled: no heartbeat for")
    unhealthy = keel("health", "--stall-minutes", "0", "--json")
    assert unhealthy.code == 1
    checks = {c["name"]: c["ok"] for c in unhealthy.json()["checks"]}
    assert checks == {"database": True, "migrations": True, "model": True, "stalled threads": False}

    retried = keel("dlq", "retry", "kr-killed", "--json")
    assert retried.code == 3, retried.stderr  # re-driven to the review gate
    assert retried.json()["status"] == "awaiting_approval"
    assert keel("dlq", "list", "--stall-minutes", "0", "--json").json() == []
    overdue = keel("dlq", "list", "--approval-sla-hours", "0", "--json").json()
    assert overdue[0]["reason"].startswith("awaiting approval for")
    assert keel("health", "--json").code == 0


def test_health_reports_an_unreachable_model_endpoint(keel: KeelRunner) -> None:
    env = {"KEEL_MODEL": "openai-compatible:local", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    result = keel("health", "--json", extra_env=env)
    assert result.code == 1
    model = next(c for c in result.json()["checks"] if c["name"] == "model")
    assert not model["ok"] and "http://127.0.0.1:9/v1/models did not answer" in model["detail"]

"""PostgreSQL goes away mid-run.

A clear error and exit code, nothing corrupted, and `keel resume` continues from the last
checkpoint once the server is back. Pool connections that died meanwhile are replaced.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import psycopg

from keel.persistence import open_persistence
from tests._pg import PgServer
from tests.e2e.conftest import _keel_command


def _env(url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    return env | {"KEEL_DATABASE_URL": url, "KEEL_HOME": str(tmp_path / "home")}


def test_outage_mid_run_then_resume(
    private_pg: PgServer, sample_repo: Path, tmp_path: Path
) -> None:
    url = private_pg.url("keel")
    env = _env(url, tmp_path)
    proc = subprocess.Popen(
        [*_keel_command(), "review", str(sample_repo), "--no-input", "--thread", "kr-outage"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    with psycopg.connect(url, autocommit=True) as conn:  # wait for the first checkpoints
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                rows = conn.execute(
                    "SELECT count(*) FROM checkpoints WHERE thread_id = 'kr-outage'"
                ).fetchone()
            except psycopg.errors.UndefinedTable:
                rows = None  # the CLI has not set the schema up yet
            if rows and rows[0] >= 2:
                break
            time.sleep(0.02)
    private_pg.halt()
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 6, stderr
    assert "error:" in stderr and "PostgreSQL" in stderr

    down = subprocess.run(
        [*_keel_command(), "threads"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert down.returncode == 6
    assert "cannot reach PostgreSQL at postgresql://postgres@127.0.0.1" in down.stderr

    private_pg.resume_serving()
    resumed = subprocess.run(
        [*_keel_command(), "resume", "kr-outage", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert resumed.returncode == 3, resumed.stderr  # went on to the review gate
    with open_persistence(url) as persistence:
        from keel.runner import Runner
        from keel.settings import Settings

        outcome = Runner(persistence, Settings.load()).outcome("kr-outage")
        assert outcome.status == "awaiting_approval"
        assert {f["file"] for f in outcome.values["findings"]} >= {
            "inventory/admin.py",
            "inventory/reports.py",
        }


def test_dead_pool_connections_are_replaced(private_pg: PgServer) -> None:
    url = private_pg.url("keel")
    with open_persistence(url) as persistence:
        persistence.registry.create("t1", workflow="review", repo="/r", model="m", context={})
        with psycopg.connect(url, autocommit=True) as admin:  # an idle timeout, a failover
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = 'keel' AND pid <> pg_backend_pid()"
            )
        record = persistence.registry.get("t1")  # the checked pool hands out a fresh connection
        assert record is not None and record.status == "running"

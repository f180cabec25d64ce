"""Drive `keel worker` subprocesses and queued commands against one PostgreSQL database.

Each worker runs in its own workspace folder (cwd and KEEL_HOME), with test-size queue
settings (`FAST`): heartbeats every 0.3 s, stalled after 2.5 s, a sweep every second. The
model is Keel's offline policy, either embedded or served over HTTP with a simulated
latency (`slow_offline_model`) so a job lasts long enough to be killed in the middle.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests.e2e.conftest import Result, _keel_command
from tests.support.offline_responder import offline_responder
from tests.support.openai_server import OpenAICompatServer

FAST = {
    "KEEL_QUEUE_HEARTBEAT": "0.3",
    "KEEL_QUEUE_STALL_AFTER": "2.5",
    "KEEL_QUEUE_SWEEP_EVERY": "1",
    "KEEL_QUEUE_GRACE": "1",
    "KEEL_QUEUE_RETRY_WAIT": "1",
    "KEEL_QUEUE_MAX_ATTEMPTS": "3",
}

DECISIONS = json.dumps(
    {
        "decisions": [
            {"type": "approve"},  # apply_autofix
            {"type": "reject", "message": "not in this test"},  # run_tests
            {"type": "approve"},  # publish_review
        ]
    }
)
"""The crash harness's decision: the two effects with an already-done check run."""


@contextmanager
def slow_offline_model(latency_s: float) -> Iterator[dict[str, str]]:
    """The offline policy over HTTP, each reply `latency_s` late; yields the model's env."""

    def respond(body: dict[str, Any]) -> dict[str, Any]:
        time.sleep(latency_s)
        return offline_responder(body)

    with OpenAICompatServer(respond) as server:
        yield {"KEEL_MODEL": "openai-compatible:offline", "OPENAI_BASE_URL": server.base_url}


@dataclass
class Worker:
    """One `keel worker` process."""

    name: str
    proc: subprocess.Popen[str]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)


@dataclass
class QueueCluster:
    """Workers and `keel` commands sharing one database; stops every worker it started."""

    db_url: str
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)

    def base_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "OPENAI_"))}
        env |= {
            "KEEL_DATABASE_URL": self.db_url,
            "KEEL_REVIEWER": "queue-test",
            "LANGSMITH_TRACING": "false",
            "KEEL_EFFECT_JOURNAL": str(self.journal),
        }
        return env | FAST | self.env | (extra or {})

    @property
    def journal(self) -> Path:
        return self.root / "effects.jsonl"

    def keel(self, *args: str, extra_env: dict[str, str] | None = None) -> Result:
        """Run one `keel` command (in the cluster's own workspace)."""
        home = self.root / "cli"
        home.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [*_keel_command(), *args],
            env=self.base_env({"KEEL_HOME": str(home / "home")} | (extra_env or {})),
            cwd=home,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def start_worker(self, *args: str, extra_env: dict[str, str] | None = None) -> Worker:
        """Start `keel worker ARGS` in a workspace folder of its own."""
        name = f"w{len(self.workers) + 1}"
        workspace = self.root / name
        workspace.mkdir(parents=True, exist_ok=True)
        log = workspace / "worker.log"
        with log.open("w", encoding="utf-8") as out:
            proc = subprocess.Popen(
                [*_keel_command(), "worker", *args],
                env=self.base_env({"KEEL_HOME": str(workspace / "home")} | (extra_env or {})),
                cwd=workspace,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                stdin=subprocess.DEVNULL,
            )
        worker = Worker(name, proc, log)
        self.workers.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.workers:
            if worker.proc.poll() is None:
                try:
                    worker.signal(signal.SIGCONT)
                    worker.signal(signal.SIGTERM)
                    worker.proc.wait(timeout=30)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    worker.proc.kill()
                    worker.proc.wait(timeout=10)

    # --- reading the database ----------------------------------------------------------

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.db_url, autocommit=True, row_factory=dict_row) as conn:
            return list(conn.execute(sql, params).fetchall())

    def status(self, thread_id: str) -> str:
        rows = self.query("SELECT status FROM keel_threads WHERE thread_id = %s", thread_id)
        return str(rows[0]["status"]) if rows else ""

    def attempts(self, thread_id: str) -> list[dict[str, Any]]:
        return self.query(
            "SELECT * FROM keel_queue_attempts WHERE thread_id = %s ORDER BY id", thread_id
        )

    def journal_lines(self) -> list[dict[str, Any]]:
        if not self.journal.exists():
            return []
        return [json.loads(line) for line in self.journal.read_text().splitlines()]


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 0.1) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)

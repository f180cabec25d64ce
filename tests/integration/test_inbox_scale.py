"""Time to first render of the queue page with 1,000 threads waiting (issue 16's figure).

One real review of the sample pauses at the gate; its paused checkpoint (the latest of the
root namespace, with its pending writes: the interrupt) and its registry row are copied
under 999 new thread ids in the same SQLite file, so 1,000 threads wait, each one a real
paused review as far as `Runner.outcome` can tell. The queue's row cache is cleared, then
the page is rendered twice: cold (every thread's checkpoint read) and warm (the cache),
in-process; then cold again served by uvicorn and opened in headless chromium, timed from
navigation start to the load event (`performance.getEntriesByType("navigation")`).

Run: `.venv/bin/python -m pytest -q -s tests/integration/test_inbox_scale.py` — it prints
the figures. The bound asserted is loose (a shared 2-core machine); the figure is the point.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright
from starlette.testclient import TestClient

from keel.inbox import _queue, create_app
from keel.persistence import open_persistence
from keel.runner import Runner
from keel.sample import build_sample_repo
from keel.settings import Settings

WAITING = 1000
COLD_BOUND_S = 120.0


def _paused_review(tmp_path: Path, url: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "OPENAI_"))}
    env |= {"KEEL_DATABASE_URL": url, "KEEL_HOME": str(tmp_path / "home")}
    repo = build_sample_repo(tmp_path / "sample")
    done = subprocess.run(
        [sys.executable, "-m", "keel.cli", "review", str(repo), "--no-input", "--json", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 3, done.stderr
    thread_id: str = json.loads(done.stdout)["thread_id"]
    return thread_id


def _copy_paused(db: Path, thread_id: str, copies: int) -> None:
    conn = sqlite3.connect(db)
    with conn:
        (latest,) = conn.execute(
            "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = '' "
            "ORDER BY checkpoint_id DESC LIMIT 1",
            (thread_id,),
        ).fetchone()
        for n in range(copies):
            new = f"kr-scale{n:06d}"
            conn.execute(
                "INSERT INTO checkpoints SELECT ?, checkpoint_ns, checkpoint_id, "
                "parent_checkpoint_id, type, checkpoint, metadata FROM checkpoints "
                "WHERE thread_id = ? AND checkpoint_ns = '' AND checkpoint_id = ?",
                (new, thread_id, latest),
            )
            conn.execute(
                "INSERT INTO writes SELECT ?, checkpoint_ns, checkpoint_id, task_id, task_path, "
                "idx, channel, type, value FROM writes "
                "WHERE thread_id = ? AND checkpoint_ns = '' AND checkpoint_id = ?",
                (new, thread_id, latest),
            )
            conn.execute(
                "INSERT INTO keel_threads SELECT ?, workflow, repo, status, model, created_at, "
                "updated_at, heartbeat_at, cost_usd, findings, context, error FROM keel_threads "
                "WHERE thread_id = ?",
                (new, thread_id),
            )
    conn.close()


def _browser_load_s(app: object) -> float:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    runner = threading.Thread(target=server.run, daemon=True)
    runner.start()
    try:
        while not server.started:
            time.sleep(0.05)
        chromium = os.environ.get("KEEL_CHROMIUM") or shutil.which("chromium") or "chromium"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True)
            try:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{port}/", wait_until="load", timeout=300_000)
                load_ms = page.evaluate(
                    "performance.getEntriesByType('navigation')[0].loadEventEnd"
                )
            finally:
                browser.close()
    finally:
        server.should_exit = True
        runner.join(timeout=20)
    return float(load_ms) / 1000


def test_queue_first_render_with_1000_waiting_threads(tmp_path: Path) -> None:
    db = tmp_path / "keel.db"
    url = f"sqlite:///{db}"
    thread_id = _paused_review(tmp_path, url)
    _copy_paused(db, thread_id, WAITING - 1)
    settings = Settings.load(env={"KEEL_DATABASE_URL": url}, dotenv=tmp_path / "no.env")
    with open_persistence(url) as persistence:
        client = TestClient(create_app(Runner(persistence, settings), settings, tokens={}))
        _queue._cache.clear()
        start = time.perf_counter()
        cold = client.get("/")
        cold_s = time.perf_counter() - start
        start = time.perf_counter()
        warm = client.get("/")
        warm_s = time.perf_counter() - start
        _queue._cache.clear()
        browser_s = _browser_load_s(create_app(Runner(persistence, settings), settings, tokens={}))
    assert cold.status_code == 200
    assert cold.text.count('<tr class="sev-high">') == WAITING
    assert warm.text.count('<tr class="sev-high">') == WAITING
    print(
        f"\nqueue page, {WAITING} waiting threads (SQLite): first render {cold_s:.2f} s, "
        f"cached {warm_s:.2f} s, {len(cold.content) / 1e6:.2f} MB of HTML; in headless "
        f"chromium (cold, navigation to load event) {browser_s:.2f} s"
    )
    assert cold_s < COLD_BOUND_S

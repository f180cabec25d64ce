"""A real headless Chromium reviews the sample repository's paused thread in `keel inbox`.

The review runs with the real CLI (offline model) and `keel inbox` serves in its own
process on the same database; Playwright drives Debian's chromium through its executable
path (`scripts/ensure-chromium.sh`; Playwright never downloads a browser). The browser
finds the thread in the queue, reads the SQL-injection evidence with its code lines, is
stopped by the page's own check on malformed edit JSON (nothing is sent), edits the
`publish_review` path, approves, and sees the thread end `done` — with the review written
where the edit said.

`KEEL_INBOX_SCREENSHOT=docs/inbox.png` keeps a screenshot of the thread page there.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.e2e.conftest import KeelRunner, cli_env, git_status


def _chromium() -> str:
    found = os.environ.get("KEEL_CHROMIUM") or shutil.which("chromium")
    found = found or shutil.which("chromium-browser")
    if not found:
        pytest.fail(
            "no chromium executable (scripts/ensure-chromium.sh installs it)", pytrace=False
        )
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def inbox_url(tmp_path: Path, db_url: str) -> Iterator[str]:
    """`keel inbox` in its own process on this test's database; its base URL."""
    env = cli_env(db_url, tmp_path)
    port = _free_port()
    log = (tmp_path / "inbox.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "keel.cli", "inbox", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(url + "/api/threads", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(
                    "keel inbox did not start: " + (tmp_path / "inbox.log").read_text(),
                    pytrace=False,
                )
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), headless=True)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 1700})
        finally:
            browser.close()


def test_browser_edits_the_publish_path_approves_and_the_thread_ends_done(
    keel: KeelRunner, sample_repo: Path, inbox_url: str, page: Page
) -> None:
    paused = keel("review", str(sample_repo), "--no-input", "--json", "--quiet")
    assert paused.code == 3, paused.stderr
    thread_id = paused.json()["thread_id"]

    page.goto(inbox_url + "/")
    link = page.get_by_role("link", name=thread_id)
    if not link.is_visible():  # the thread arrived after the page: its poll reloads it
        expect(link).to_be_visible(timeout=20_000)
    row = page.locator("tr", has=link)
    expect(row).to_contain_text("high")
    link.click()
    expect(page.locator("#thread-status")).to_have_text("awaiting_approval")

    sql = page.locator("article.finding", has_text="inventory/reports.py:12").filter(has_text="SQL")
    expect(sql.first).to_be_visible()
    flagged = sql.first.locator("table.code").first.locator("tr.hit")
    expect(flagged).to_contain_text("12")
    expect(flagged).to_contain_text("SELECT sku, quantity FROM items WHERE category")
    context_rows = sql.first.locator("table.code").first.locator("tr.ctx")
    expect(context_rows.first).to_be_visible()
    assert context_rows.count() >= 4  # lines around the flagged one

    shot = os.environ.get("KEEL_INBOX_SCREENSHOT")
    if shot:
        page.screenshot(path=shot)

    for name in ("apply_autofix", "run_tests"):
        page.locator(f"#action-{name} input[value=approve]").check()
    publish = page.locator("#action-publish_review")
    publish.locator("input[value=edit]").check()
    args = publish.locator("textarea[name^=args-]")
    args.fill('{"path": "docs/inbox-')
    page.locator("#submit-decisions").click()
    expect(publish.locator(".field-error")).to_contain_text("not valid JSON")
    assert keel("show", thread_id, "--json").json()["status"] == "awaiting_approval"

    args.fill('{"path": "docs/inbox-review.md"}')
    page.fill("input[name=reviewer]", "browser-reviewer")
    page.locator("#submit-decisions").click()
    expect(page.locator("#thread-status")).to_have_text("done", timeout=120_000)
    expect(page.locator("#decided-by")).to_have_text("browser-reviewer")
    expect(page.locator("#final-report")).to_contain_text("review written to docs/inbox-review.md")

    written = sample_repo / "docs" / "inbox-review.md"
    assert written.is_file()
    assert thread_id in written.read_text(encoding="utf-8")
    assert not (sample_repo / "KEEL_REVIEW.md").exists()
    assert "docs/" in git_status(sample_repo)
    shown = keel("show", thread_id, "--json").json()
    assert shown["status"] == "done"
    exported = keel("feedback", "export")
    assert '"reviewer": "browser-reviewer"' in exported.stdout


def test_the_queue_shows_a_thread_that_arrives_while_it_is_open(
    keel: KeelRunner, tmp_path: Path, inbox_url: str, page: Page
) -> None:
    from keel.sample import build_sample_repo

    page.goto(inbox_url + "/")
    expect(page.locator("p.empty")).to_be_visible()  # nothing waits yet
    repo = build_sample_repo(tmp_path / "arriving")
    paused = keel("review", str(repo), "--no-input", "--json", "--quiet")
    assert paused.code == 3, paused.stderr
    thread_id = paused.json()["thread_id"]
    # no navigation by the test: the page's own poll (every 10 s) notices and reloads
    expect(page.get_by_role("link", name=thread_id)).to_be_visible(timeout=30_000)

"""End to end through the CLI, in subprocesses, on SQLite and PostgreSQL.

A review pauses for approval; a *new process* approves or rejects it.
"""

from __future__ import annotations

import json
from pathlib import Path

from keel.sample import PLANTED
from tests.e2e.conftest import KeelRunner, git_status

TOOL_PLANTED = [p for p in PLANTED if p["tool"] != "pytest"]


def _located(findings: list[dict], file: str, line: int, category: str) -> bool:
    return any(
        f["file"] == file and f["line"] <= line <= f["end_line"] and f["category"] == category
        for f in findings
    )


def test_review_waits_then_approve_in_new_process_completes(
    keel: KeelRunner, sample_repo: Path
) -> None:
    review = keel("review", str(sample_repo), "--no-input", "--json")
    assert review.code == 3, review.stderr
    data = review.json()
    assert data["status"] == "awaiting_approval"
    report = data["report"]
    assert report["model"] == "offline" and report["offline"] is True
    assert report["guard_events"] == []  # a clean run: no guard false positives
    for planted in TOOL_PLANTED:
        assert _located(
            report["findings"], planted["file"], planted["line"], planted["category"]
        ), f"missing planted {planted['kind']} at {planted['file']}:{planted['line']}"
    names = [a["name"] for a in data["review_request"]["action_requests"]]
    assert names == ["apply_autofix", "run_tests", "publish_review"]
    assert not (sample_repo / "KEEL_REVIEW.md").exists()
    assert git_status(sample_repo) == ""
    thread = data["thread_id"]

    listed = keel("threads", "--json")
    assert [(t["thread_id"], t["status"]) for t in listed.json()] == [(thread, "awaiting_approval")]

    approve = keel("approve", thread, "--json")
    assert approve.code == 0, approve.stderr
    final = approve.json()
    assert final["status"] == "done"
    results = {r["name"]: r for r in final["report"]["action_results"]}
    assert {n: r["status"] for n, r in results.items()} == {
        "apply_autofix": "done",
        "run_tests": "done",
        "publish_review": "done",
    }
    assert results["run_tests"]["output"]["failed"] == 1
    failing = [f for f in final["report"]["findings"] if f["rule"] == "test-failure"]
    assert [(f["file"], f["category"]) for f in failing] == [
        ("tests/test_reports.py", "correctness")
    ]
    assert (sample_repo / "KEEL_REVIEW.md").read_text().startswith("# Keel review")
    status = git_status(sample_repo)
    assert " M inventory/reports.py" in status  # ruff's autofix (unused import) applied
    assert "import json\n" not in (sample_repo / "inventory/reports.py").read_text()
    assert final["report"]["review"]["reviewer"] == "e2e-reviewer"
    assert final["report"]["guard_events"] == []
    exported = keel("feedback", "export")
    assert exported.code == 0, exported.stderr
    (entry,) = [json.loads(line) for line in exported.stdout.splitlines()]
    assert entry["thread_id"] == thread and entry["reviewer"] == "e2e-reviewer"
    assert [d["type"] for d in entry["decisions"]] == ["approve", "approve", "approve"]
    assert entry["triggers"][0].startswith("rule: side effect proposed")

    threads = keel("threads", "--json").json()
    assert [(t["thread_id"], t["status"]) for t in threads] == [(thread, "done")]
    again = keel("approve", thread)
    assert again.code == 5
    assert f"thread {thread} is not awaiting approval (status: done)" in again.stderr


def test_reject_leaves_repo_untouched(keel: KeelRunner, sample_repo: Path) -> None:
    review = keel("review", str(sample_repo), "--no-input", "--json")
    assert review.code == 3, review.stderr
    thread = review.json()["thread_id"]
    reject = keel("reject", thread, "--reason", "not now", "--json")
    assert reject.code == 0, reject.stderr
    assert reject.json()["status"] == "done"
    assert reject.json()["report"]["action_results"] == []
    assert git_status(sample_repo) == ""
    assert keel("threads", "--json").json()[0]["status"] == "done"
    shown = keel("show", thread)
    assert shown.code == 0
    assert "reject" in shown.stdout


def test_edit_changes_where_the_review_is_published(keel: KeelRunner, sample_repo: Path) -> None:
    thread = keel("review", str(sample_repo), "--no-input", "--json").json()["thread_id"]
    approve = keel(
        "approve", thread, "--edit", '{"publish_review": {"path": "docs/review.md"}}', "--json"
    )
    assert approve.code == 0, approve.stderr
    assert (sample_repo / "docs/review.md").exists()
    assert not (sample_repo / "KEEL_REVIEW.md").exists()

"""Audit, staged review and history through the CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.e2e.conftest import KeelRunner


def test_audit_covers_every_tracked_file(keel: KeelRunner, sample_repo: Path) -> None:
    result = keel("audit", str(sample_repo), "--no-input", "--json")
    assert result.code == 3, result.stderr
    report = result.json()["report"]
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=sample_repo, capture_output=True, text=True, check=True
    ).stdout.split()
    assert sorted(report["scope"]) == sorted(tracked)
    assert report["task"]["mode"] == "audit"
    assert "Audit the whole repository" in report["task"]["goal"]


def test_staged_review_sees_only_the_index(keel: KeelRunner, sample_repo: Path) -> None:
    (sample_repo / "inventory" / "fresh.py").write_text(
        "import os\n\n\ndef f(x):\n    return eval(x)\n"
    )
    subprocess.run(["git", "add", "inventory/fresh.py"], cwd=sample_repo, check=True)
    result = keel("review", str(sample_repo), "--staged", "--no-input", "--json")
    assert result.code == 3, result.stderr
    report = result.json()["report"]
    assert report["scope"] == ["inventory/fresh.py"]
    assert report["task"]["staged"] is True
    assert any(f["file"] == "inventory/fresh.py" and f["line"] == 5 for f in report["findings"])


def test_clean_change_is_done_without_review(keel: KeelRunner, sample_repo: Path) -> None:
    (sample_repo / "NOTES.txt").write_text("Release notes: nothing risky here.\n")
    subprocess.run(["git", "add", "NOTES.txt"], cwd=sample_repo, check=True)
    subprocess.run(["git", "commit", "-qm", "notes"], cwd=sample_repo, check=True)
    result = keel("review", str(sample_repo), "--no-input", "--json")
    assert result.code == 0, result.stderr
    assert result.json()["status"] == "done"
    assert result.json()["report"]["findings"] == []
    history = keel("history", result.json()["thread_id"], "--json")
    assert history.code == 0
    steps = history.json()
    assert steps[0]["source"] == "input" and steps[-1]["next"] == []

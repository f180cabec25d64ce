"""Bad input: one clear line, a documented exit code, and no thread changed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import KeelRunner


def test_not_a_git_repository(keel: KeelRunner, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    result = keel("review", str(plain), "--no-input")
    assert result.code == 2
    assert f"not a git repository: {plain}" in result.stderr
    assert keel("threads", "--json").json() == []


def test_missing_path(keel: KeelRunner, tmp_path: Path) -> None:
    result = keel("audit", str(tmp_path / "nope"), "--no-input")
    assert result.code == 2
    assert "not a git repository" in result.stderr


def test_unknown_revision(keel: KeelRunner, sample_repo: Path) -> None:
    result = keel("review", str(sample_repo), "--rev", "nosuch..HEAD", "--no-input")
    assert result.code == 2
    assert "unknown revision: nosuch" in result.stderr
    assert keel("threads", "--json").json() == []


@pytest.mark.parametrize(
    "command", [["show"], ["approve"], ["history"], ["resume"], ["reject", "--reason", "x"]]
)
def test_unknown_thread(keel: KeelRunner, command: list[str]) -> None:
    result = keel(command[0], "kr-doesnotexist", *command[1:])
    assert result.code == 4
    assert "unknown thread: kr-doesnotexist" in result.stderr


def test_malformed_and_invalid_edits_change_nothing(keel: KeelRunner, sample_repo: Path) -> None:
    thread = keel("review", str(sample_repo), "--no-input", "--json").json()["thread_id"]
    bad_json = keel("approve", thread, "--edit", "{not json")
    assert bad_json.code == 2
    assert "--edit is not valid JSON" in bad_json.stderr
    unknown = keel("approve", thread, "--edit", '{"deploy": {}}')
    assert unknown.code == 2
    assert "--edit names no pending action: deploy" in unknown.stderr
    invalid = keel("approve", thread, "--edit", '{"run_tests": {"timeout_s": -1}}')
    assert invalid.code == 2
    assert "invalid arguments for run_tests" in invalid.stderr
    # still waiting, nothing written
    assert keel("threads", "--json").json()[0]["status"] == "awaiting_approval"
    assert (
        subprocess.run(
            ["git", "status", "--porcelain"], cwd=sample_repo, capture_output=True, text=True
        ).stdout
        == ""
    )
    resume = keel("resume", thread)
    assert resume.code == 5
    assert "is awaiting approval" in resume.stderr


def test_unreachable_database(keel: KeelRunner, sample_repo: Path) -> None:
    url = "postgresql://keel:secret@127.0.0.1:9/keel"
    result = keel("review", str(sample_repo), "--no-input", "--database", url)
    assert result.code == 6
    assert "cannot reach PostgreSQL at postgresql://keel@127.0.0.1:9/keel" in result.stderr
    assert "secret" not in result.stderr

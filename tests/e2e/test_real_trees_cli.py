"""`keel audit` / `keel review` on real trees, through the CLI in subprocesses (SQLite).

Symlinks, a submodule, binary, oversized and non-UTF-8 files and Jinja templates with
`.py` names, all in one repository: the run ends (awaiting approval or done, never
failed), every skip is in the JSON report with its reason, and no finding comes from a
path that is not Python or not a file. An empty repository is a usage error (exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import KeelRunner, git_status
from tests.support.gitrepo import commit_files, git, init_repo
from tests.support.realtree import EXPECTED_SKIPS, IN_SCOPE, PLANTED_FILE, build_real_tree

pytestmark = pytest.mark.slow

_PYTHON_ONLY = {"ruff", "bandit", "semgrep"}
_RUN_STAGED = "import subprocess\n\n\ndef run(command):\n    subprocess.call(command, shell=True)\n"


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """SQLite only: the rules under test are about the tree, not the database."""
    return sqlite_url


def _check_report(report: dict[str, Any]) -> None:
    assert report["status"] != "failed"
    assert {s["path"]: s["kind"] for s in report["skipped"]} == EXPECTED_SKIPS
    assert sorted(report["scope"]) == sorted(IN_SCOPE)
    for skip in report["skipped"]:
        assert skip["reason"], skip
        assert skip["in_scope"] == (skip["kind"] in ("template", "encoding"))
    found = {(f["file"], f["rule"]) for f in report["findings"]}
    assert (PLANTED_FILE, "B602") in found
    templates = {p for p, kind in EXPECTED_SKIPS.items() if kind == "template"}
    for finding in report["findings"]:
        assert finding["file"] in IN_SCOPE, finding
        if finding["file"] in templates:  # only readers that are not Python analyzers
            assert not set(finding["sources"]) & _PYTHON_ONLY, finding
    assert not any("syntax" in rule for _, rule in found)
    assert ("app/legacy.py", "E902") not in found  # declared latin-1: valid Python


def test_audit_of_a_real_tree_ends_with_the_skips_in_the_report(
    keel: KeelRunner, tmp_path: Path
) -> None:
    repo = build_real_tree(tmp_path / "repo", tmp_path / "outside")
    result = keel("audit", str(repo), "--no-input", "--json")
    assert result.code in (0, 3), result.stderr
    report = result.json()["report"]
    _check_report(report)
    assert report["task"]["mode"] == "audit"
    assert git_status(repo) == ""
    markdown = keel("show", result.json()["thread_id"]).stdout
    assert "## Skipped paths" in markdown
    assert "- `tests/certs/valid/ca` — symlink, not analyzed: a symlink to a directory" in markdown


def test_review_of_a_change_that_adds_a_real_tree(keel: KeelRunner, tmp_path: Path) -> None:
    repo = build_real_tree(tmp_path / "repo", tmp_path / "outside", base={"README.md": "r\n"})
    result = keel("review", str(repo), "--no-input", "--json", "--format", "json")
    assert result.code in (0, 3), result.stderr
    _check_report(result.json()["report"])


@pytest.mark.parametrize("command", [["audit"], ["review"], ["review", "--since-last"]])
def test_a_repository_without_commits_is_a_usage_error(
    keel: KeelRunner, tmp_path: Path, command: list[str]
) -> None:
    repo = init_repo(tmp_path / "empty")
    (repo / "a.py").write_text("x = 1\n")
    git(repo, "add", "a.py")
    result = keel(command[0], str(repo), *command[1:], "--no-input")
    assert result.code == 2, result.stderr
    assert f"the repository has no commits yet: {repo}" in result.stderr
    assert "Traceback" not in result.stderr
    assert keel("threads", "--json").json() == []


def test_the_staged_files_of_a_repository_without_commits_review(
    keel: KeelRunner, tmp_path: Path
) -> None:
    repo = init_repo(tmp_path / "empty")
    (repo / "run.py").write_text(_RUN_STAGED)
    git(repo, "add", "run.py")
    result = keel("review", str(repo), "--staged", "--no-input", "--json")
    assert result.code in (0, 3), result.stderr
    report = result.json()["report"]
    assert report["scope"] == ["run.py"]
    assert ("run.py", "B602") in {(f["file"], f["rule"]) for f in report["findings"]}


def test_an_audit_of_three_thousand_files_finishes(keel: KeelRunner, tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "many")
    files = {f"pkg{i // 100}/m{i}.py": f"def f{i}(x):\n    return x + {i}\n" for i in range(3000)}
    commit_files(repo, files | {"pkg0/run.py": _RUN_STAGED}, "many")
    # the brief lists every file: ~90k prompt tokens per specialist, over the default
    # budget's share (which would pause for a grant, exit 3 too); raised so the run ends
    result = keel(
        "audit",
        str(repo),
        "--no-input",
        "--json",
        extra_env={"KEEL_GUARD_BUDGET_TOKENS": "3000000"},
    )
    assert result.code == 3, result.stderr
    data = result.json()
    assert [a["name"] for a in data["review_request"]["action_requests"]] == ["publish_review"]
    report = data["report"]
    assert len(report["scope"]) == 3001 and report["skipped"] == []
    assert ("pkg0/run.py", "B602") in {(f["file"], f["rule"]) for f in report["findings"]}

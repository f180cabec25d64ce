"""The `keel-review` pre-commit hook, through `pre-commit try-repo` on a fixture repo.

pre-commit builds the hook's own environment from this repository (a real `pip install`),
then runs it on the staged change: it fails on a planted shell injection, and passes once
the problem is fixed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLANTED = "import subprocess\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n"
FIXED = "import subprocess\n\n\ndef run(args):\n    return subprocess.call(args, timeout=60)\n"


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def _try_repo(repo: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "PRE_COMMIT"))}
    env |= {"PRE_COMMIT_HOME": str(home), "LANGSMITH_TRACING": "false"}
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "keel-review", "--verbose"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )


def test_hook_fails_on_a_planted_problem_then_passes(tmp_path: Path, pre_commit_home: Path) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "dev@example.com")
    _git(repo, "config", "user.name", "dev")
    (repo / ".gitignore").write_text(".keel/\n")
    (repo / "README.md").write_text("project\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "init")

    (repo / "tool.py").write_text(PLANTED)
    _git(repo, "add", "tool.py")
    failed = _try_repo(repo, pre_commit_home)
    print(failed.stdout[-3000:])
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "keel review (staged change)" in failed.stdout and "Failed" in failed.stdout
    assert "--fail-on high: 1 finding(s) at or above it" in failed.stdout

    (repo / "tool.py").write_text(FIXED)
    _git(repo, "add", "tool.py")
    passed = _try_repo(repo, pre_commit_home)
    print(passed.stdout[-3000:])
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout

"""Real git repositories for tests: a base commit and a change on top of it."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

__all__ = ["commit_files", "git", "init_repo", "two_commit_repo"]


def git(root: Path, *args: str) -> str:
    """Run `git ARGS` in `root`; raise on failure; return its stdout."""
    proc = subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True, timeout=60
    )
    return proc.stdout


def init_repo(root: Path) -> Path:
    """Create `root` as an empty repository on branch main with a committer identity."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    git(root, "config", "commit.gpgsign", "false")
    return root


def commit_files(root: Path, files: Mapping[str, str], message: str) -> None:
    """Write `files` (path → text) under `root` and commit them."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)


def two_commit_repo(root: Path, base: Mapping[str, str], change: Mapping[str, str]) -> Path:
    """A repository whose HEAD commit adds or changes `change` on top of `base`.

    `keel review` of such a repository (default range HEAD~1..HEAD) sees exactly `change`.
    """
    init_repo(root)
    commit_files(root, base, "one")
    commit_files(root, change, "two")
    return root

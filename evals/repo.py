"""Build a case's git repository: commits of fixture files, then an optional staged change."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess  # nosec B404 - fixed git commands with list arguments
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["build_case_repo"]

_GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Eval Fixture",
    "GIT_AUTHOR_EMAIL": "eval@example.com",
    "GIT_COMMITTER_NAME": "Eval Fixture",
    "GIT_COMMITTER_EMAIL": "eval@example.com",
    "GIT_AUTHOR_DATE": "2024-01-02T10:00:00+00:00",
    "GIT_COMMITTER_DATE": "2024-01-02T10:00:00+00:00",
}


def _git(root: Path, *args: str) -> None:
    git = shutil.which("git")
    if git is None:
        raise FileNotFoundError("git is not installed")
    proc = subprocess.run(  # nosec B603 - fixed git commands, list args
        [git, "-c", "commit.gpgsign=false", *args],
        cwd=root,
        env={**os.environ, **_GIT_ENV, "HOME": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")


def _apply(root: Path, change: Mapping[str, Any]) -> None:
    for name, text in (change.get("files") or {}).items():
        path = root / name
        if text is None:
            path.unlink(missing_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for name, data in (change.get("files_b64") or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))


def build_case_repo(spec: Mapping[str, Any], dest: Path) -> Path:
    """Create the repository of a case under `dest` (which must not exist or be empty).

    Args:
        spec: the case's `inputs["repo"]`: `commits` (each `message`, `files` path → text
            or None to delete, optional `files_b64`) and an optional `staged` change.
        dest: directory to create.

    Returns:
        The repository root.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise FileExistsError(f"not empty: {dest}")
    _git(dest, "init", "-q", "-b", "main")
    for commit in spec.get("commits") or []:
        _apply(dest, commit)
        _git(dest, "add", "-A")
        _git(dest, "commit", "-q", "--allow-empty", "-m", str(commit.get("message") or "change"))
    staged = spec.get("staged")
    if staged:
        _apply(dest, staged)
        _git(dest, "add", "-A")
    return dest.resolve()

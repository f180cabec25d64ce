"""Rebuild a case from a local mirror of its repository.

A mirror is a git directory of the public repository (bare, or a clone's `.git`), found
under the mirrors root as `owner+name/repo` — the layout the `fetch` tool of a developer
session leaves in `/work/.mirror` — or as `owner+name.git` / `owner/name`. Nothing here
touches the network: a missing mirror is reported with the source to fetch.

A case becomes a two-commit repository: the *fixed* file as the base commit, then the
*vulnerable* file (the fix's parent) as the change under review. The file's bytes are
copied exactly (base64 in the repository spec), whatever their encoding or line endings.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess  # nosec B404 - fixed git commands with list arguments
from pathlib import Path
from typing import Any, Final

from keel.evals.repo import build_case_repo

from .cases import RealCase

__all__ = [
    "DEFAULT_MIRRORS",
    "MirrorMissingError",
    "case_inputs",
    "find_mirror",
    "materialize",
    "read_blob",
]

DEFAULT_MIRRORS: Final = Path(os.environ.get("KEEL_MIRRORS", "/work/.mirror"))
"""Where mirrors are looked for unless `--mirrors` says otherwise ($KEEL_MIRRORS)."""


class MirrorMissingError(LookupError):
    """No usable mirror of a case's repository, or it lacks the case's commit or file."""


def find_mirror(repo: str, root: Path = DEFAULT_MIRRORS) -> Path:
    """The git directory of `repo` (`owner/name`) under `root`.

    Raises:
        MirrorMissingError: If none of the known layouts exists; the message names the
            `fetch` source that brings it.
    """
    flat = repo.replace("/", "+")
    for candidate in (
        root / flat / "repo" / ".git",
        root / flat / "repo",
        root / f"{flat}.git",
        root / repo / ".git",
        root / repo,
    ):
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            return candidate
    raise MirrorMissingError(f"no mirror of {repo} under {root}: fetch github:{repo}")


def _git() -> str:
    git = shutil.which("git")
    if git is None:
        raise FileNotFoundError("git is not installed")
    return git


def read_blob(git_dir: Path, commit: str, path: str) -> bytes:
    """The bytes of `path` at `commit` in the repository at `git_dir`.

    Raises:
        MirrorMissingError: If the commit or the file is not in the mirror (an old
            snapshot, or a wrong reference).
    """
    proc = subprocess.run(  # nosec B603 - fixed git command, list args
        [_git(), "--git-dir", str(git_dir), "show", f"{commit}:{path}"],
        capture_output=True,
        timeout=60,
        check=False,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"},
    )
    if proc.returncode != 0:
        reason = proc.stderr.decode("utf-8", "replace").strip()
        raise MirrorMissingError(f"{git_dir}: {commit[:12]}:{path}: {reason}")
    return proc.stdout


def case_inputs(case: RealCase, root: Path = DEFAULT_MIRRORS) -> dict[str, Any]:
    """The `keel.evals.target.run_case` inputs of a case: fixed file, then the vulnerable one.

    Raises:
        MirrorMissingError: If the mirror, the commits or the file are missing.
    """
    git_dir = find_mirror(case.repo, root)
    fixed = read_blob(git_dir, case.fix_commit, case.file)
    vulnerable = read_blob(git_dir, case.parent, case.file)

    def commit(message: str, data: bytes) -> dict[str, Any]:
        return {"message": message, "files_b64": {case.file: base64.b64encode(data).decode()}}

    return {
        "repo": {
            "commits": [
                commit(f"{case.repo}@{case.fix_commit[:12]} (fixed)", fixed),
                commit(f"{case.repo}@{case.parent[:12]} (vulnerable)", vulnerable),
            ],
            "staged": None,
        },
        "mode": "review",
        "rev_range": "HEAD~1..HEAD",
        "staged": False,
        "guards": {},
    }


def materialize(case: RealCase, dest: Path, root: Path = DEFAULT_MIRRORS) -> Path:
    """Build the case's repository at `dest` (which must not exist or be empty).

    Raises:
        MirrorMissingError: If the mirror, the commits or the file are missing.
    """
    return build_case_repo(case_inputs(case, root)["repo"], dest)

"""A checkout of exactly what is under review, when the work tree holds something else.

The analyzers (bandit, ruff, semgrep, detect-secrets, file reads) read files from disk. A
review of `A..B` while the work tree is at another commit, or has uncommitted edits to the
changed files, or a review of the staged change while those files have unstaged edits,
would analyze content that is not the change. In those cases the review runs on a
snapshot: a detached `git worktree` of the range's head, or of HEAD with the index's
content checked out (so `git diff --cached` there is exactly the staged change). Nothing
in the user's work tree or index is touched.

Snapshots live under the repository's git directory (`<git-common-dir>/keel-snapshots/`),
one per thread, and are removed when the thread finishes (`remove`). Creating one is
idempotent: a thread that re-runs its intake (a crash, a resume) finds and checks its
snapshot instead of making another. Side effects (patches, the published report) still
go to the user's repository.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from keel.tools.git import GitError, head_sha
from keel.tools.git import command as _git

__all__ = ["SNAPSHOTS", "needs_snapshot", "remove", "snapshot_path", "take"]

SNAPSHOTS: Final = "keel-snapshots"


def _common_dir(root: Path) -> Path:
    path = Path(_git(root, "rev-parse", "--git-common-dir").strip())
    return path if path.is_absolute() else (root / path).resolve()


def snapshot_path(root: Path, key: str) -> Path:
    """Where the snapshot named `key` (a thread id) lives."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key)[:120] or "snapshot"
    return _common_dir(root) / SNAPSHOTS / safe


_PATHSPEC_LIMIT = 200
"""Above this many files, git lists every change and Keel intersects (no argv limit)."""


def _changed(root: Path, args: Sequence[str], files: Sequence[str]) -> bool:
    """Whether a `git diff --name-only -z`/`git status` style listing names any of `files`.

    A short list goes to git as (literal) pathspecs; a long one (thousands of files in an
    audit-sized change) would not fit on a command line, so git lists everything and
    the names are intersected here.
    """
    if len(files) <= _PATHSPEC_LIMIT:
        return bool(_git(root, *args, "--", *files).strip("\0"))
    wanted = set(files)
    names = _git(root, *args).split("\0")
    return any(name[3:] in wanted if args[0] == "status" else name in wanted for name in names)


def needs_snapshot(root: Path, files: Sequence[str], head: str | None) -> bool:
    """Whether the work tree differs from what is reviewed, for these files.

    Args:
        root: Repository root.
        files: The files in scope.
        head: The range's head commit, or None for the staged change.
    """
    if not files:
        return False
    if head is None:  # staged: the index is reviewed; unstaged edits would be analyzed
        return _changed(root, ["diff", "--name-only", "-z"], files)
    if head_sha(root) != head:
        return True
    return _changed(root, ["status", "--porcelain", "-z", "--no-renames"], files)


def _index_tree(root: Path) -> str:
    return _git(root, "write-tree").strip()


def _matches(target: Path, commit: str, tree: str | None) -> bool:
    if not (target / ".git").exists():
        return False
    try:
        if _git(target, "rev-parse", "HEAD").strip() != commit:
            return False
        return tree is None or _git(target, "write-tree").strip() == tree
    except GitError:
        return False


def take(root: Path, key: str, head: str | None) -> Path:
    """Create (or find) the snapshot `key` of `head`, or of the index when `head` is None.

    Raises:
        GitError: git refused (e.g. an index with unresolved conflicts).
    """
    commit = head or head_sha(root)
    tree = _index_tree(root) if head is None else None
    target = snapshot_path(root, key)
    if _matches(target, commit, tree):
        return target
    remove(root, key)
    target.parent.mkdir(parents=True, exist_ok=True)
    _git(root, "worktree", "add", "--detach", "--force", str(target), commit, timeout=600)
    if tree is not None:
        _git(target, "read-tree", tree)
        _git(target, "checkout-index", "--all", "--force", timeout=600)
    return target


def remove(root: Path, key: str) -> None:
    """Delete the snapshot `key` and its worktree registration (no error if absent)."""
    target = snapshot_path(root, key)
    if target.exists():
        _git(root, "worktree", "remove", "--force", str(target), check=False)
        shutil.rmtree(target, ignore_errors=True)
    _git(root, "worktree", "prune", check=False)

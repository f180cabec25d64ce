"""Actions that change the repository: applying a patch, publishing a report (WRITE effect)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from keel.tools._proc import run
from keel.tools._repo import RepoPathError, resolve_in_repo

__all__ = ["PatchError", "apply_patch", "patch_applied", "publish_report", "report_published"]

_TIMEOUT = 60.0
_ENV = {"GIT_TERMINAL_PROMPT": "0"}


class PatchError(RuntimeError):
    """A patch does not apply (the message is git's)."""


def _git_apply(root: Path, diff: str, *flags: str) -> str:
    proc = run(
        ["git", "--no-pager", "apply", *flags, "-"],
        cwd=root,
        timeout=_TIMEOUT,
        env=_ENV,
        input=diff,
    )
    if proc.returncode != 0:
        raise PatchError(proc.stderr.strip() or f"git apply failed (exit {proc.returncode})")
    return proc.stdout


def apply_patch(root: Path, diff: str) -> list[str]:
    """Apply a unified diff to the work tree, all or nothing.

    Runs ``git apply --check`` first, so a patch that does not apply cleanly
    changes nothing.

    Args:
        root: Repository root.
        diff: A unified diff with ``a/`` and ``b/`` prefixes.

    Returns:
        Repository-relative paths of the files the patch touched.

    Raises:
        PatchError: If the patch is empty, does not apply, or touches ``.git``
            or paths outside the repository.
    """
    if not diff.strip():
        raise PatchError("empty patch")
    if not diff.endswith("\n"):
        diff += "\n"
    numstat = _git_apply(root, diff, "--numstat", "--check")
    touched: list[str] = []
    for row in numstat.splitlines():
        parts = row.split("\t", 2)
        if len(parts) != 3:
            continue
        name = parts[2]
        if " => " in name:
            name = name.split(" => ", 1)[1].strip("{}")
        try:
            resolve_in_repo(root, name)
        except RepoPathError as exc:
            raise PatchError(str(exc)) from exc
        if name == ".git" or name.startswith(".git/"):
            raise PatchError(f"patch touches git's own files: {name}")
        touched.append(name)
    _git_apply(root, diff)
    return touched


def patch_applied(root: Path, diff: str) -> bool:
    """Whether the work tree already holds this patch (it applies cleanly in reverse)."""
    if not diff.strip():
        return False
    if not diff.endswith("\n"):
        diff += "\n"
    try:
        _git_apply(root, diff, "--reverse", "--check")
    except PatchError:
        return False
    return True


def report_published(root: Path, rel_path: str, content: str) -> bool:
    """Whether the report file already holds exactly this content."""
    try:
        path = resolve_in_repo(root, rel_path)
        return path.is_file() and path.read_text(encoding="utf-8") == content
    except (RepoPathError, OSError, UnicodeDecodeError):
        return False


def publish_report(root: Path, rel_path: str, content: str) -> Path:
    """Write a report file inside the repository (atomically, creating directories).

    Args:
        root: Repository root.
        rel_path: Repository-relative destination, e.g. ``"KEEL_REVIEW.md"``.
        content: The report text.

    Returns:
        The written file's path.

    Raises:
        RepoPathError: If the destination leaves the repository or is inside ``.git``.
    """
    target = resolve_in_repo(root, rel_path)
    base = root.resolve()
    if target == base or target.is_dir():
        raise RepoPathError(f"not a file path: {rel_path}")
    if target.relative_to(base).parts[0] == ".git":
        raise RepoPathError(f"refusing to write inside .git: {rel_path}")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target

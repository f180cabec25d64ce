"""Confinement of paths to a repository root."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

__all__ = ["RepoPathError", "relative", "resolve_in_repo"]


class RepoPathError(ValueError):
    """A path points outside the repository root (or is otherwise unusable)."""


def resolve_in_repo(root: Path, rel: str) -> Path:
    """Resolve a repository-relative path, refusing anything that leaves the root.

    Symlinks are resolved before the check, so a link inside the repository that
    points outside it is refused too. An absolute path is accepted only if it
    lies inside the root.

    Args:
        root: The repository root.
        rel: A path relative to the root (posix or native separators).

    Returns:
        The resolved absolute path inside the root. It need not exist.

    Raises:
        RepoPathError: If the path is empty, contains a NUL byte, or resolves
            outside the root.
    """
    if not rel or "\x00" in rel:
        raise RepoPathError(f"invalid path: {rel!r}")
    base = root.resolve()
    candidate = Path(rel)
    if not candidate.is_absolute():
        if ".." in PurePosixPath(rel.replace("\\", "/")).parts:
            raise RepoPathError(f"path escapes the repository: {rel}")
        candidate = base / candidate
    resolved = candidate.resolve()
    if resolved != base and not resolved.is_relative_to(base):
        raise RepoPathError(f"path escapes the repository: {rel}")
    return resolved


def relative(root: Path, path: Path) -> str:
    """Return ``path`` relative to ``root`` as a posix string.

    Args:
        root: The repository root.
        path: A path inside the root (absolute, or relative to the root).

    Returns:
        The posix relative path, e.g. ``"pkg/mod.py"``.

    Raises:
        RepoPathError: If ``path`` is not inside ``root``.
    """
    base = root.resolve()
    full = path if path.is_absolute() else base / path
    try:
        return full.resolve().relative_to(base).as_posix()
    except ValueError as exc:
        raise RepoPathError(f"path is outside the repository: {path}") from exc

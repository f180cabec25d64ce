"""Which files an analyzer scans: Keel expands directories itself, the same way for every tool."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from keel.tools._repo import relative, resolve_in_repo

__all__ = ["SKIPPED_DIRS", "python_files"]

SKIPPED_DIRS: Final = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".bzr",
        "CVS",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        ".eggs",
        "__pycache__",
        "__pypackages__",
        "node_modules",
        "site-packages",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
    }
)
"""Directories never entered when a directory is expanded: version control, virtual
environments, caches, installed packages. A file inside one that is named explicitly is
still scanned."""


def python_files(root: Path, paths: Sequence[str]) -> list[str]:
    """Expand repository-relative files and directories into the Python files to scan.

    Directories are walked without following symlinks and without entering
    :data:`SKIPPED_DIRS`; a file is kept when it ends in ``.py`` (named files too).
    Symlinks met in a walk are skipped (`keel.tools.tree` reviews a link's target under its
    own path); a path that *names* a place outside the repository is refused.

    Args:
        root: Repository root.
        paths: Repository-relative files or directories ("." for the whole repository).

    Returns:
        Sorted, de-duplicated repository-relative posix paths.

    Raises:
        RepoPathError: If a path leaves the repository.
    """
    out: set[str] = set()
    for p in paths:
        full = resolve_in_repo(root, p)
        if full.is_file():
            if full.suffix == ".py":
                out.add(relative(root, full))
            continue
        if not full.is_dir():
            continue
        for current, dirs, files in os.walk(full, followlinks=False):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
            for name in files:
                path = Path(current) / name
                if name.endswith(".py") and not path.is_symlink():
                    out.add(relative(root, path))
    return sorted(out)

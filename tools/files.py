"""Reading and searching files of a repository, confined to its root."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import TypedDict

from keel.tools import tree
from keel.tools._repo import resolve_in_repo
from keel.tools.git import tracked_entries

__all__ = ["SearchHit", "read_file", "search_code"]


class SearchHit(TypedDict):
    """One line that matched a search."""

    file: str
    """Repository-relative posix path."""
    line: int
    """Line number, 1-based."""
    text: str
    """The matching line, stripped of its newline (at most 300 characters)."""


def read_file(
    root: Path,
    path: str,
    start_line: int = 1,
    end_line: int | None = None,
    max_bytes: int = 50_000,
) -> str:
    """Return lines of a file, numbered like ``"  12| code"``.

    Args:
        root: Repository root.
        path: Repository-relative path.
        start_line: First line, 1-based.
        end_line: Last line, inclusive; ``None`` for the end of the file.
        max_bytes: Longest output; longer output ends with a truncation note.

    Returns:
        The numbered lines; a one-line explanation for binary files and for files over
        `keel.tools.tree.MAX_FILE_BYTES` (1 MB, never read); invalid UTF-8 is replaced, not
        raised. A symlink inside the repository is read at its target.

    Raises:
        RepoPathError: If the path (or a symlink's target) leaves the repository.
        FileNotFoundError: If the file does not exist (a dangling symlink too).
        IsADirectoryError: If the path is a directory (or a symlink to one).
        ValueError: If the path is not a regular file (a FIFO, socket or device).
    """
    full = resolve_in_repo(root, path)
    if full.is_dir():
        raise IsADirectoryError(f"is a directory, not a file: {path}")
    if not full.exists():
        raise FileNotFoundError(f"no such file in the repository: {path}")
    if not full.is_file():
        raise ValueError(f"not a regular file (a FIFO, socket or device): {path}")
    size = full.stat().st_size
    if size > tree.MAX_FILE_BYTES:
        return (
            f"[{path} is {size:,} bytes, over Keel's {tree.MAX_FILE_BYTES:,}-byte cap; not shown]"
        )
    data = full.read_bytes()
    if b"\0" in data[: tree.BINARY_SNIFF_BYTES]:
        return f"[binary file: {path}, {len(data)} bytes; not shown]"
    lines = data.decode("utf-8", errors="replace").splitlines()
    start = max(1, start_line)
    end = len(lines) if end_line is None else min(end_line, len(lines))
    if start > len(lines):
        return f"[{path} has {len(lines)} lines; nothing at line {start}]"
    width = max(4, len(str(end)))
    out: list[str] = []
    size = 0
    for number in range(start, end + 1):
        row = f"{number:>{width}}| {lines[number - 1]}"
        size += len(row.encode("utf-8")) + 1
        if size > max_bytes:
            out.append(f"[... truncated at line {number - 1} of {len(lines)} ...]")
            break
        out.append(row)
    return "\n".join(out)


def _matches_glob(path: str, glob: str) -> bool:
    if glob in ("", "*", "**", "**/*"):
        return True
    pattern = glob[3:] if glob.startswith("**/") else glob
    name = path.rsplit("/", 1)[-1]
    return (
        fnmatch.fnmatchcase(path, glob)
        or fnmatch.fnmatchcase(path, pattern)
        or ("/" not in pattern and fnmatch.fnmatchcase(name, pattern))
    )


def search_code(
    root: Path,
    pattern: str,
    glob: str = "**/*",
    regex: bool = False,
    max_results: int = 100,
) -> list[SearchHit]:
    """Find lines containing ``pattern`` in the repository's tracked files.

    Only regular files at their own path are searched: symlinks, submodules, files over
    `keel.tools.tree.MAX_FILE_BYTES` and binary files are passed over (`keel.tools.tree`).

    Args:
        root: Repository root.
        pattern: Text to find (or a Python regular expression when ``regex``).
        glob: Limit to paths matching this glob (``"**/*.py"``, ``"src/*"``).
        regex: Treat ``pattern`` as a regular expression.
        max_results: Stop after this many hits.

    Returns:
        Hits in path and line order.

    Raises:
        ValueError: If ``pattern`` is empty or not a valid regular expression.
    """
    if not pattern:
        raise ValueError("empty search pattern")
    try:
        compiled = re.compile(pattern if regex else re.escape(pattern))
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
    hits: list[SearchHit] = []
    for rel, mode in sorted(tracked_entries(root).items()):
        if not _matches_glob(rel, glob) or tree.entry_skip(root, rel, mode) is not None:
            continue
        try:
            data = (root.resolve() / rel).read_bytes()
        except OSError:
            continue
        if b"\0" in data[: tree.BINARY_SNIFF_BYTES]:
            continue
        for number, text in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            if compiled.search(text):
                hits.append(SearchHit(file=rel, line=number, text=text[:300]))
                if len(hits) >= max_results:
                    return hits
    return hits

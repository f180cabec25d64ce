"""Unified diffs: split a multi-file diff by file, and read its hunks."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Hunk", "hunks", "split_by_file"]

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class Hunk:
    """One hunk: the old lines it replaces and the new text."""

    old_start: int
    old_count: int
    new_lines: list[str]


def split_by_file(diff: str) -> dict[str, str]:
    """Map each file (new path, without `b/`) to its own self-contained diff."""
    files: dict[str, list[str]] = {}
    current: list[str] | None = None
    header: list[str] = []
    for line in diff.splitlines(keepends=True):
        if line.startswith("diff --git "):
            header, current = [line], None
            continue
        if line.startswith("--- "):
            header.append(line)
            continue
        if line.startswith("+++ "):
            name = line[4:].strip().removeprefix("b/")
            header.append(line)
            current = files.setdefault(name, [])
            current.extend(header)
            header = []
            continue
        if current is not None:
            current.append(line)
        else:
            header.append(line)
    return {name: "".join(lines) for name, lines in files.items()}


def hunks(file_diff: str) -> list[Hunk]:
    """The hunks of a one-file diff."""
    found: list[Hunk] = []
    lines: list[str] = []
    start = count = 0
    inside = False
    for line in file_diff.splitlines(keepends=True):
        match = _HUNK.match(line)
        if match:
            if inside:
                found.append(Hunk(start, count, lines))
            start = int(match.group(1))
            count = int(match.group(2)) if match.group(2) is not None else 1
            lines, inside = [], True
        elif inside and line.startswith((" ", "+")):
            lines.append(line[1:])
    if inside:
        found.append(Hunk(start, count, lines))
    return found

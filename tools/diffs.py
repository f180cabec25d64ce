"""Unified diffs: split a multi-file diff by file, read its hunks, map its changed lines."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from dataclasses import dataclass

from keel.core.observed import ChangedLines

__all__ = ["ChangedLines", "Hunk", "changed_lines", "hunks", "split_by_file"]

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


def _unquote(name: str) -> str:
    """A path as git prints it, C-quoted when it holds a tab, newline, quote or backslash."""
    if len(name) >= 2 and name[0] == name[-1] == '"':
        raw = codecs.escape_decode(name[1:-1].encode("utf-8"))[0]
        return bytes(raw).decode("utf-8", errors="replace")
    return name


def _new_path(line: str, prefix: str) -> str | None:
    """The path of a `+++ b/PATH` or `rename to PATH` line (None for `/dev/null`)."""
    name = line[len(prefix) :].rstrip("\n").removesuffix("\t")  # git adds a tab after spaces
    if name == "/dev/null":
        return None
    name = _unquote(name)
    return name.removeprefix("b/") if prefix == "+++ " else name


def _ranges(lines: Iterable[int]) -> list[list[int]]:
    ranges: list[list[int]] = []
    for n in sorted(set(lines)):
        if ranges and ranges[-1][1] == n - 1:
            ranges[-1][1] = n
        else:
            ranges.append([n, n])
    return ranges


def changed_lines(diff: str) -> dict[str, ChangedLines]:
    """Map each file a unified diff changes to its added, context and removed lines.

    Reads `git diff` output (any `-U`, renames detected or not). A file is listed when
    the diff gives its new path: a `+++` line (a content change) or a `rename to` line (a
    rename, perhaps without hunks, then with no changed lines); deleted files (`+++
    /dev/null`), binary files and mode-only changes are not. Hunks are read by their
    line counts, so content that looks like a header (`--- x` as a removed line) is
    content. A truncated diff maps what it holds.
    """
    found: dict[str, tuple[set[int], set[int], set[int]]] = {}
    current: tuple[set[int], set[int], set[int]] | None = None
    old_left = new_left = 0
    number = 0
    for line in diff.splitlines():
        if old_left > 0 or new_left > 0:
            if current is None:
                break
            added, context, removed = current
            kind = line[:1]
            if kind == "+" and new_left > 0:
                added.add(number)
                number, new_left = number + 1, new_left - 1
            elif kind == "-" and old_left > 0:
                removed.add(number)
                old_left -= 1
            elif kind == "\\":  # "\ No newline at end of file"
                pass
            elif kind in (" ", "") and old_left > 0 and new_left > 0:
                context.add(number)
                number, old_left, new_left = number + 1, old_left - 1, new_left - 1
            else:  # a malformed hunk: stop reading it
                old_left = new_left = 0
            continue
        if line.startswith("diff --git "):
            current = None
        elif line.startswith(("+++ ", "rename to ")):
            path = _new_path(line, "+++ " if line.startswith("+++ ") else "rename to ")
            current = None if path is None else found.setdefault(path, (set(), set(), set()))
        elif (match := _HUNK.match(line)) and current is not None:
            old_left = int(match.group(2)) if match.group(2) is not None else 1
            new_left = int(match.group(4)) if match.group(4) is not None else 1
            number = int(match.group(3))
            if new_left == 0:  # "+N,0": only deletions, after new line N
                number += 1
    return {
        path: ChangedLines(
            added=_ranges(added), context=_ranges(context), removed_at=sorted(removed)
        )
        for path, (added, context, removed) in found.items()
    }

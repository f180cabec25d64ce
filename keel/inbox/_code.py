"""Code for the thread page: a finding's lines in context, its diff hunk, a patch as a diff.

* `Source(repo, reviewed)` reads files at the reviewed head commit (`git show`), or from
  the work tree when the thread recorded no head (a staged review, an old thread), and
  the reviewed change's unified diff once.
* `Source.context(path, first, last)` — the flagged lines with `AROUND` lines either side,
  numbered, the flagged ones marked.
* `Source.hunk(path, line)` — the hunk of the reviewed diff that holds `line` (new side),
  with old and new line numbers; None for an audit or a line outside every hunk.
* `diff_lines(text)` — any unified diff (a suggested patch) as marked lines.

Every line passes through `mask_secrets`, as the reports do: a key planted in the
repository is shown as its first four characters and `****`. Lines are plain text — the
templates escape them. Failure mode: git or the file system failing (the repository moved
or was deleted) gives `SourceUnavailable`, which the page shows beside the finding.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keel.tools import diffs, git
from keel.tools._repo import RepoPathError, resolve_in_repo
from keel.tools.issues import mask_secrets

__all__ = ["AROUND", "CodeLine", "Source", "SourceUnavailable", "diff_lines"]

AROUND = 3
"""Lines shown before and after the flagged ones."""

_MAX_HUNK_LINES = 60
_MAX_PATCH_LINES = 400
_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


class SourceUnavailable(RuntimeError):
    """The repository's file or diff cannot be read any more."""


@dataclass(frozen=True)
class CodeLine:
    """One displayed line: its number(s), its masked text and how it is marked."""

    old: int | None
    """Line number before the change (diffs), else None."""
    new: int | None
    """Line number in the reviewed file (None for a removed line)."""
    text: str
    kind: str
    """`hit` (flagged), `ctx` (context), `add`, `del`, `meta` (a hunk or file header)."""


def _mask(text: str) -> str:
    return mask_secrets(text.rstrip("\n"))


def diff_lines(text: str, limit: int = _MAX_PATCH_LINES) -> list[CodeLine]:
    """A unified diff as marked lines, numbered from its hunk headers."""
    out: list[CodeLine] = []
    old = new = 0
    for raw in text.splitlines()[:limit]:
        match = _HUNK.match(raw)
        if match:
            old, new = int(match.group(1)), int(match.group(2))
            out.append(CodeLine(None, None, _mask(raw), "meta"))
        elif raw.startswith(("+++", "---", "diff --git", "index ")):
            out.append(CodeLine(None, None, _mask(raw), "meta"))
        elif raw.startswith("+"):
            out.append(CodeLine(None, new, _mask(raw[1:]), "add"))
            new += 1
        elif raw.startswith("-"):
            out.append(CodeLine(old, None, _mask(raw[1:]), "del"))
            old += 1
        else:
            out.append(CodeLine(old, new, _mask(raw[1:]), "ctx"))
            old, new = old + 1, new + 1
    return out


class Source:
    """The reviewed files and change of one thread."""

    def __init__(self, repo: str, reviewed: Mapping[str, Any] | None, mode: str) -> None:
        self.root = Path(repo)
        reviewed = reviewed or {}
        self.head: str | None = None if reviewed.get("staged") else reviewed.get("head")
        self.base: str | None = reviewed.get("base")
        self.review = mode == "review"
        self._files: dict[str, list[str]] = {}
        self._diff: dict[str, str] | None = None

    def _lines(self, path: str) -> list[str]:
        if path not in self._files:
            try:
                if self.head:
                    text = git.show(self.root, self.head, path)
                else:
                    text = resolve_in_repo(self.root, path).read_text(
                        encoding="utf-8", errors="replace"
                    )
            except (git.GitError, RepoPathError, OSError) as exc:
                raise SourceUnavailable(f"cannot read {path}: {exc}") from None
            self._files[path] = text.splitlines()
        return self._files[path]

    def context(self, path: str, first: int, last: int | None = None) -> list[CodeLine]:
        """The lines `first`..`last` (1-based) of `path`, with `AROUND` lines either side."""
        lines = self._lines(path)
        last = max(first, last or first)
        start, stop = max(1, first - AROUND), min(len(lines), last + AROUND)
        return [
            CodeLine(None, n, _mask(lines[n - 1]), "hit" if first <= n <= last else "ctx")
            for n in range(start, stop + 1)
        ]

    def _file_diffs(self) -> dict[str, str]:
        if self._diff is None:
            if not self.review:
                self._diff = {}
            else:
                try:
                    if self.head and self.base:
                        text = git.unified_diff(self.root, f"{self.base}..{self.head}")
                    else:
                        text = git.unified_diff(self.root, staged=True)
                except (git.GitError, OSError) as exc:
                    raise SourceUnavailable(f"cannot read the reviewed diff: {exc}") from None
                self._diff = diffs.split_by_file(text)
        return self._diff

    def hunk(self, path: str, line: int) -> list[CodeLine] | None:
        """The hunk of the reviewed change holding `line` of `path` (new side), or None."""
        file_diff = self._file_diffs().get(path)
        if not file_diff:
            return None
        hunks: list[list[CodeLine]] = []
        for code in diff_lines(file_diff, limit=100_000):
            if code.kind == "meta" and code.text.startswith("@@"):
                hunks.append([code])
            elif hunks and code.kind != "meta":
                hunks[-1].append(code)
        for hunk in hunks:
            numbers = [c.new for c in hunk if c.new is not None]
            if numbers and min(numbers) <= line <= max(numbers):
                return hunk[:_MAX_HUNK_LINES]
        return None

"""A review reports the change: each finding's place in the reviewed diff, and the filter.

Intake maps what the reviewed diff changed (`PipelineState.diff_lines`, from
`keel.tools.diffs.changed_lines`); `report` gives every finding and every piece of tool
evidence its class (`DiffClass`):

| class | the finding's lines `line..end_line` |
|---|---|
| `introduced` | overlap an added (or changed) line or hold a deletion; or a flow (below) |
| `context` | overlap the diff's context lines (three around each hunk) |
| `pre-existing` | are elsewhere in a file the diff changes |
| `outside` | are in a file the diff does not change (a moved file, a file the model cited) |

**Flows.** semgrep's taint findings carry only the sink's location (`tools/semgrep.py`
keeps the match, not the trace). So a semgrep finding in a Python file counts as
`introduced` when the change adds or deletes a line anywhere in the function around it —
the innermost `def` holding its first line (for code outside any function: the module's
or class's own statements, without the functions in them). semgrep's taint analysis does
not cross functions, so a flow's source is in that function: a change that adds the
source, or removes the sanitizer, makes the flow `introduced` even though its sink line
is old (a finding that bandit and semgrep both raised merges into one with both sources,
and is judged so). Other tools' findings (a literal secret, a call bandit flags) are
judged by their lines; a file that does not parse falls back to the line rule too.

**The filter** (`KeelContext.diff_filter`, reviewdog's names) selects what the report
lists and what may trigger human review: `added` shows `introduced`, `diff_context` adds
`context`, `file` adds `pre-existing`, `all` shows everything. A finding without a class
(an audit, a failing test found after the report, an older thread) is always shown.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from keel.core.state import DiffClass, Finding, ToolEvidence
from keel.nodes.context import DiffFilter
from keel.tools._repo import RepoPathError, resolve_in_repo
from keel.tools.diffs import ChangedLines
from keel.tools.tree import MAX_FILE_BYTES

__all__ = [
    "DIFF_CLASSES",
    "SHOWN_BY",
    "Classifier",
    "active_filter",
    "diff_counts",
    "shown",
    "shows",
]

DIFF_CLASSES: tuple[DiffClass, ...] = ("introduced", "context", "pre-existing", "outside")
"""Every class, most relevant to the change first."""

SHOWN_BY: dict[DiffFilter, frozenset[DiffClass]] = {
    "added": frozenset({"introduced"}),
    "diff_context": frozenset({"introduced", "context"}),
    "file": frozenset({"introduced", "context", "pre-existing"}),
    "all": frozenset(DIFF_CLASSES),
}
"""The classes each filter shows."""

_Item = TypeVar("_Item", Finding, ToolEvidence)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef)
_BLOCKS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def shows(item: Mapping[str, Any], diff_filter: DiffFilter) -> bool:
    """Whether the filter shows a finding (or tool evidence); one without a class: yes."""
    place = item.get("diff")
    return place is None or place in SHOWN_BY[diff_filter]


def shown(items: Sequence[_Item], diff_filter: DiffFilter | None) -> list[_Item]:
    """The items the filter shows, in order (all of them without a filter)."""
    if diff_filter is None:
        return list(items)
    return [item for item in items if shows(item, diff_filter)]


def diff_counts(items: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many items of each class (those without one are not counted)."""
    counts: dict[str, int] = dict.fromkeys(DIFF_CLASSES, 0)
    for item in items:
        place = item.get("diff")
        if place in counts:
            counts[place] += 1
    return counts


def active_filter(state: Mapping[str, Any], diff_filter: DiffFilter) -> DiffFilter | None:
    """The filter a run's report applies: the context's in review mode, None in an audit.

    None too for a thread whose intake mapped no diff (an older thread).
    """
    if (state.get("task") or {}).get("mode") == "audit" or state.get("diff_lines") is None:
        return None
    return diff_filter


def _overlaps(ranges: Sequence[Sequence[int]], first: int, last: int) -> bool:
    return any(start <= last and first <= end for start, end in ranges)


def _flow(item: Mapping[str, Any]) -> bool:
    """Whether a finding is judged by its function: semgrep's (a possible taint flow)."""
    return "semgrep" in (item.get("sources") or [item.get("tool")])


class Classifier:
    """Classes findings against one review's diff, reading files from the analysis root.

    Python files are parsed once each, for the flow rule; a file that cannot be read
    (outside the root, not a regular file, over `MAX_FILE_BYTES`) or parsed is judged by
    its lines alone.
    """

    def __init__(self, diff_lines: Mapping[str, ChangedLines], root: Path) -> None:
        """Judge against `diff_lines` (`PipelineState.diff_lines`), files under `root`."""
        self._lines = diff_lines
        self._root = root
        self._trees: dict[str, ast.Module | None] = {}

    def place(self, item: Mapping[str, Any]) -> DiffClass:
        """The class of a finding or tool evidence (`file`, `line`, `end_line`)."""
        changed = self._lines.get(str(item["file"]))
        if changed is None:
            return "outside"
        first = int(item["line"])
        last = max(first, int(item.get("end_line") or first))
        if _overlaps(changed["added"], first, last) or any(
            first < n <= last for n in changed["removed_at"]
        ):
            return "introduced"
        if _flow(item) and self._touches_scope(str(item["file"]), first, changed):
            return "introduced"
        if _overlaps(changed["context"], first, last):
            return "context"
        return "pre-existing"

    def findings(self, findings: Sequence[Finding]) -> list[Finding]:
        """Copies of the findings with their class set."""
        return [Finding(**{**f, "diff": self.place(f)}) for f in findings]

    def evidence(self, evidence: Sequence[ToolEvidence]) -> list[ToolEvidence]:
        """Copies of the tool evidence with its class set."""
        return [ToolEvidence(**{**e, "diff": self.place(e)}) for e in evidence]

    def _touches_scope(self, file: str, line: int, changed: ChangedLines) -> bool:
        """Whether the change adds or deletes a line in the code around `line` (flow rule)."""
        if not (changed["added"] or changed["removed_at"]) or not file.endswith(".py"):
            return False
        module = self._tree(file)
        if module is None:
            return False
        for first, last in _scope(module, line):
            if _overlaps(changed["added"], first, last):
                return True
            if any(first < n <= last + 1 for n in changed["removed_at"]):
                return True
        return False

    def _tree(self, file: str) -> ast.Module | None:
        if file not in self._trees:
            try:
                full = resolve_in_repo(self._root, file)
                if not full.is_file() or full.stat().st_size > MAX_FILE_BYTES:
                    raise ValueError(f"not read: {file}")
                self._trees[file] = ast.parse(full.read_bytes())
            except (RepoPathError, OSError, SyntaxError, ValueError):
                self._trees[file] = None
        return self._trees[file]


def _span(node: ast.stmt) -> tuple[int, int]:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return first, node.end_lineno or node.lineno


def _scope(module: ast.Module, line: int) -> list[tuple[int, int]]:
    """The line ranges of the code around `line`.

    Its innermost function, whole; else the own statements of the class or module that
    holds it (without the functions and classes in them).
    """
    body: list[ast.stmt] = module.body
    while True:
        inner = next(
            (n for n in body if isinstance(n, _BLOCKS) and _span(n)[0] <= line <= _span(n)[1]),
            None,
        )
        if inner is None:
            return [_span(n) for n in body if not isinstance(n, _BLOCKS)]
        if isinstance(inner, _SCOPES):
            return [_span(_innermost_function(inner, line))]
        body = inner.body


def _innermost_function(node: ast.stmt, line: int) -> ast.stmt:
    """The deepest function under `node` (itself a function) whose span holds `line`."""
    for child in ast.walk(node):
        if child is not node and isinstance(child, _SCOPES):
            first, last = _span(child)
            if first <= line <= last:
                return _innermost_function(child, line)
    return node

"""The real-world cases: references to public fix commits, never the projects' code.

Each line of `evals/datasets/realworld.jsonl` names a repository, a fix commit and its
parent, the file, the flawed lines *in the parent* (the vulnerable version), the kind of
flaw, its severity and its advisories. The code itself is read from a local mirror when
the case is run (`keel.evals.realworld.mirror`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .kinds import KINDS

__all__ = ["DATASET", "RealCase", "load_cases"]

DATASET: Final = Path(__file__).resolve().parent.parent / "datasets" / "realworld.jsonl"
"""The set as committed."""

_SEVERITIES: Final = ("low", "medium", "high", "critical")
_SHA = re.compile(r"^[0-9a-f]{40}$")
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True, kw_only=True)
class RealCase:
    """One fix commit of a public project, as a reference."""

    id: str
    """Stable id: project and flaw, e.g. `pysaml2-elementtree-xxe`."""
    repo: str
    """GitHub `owner/name`."""
    fix_commit: str
    """The commit that fixed the flaw (40 hex digits)."""
    parent: str
    """Its first parent: the vulnerable version (40 hex digits)."""
    file: str
    """The file of the flaw, repository-relative."""
    lines: tuple[tuple[int, int], ...]
    """Flawed line spans (first, last; 1-based, inclusive) in the parent's version."""
    category: str
    """The kind of flaw, one of `keel.evals.realworld.kinds.KINDS`."""
    severity: str
    """How bad the flaw is: low, medium, high or critical."""
    advisories: tuple[str, ...] = ()
    """CVE and GHSA ids, where the flaw has any."""
    reference: str = ""
    """Where the fix is discussed (advisory, pull request or issue)."""
    summary: str = ""
    """What is wrong, in one sentence."""

    @property
    def source(self) -> str:
        """The `fetch` source that brings this case's mirror: `github:owner/name`."""
        return f"github:{self.repo}"


def _case(row: dict[str, Any], where: str) -> RealCase:
    missing = {"id", "repo", "fix_commit", "parent", "file", "lines", "category", "severity"}
    missing -= set(row)
    if missing:
        raise ValueError(f"{where}: missing {sorted(missing)}")
    case = RealCase(
        id=str(row["id"]),
        repo=str(row["repo"]),
        fix_commit=str(row["fix_commit"]),
        parent=str(row["parent"]),
        file=str(row["file"]),
        lines=tuple((int(a), int(b)) for a, b in row["lines"]),
        category=str(row["category"]),
        severity=str(row["severity"]),
        advisories=tuple(str(a) for a in row.get("advisories") or ()),
        reference=str(row.get("reference") or ""),
        summary=str(row.get("summary") or ""),
    )
    if not _REPO.match(case.repo):
        raise ValueError(f"{where}: repo {case.repo!r} is not owner/name")
    for name in ("fix_commit", "parent"):
        if not _SHA.match(getattr(case, name)):
            raise ValueError(f"{where}: {name} must be 40 hex digits")
    if case.category not in KINDS:
        raise ValueError(f"{where}: category {case.category!r} is not one of {list(KINDS)}")
    if case.severity not in _SEVERITIES:
        raise ValueError(f"{where}: severity {case.severity!r} is not one of {_SEVERITIES}")
    if not case.lines or any(a < 1 or b < a for a, b in case.lines):
        raise ValueError(f"{where}: lines must be non-empty (first, last) spans, first >= 1")
    return case


def load_cases(path: Path = DATASET, only: list[str] | None = None) -> list[RealCase]:
    """Read the set, keeping the cases whose id or category is in `only` (all when None).

    Raises:
        FileNotFoundError: If the dataset file is missing.
        ValueError: If a line is malformed (the message names the line and field), two
            cases share an id, or `only` names nothing in the set.
    """
    cases: list[RealCase] = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if text.strip():
            cases.append(_case(json.loads(text), f"{path.name}:{number}"))
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path.name}: duplicate case ids")
    if only:
        unknown = sorted(set(only) - set(ids) - {c.category for c in cases})
        if unknown:
            raise ValueError(f"no case or category named {unknown}")
        cases = [c for c in cases if c.id in only or c.category in only]
    return cases

"""Match reported findings to expected ones: same file, same category, overlapping lines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CATEGORIES", "CategoryCounts", "count_matches", "f1", "finding_matches", "is_match"]

CATEGORIES = ("security", "correctness", "style")
"""Finding categories scored separately."""


def _span(finding: Mapping[str, Any]) -> tuple[int, int]:
    if "lines" in finding:
        first, last = finding["lines"]
        return int(first), int(last)
    line = int(finding.get("line") or 1)
    return line, int(finding.get("end_line") or line)


def is_match(reported: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    """Whether a reported finding is the expected one: file, category, overlapping lines."""
    if reported.get("file") != expected.get("file"):
        return False
    if reported.get("category") != expected.get("category"):
        return False
    a0, a1 = _span(reported)
    b0, b1 = _span(expected)
    return a0 <= b1 and b0 <= a1


def finding_matches(
    reported: Sequence[Mapping[str, Any]], expected: Sequence[Mapping[str, Any]]
) -> list[bool]:
    """For each reported finding, whether it matches some expected finding."""
    return [any(is_match(r, e) for e in expected) for r in reported]


@dataclass
class CategoryCounts:
    """Counts behind precision (reported side) and recall (expected side)."""

    reported: int = 0
    reported_correct: int = 0
    expected: int = 0
    expected_found: int = 0
    missed: list[str] = field(default_factory=list)

    def add(self, other: CategoryCounts) -> None:
        """Add another category's counts to these."""
        self.reported += other.reported
        self.reported_correct += other.reported_correct
        self.expected += other.expected
        self.expected_found += other.expected_found
        self.missed.extend(other.missed)

    @property
    def precision(self) -> float | None:
        """Share of reported findings that are expected; None when nothing was reported."""
        return self.reported_correct / self.reported if self.reported else None

    @property
    def recall(self) -> float | None:
        """Share of expected findings that were reported; None when none was expected."""
        return self.expected_found / self.expected if self.expected else None


def f1(precision: float | None, recall: float | None) -> float | None:
    """Harmonic mean; None when either side is undefined, 0 when both are 0."""
    if precision is None or recall is None:
        return None
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def count_matches(
    reported: Sequence[Mapping[str, Any]], expected: Sequence[Mapping[str, Any]]
) -> dict[str, CategoryCounts]:
    """Per-category counts for one case."""
    counts: dict[str, CategoryCounts] = {}
    for category in CATEGORIES:
        mine = [r for r in reported if r.get("category") == category]
        wanted = [e for e in expected if e.get("category") == category]
        found = [e for e in wanted if any(is_match(r, e) for r in mine)]
        counts[category] = CategoryCounts(
            reported=len(mine),
            reported_correct=sum(finding_matches(mine, wanted)),
            expected=len(wanted),
            expected_found=len(found),
            missed=[
                f"{e['file']}:{e['lines'][0]} {e.get('kind', '')}" for e in wanted if e not in found
            ],
        )
    return counts

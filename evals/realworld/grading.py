"""Grade one run of one case: is the flaw found, by a finding of its kind, on its lines?

A case is **found** when some *security* finding in the case's file overlaps one of the
flawed spans, widened by `SLACK` lines on each side, and its kind
(`keel.evals.realworld.kinds.finding_kind`) is the case's category. **On the lines** is the
kind-blind version of the same test, to show how much of a tool's hit rate is the right
flaw. Noise is counted over the whole run: every finding, and those at high or above.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from .cases import RealCase
from .kinds import finding_kind

__all__ = ["SLACK", "Grade", "grade"]

SLACK: Final = 2
"""Lines of tolerance around a flawed span: a sink reported on the call's first line."""

_HIGH: Final = frozenset({"high", "critical"})


@dataclass(frozen=True)
class Grade:
    """What one analyzer (or the whole review) did on one case."""

    found: bool
    """A security finding of the case's kind on a flawed span (±SLACK)."""
    on_lines: bool
    """A security finding of any kind on a flawed span (±SLACK)."""
    findings: int
    """Every finding reported."""
    high: int
    """Findings at high or critical."""
    matched: list[str] = field(default_factory=list)
    """`rule@line severity` of the findings that count for the case."""
    found_high: bool = False
    """Whether a finding that counts is at high or critical."""


def _span(finding: Mapping[str, Any]) -> tuple[int, int]:
    line = int(finding.get("line") or 1)
    return line, max(line, int(finding.get("end_line") or line))


def _on_flaw(finding: Mapping[str, Any], case: RealCase) -> bool:
    if finding.get("file") != case.file or finding.get("category") != "security":
        return False
    first, last = _span(finding)
    return any(first <= b + SLACK and a - SLACK <= last for a, b in case.lines)


def grade(case: RealCase, findings: Sequence[Mapping[str, Any]]) -> Grade:
    """Grade the findings of one run (report findings or analyzer issues) against a case."""
    at = [f for f in findings if _on_flaw(f, case)]
    hits = [f for f in at if finding_kind(f) == case.category]
    return Grade(
        found=bool(hits),
        on_lines=bool(at),
        findings=len(findings),
        high=sum(1 for f in findings if f.get("severity") in _HIGH),
        matched=[f"{f.get('rule')}@{f.get('line')} {f.get('severity')}" for f in hits],
        found_high=any(f.get("severity") in _HIGH for f in hits),
    )

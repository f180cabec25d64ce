"""Severity by class: a CVE-class flaw that a parameter or a request reaches is `high`.

Keel's semgrep rules say, in their metadata, which class of flaw they find
(`vulnerability_class`) and what their data comes from (`sources`). The classes of the
CVE records of Python projects — injection of a command, an argument, SQL or a template,
path traversal and archive extraction, XXE, unsafe deserialization, code evaluation — are
at least `high` when the data is a function parameter, a web route's URL segment or a
request: a caller the code does not control can reach them, so a review must ask a human.

The rule pack is the one source: its rules carry the severity (semgrep ERROR is `high`),
and :func:`class_severity` reads the same metadata to floor an issue's severity and say
why. A rule whose source is only a *name* heuristic (`named-parameter`: a parameter called
`filename` reaching `open()`, which is what a library that opens its caller's file does)
or a configuration pattern (no source: an XML parser that resolves entities) is not
floored.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

import yaml  # type: ignore[import-untyped]  # PyYAML comes with langchain-core; no stubs here

from keel.core.vocabulary import SEVERITIES, Severity
from keel.tools.issues import Issue

__all__ = ["CVE_CLASSES", "REACHING_SOURCES", "RuleClass", "class_severity", "pack_classes"]

CVE_CLASSES: Final = frozenset(
    {
        "command-injection",
        "argument-injection",
        "sql-injection",
        "template-injection",
        "path-traversal",
        "archive-extraction",
        "xxe",
        "deserialization",
        "code-eval",
    }
)
"""Vulnerability classes that are at least `high` when a caller's data reaches them."""

REACHING_SOURCES: Final = frozenset({"parameter", "route-parameter", "request"})
"""Sources (a rule's `metadata.sources`) through which a caller reaches the flaw."""

_PACK: Final = Path(__file__).resolve().parent / "rules" / "keel-python.yml"
"""Keel's rule pack (`keel.tools.semgrep.RULE_PACK`)."""

_ORDER: Final[tuple[Severity, ...]] = SEVERITIES
_LEVELS: Final[dict[str, Severity]] = {"ERROR": "high", "WARNING": "medium", "INFO": "low"}


@dataclass(frozen=True)
class RuleClass:
    """What one security rule of the pack finds, and from where its data comes."""

    rule: str
    vulnerability_class: str
    sources: tuple[str, ...]
    severity: Severity
    """What the rule reports (semgrep ERROR is high, WARNING medium, INFO low)."""

    @property
    def floored(self) -> bool:
        """Whether findings of this rule are at least `high` (CVE class, reached)."""
        return self.vulnerability_class in CVE_CLASSES and bool(
            REACHING_SOURCES & set(self.sources)
        )


@cache
def pack_classes(pack: Path = _PACK) -> dict[str, RuleClass]:
    """The security rules of a rule pack by id (cached per path; the pack is read once).

    Raises:
        OSError: If the pack cannot be read.
        KeyError: If a security rule has no `metadata.vulnerability_class`.
    """
    rules = yaml.safe_load(pack.read_text(encoding="utf-8"))["rules"]
    classes: dict[str, RuleClass] = {}
    for rule in rules:
        meta = rule.get("metadata") or {}
        if meta.get("category") != "security":
            continue
        classes[str(rule["id"])] = RuleClass(
            rule=str(rule["id"]),
            vulnerability_class=str(meta["vulnerability_class"]),
            sources=tuple(str(s) for s in meta.get("sources") or ()),
            severity=_LEVELS.get(str(rule.get("severity")), "medium"),
        )
    return classes


def class_severity(issue: Issue) -> tuple[Severity, str]:
    """The severity an issue must have by its class, and why ("" when it keeps its own).

    Only Keel's own semgrep rules carry a class and a source; any other issue (bandit,
    ruff, a repository's rules) keeps its severity, since a single-call match says
    nothing about where the data comes from.
    """
    rule = pack_classes().get(issue["rule"]) if issue["tool"] == "semgrep" else None
    severity = issue["severity"]
    if rule is None or not rule.floored:
        return severity, ""
    reached = ", ".join(s for s in rule.sources if s in REACHING_SOURCES)
    why = f"{rule.vulnerability_class} is a CVE class and caller data reaches it ({reached})"
    if _ORDER.index(severity) >= _ORDER.index("high"):
        return severity, why
    return "high", f"severity {severity} -> high: {why}"

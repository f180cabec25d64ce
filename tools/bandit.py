"""Security findings from bandit."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from tools._proc import run
from tools._repo import RepoPathError, relative, resolve_in_repo
from tools.issues import Issue, Severity, make_issue

__all__ = ["BanditError", "run_bandit"]

_TIMEOUT = 180.0
_SEVERITY: dict[str, Severity] = {"LOW": "low", "MEDIUM": "medium", "HIGH": "high"}
_CONFIDENCE = {"LOW": 0.4, "MEDIUM": 0.7, "HIGH": 0.9}


class BanditError(RuntimeError):
    """Bandit failed (not: bandit found problems)."""


def _is_test_file(file: str) -> bool:
    name = PurePosixPath(file).name
    parts = PurePosixPath(file).parts
    return name.startswith("test_") or name.endswith("_test.py") or "tests" in parts[:-1]


def run_bandit(root: Path, paths: Sequence[str]) -> list[Issue]:
    """Scan Python files with bandit.

    Args:
        root: Repository root.
        paths: Repository-relative files or directories; non-Python files are skipped.

    Returns:
        Issues of category "security" (B101, ``assert``, is skipped in test
        files); ``rule`` is bandit's test id (``B602``),
        severity and confidence come from bandit's own ratings (confidence
        HIGH=0.9, MEDIUM=0.7, LOW=0.4); quoted code is masked.

    Raises:
        RepoPathError: If a path leaves the repository.
        ToolMissingError: If bandit is not installed.
        ToolTimeoutError: If bandit runs too long.
        BanditError: If bandit itself fails.
    """
    targets: list[str] = []
    for p in paths:
        full = resolve_in_repo(root, p)
        if full.is_dir() or full.suffix == ".py":
            targets.append(relative(root, full) or ".")
    if not targets:
        return []
    proc = run(["bandit", "-f", "json", "-q", "-r", "--", *targets], cwd=root, timeout=_TIMEOUT)
    if proc.returncode not in (0, 1):
        raise BanditError(f"bandit failed: {proc.stderr.strip()[:2000]}")
    try:
        report: dict[str, Any] = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError as exc:
        raise BanditError(f"bandit printed invalid JSON: {proc.stdout[:200]!r}") from exc
    issues: list[Issue] = []
    for rec in report.get("results", []):
        try:
            file = relative(root, Path(rec["filename"]))
        except RepoPathError:
            continue
        if rec.get("test_id") == "B101" and _is_test_file(file):
            continue  # assert is how pytest tests are written
        line = int(rec.get("line_number", 1))
        line_range = rec.get("line_range") or [line]
        cwe = (rec.get("issue_cwe") or {}).get("id")
        message = str(rec.get("issue_text", ""))
        if cwe:
            message = f"{message} (CWE-{cwe})"
        issues.append(
            make_issue(
                root,
                tool="bandit",
                rule=str(rec.get("test_id", "")),
                file=file,
                line=line,
                end_line=max(int(n) for n in line_range),
                col=(int(rec["col_offset"]) + 1) if rec.get("col_offset") is not None else None,
                message=message,
                severity=_SEVERITY.get(str(rec.get("issue_severity")), "medium"),
                category="security",
                confidence=_CONFIDENCE.get(str(rec.get("issue_confidence")), 0.5),
            )
        )
    return issues

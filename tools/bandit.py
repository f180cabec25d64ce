"""Security findings from bandit, under the repository's own configuration.

The configuration comes from `keel.tools.repo_config.bandit_config`: ``[tool.bandit]`` in
pyproject.toml and the ``exclude``/``skips``/``tests`` of ``.bandit``; bandit itself
honours ``# nosec``. Keel expands directories into files (`keel.tools._targets`), so a
directory and its files named one by one get the same result.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from keel.core.vocabulary import Severity
from keel.tools._proc import run
from keel.tools._repo import RepoPathError, relative
from keel.tools._targets import python_files
from keel.tools.issues import Issue, make_issue
from keel.tools.repo_config import Scan, ToolConfig, bandit_config, bandit_default
from keel.tools.severity_context import path_context

__all__ = ["BanditError", "bandit_scan", "run_bandit"]

_TIMEOUT = 180.0
_SEVERITY: dict[str, Severity] = {"LOW": "low", "MEDIUM": "medium", "HIGH": "high"}
_CONFIDENCE = {"LOW": 0.4, "MEDIUM": 0.7, "HIGH": 0.9}


class BanditError(RuntimeError):
    """Bandit failed (not: bandit found problems)."""


def _bandit(root: Path, config: ToolConfig, files: Sequence[str]) -> dict[str, Any] | str:
    """Bandit's JSON report, or why there is none."""
    proc = run(
        ["bandit", "-f", "json", "-q", *config.args, "--", *files], cwd=root, timeout=_TIMEOUT
    )
    try:
        report = json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError:
        report = None
    if proc.returncode not in (0, 1) or not isinstance(report, dict):
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        return f"exit {proc.returncode}: {lines[-1][:300] if lines else 'no output'}"
    return report


def bandit_scan(root: Path, paths: Sequence[str]) -> Scan:
    """Scan Python files with bandit under the repository's configuration.

    Args:
        root: Repository root.
        paths: Repository-relative files or directories; non-Python files are skipped.

    Returns:
        Issues of category "security" (B101, ``assert``, is skipped in test
        files); ``rule`` is bandit's test id (``B602``),
        severity and confidence come from bandit's own ratings (confidence
        HIGH=0.9, MEDIUM=0.7, LOW=0.4); quoted code is masked. When bandit fails under
        the repository's configuration, the scan is run again with Keel's default and
        the configuration's notes say why.

    Raises:
        RepoPathError: If a path leaves the repository.
        ToolMissingError: If bandit is not installed.
        ToolTimeoutError: If bandit runs too long.
        BanditError: If bandit itself fails under Keel's default.
    """
    config = bandit_config(root)
    files = python_files(root, paths)
    if not files:
        return Scan(issues=[], config=config)
    report = _bandit(root, config, files)
    if isinstance(report, str) and config.args:
        note = f"bandit failed with {config.source} ({report}): Keel's default was used"
        config = config.fallen_back(note, bandit_default())
        report = _bandit(root, config, files)
    if isinstance(report, str):
        raise BanditError(f"bandit failed ({report})")
    issues: list[Issue] = []
    for rec in report.get("results", []):
        try:
            file = relative(root, Path(rec["filename"]))
        except RepoPathError:
            continue
        if rec.get("test_id") == "B101" and path_context(file) == "test":
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
    return Scan(issues=issues, config=config)


def run_bandit(root: Path, paths: Sequence[str]) -> list[Issue]:
    """The issues of :func:`bandit_scan` (the analyzer signature the agent tools use).

    Raises:
        RepoPathError: If a path leaves the repository.
        ToolMissingError: If bandit is not installed.
        ToolTimeoutError: If bandit runs too long.
        BanditError: If bandit itself fails under Keel's default.
    """
    return bandit_scan(root, paths).issues

"""Lint findings and safe autofixes from ruff, under the repository's own configuration.

The configuration comes from `keel.tools.repo_config.ruff_config`: the repository's ruff
file when it has one (its rule selection, ``target-version``, ignores and excludes),
else Keel's default rules with a ``--target-version`` from ``requires-python``. The
same configuration lints and proposes fixes, so a suggested fix never applies a rule
the project does not use nor targets a Python it does not support.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from keel.core.vocabulary import Category, Severity
from keel.tools._proc import run
from keel.tools._repo import RepoPathError, relative, resolve_in_repo
from keel.tools.issues import Issue, make_issue
from keel.tools.repo_config import DEFAULT_SELECT, Scan, ToolConfig, ruff_config

__all__ = ["DEFAULT_SELECT", "RuffError", "ruff_fix_diff", "ruff_scan", "run_ruff"]

_TIMEOUT = 120.0
# Rules that point at code that does the wrong thing, not code that reads badly.
_CORRECTNESS_PREFIXES = ("E9", "F6", "F7", "F8", "B", "PLE")
_STYLE_EXCEPTIONS = {"F401", "F811", "F841", "B007", "B009", "B010", "B011", "B905"}


class RuffError(RuntimeError):
    """Ruff failed (not: ruff found problems)."""


def _category(code: str) -> Category:
    if code in _STYLE_EXCEPTIONS:
        return "style"
    if code.startswith(_CORRECTNESS_PREFIXES):
        return "correctness"
    return "style"


def _confine(root: Path, paths: Sequence[str]) -> list[str]:
    """Return repository-relative posix paths, python files and directories only."""
    out: list[str] = []
    for p in paths:
        full = resolve_in_repo(root, p)
        if full.is_dir() or full.suffix in (".py", ".pyi"):
            out.append(relative(root, full) or ".")
    return out


def _ruff(root: Path, config: ToolConfig, args: Sequence[str]) -> str:
    proc = run(["ruff", "check", "--no-cache", *config.args, *args], cwd=root, timeout=_TIMEOUT)
    if proc.returncode not in (0, 1):
        raise RuffError(f"ruff failed ({config.source}): {proc.stderr.strip()[:2000]}")
    return proc.stdout


def ruff_scan(root: Path, paths: Sequence[str]) -> Scan:
    """Lint files with ruff under the repository's configuration (or Keel's default).

    Args:
        root: Repository root.
        paths: Repository-relative files or directories; non-Python files are skipped.

    Returns:
        The issues and the configuration used. Issues have category "correctness"
        (undefined names, bugbear bugs, syntax errors) at severity "medium", else
        "style" at "low"; ``fixable`` when ruff has a safe fix under that configuration.

    Raises:
        RepoPathError: If a path leaves the repository.
        ToolMissingError: If ruff is not installed.
        ToolTimeoutError: If ruff runs too long.
        RuffError: If ruff itself fails.
    """
    config = ruff_config(root)
    targets = _confine(root, paths)
    if not targets:
        return Scan(issues=[], config=config)
    # --no-fix: a repository's `fix = true` must not make a lint run edit its files.
    out = _ruff(root, config, ["--no-fix", "--output-format", "json", "--", *targets])
    try:
        records: list[dict[str, Any]] = json.loads(out or "[]")
    except json.JSONDecodeError as exc:
        raise RuffError(f"ruff printed invalid JSON: {out[:200]!r}") from exc
    issues: list[Issue] = []
    for rec in records:
        code = str(rec.get("code") or "syntax-error")
        try:
            file = relative(root, Path(rec["filename"]))
        except RepoPathError:
            continue
        category = _category(code)
        severity: Severity = "medium" if category == "correctness" else "low"
        fix = rec.get("fix") or {}
        location = rec.get("location") or {}
        end = rec.get("end_location") or location
        issues.append(
            make_issue(
                root,
                tool="ruff",
                rule=code,
                file=file,
                line=int(location.get("row", 1)),
                end_line=int(end.get("row", location.get("row", 1))),
                col=location.get("column"),
                message=str(rec.get("message", "")),
                severity=severity,
                category=category,
                confidence=0.9 if category == "correctness" else 0.95,
                fixable=fix.get("applicability") == "safe",
            )
        )
    return Scan(issues=issues, config=config)


def run_ruff(root: Path, paths: Sequence[str]) -> list[Issue]:
    """The issues of :func:`ruff_scan` (the analyzer signature the agent tools use).

    Raises:
        RepoPathError: If a path leaves the repository.
        ToolMissingError: If ruff is not installed.
        ToolTimeoutError: If ruff runs too long.
        RuffError: If ruff itself fails.
    """
    return ruff_scan(root, paths).issues


def _prefix_header(line: str, root: Path, side: str) -> str:
    name = line[4:].split("\t", 1)[0].strip()
    try:
        rel = relative(root, Path(name))
    except RepoPathError:
        rel = name
    return f"{line[:4]}{side}/{rel}"


def ruff_fix_diff(root: Path, paths: Sequence[str]) -> str:
    """Return ruff's safe autofixes as a unified diff, without changing any file.

    The fixes are those of the configuration :func:`ruff_scan` lints with: the
    repository's rules, ``fixable``/``unfixable`` and ``target-version``, or Keel's
    default rules at a ``--target-version`` from ``requires-python``; unsafe fixes are
    never included, even when the repository enables them.

    The diff uses ``a/`` and ``b/`` prefixes, so ``git apply`` (and
    :func:`keel.tools.actions.apply_patch`) applies it from the repository root.

    Args:
        root: Repository root.
        paths: Repository-relative files or directories.

    Returns:
        The diff, or "" when there is nothing to fix.

    Raises:
        RepoPathError: If a path leaves the repository.
        ToolMissingError: If ruff is not installed.
        RuffError: If ruff itself fails.
    """
    targets = _confine(root, paths)
    if not targets:
        return ""
    config = ruff_config(root)
    out = _ruff(root, config, ["--fix", "--diff", "--no-unsafe-fixes", "--", *targets])
    return _normalize_diff(root, out)


_HUNK = re.compile(r"^@@ -\d+(?:,(?P<old>\d+))? \+\d+(?:,(?P<new>\d+))? @@")


def _normalize_diff(root: Path, out: str) -> str:
    """Keep only the diff from ruff's output, with ``a/`` and ``b/`` path prefixes."""
    lines: list[str] = []
    rows = out.splitlines()
    i = 0
    while i < len(rows):
        line = rows[i]
        if line.startswith("--- ") and i + 1 < len(rows) and rows[i + 1].startswith("+++ "):
            lines.append(_prefix_header(line, root, "a"))
            lines.append(_prefix_header(rows[i + 1], root, "b"))
            i += 2
            continue
        match = _HUNK.match(line)
        if match and lines:
            old = int(match.group("old") or 1)
            new = int(match.group("new") or 1)
            lines.append(line)
            i += 1
            while i < len(rows) and (old > 0 or new > 0):
                body = rows[i] or " "
                lines.append(rows[i])
                if body.startswith("-"):
                    old -= 1
                elif body.startswith("+"):
                    new -= 1
                elif body.startswith(" "):
                    old -= 1
                    new -= 1
                i += 1
            while i < len(rows) and rows[i].startswith("\\"):
                lines.append(rows[i])
                i += 1
            continue
        i += 1
    return "\n".join(lines) + "\n" if lines else ""

"""Taint findings from semgrep with Keel's own rule pack (offline, no metrics)."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tools._proc import ToolMissingError, run
from tools._repo import RepoPathError, relative, resolve_in_repo
from tools.issues import Category, Issue, Severity, make_issue

__all__ = ["RULE_PACK", "SemgrepError", "SemgrepMissingError", "find_semgrep", "run_semgrep"]

RULE_PACK = Path(__file__).resolve().parent / "rules" / "keel-python.yml"
"""Keel's semgrep rules: taint flows bandit cannot see."""

_PROJECT_ROOT = Path(__file__).resolve().parent.parent
_SEVERITY: dict[str, Severity] = {
    "ERROR": "high",
    "WARNING": "medium",
    "INFO": "low",
    "CRITICAL": "critical",
    "HIGH": "high",
    "MEDIUM": "medium",
    "LOW": "low",
}
_CONFIDENCE = {"HIGH": 0.9, "MEDIUM": 0.7, "LOW": 0.4}


class SemgrepMissingError(ToolMissingError):
    """Semgrep is not installed where Keel looks for it."""

    def __init__(self) -> None:
        if (_PROJECT_ROOT / "pyproject.toml").is_file():  # a source checkout
            how = (
                "run `make tools` (or `scripts/install-tools.sh`) to install it into "
                f"{_PROJECT_ROOT / '.keel-tools' / 'semgrep'}"
            )
        else:  # an installed package (pipx, pre-commit, ...)
            how = (
                "install it in its own environment: `python3 -m venv ~/.keel/tools/semgrep && "
                "~/.keel/tools/semgrep/bin/pip install semgrep`"
            )
        super().__init__("semgrep", f"{how}, or set KEEL_SEMGREP to its path")


class SemgrepError(RuntimeError):
    """Semgrep failed (not: semgrep found problems)."""


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_semgrep() -> Path:
    """Locate semgrep, which lives in its own environment, not Keel's.

    Looks, in order, at ``$KEEL_SEMGREP``, ``<project>/.keel-tools/semgrep/bin/semgrep``,
    ``~/.keel/tools/semgrep/bin/semgrep``, then PATH.

    Returns:
        The semgrep executable.

    Raises:
        SemgrepMissingError: If none of those exists.
    """
    env = os.environ.get("KEEL_SEMGREP")
    if env:
        if _executable(Path(env)):
            return Path(env)
        raise SemgrepMissingError()
    for candidate in (
        _PROJECT_ROOT / ".keel-tools" / "semgrep" / "bin" / "semgrep",
        Path.home() / ".keel" / "tools" / "semgrep" / "bin" / "semgrep",
    ):
        if _executable(candidate):
            return candidate
    found = shutil.which("semgrep")
    if found:
        return Path(found)
    raise SemgrepMissingError()


def _rule_ids(config: Path) -> list[str]:
    """Rule ids declared in a rule file (semgrep prefixes them with the file's path)."""
    try:
        text = config.read_text(encoding="utf-8")
    except OSError:
        return []
    return re.findall(r"^\s*-\s*id:\s*([\w.-]+)\s*$", text, flags=re.MULTILINE)


def _rule_id(check_id: str, known: list[str]) -> str:
    for rule in known:
        if check_id == rule or check_id.endswith("." + rule):
            return rule
    return check_id


def _issue(root: Path, rec: dict[str, Any], known: list[str]) -> Issue | None:
    try:
        file = relative(root, Path(rec["path"]))
    except (RepoPathError, KeyError):
        return None
    extra: dict[str, Any] = rec.get("extra") or {}
    metadata: dict[str, Any] = extra.get("metadata") or {}
    category: Category = "correctness" if metadata.get("category") == "correctness" else "security"
    cwe = metadata.get("cwe")
    cwe_text = ", ".join(cwe) if isinstance(cwe, list) else str(cwe or "")
    message = str(extra.get("message", "")).strip()
    if cwe_text and "CWE" not in message:
        message = f"{message} ({cwe_text.split(':')[0]})"
    start = rec.get("start") or {}
    end = rec.get("end") or start
    return make_issue(
        root,
        tool="semgrep",
        rule=_rule_id(str(rec.get("check_id", "")), known),
        file=file,
        line=int(start.get("line", 1)),
        end_line=int(end.get("line", start.get("line", 1))),
        col=start.get("col"),
        message=message,
        severity=_SEVERITY.get(str(extra.get("severity", "")).upper(), "medium"),
        category=category,
        confidence=_CONFIDENCE.get(str(metadata.get("confidence", "")).upper(), 0.8),
    )


def run_semgrep(
    root: Path,
    paths: Sequence[str],
    timeout: float = 120,
    config: Path = RULE_PACK,
) -> list[Issue]:
    """Scan Python files with semgrep and Keel's rule pack, fully offline.

    Args:
        root: Repository root.
        paths: Repository-relative files or directories.
        timeout: Seconds before semgrep is killed.
        config: Rule file; Keel's pack by default.

    Returns:
        Issues; category and CWE come from each rule's metadata, severity from
        the rule (ERROR=high, WARNING=medium, INFO=low).

    Raises:
        SemgrepMissingError: If semgrep is not installed.
        RepoPathError: If a path leaves the repository.
        ToolTimeoutError: If semgrep runs longer than ``timeout``.
        SemgrepError: If semgrep fails.
    """
    exe = find_semgrep()
    targets: list[str] = []
    for p in paths:
        full = resolve_in_repo(root, p)
        if full.is_dir() or full.suffix == ".py":
            targets.append(relative(root, full) or ".")
    if not targets:
        return []
    proc = run(
        [
            str(exe),
            "scan",
            "--config",
            str(config),
            "--metrics=off",
            "--disable-version-check",
            "--json",
            "--no-git-ignore",
            "--quiet",
            f"--timeout={max(1, int(timeout // 4))}",
            "--",
            *targets,
        ],
        cwd=root,
        timeout=timeout,
        env={"SEMGREP_SEND_METRICS": "off", "SEMGREP_ENABLE_VERSION_CHECK": "0"},
    )
    try:
        report: dict[str, Any] = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError as exc:
        raise SemgrepError(
            f"semgrep failed (exit {proc.returncode}): {proc.stderr.strip()[:2000]}"
        ) from exc
    if proc.returncode not in (0, 1) and not report.get("results"):
        errors = report.get("errors") or proc.stderr.strip()[:2000]
        raise SemgrepError(f"semgrep failed (exit {proc.returncode}): {errors}")
    known = _rule_ids(config)
    issues = [_issue(root, rec, known) for rec in report.get("results", [])]
    return sorted(
        (i for i in issues if i is not None), key=lambda i: (i["file"], i["line"], i["rule"])
    )

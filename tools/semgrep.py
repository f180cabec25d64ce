"""Taint findings from semgrep: Keel's own rule pack, and the repository's rules (offline).

Keel's rule pack (:data:`RULE_PACK`) runs on every Python file in scope whatever the
repository says: its files are named one by one (so ``.semgrepignore`` and semgrep's
default ignores do not apply) and ``# nosemgrep`` is disabled; a finding on a line that
carries such a comment says so in its message, for the human to judge. A repository's
own rules (`keel.tools.repo_config.semgrep_config`) run in a second pass with
``.semgrepignore`` and ``# nosemgrep`` honoured; their rule ids start with ``repo.``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from keel.core.vocabulary import Category, Severity
from keel.tools._proc import ToolMissingError, run
from keel.tools._repo import RepoPathError, relative, resolve_in_repo
from keel.tools._targets import python_files
from keel.tools.issues import Issue, make_issue
from keel.tools.repo_config import Scan, semgrep_config

__all__ = [
    "REPO_RULE_PREFIX",
    "RULE_PACK",
    "SemgrepError",
    "SemgrepMissingError",
    "find_semgrep",
    "run_semgrep",
    "semgrep_scan",
]

RULE_PACK = Path(__file__).resolve().parent / "rules" / "keel-python.yml"
"""Keel's semgrep rules: taint flows bandit cannot see."""

REPO_RULE_PREFIX = "repo."
"""Prefix of the rule ids of a repository's own semgrep rules (never mistaken for Keel's)."""

_PROJECT_ROOT = Path(__file__).resolve().parent.parent
_NOSEM = re.compile(r"\bnosem(?:grep)?\b")
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


def _waived(root: Path, file: str, line: int) -> bool:
    """Whether the finding's line, or the line before it, carries a ``nosemgrep`` comment."""
    try:
        text = resolve_in_repo(root, file).read_bytes().decode("utf-8", "replace")
    except (RepoPathError, OSError):
        return False
    lines = text.splitlines()
    return any(_NOSEM.search(lines[n - 1]) for n in (line - 1, line) if 0 < n <= len(lines))


def _issue(root: Path, rec: dict[str, Any], known: list[str], prefix: str = "") -> Issue | None:
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
    line = int(start.get("line", 1))
    if not prefix and _waived(root, file, line):
        message = (
            f"{message} [the line carries a `# nosemgrep` comment; Keel's own rules are not "
            "waived by the repository]"
        )
    return make_issue(
        root,
        tool="semgrep",
        rule=prefix + _rule_id(str(rec.get("check_id", "")), known),
        file=file,
        line=line,
        end_line=int(end.get("line", start.get("line", 1))),
        col=start.get("col"),
        message=message,
        severity=_SEVERITY.get(str(extra.get("severity", "")).upper(), "medium"),
        category=category,
        confidence=_CONFIDENCE.get(str(metadata.get("confidence", "")).upper(), 0.8),
    )


def _semgrep(
    exe: Path,
    root: Path,
    config: Path,
    targets: Sequence[str],
    extra: Sequence[str],
    timeout: float,
) -> dict[str, Any]:
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
            *extra,
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
    return report


def _includes(root: Path, paths: Sequence[str]) -> list[str]:
    """``--include`` patterns selecting `paths` under a scan of the root ([] for the root)."""
    patterns: list[str] = []
    for p in paths:
        rel = relative(root, resolve_in_repo(root, p)) or "."
        if rel == ".":
            return []
        patterns.append(f"--include=/{rel}/**" if (root / rel).is_dir() else f"--include=/{rel}")
    return patterns


def _repo_rule_ids(root: Path, config: Path) -> list[str]:
    files = [config] if config.is_file() else sorted(config.rglob("*.y*ml"))
    return [rule for f in files for rule in _rule_ids(f)]


def semgrep_scan(
    root: Path,
    paths: Sequence[str],
    timeout: float = 120,
    config: Path = RULE_PACK,
) -> Scan:
    """Scan Python files with Keel's rule pack, then the repository's own rules, offline.

    Args:
        root: Repository root.
        paths: Repository-relative files or directories.
        timeout: Seconds before each semgrep pass is killed.
        config: Keel's rule file; :data:`RULE_PACK` by default.

    Returns:
        Issues; category and CWE come from each rule's metadata, severity from the
        rule (ERROR=high, WARNING=medium, INFO=low). Keel's findings ignore
        ``.semgrepignore`` and ``# nosemgrep`` (see the module docstring); the
        repository's rules honour both. A failing pass of the repository's rules is
        a note, and Keel's findings are still returned.

    Raises:
        SemgrepMissingError: If semgrep is not installed.
        RepoPathError: If a path leaves the repository.
        ToolTimeoutError: If semgrep runs longer than ``timeout``.
        SemgrepError: If semgrep fails on Keel's rule pack.
    """
    exe = find_semgrep()
    settings = semgrep_config(root)
    files = python_files(root, paths)
    issues: list[Issue | None] = []
    if files:
        report = _semgrep(exe, root, config, files, ["--disable-nosem"], timeout)
        known = _rule_ids(config)
        issues += [_issue(root, rec, known) for rec in report.get("results", [])]
    notes: list[str] = []
    if settings.path is not None and paths:
        repo_config = resolve_in_repo(root, settings.path)
        try:
            repo = _semgrep(exe, root, repo_config, ["."], _includes(root, paths), timeout)
        except (SemgrepError, OSError) as exc:
            notes.append(f"the repository's semgrep rules ({settings.path}) failed: {exc}"[:500])
        else:
            mine = _repo_rule_ids(root, repo_config)
            issues += [_issue(root, rec, mine, REPO_RULE_PREFIX) for rec in repo.get("results", [])]
    found = sorted(
        (i for i in issues if i is not None), key=lambda i: (i["file"], i["line"], i["rule"])
    )
    return Scan(issues=found, config=settings, notes=notes)


def run_semgrep(
    root: Path,
    paths: Sequence[str],
    timeout: float = 120,
    config: Path = RULE_PACK,
) -> list[Issue]:
    """The issues of :func:`semgrep_scan` (the analyzer signature the agent tools use).

    Raises:
        SemgrepMissingError: If semgrep is not installed.
        RepoPathError: If a path leaves the repository.
        ToolTimeoutError: If semgrep runs longer than ``timeout``.
        SemgrepError: If semgrep fails on Keel's rule pack.
    """
    return semgrep_scan(root, paths, timeout, config).issues

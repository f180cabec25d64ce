"""The case specification the dataset sources are written in, and its JSONL rendering.

A case's files carry truth markers: a line ending in ``#@kind`` (or ``#@kind:N`` for a
span of N lines) is an expected finding of that kind at that line. Markers are stripped
before the files are written into the case's git repository, so the pipeline never sees
them; the JSONL records the findings they stand for under `reference`, which the target
never receives.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KINDS", "SENSITIVE_GLOBS", "CaseSpec", "Commit", "render_case"]

_MARK = re.compile(r"\s*#@(?P<kind>[a-z0-9-]+)(?::(?P<span>\d+))?$")

KINDS: dict[str, tuple[str, str]] = {
    # security
    "sql-injection": ("security", "high"),
    "command-injection": ("security", "high"),
    "unsafe-pickle": ("security", "high"),
    "unsafe-yaml": ("security", "high"),
    "path-traversal": ("security", "high"),
    "hardcoded-secret": ("security", "high"),
    "weak-hash": ("security", "medium"),
    "tls-verify-off": ("security", "high"),
    "eval-input": ("security", "high"),
    "insecure-tempfile": ("security", "medium"),
    "prompt-injection": ("security", "medium"),
    # correctness
    "broken-logic": ("correctness", "high"),
    "off-by-one": ("correctness", "medium"),
    "swallowed-exception": ("correctness", "medium"),
    "mutable-default": ("correctness", "medium"),
    "literal-identity": ("correctness", "medium"),
    # style
    "unused-import": ("style", "low"),
    "unused-variable": ("style", "low"),
    "fstring-no-placeholder": ("style", "low"),
    "none-comparison": ("style", "low"),
    "star-import": ("style", "low"),
}
"""Every finding kind a case may mark: kind → (category, expected severity)."""

SENSITIVE_GLOBS = ("*auth*", "*crypto*", "*payment*", "*secret*")
"""Paths a competent team always wants a human to look at (Keel's defaults agree)."""

_REVIEW_TOOLS: dict[str, list[str]] = {
    "security": ["git_diff", "run_bandit", "scan_secrets", "run_semgrep", "submit_findings"],
    "style": ["git_diff", "run_ruff", "submit_findings"],
    "correctness": ["git_diff", "read_file", "submit_findings"],
}
_AUDIT_TOOLS: dict[str, list[str]] = {
    "security": ["run_bandit", "scan_secrets", "run_semgrep", "submit_findings"],
    "style": ["run_ruff", "submit_findings"],
    "correctness": ["read_file", "submit_findings"],
}
_NON_PYTHON_TOOLS = ["git_diff", "scan_secrets", "submit_findings"]


@dataclass
class Commit:
    """One commit of a case repository (or the staged index when it is last)."""

    message: str
    files: dict[str, str | None] = field(default_factory=dict)
    """Text files written (None deletes the file)."""
    binary: dict[str, bytes] = field(default_factory=dict)
    """Binary files written as bytes (non-UTF-8 text counts as binary here)."""


@dataclass
class CaseSpec:
    """One evaluation case, before rendering to JSONL."""

    id: str
    tags: list[str]
    description: str
    commits: list[Commit]
    staged: Commit | None = None
    mode: str = "review"
    rev_range: str | None = None
    review_staged: bool = False
    guards: dict[str, Any] = field(default_factory=dict)
    must_review: bool | None = None
    """None: derive from the expected findings (high+, sensitive path, injection)."""
    review_reason: str = ""
    guard_events: list[str] = field(default_factory=list)
    retention_prefixes: list[str] = field(default_factory=list)
    """Files (path prefixes) whose findings count as early facts for retention."""
    budget: dict[str, int] = field(default_factory=dict)
    task: str = ""
    extra_findings: list[dict[str, Any]] = field(default_factory=list)
    """Expected findings in files markers cannot annotate (binary, non-UTF-8)."""


def _strip(path: str, text: str) -> tuple[str, list[dict[str, Any]]]:
    lines, found = [], []
    for number, line in enumerate(text.splitlines(), 1):
        match = _MARK.search(line)
        if match:
            kind = match.group("kind")
            if kind not in KINDS:
                raise ValueError(f"{path}:{number}: unknown kind {kind!r}")
            span = int(match.group("span") or 1)
            category, severity = KINDS[kind]
            found.append(
                {
                    "file": path,
                    "lines": [number, number + span - 1],
                    "category": category,
                    "severity": severity,
                    "kind": kind,
                }
            )
            line = line[: match.start()]
        lines.append(line)
    return "\n".join(lines) + ("\n" if text.endswith("\n") else ""), found


def _encode(commit: Commit) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    files: dict[str, str | None] = {}
    marks: dict[str, list[dict[str, Any]]] = {}
    for path, text in commit.files.items():
        if text is None:
            files[path] = None
            marks[path] = []
            continue
        files[path], marks[path] = _strip(path, text)
    data: dict[str, Any] = {"message": commit.message, "files": files}
    if commit.binary:
        data["files_b64"] = {p: base64.b64encode(b).decode() for p, b in commit.binary.items()}
        for path in commit.binary:
            marks[path] = []
    return data, marks


def _is_python(path: str) -> bool:
    return path.endswith((".py", ".pyi"))


def _tools(mode: str, scope: list[str]) -> dict[str, list[str]]:
    table = _AUDIT_TOOLS if mode == "audit" else _REVIEW_TOOLS
    if any(_is_python(p) for p in scope):
        return {name: list(tools) for name, tools in table.items()}
    if not scope:
        return {}
    security = table["security"] if mode == "audit" else _NON_PYTHON_TOOLS
    return {"security": list(security)}


def _must_review(findings: list[dict[str, Any]]) -> tuple[bool, str]:
    import fnmatch

    reasons = []
    if any(f["severity"] in ("high", "critical") for f in findings):
        reasons.append("a finding at or above high severity")
    if any(any(fnmatch.fnmatch(f["file"], g) for g in SENSITIVE_GLOBS) for f in findings):
        reasons.append("a finding in a sensitive path")
    if any(f["kind"] == "prompt-injection" for f in findings):
        reasons.append("the change contains instructions addressed to the reviewer")
    if reasons:
        return True, "; ".join(reasons)
    return False, "nothing a human must weigh: no finding, or only low/medium ones"


def render_case(spec: CaseSpec, version: str) -> dict[str, Any]:
    """Return the JSONL record of a case: `inputs` (what the target sees) and `reference`."""
    commits: list[dict[str, Any]] = []
    final_marks: dict[str, list[dict[str, Any]]] = {}
    for commit in spec.commits:
        data, marks = _encode(commit)
        commits.append(data)
        final_marks.update(marks)
    staged: dict[str, Any] | None = None
    if spec.staged is not None:
        staged, marks = _encode(spec.staged)
        final_marks.update(marks)
    findings = [f for marks in final_marks.values() for f in marks] + spec.extra_findings
    if spec.mode == "audit":
        tree: dict[str, bool] = {}
        for data in commits:
            for path, text in data["files"].items():
                tree[path] = text is not None
            for path in data.get("files_b64", {}):
                tree[path] = False  # binary: not in an audit's scope
        scope = sorted(p for p, text in tree.items() if text)
    elif spec.review_staged and staged is not None:
        scope = sorted(staged["files"]) + sorted(staged.get("files_b64", {}))
    else:
        last = commits[-1] if spec.rev_range is None else commits[-2]
        scope = sorted(p for p, t in last["files"].items() if t is not None)
        scope += sorted(last.get("files_b64", {}))
    must, reason = _must_review(findings)
    if spec.must_review is not None:
        must, reason = spec.must_review, spec.review_reason or reason
    retention = [
        f for f in findings if any(f["file"].startswith(p) for p in spec.retention_prefixes)
    ]
    default_budget = (
        {"tokens": 150_000, "tool_calls": 60, "model_calls": 20}
        if spec.mode == "audit"
        else {"tokens": 40_000, "tool_calls": 30, "model_calls": 12}
    )
    task = spec.task or (
        "Audit the whole repository."
        if spec.mode == "audit"
        else "Review the staged change."
        if spec.review_staged
        else f"Review the change {spec.rev_range or 'HEAD~1..HEAD'}."
    )
    return {
        "id": spec.id,
        "version": version,
        "tags": spec.tags,
        "description": spec.description,
        "inputs": {
            "task": task,
            "mode": spec.mode,
            "rev_range": spec.rev_range,
            "staged": spec.review_staged,
            "guards": spec.guards,
            "repo": {"commits": commits, "staged": staged},
        },
        "reference": {
            "findings": findings,
            "must_review": must,
            "review_reason": reason,
            "tools": _tools(spec.mode, scope),
            "guard_events": spec.guard_events,
            "retention_facts": retention,
            "budget": {**default_budget, **spec.budget},
        },
    }

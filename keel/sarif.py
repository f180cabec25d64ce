"""SARIF 2.1.0 output: what GitHub code scanning, editors and reviewdog read.

One run; `tool.driver` is Keel with one rule per finding kind (the tool's rule id, e.g.
`B602`, `keel.tainted-sql`, `F401`). Each result has a physical location relative to the
repository root (`%SRCROOT%`), the region's lines and the quoted code, a level from the
severity, the specialist, confidence, category and sources as properties, a
`partialFingerprints` entry that does not depend on line numbers (file, rule, normalised
code) so repeated reviews de-duplicate, and `fixes` when the finding carries a suggested
patch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from keel import __version__
from tools.diffs import hunks

__all__ = ["SARIF_SCHEMA", "LEVELS", "fingerprint", "to_sarif"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}


def fingerprint(finding: Mapping[str, Any]) -> str:
    """Stable across runs and line shifts: file, rule and the normalised quoted code."""
    code = " ".join(str(finding.get("evidence", "")).split())
    key = f"{finding['file']}\0{finding.get('rule', '')}\0{finding['category']}\0{code}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _rule_id(finding: Mapping[str, Any]) -> str:
    return str(finding.get("rule") or f"keel.{finding['specialist']}.{finding['category']}")


def _fixes(finding: Mapping[str, Any]) -> list[dict[str, Any]]:
    patch = finding.get("patch")
    if not patch:
        return []
    replacements = []
    for hunk in hunks(patch):
        if hunk.old_count == 0:
            region = {
                "startLine": hunk.old_start + 1,
                "startColumn": 1,
                "endLine": hunk.old_start + 1,
                "endColumn": 1,
            }
        else:
            region = {
                "startLine": hunk.old_start,
                "startColumn": 1,
                "endLine": hunk.old_start + hunk.old_count,
                "endColumn": 1,
            }
        replacements.append(
            {"deletedRegion": region, "insertedContent": {"text": "".join(hunk.new_lines)}}
        )
    return [
        {
            "description": {"text": "Automatic fix (ruff); apply it only after review"},
            "artifactChanges": [
                {
                    "artifactLocation": {"uri": finding["file"], "uriBaseId": "%SRCROOT%"},
                    "replacements": replacements,
                }
            ],
        }
    ]


def to_sarif(data: Mapping[str, Any]) -> dict[str, Any]:
    """Convert a report's data (`Report["data"]`) to a SARIF 2.1.0 log."""
    findings = list(data.get("findings") or [])
    rules: dict[str, dict[str, Any]] = {}
    for finding in findings:
        rule = _rule_id(finding)
        if rule not in rules:
            rules[rule] = {
                "id": rule,
                "shortDescription": {"text": str(finding["title"])[:200]},
                "help": {
                    "text": f"Reported by Keel's {finding['specialist']} specialist "
                    f"({', '.join(finding.get('sources') or [])}): {finding['title']}"
                },
                "defaultConfiguration": {"level": LEVELS[finding["severity"]]},
                "properties": {"category": finding["category"]},
            }
    index = {rule: i for i, rule in enumerate(rules)}
    results = []
    for finding in findings:
        rule = _rule_id(finding)
        region: dict[str, Any] = {"startLine": finding["line"], "endLine": finding["end_line"]}
        if finding.get("evidence"):
            region["snippet"] = {"text": finding["evidence"]}
        result: dict[str, Any] = {
            "ruleId": rule,
            "ruleIndex": index[rule],
            "level": LEVELS[finding["severity"]],
            "message": {"text": finding["title"]},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": finding["file"], "uriBaseId": "%SRCROOT%"},
                        "region": region,
                    }
                }
            ],
            "partialFingerprints": {"keel/v1": fingerprint(finding)},
            "properties": {
                "severity": finding["severity"],
                "category": finding["category"],
                "specialist": finding["specialist"],
                "confidence": finding["confidence"],
                "sources": list(finding.get("sources") or []),
            },
        }
        fixes = _fixes(finding)
        if fixes:
            result["fixes"] = fixes
        results.append(result)
    task = data.get("task") or {}
    repo = str(task.get("repo") or ".")
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "Keel",
                "version": __version__,
                "rules": list(rules.values()),
            }
        },
        "originalUriBaseIds": {"%SRCROOT%": {"uri": Path(repo).resolve().as_uri() + "/"}},
        "invocations": [{"executionSuccessful": data.get("status") != "failed"}],
        "results": results,
        "properties": {
            "model": data.get("model"),
            "offline": bool(data.get("offline")),
            "thread_id": data.get("thread_id"),
            "range": task.get("rev_range"),
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}

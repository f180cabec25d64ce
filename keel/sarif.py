"""SARIF 2.1.0 output: what GitHub code scanning, editors and reviewdog read.

One run; `tool.driver` is Keel with one rule per finding kind (the tool's rule id, e.g.
`B602`, `keel.tainted-sql`, `F401`). Each result has a physical location relative to the
repository root (`%SRCROOT%`), the region's lines and the quoted code, a level from the
severity, the specialist, confidence, category and sources as properties, a
`partialFingerprints` entry that does not depend on line numbers (file, rule, normalised
code) so repeated reviews de-duplicate, and `fixes` when the finding carries a suggested
patch.

The results are the findings the report shows (`data["shown"]`): in a review, those its
diff filter selects — by default what the change introduced, so pre-existing findings
are SARIF results only when asked for (`keel review --filter file` or `all`). Each
result of a review carries its place in the diff as the `diff` property.

A finding a reviewer dismissed in an earlier review (`nodes/baseline.py`) is a result
with an external, accepted suppression (the reason as its justification) and
`baselineState` `unchanged`; every other result is `new` (both only when the report
looked the repository's baseline up).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from keel import __version__
from keel.nodes.agents.diff_filter import shown
from keel.nodes.baseline import stable_fingerprint
from keel.tools.diffs import hunks

__all__ = ["SARIF_SCHEMA", "LEVELS", "fingerprint", "to_sarif"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}


def fingerprint(finding: Mapping[str, Any]) -> str:
    """Stable across runs and line shifts: file, rule and the normalised quoted code.

    The same id keys a remembered dismissal (`keel.nodes.baseline.stable_fingerprint`).
    """
    return stable_fingerprint(finding)


def _baseline(finding: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """`baselineState` and `suppressions` against the repository's remembered dismissals.

    Only when the report looked the baseline up (`data["baseline"]["remembered"]`): a
    suppressed finding is `unchanged` with an external, accepted suppression carrying
    the reviewer's reason; any other result is `new`.
    """
    if not (data.get("baseline") or {}).get("remembered"):
        return {}
    why = finding.get("suppressed")
    if not why:
        return {"baselineState": "new"}
    return {
        "baselineState": "unchanged",
        "suppressions": [
            {
                "kind": "external",
                "status": "accepted",
                "justification": why["reason"],
                "properties": {
                    "reviewer": why["reviewer"],
                    "at": why["at"],
                    "thread_id": why["thread_id"],
                },
            }
        ],
    }


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
    """Convert a report's data (`Report["data"]`) to a SARIF 2.1.0 log.

    The results are `data["shown"]`, or every finding for a report without it (older).
    """
    findings = list(data["shown"] if "shown" in data else data.get("findings") or [])
    # suppressed findings the filter shows are results too, with their suppression
    findings += shown(list(data.get("suppressed") or []), data.get("diff_filter"))
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
            }
            | ({"diff": finding["diff"]} if finding.get("diff") else {}),
        }
        result |= _baseline(finding, data)
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
            "diff_filter": data.get("diff_filter"),
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}

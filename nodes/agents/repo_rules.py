"""What the repository's Keel configuration and its remembered dismissals do to a report.

`report` calls `apply` once, before it checks the review triggers: severity overrides
(`keel.tools.keel_config.KeelConfig.override`, with Keel's own limits) change a finding's or a
tool issue's severity and say so in its title or message; then the repository's
baseline (`keel.nodes.baseline.suppress`) marks the findings a reviewer dismissed before.
`render.py` shows the result with `config_lines`, `suppressed_lines` and
`dismissed_lines`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from langgraph.store.base import BaseStore

from keel.core.state import BaselineRef, Finding, ToolEvidence
from keel.nodes import baseline
from keel.nodes.context import KeelContext
from keel.tools.keel_config import KeelConfig, effective_review

__all__ = [
    "apply",
    "config_lines",
    "dismissed_lines",
    "override_evidence",
    "override_findings",
    "suppressed_lines",
    "with_policy_notes",
]

SUPPRESSED_SHOWN = 100
"""Suppressed findings listed in the Markdown; the JSON report has every one."""


def _overridden(item: Mapping[str, Any], text: str, config: KeelConfig) -> dict[str, Any] | None:
    """`item` with the configuration's severity and the change said in `text`, or None."""
    found = config.override(item["rule"], item["file"], item["category"], item["severity"])
    if found is None:
        return None
    severity, entry = found
    note = f" [severity {item['severity']} -> {severity}: {config.file} {entry.key}]"
    return {**item, "severity": severity, text: f"{item[text]}{note}"}


def override_findings(findings: Sequence[Finding], config: KeelConfig) -> list[Finding]:
    """The findings with the configuration's severity overrides applied.

    A changed finding's title ends with what changed and which setting changed it, e.g.
    ``[severity high -> low: pyproject.toml tool.keel.severity[0]]``.
    """
    return [cast(Finding, _overridden(f, "title", config) or f) for f in findings]


def override_evidence(evidence: Sequence[ToolEvidence], config: KeelConfig) -> list[ToolEvidence]:
    """The tool issues with the overrides applied (the note ends the `message`)."""
    return [cast(ToolEvidence, _overridden(e, "message", config) or e) for e in evidence]


def apply(
    findings: Sequence[Finding],
    evidence: Sequence[ToolEvidence],
    *,
    config: Mapping[str, Any] | None,
    ref: BaselineRef | None,
    store: BaseStore | None,
) -> tuple[list[Finding], list[ToolEvidence], BaselineRef | None]:
    """Severity overrides, then the baseline (in `store`); returns findings, evidence, ref."""
    keel_config = KeelConfig.from_dict(config)
    found = override_findings(findings, keel_config)
    issues = override_evidence(evidence, keel_config)
    marked, counted = baseline.suppress(found, ref, store)
    return marked, issues, counted


def with_policy_notes(
    config: Mapping[str, Any] | None, context: KeelContext
) -> dict[str, Any] | None:
    """The stored configuration with a note for each review setting it could not loosen.

    `context` is the run's own (before `KeelContext.with_repo_config`). None: no
    configuration was read (an older thread).
    """
    if config is None:
        return None
    _, _, _, notes = effective_review(
        KeelConfig.from_dict(config),
        min_severity=context.review_min_severity,
        sample_rate=context.review_sample_rate,
        sensitive_paths=context.guards.sensitive_paths,
    )
    kept = list(config.get("notes") or [])
    return {**config, "notes": [*kept, *(n for n in notes if n not in kept)]}


def config_lines(data: Mapping[str, Any]) -> list[str]:
    """The report's *Configuration* section: the file used and what it set.

    Nothing when the repository has no Keel configuration and there is nothing to note.
    """
    config = data.get("keel_config") or {}
    notes = list(config.get("notes") or [])
    if not config.get("file") and not notes:
        return []
    lines = ["## Configuration", ""]
    if config.get("file"):
        lines.append(f"- **File:** `{config['where']}`")
        lines += [f"  - `{line}`" for line in config.get("set") or []] or ["  - sets nothing"]
    else:
        lines.append("- **File:** none (`.keel.toml` or `[tool.keel]`): Keel's defaults")
    lines += [f"- note: {note}" for note in notes]
    return [*lines, ""]


def suppressed_lines(data: Mapping[str, Any]) -> list[str]:
    """The *Suppressed* section: findings a reviewer dismissed before, unchanged since."""
    suppressed = data.get("suppressed") or []
    if not suppressed:
        return []
    ref = data.get("baseline") or {}
    lines = [
        "## Suppressed",
        "",
        f"{len(suppressed)} finding(s) a reviewer dismissed in an earlier review of this "
        f"repository ({ref.get('identified_by', 'this repository')}), with the same code "
        "since: not review triggers. `keel baseline clear REPO` raises them again.",
        "",
    ]
    for f in suppressed[:SUPPRESSED_SHOWN]:
        why = f["suppressed"]
        lines.append(
            f"- [{f['severity'].upper()}] `{f['file']}:{f['line']}` {f['title']} · rule "
            f"`{f['rule'] or '-'}` — dismissed by {why['reviewer']} at {why['at']} "
            f"(thread `{why['thread_id']}`): {why['reason']}"
        )
    if len(suppressed) > SUPPRESSED_SHOWN:
        lines.append(f"- … and {len(suppressed) - SUPPRESSED_SHOWN} more (see the JSON report)")
    return [*lines, ""]


def dismissed_lines(review: Mapping[str, Any]) -> list[str]:
    """The dismissals of a human review, for its section (one line each)."""
    lines = []
    for d in review.get("dismissed") or []:
        kept = "remembered for this repository" if d.get("remembered") else "not remembered"
        lines.append(
            f"- dismissed `{d['file']}:{d['line']}` rule `{d['rule']}` ({kept}): {d['reason']}"
        )
    return lines

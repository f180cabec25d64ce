"""Render the blackboard as a report: Markdown for people, a dict for machines.

Findings that several tools raised on the same file, line and category are shown once,
with every tool listed as a source. The model label is on every report: `offline` means
Keel's deterministic policy model ran, not an LLM.

A review's report lists the findings its diff filter shows (`diff_filter.py`); the others
are counted and listed one line each under a collapsed `<details>` heading. The data
keeps every finding, each with its class (`diff`): `findings` is all of them, `shown`
what the filter shows (all, in an audit), `counts` the severities of `shown`,
`diff_filter` and `diff_counts` the filter and the classes (None and {} in an audit).
A suppressed finding (dismissed in an earlier review: `nodes/baseline.py`) stays in
`findings`, is listed in `suppressed` and under *Suppressed*, never in `shown` or
`counts`; `keel_config` is the repository's Keel configuration (`repo_rules.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from keel.core.state import Finding, FindingStatus, Report, ToolEvidence
from keel.core.vocabulary import SEVERITIES, SEVERITY_ORDER
from keel.nodes.context import DiffFilter

from . import repo_rules
from .diff_filter import DIFF_CLASSES, diff_counts, shown, shows

__all__ = ["OFFLINE_NOTE", "merge_findings", "render_report"]

OFFLINE_NOTE = (
    "offline — Keel's deterministic policy model: findings come from the tools' output; "
    "no LLM judged this code"
)


def merge_findings(findings: Sequence[Finding]) -> list[Finding]:
    """Merge findings on the same file, line and category; most severe first."""
    merged: dict[tuple[str, int, str], Finding] = {}
    for finding in findings:
        key = (finding["file"], finding["line"], finding["category"])
        if key not in merged:
            merged[key] = Finding(**{**finding, "sources": list(finding["sources"])})
            continue
        kept = merged[key]
        if SEVERITY_ORDER[finding["severity"]] > SEVERITY_ORDER[kept["severity"]]:
            kept["severity"] = finding["severity"]
            kept["title"], kept["rule"] = finding["title"], finding["rule"]
        kept["confidence"] = max(kept["confidence"], finding["confidence"])
        kept["end_line"] = max(kept["end_line"], finding["end_line"])
        kept["sources"] = sorted({*kept["sources"], *finding["sources"]})
        kept["fixable"] = bool(kept.get("fixable") or finding.get("fixable"))
        status = _best_status(kept.get("status"), finding.get("status"))
        if status is not None:
            kept["status"] = status
        if "diff" in kept and "diff" in finding:  # the place nearest the change wins
            kept["diff"] = min(kept["diff"], finding["diff"], key=DIFF_CLASSES.index)
        else:
            kept.pop("diff", None)  # one copy without a class: shown whatever the filter
        if not finding.get("suppressed"):  # suppressed only when every copy is
            kept.pop("suppressed", None)
    return sorted(
        merged.values(),
        key=lambda f: (-SEVERITY_ORDER[f["severity"]], f["file"], f["line"], f["rule"]),
    )


_STATUS_RANK = {"unconfirmed": 0, "reported": 1, "confirmed": 2}


def _best_status(a: FindingStatus | None, b: FindingStatus | None) -> FindingStatus | None:
    """A finding a specialist confirmed stays confirmed when a tool-only copy merges in."""
    if a is None or b is None:
        return a if b is None else b
    return a if _STATUS_RANK[a] >= _STATUS_RANK[b] else b


def _evidence_summary(evidence: Sequence[ToolEvidence]) -> dict[str, Any]:
    counts = {"confirmed": 0, "dismissed": 0, "unaddressed": 0}
    for item in evidence:
        counts[item.get("status") or "unaddressed"] += 1
    dismissed = [
        {
            "specialist": e["specialist"],
            "tool": e["tool"],
            "rule": e["rule"],
            "file": e["file"],
            "line": e["line"],
            "severity": e["severity"],
            "message": e["message"],
            "reason": e.get("reason", ""),
        }
        for e in evidence
        if e.get("status") == "dismissed"
    ]
    serious = sorted(
        {
            (e["file"], e["line"], e["tool"], e["rule"], e["severity"])
            for e in evidence
            if SEVERITY_ORDER[e["severity"]] >= SEVERITY_ORDER["high"]
        }
    )
    return {
        "total": len(evidence),
        **counts,
        "dismissed_items": dismissed,
        "high_or_above": [
            {"file": f, "line": n, "tool": t, "rule": r, "severity": v} for f, n, t, r, v in serious
        ],
    }


def _label(model_label: str) -> str:
    return OFFLINE_NOTE if model_label == "offline" else model_label


def render_report(
    state: Mapping[str, Any],
    *,
    thread_id: str,
    model_label: str,
    diff_filter: DiffFilter | None = None,
) -> Report:
    """Return the Markdown and JSON report of a pipeline state.

    `diff_filter`: a review's filter (`diff_filter.active_filter`); None lists everything.
    """
    task = state.get("task") or {}
    findings = merge_findings(state.get("findings") or [])
    visible = shown([f for f in findings if not f.get("suppressed")], diff_filter)
    counts = {s: 0 for s in reversed(SEVERITIES)}  # most severe first
    for finding in visible:
        counts[finding["severity"]] += 1
    data: dict[str, Any] = {
        "thread_id": thread_id,
        "model": model_label,
        "offline": model_label == "offline",
        "status": state.get("status"),
        "task": task,
        "scope": state.get("scope") or [],
        "skipped": state.get("skipped") or [],
        "counts": counts,
        "findings": findings,
        "shown": visible,
        "diff_filter": diff_filter,
        "diff_counts": diff_counts(findings) if diff_filter else {},
        "handoffs": state.get("handoffs") or [],
        "evidence": _evidence_summary(state.get("evidence") or []),
        "pending_actions": [
            {k: v for k, v in a.items() if k != "args"} | {"args": _short_args(a["args"])}
            for a in state.get("pending_actions") or []
        ],
        "review": state.get("review"),
        "action_results": state.get("action_results") or [],
        "blockers": state.get("blockers") or [],
        "guard_events": state.get("guard_events") or [],
        "usage": state.get("usage") or {},
        "budget_grants": state.get("budget_grants") or [],
        "tool_config": _tool_config(state),
        "suppressed": [f for f in findings if f.get("suppressed")],
        "keel_config": state.get("repo_config"),
        "baseline": state.get("baseline"),
    }
    return Report(markdown=_markdown(data), data=data)


def _tool_config(state: Mapping[str, Any]) -> dict[str, Any]:
    """Which configuration each analyzer used (`keel.tools.repo_config.describe`).

    The report node puts it in the state it renders; a later render (finalize) keeps the
    one of the report before it.
    """
    given = state.get("tool_config")
    if given is None:
        given = ((state.get("report") or {}).get("data") or {}).get("tool_config")
    return dict(given or {})


HIDDEN_SHOWN = 200
"""Findings the diff filter hides listed in the Markdown; the JSON report has every one."""

_PLACES = {
    "introduced": "introduced",
    "context": "in the diff's context",
    "pre-existing": "pre-existing",
    "outside": "in a file the change does not touch",
}
_FILTERS = {
    "added": "findings the change introduced",
    "diff_context": "findings the change introduced or in its context lines",
    "file": "findings in the files the change touches",
    "all": "every finding",
}


def _where(f: Mapping[str, Any]) -> str:
    return f"{f['file']}:{f['line']}" + (f"-{f['end_line']}" if f["end_line"] != f["line"] else "")


def _filter_line(data: Mapping[str, Any]) -> list[str]:
    """The header line of a review's filter: what is listed, and the classes counted."""
    if not data["diff_filter"]:
        return []
    counts = data["diff_counts"]
    classes = ", ".join(f"{counts[c]} {_PLACES[c]}" for c in DIFF_CLASSES if counts.get(c))
    return [
        f"- **Diff filter:** `{data['diff_filter']}` — listed: {_FILTERS[data['diff_filter']]}"
        + (f" ({classes})" if classes else "")
    ]


def _hidden_lines(data: Mapping[str, Any]) -> list[str]:
    """The collapsed section of the findings the filter hides, one line each."""
    if not data["diff_filter"]:
        return []
    hidden = [
        f for f in data["findings"] if not shows(f, data["diff_filter"]) and not f.get("suppressed")
    ]
    if not hidden:
        return []
    counts: dict[str, int] = {}
    for f in hidden:
        counts[f["diff"]] = counts.get(f["diff"], 0) + 1
    what = ", ".join(f"{counts[c]} {_PLACES[c]}" for c in DIFF_CLASSES if c in counts)
    lines = [
        "<details>",
        f"<summary>{what} finding(s), not listed above (diff filter "
        f"<code>{data['diff_filter']}</code>)</summary>",
        "",
    ]
    for f in hidden[:HIDDEN_SHOWN]:
        lines.append(
            f"- [{f['severity'].upper()}] `{_where(f)}` {f['title']} · rule "
            f"`{f['rule'] or '-'}` · {_PLACES[f['diff']]}"
        )
    if len(hidden) > HIDDEN_SHOWN:
        lines.append(f"- … and {len(hidden) - HIDDEN_SHOWN} more (see the JSON report)")
    return [*lines, "", "</details>", ""]


SKIPPED_SHOWN = 30
"""Skipped paths listed in the Markdown; the JSON report lists every one."""


def _skipped_lines(skipped: Sequence[Mapping[str, Any]]) -> list[str]:
    """The `## Skipped paths` section: what was not analyzed (or not by every analyzer)."""
    if not skipped:
        return []
    lines = ["## Skipped paths", ""]
    for item in skipped[:SKIPPED_SHOWN]:
        who = f"not read by {', '.join(item['skipped_by'])}" if item["in_scope"] else "not analyzed"
        lines.append(f"- `{item['path']}` — {item['kind']}, {who}: {item['reason']}")
    if len(skipped) > SKIPPED_SHOWN:
        lines.append(f"- … and {len(skipped) - SKIPPED_SHOWN} more (see the JSON report)")
    return [*lines, ""]


def _short_args(args: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: (v if not isinstance(v, str) or len(v) < 200 else v[:200] + "…") for k, v in args.items()
    }


def _markdown(data: Mapping[str, Any]) -> str:
    task = data["task"]
    lines = [
        "# Keel review",
        "",
        f"- **Model:** {_label(data['model'])}",
        f"- **Thread:** `{data['thread_id']}` — status **{data['status']}**",
        f"- **Task:** {task.get('goal', '')}",
        f"- **Repository:** `{task.get('repo', '')}`"
        + (f" — range `{task['rev_range']}`" if task.get("rev_range") else ""),
        f"- **Files in scope:** {len(data['scope'])}"
        + (f" ({len(data['skipped'])} path(s) skipped, below)" if data["skipped"] else ""),
        *_filter_line(data),
        "",
        "| " + " | ".join(data["counts"]) + " |",
        "|" + "---:|" * len(data["counts"]),
        "| " + " | ".join(str(data["counts"][s]) for s in data["counts"]) + " |",
        "",
        "## Findings",
        "",
    ]
    if not data["shown"]:
        everything = len(data["findings"]) == len(data["suppressed"])  # none, or suppressed
        lines += ["No findings." if everything else "No findings in the change.", ""]
    for f in data["shown"]:
        judged = " · **unconfirmed** (tool only)" if f.get("status") == "unconfirmed" else ""
        place = f" · {_PLACES[f['diff']]}" if data["diff_filter"] and f.get("diff") else ""
        lines += [
            f"### [{f['severity'].upper()}] {f['title']}",
            "",
            f"`{_where(f)}` · {f['category']} · rule `{f['rule'] or '-'}` · "
            f"{f['specialist']} · confidence {f['confidence']:.2f} · "
            f"sources: {', '.join(f['sources'])}{judged}{place}",
            "",
            "```",
            f["evidence"],
            "```",
            "",
        ]
        if f.get("patch"):
            lines += [
                "Suggested fix (applied only after review):",
                "",
                "```diff",
                f["patch"].rstrip("\n"),
                "```",
                "",
            ]
    lines += _hidden_lines(data)
    lines += repo_rules.suppressed_lines(data)
    if data["handoffs"]:
        lines += ["## Specialists", ""]
        for h in data["handoffs"]:
            claimed = h.get("claimed_confidence")
            said = f", claimed {claimed:.2f}" if claimed is not None else ""
            lines.append(f"- **{h['source']}** ({h['confidence']:.2f}{said}): {h['summary']}")
            lines += [f"  - open: {q}" for q in h["open_questions"]]
        lines.append("")
    evidence = data["evidence"]
    if evidence["total"]:
        lines += [
            "## Tool evidence",
            "",
            f"{evidence['total']} issue(s) reported by the analyzers: {evidence['confirmed']} "
            f"confirmed by a specialist, {evidence['dismissed']} dismissed, "
            f"{evidence['unaddressed']} unaddressed (listed above as unconfirmed).",
            "",
        ]
        for d in evidence["dismissed_items"]:
            lines.append(
                f"- dismissed by {d['specialist']}: {d['tool']} `{d['rule']}` ({d['severity']}) "
                f"at `{d['file']}:{d['line']}` — {d['message']} — reason: {d['reason']}"
            )
        if evidence["dismissed_items"]:
            lines.append("")
    lines += repo_rules.config_lines(data)
    if data["tool_config"]:
        lines += ["## Tool configuration", ""]
        for tool, used in data["tool_config"].items():
            lines.append(f"- **{tool}**: {used['source']}")
            lines += [f"  - {note}" for note in used.get("notes") or []]
        lines.append("")
    if data["pending_actions"]:
        lines += ["## Actions (run only after human review)", ""]
        for a in data["pending_actions"]:
            lines.append(f"- `{a['name']}` ({a['effect']}) — {a['reason']}")
        lines.append("")
    if data["review"]:
        review = data["review"]
        decisions = ", ".join(d.get("type", "?") for d in review["decisions"])
        lines += [
            "## Human review",
            "",
            f"- triggers: {'; '.join(review['triggers'])}",
            f"- reviewer: {review['reviewer']} at {review['at']} — decisions: {decisions}",
            *repo_rules.dismissed_lines(review),
            "",
        ]
    if data["action_results"]:
        lines += ["## Action results", ""]
        for r in data["action_results"]:
            lines.append(f"- `{r['name']}`: {r['status']} ({r['decision']}) — {r['detail']}")
        lines.append("")
    if data["blockers"]:
        lines += ["## Blockers", "", *[f"- {b}" for b in data["blockers"]], ""]
    lines += _skipped_lines(data["skipped"])
    lines += ["## Guard events", ""]
    if not data["guard_events"]:
        lines.append("None.")
    for e in data["guard_events"]:
        lines.append(f"- `{e['guard']}` {e['verdict']} on {e['agent']}: {e['reason']}")
    usage = data["usage"]
    lines += [
        "",
        "## Usage",
        "",
        f"{usage.get('model_calls', 0)} model calls, {usage.get('tool_calls', 0)} tool calls, "
        f"{usage.get('input_tokens', 0)} tokens in / {usage.get('output_tokens', 0)} out "
        f"(approximate), ${usage.get('cost_usd', 0):.4f}, {usage.get('seconds', 0):.2f} s "
        "waiting for the model.",
        "",
    ]
    return "\n".join(lines)

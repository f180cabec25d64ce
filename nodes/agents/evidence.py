"""Tool evidence: what the analyzers found, recorded apart from what the model says.

Contract:

* **Recorded as it arrives.** Every issue an analyzer tool returns inside a specialist's
  loop (the `AnalyzerRun` artifact on its `ToolMessage`, never truncated) becomes a
  `ToolEvidence` entry in typed state (`record`), before the model reads the result. What
  the model submits later cannot remove it; compressing messages cannot either.
* **Coverage is backfilled.** At `finish`, each of the specialist's analyzers that did not
  scan every file of its step (never called, called on other paths, or failed) is run on
  the files it missed (`coverage_gaps`, `backfill`), so a model that skips a tool still
  gets its evidence reconciled.
* **Reconciled once, at `finish`** (`reconcile`): each piece of evidence is
  `confirmed` (a submitted finding at that file and lines, with that rule or area),
  `LINE_SLACK` lines of slack for a finding that names the tool's rule, none for one that
  only shares its area: a model's finding on one line never absorbs a different issue a
  line away (a hard-coded secret on line 11 does not confirm the AWS key on line 10),
  `dismissed` (the submission names it with a reason) or `unaddressed`. Unaddressed
  evidence becomes a finding with status `unconfirmed` (source: the tool). A confirmed
  finding's severity is never below the tool's (lowering it takes a dismissal), and its
  lines cover the tool's, so the report shows every line a tool flagged.
* Evidence still without a status when a specialist stops without submitting (a halting
  guard) is treated as unaddressed by the report (`unconfirmed_findings`).

Failure modes: a backfill run that fails (analyzer missing, timeout) is returned as a
note for the handoff's open questions; its files stay uncovered and say so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from keel.core.state import SEVERITY_ORDER, Finding, FindingStatus, Severity, ToolEvidence
from keel.tools.agent_tools import ANALYZERS, AnalyzerRun
from keel.tools.issues import Issue, mask_secrets

from .grounding import fingerprint
from .schemas import Dismissal

__all__ = [
    "LINE_SLACK",
    "Reconciliation",
    "analyzed_paths",
    "backfill",
    "coverage_gaps",
    "record",
    "reconcile",
    "unconfirmed_findings",
]

LINE_SLACK = 2
"""How many lines a finding or dismissal may be off the tool's line and still match it."""


def _evidence(issue: Issue, specialist: str) -> ToolEvidence:
    code = mask_secrets(issue.get("code") or "")
    return ToolEvidence(
        id=fingerprint(issue["file"], f"{issue['tool']}:{issue['rule']}", issue["line"], code),
        specialist=specialist,
        tool=issue["tool"],
        rule=issue["rule"],
        file=issue["file"],
        line=issue["line"],
        end_line=max(issue.get("end_line") or issue["line"], issue["line"]),
        severity=issue["severity"],
        category=issue["category"],
        message=mask_secrets(issue.get("message") or ""),
        code=code,
        confidence=float(issue.get("confidence") or 0.5),
    )


def _runs(messages: Iterable[BaseMessage]) -> list[tuple[str, AnalyzerRun]]:
    runs: list[tuple[str, AnalyzerRun]] = []
    for message in messages:
        artifact = getattr(message, "artifact", None)
        if (
            isinstance(message, ToolMessage)
            and message.name in ANALYZERS
            and isinstance(artifact, Mapping)
            and "issues" in artifact
        ):
            runs.append((message.name, AnalyzerRun(**artifact)))  # type: ignore[typeddict-item]
    return runs


def _latest_results(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """The tool results after the last model turn (what a `tools` step just wrote)."""
    tail: list[BaseMessage] = []
    for message in reversed(messages):
        if isinstance(message, AIMessage):
            break
        tail.append(message)
    return tail[::-1]


def record(messages: Sequence[BaseMessage], specialist: str) -> list[ToolEvidence]:
    """Evidence from the analyzer results since the last model turn."""
    return [
        _evidence(issue, specialist)
        for _, run in _runs(_latest_results(messages))
        for issue in run["issues"]
    ]


def analyzed_paths(messages: Sequence[BaseMessage]) -> list[str]:
    """`"tool:path"` for each path an analyzer scanned since the last model turn."""
    return [
        f"{name}:{path}" for name, run in _runs(_latest_results(messages)) for path in run["paths"]
    ]


def _normal(path: str) -> str:
    path = path.strip().replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path.rstrip("/") or "."


def _covers(scanned: str, file: str) -> bool:
    scanned = _normal(scanned)
    return scanned == "." or file == scanned or file.startswith(scanned + "/")


def coverage_gaps(
    analyzers: Sequence[str], files: Sequence[str], analyzed: Iterable[str]
) -> dict[str, list[str]]:
    """For each analyzer, the step's files it has not scanned (`analyzed` as "tool:path")."""
    scanned: dict[str, list[str]] = {}
    for entry in analyzed:
        tool, _, path = entry.partition(":")
        scanned.setdefault(tool, []).append(path)
    gaps: dict[str, list[str]] = {}
    for name in analyzers:
        missed = [f for f in files if not any(_covers(p, f) for p in scanned.get(name, []))]
        if missed:
            gaps[name] = missed
    return gaps


def backfill(
    root: Path, gaps: Mapping[str, Sequence[str]], specialist: str
) -> tuple[list[ToolEvidence], list[str]]:
    """Run each analyzer on the files it missed; return (evidence, notes)."""
    found: list[ToolEvidence] = []
    notes: list[str] = []
    for name, files in gaps.items():
        try:
            issues = ANALYZERS[name](root, list(files))
        except Exception as exc:  # noqa: BLE001 - a failed analyzer is a note, not a crash
            notes.append(
                f"{name} could not scan {len(files)} file(s): {mask_secrets(str(exc))[:200]}"
            )
            continue
        notes.append(f"{name} was not run by the model on {len(files)} file(s); Keel ran it")
        found += [_evidence(issue, specialist) for issue in issues]
    return found, notes


def _near(evidence: ToolEvidence, file: str, line: int, end_line: int) -> bool:
    return (
        evidence["file"] == file
        and line <= evidence["end_line"] + LINE_SLACK
        and end_line >= evidence["line"] - LINE_SLACK
    )


def _same_rule(a: str, b: str) -> bool:
    a, b = a.strip().lower(), b.strip().lower()
    return bool(a) and bool(b) and (a == b or a.endswith("." + b) or b.endswith("." + a))


def _confirms(finding: Finding, evidence: ToolEvidence) -> bool:
    file, line, end_line = finding["file"], finding["line"], finding["end_line"]
    if _same_rule(finding["rule"], evidence["rule"]):
        return _near(evidence, file, line, end_line)
    # the area alone confirms only on the tool's own lines
    return (
        finding["category"] == evidence["category"]
        and evidence["file"] == file
        and line <= evidence["end_line"]
        and end_line >= evidence["line"]
    )


def _dismisses(dismissal: Dismissal, evidence: ToolEvidence) -> bool:
    if not _near(evidence, _normal(dismissal.file), dismissal.line, dismissal.line):
        return False
    return not dismissal.rule or _same_rule(dismissal.rule, evidence["rule"])


def _max_severity(a: Severity, b: Severity) -> Severity:
    return a if SEVERITY_ORDER[a] >= SEVERITY_ORDER[b] else b


def _unconfirmed(evidence: ToolEvidence) -> Finding:
    return Finding(
        id=fingerprint(evidence["file"], evidence["rule"], evidence["line"], evidence["code"]),
        file=evidence["file"],
        line=evidence["line"],
        end_line=evidence["end_line"],
        severity=evidence["severity"],
        category=evidence["category"],
        rule=evidence["rule"],
        title=f"{evidence['message']} (reported by {evidence['tool']}; not confirmed by the "
        f"{evidence['specialist']} specialist)",
        evidence=evidence["code"],
        specialist=evidence["specialist"],
        confidence=evidence["confidence"],
        sources=[evidence["tool"]],
        status="unconfirmed",
    )


@dataclass
class Reconciliation:
    """The outcome of `reconcile`."""

    evidence: list[ToolEvidence] = field(default_factory=list)
    """Every piece of evidence, with its status (and reason or finding)."""
    findings: list[Finding] = field(default_factory=list)
    """The submitted findings (status `confirmed` or `reported`) and the `unconfirmed` ones."""
    unmatched_dismissals: list[str] = field(default_factory=list)
    """Dismissals that name no tool issue (kept for the handoff's open questions)."""

    def count(self, status: str) -> int:
        """How many pieces of evidence have this status."""
        return sum(1 for e in self.evidence if e.get("status") == status)

    def summary(self) -> dict[str, Any]:
        """Counts by status, and the dismissed evidence with reasons (for the handoff)."""
        return {
            "evidence": len(self.evidence),
            "confirmed": self.count("confirmed"),
            "dismissed": self.count("dismissed"),
            "unaddressed": self.count("unaddressed"),
        }


def reconcile(
    evidence: Sequence[ToolEvidence],
    findings: Sequence[Finding],
    dismissals: Sequence[Dismissal],
) -> Reconciliation:
    """Match the submission against the evidence (see the module docstring).

    Only the model's own findings confirm evidence: an `unconfirmed` finding made from one
    tool's issue never confirms another tool's issue at the same place.
    """
    result = Reconciliation()
    submitted: dict[str, Finding] = {
        f["id"]: Finding(**{**f, "status": "reported"}) for f in findings
    }
    unconfirmed: dict[str, Finding] = {}
    used: set[int] = set()
    for item in evidence:
        confirming = next((f for f in submitted.values() if _confirms(f, item)), None)
        if confirming is not None:
            status: FindingStatus = "confirmed"
            sources = list(dict.fromkeys([*confirming["sources"], item["tool"]]))
            submitted[confirming["id"]] = Finding(
                **{
                    **confirming,
                    "status": status,
                    "sources": sources,
                    "severity": _max_severity(confirming["severity"], item["severity"]),
                    "line": min(confirming["line"], item["line"]),
                    "end_line": max(confirming["end_line"], item["end_line"]),
                }
            )
            result.evidence.append(
                ToolEvidence(**{**item, "status": "confirmed", "finding": confirming["id"]})
            )
            continue
        index = next(
            (i for i, d in enumerate(dismissals) if _dismisses(d, item)),
            None,
        )
        if index is not None:
            used.add(index)
            result.evidence.append(
                ToolEvidence(
                    **{
                        **item,
                        "status": "dismissed",
                        "reason": mask_secrets(dismissals[index].reason),
                    }
                )
            )
            continue
        made = _unconfirmed(item)
        result.evidence.append(
            ToolEvidence(**{**item, "status": "unaddressed", "finding": made["id"]})
        )
        unconfirmed.setdefault(made["id"], made)
    result.findings = [
        *submitted.values(),
        *(f for k, f in unconfirmed.items() if k not in submitted),
    ]
    result.unmatched_dismissals = [
        f"dismissal of {d.file}:{d.line} {d.rule} matches no tool issue"
        for i, d in enumerate(dismissals)
        if i not in used
    ]
    return result


def unconfirmed_findings(
    evidence: Sequence[ToolEvidence],
) -> tuple[list[ToolEvidence], list[Finding]]:
    """For evidence never reconciled (its specialist stopped): mark it unaddressed."""
    marked: list[ToolEvidence] = []
    made: list[Finding] = []
    for item in evidence:
        if item.get("status"):
            continue
        finding = _unconfirmed(item)
        marked.append(ToolEvidence(**{**item, "status": "unaddressed", "finding": finding["id"]}))
        made.append(finding)
    return marked, made


def dismissed_lines(evidence: Sequence[ToolEvidence]) -> list[str]:
    """One line per dismissed piece of evidence: where, what, and the reason."""
    return [
        f"{e['specialist']} dismissed {e['tool']} {e['rule']} ({e['severity']}) at "
        f"{e['file']}:{e['line']}: {e.get('reason', '')}"
        for e in evidence
        if e.get("status") == "dismissed"
    ]

"""Human review gate: side effects and risky results wait for a person.

The check (`check_review_triggers`) is pure and runs where the report node routes; the
`review_gate` node is entered only when a trigger fires. It pauses the thread with
`interrupt()` carrying LangChain v1's HITL request (`action_requests`,
`review_configs`) plus Keel's review packet (summary, reasoning, confidence, evidence,
uncertainty, triggers). It does nothing before `interrupt()` that must not repeat (a
node re-runs from its start on resume), and every side effect runs in the *next* node,
so nothing a model or the repository writes can reach an effect without a decision.
The packet's `reviewed` (recorded by `report`, never here) is what the approval is for:
`execute_actions` runs nothing once the repository has moved from it.

Resume with `Command(resume={"decisions": [...], "reviewer": "name"})`, one decision
per action request, in order (the protocol is `nodes/guards/human_review.py`'s; an
approved or edited action's arguments are checked against the action registry,
`nodes/actions.py`). An optional `"dismiss": [{"finding": ID, "reason": ...}]` dismisses
findings of the report by id: remembered for the repository (`nodes/baseline.py`), they
are suppressed in this and later reviews while their code is unchanged.

The protocol's names (`ALLOWED_DECISIONS`, `ReviewResponseError`, `resolve_reviewer`)
are importable from here as before; they live in `human_review`.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from keel.core.state import (
    Finding,
    Handoff,
    PendingAction,
    PipelineState,
    ReviewRecord,
    ToolEvidence,
    severity_at_least,
)
from keel.core.thread import current_thread_id
from keel.nodes import baseline
from keel.nodes.actions import (
    ACTION_ORDER,
    REVIEW_GATE,
    needs_review,
    propose,
    validate_decision_args,
)
from keel.nodes.agents.diff_filter import shown
from keel.nodes.agents.render import merge_findings
from keel.nodes.context import KeelContext
from keel.nodes.guards import human_review
from keel.nodes.guards._verdict import utc_now
from keel.nodes.guards.feedback import record_feedback
from keel.nodes.guards.human_review import ALLOWED_DECISIONS, ReviewResponseError, resolve_reviewer
from keel.tools.instructions import RULE

__all__ = [
    "ALLOWED_DECISIONS",
    "GUARD_NAME",
    "ReviewResponseError",
    "build_review_request",
    "check_review_triggers",
    "parse_review_response",
    "resolve_reviewer",
    "review_gate",
    "sampled",
]

GUARD_NAME = REVIEW_GATE
_ACCEPT = propose(
    "accept_result",
    role=REVIEW_GATE,
    by=GUARD_NAME,
    reason="no side effect proposed; sign off the review result",
)


def sampled(thread_id: str, rate: float) -> bool:
    """Reproducible random sample: the same thread id always gives the same answer."""
    if rate <= 0:
        return False
    bucket = int(hashlib.sha256(thread_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return bucket < rate


def check_review_triggers(
    *,
    findings: Sequence[Finding],
    actions: Sequence[PendingAction],
    handoffs: Sequence[Handoff],
    thread_id: str,
    context: KeelContext,
    evidence: Sequence[ToolEvidence] = (),
) -> list[str]:
    """Return why human review is required (empty: the run may finish on its own).

    `evidence` is the reconciled tool evidence: a serious issue (at or above the review
    severity) that a specialist dismissed is a trigger, so a model's "not a problem" on
    what a tool proved always reaches a human.

    Findings and evidence that `context.diff_filter` hides (a review's pre-existing
    ones, by default: `Finding.diff`) trigger nothing: the severity, sensitive-path and
    dismissed-evidence rules see only what the filter shows. The reviewer-instructions
    tripwire sees every finding: the model read the whole file, whatever the diff.

    A suppressed finding (a reviewer dismissed it before, and its code is unchanged:
    `nodes/baseline.py`) triggers nothing, the tripwire's included.
    """
    triggers = []
    findings = [f for f in findings if not f.get("suppressed")]
    addressed = sorted({f"{f['file']}:{f['line']}" for f in findings if f["rule"] == RULE})
    findings = shown(list(findings), context.diff_filter)
    evidence = shown(list(evidence), context.diff_filter)
    if addressed:
        triggers.append(
            "rule: text addressed to an automated reviewer in the change (possible prompt "
            f"injection: {', '.join(addressed[:5])})"
        )
    effects = sorted({a["name"] for a in actions if needs_review(a)})  # the registry's effect
    if effects:
        triggers.append(f"rule: side effect proposed ({', '.join(effects)})")
    sensitive = sorted(
        {
            f["file"]
            for f in findings
            if any(
                fnmatch.fnmatch(f["file"].lower(), glob.lower())
                for glob in context.guards.sensitive_paths
            )
        }
    )
    if sensitive:
        triggers.append(f"rule: findings in sensitive paths ({', '.join(sensitive[:5])})")
    severe = [
        f
        for f in merge_findings(findings)
        if severity_at_least(f["severity"], context.review_min_severity)
    ]
    if severe:
        triggers.append(f"rule: {len(severe)} finding(s) at or above {context.review_min_severity}")
    dismissed = sorted(
        {
            f"{e['file']}:{e['line']}"
            for e in evidence
            if e.get("status") == "dismissed"
            and severity_at_least(e["severity"], context.review_min_severity)
        }
    )
    if dismissed:
        triggers.append(
            f"rule: {len(dismissed)} tool issue(s) at or above {context.review_min_severity} "
            f"dismissed by a specialist ({', '.join(dismissed[:5])})"
        )
    low = [h for h in handoffs if h["confidence"] < context.review_confidence_threshold]
    if low:
        worst = min(h["confidence"] for h in low)
        triggers.append(
            f"confidence: {len(low)} handoff(s) below {context.review_confidence_threshold} "
            f"(lowest {worst:.2f})"
        )
    if not triggers and sampled(thread_id, context.review_sample_rate):
        triggers.append(f"random sample ({context.review_sample_rate:.0%} of runs)")
    return triggers


def _gated_actions(state: Mapping[str, Any]) -> list[PendingAction]:
    actions = sorted(
        state.get("pending_actions") or [], key=lambda a: ACTION_ORDER.index(a["name"])
    )
    return actions or [_ACCEPT]


def build_review_request(state: Mapping[str, Any], triggers: list[str]) -> dict[str, Any]:
    """Return the interrupt payload: HITL request + Keel's review packet.

    The packet's evidence is what the report's diff filter shows; `diff` says which
    filter that was and how many findings of each class the review has (None: an audit).
    """
    actions = _gated_actions(state)
    report = state.get("report") or {}
    data = report.get("data") or {}
    findings = shown(list(state.get("findings") or []), data.get("diff_filter"))
    handoffs = state.get("handoffs") or []
    confidence = min((h["confidence"] for h in handoffs), default=1.0)
    diff = (
        {"filter": data["diff_filter"], "counts": data.get("diff_counts") or {}}
        if data.get("diff_filter")
        else None
    )
    return {
        "action_requests": [
            {
                "id": a["id"],
                "name": a["name"],
                "args": a["args"],
                "description": f"[{a['effect']}] {a['reason']} (proposed by {a['proposed_by']})",
            }
            for a in actions
        ],
        "review_configs": [
            {"action_name": a["name"], "allowed_decisions": list(ALLOWED_DECISIONS)}
            for a in actions
        ],
        "packet": {
            "summary": data.get("counts", {}),
            "diff": diff,
            "reasoning": [f"{h['source']}: {h['summary']}" for h in handoffs],
            "confidence": confidence,
            "evidence": [
                {
                    "file": f["file"],
                    "line": f["line"],
                    "severity": f["severity"],
                    "title": f["title"],
                    "quote": f["evidence"],
                }
                for f in findings
                if severity_at_least(f["severity"], "medium") and not f.get("suppressed")
            ][:50],
            "uncertainty": [q for h in handoffs for q in h["open_questions"]],
            "confidence_basis": {h["source"]: h.get("confidence_basis", {}) for h in handoffs},
            "dismissed": [line for h in handoffs for line in h.get("dismissed", [])],
            "triggers": triggers,
            "report_markdown": report.get("markdown", ""),
            # what is approved: commits, tree, file hashes (None: not recorded, an old thread)
            "reviewed": state.get("reviewed"),
        },
    }


def parse_review_response(
    response: Any, actions: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], str]:
    """Validate a resume value against the gated actions (or a guard's request).

    `human_review.parse_review_response`, with arguments checked against the action
    registry and the guards' decisions (`keel.nodes.actions.validate_decision_args`).

    Returns:
        (normalised decisions — one per action, with `action_id` — and the reviewer).

    Raises:
        ReviewResponseError: wrong shape, wrong count, unknown decision type, an edit that
            renames the action or whose arguments do not validate.
    """
    return human_review.parse_review_response(response, actions, validate_decision_args)


def review_gate(
    state: PipelineState, runtime: Runtime[KeelContext]
) -> Command[Literal["execute_actions", "finalize"]]:
    """Pause for a human decision; record it; route to the effects or straight on.

    Findings the reviewer dismisses with the decision (``"dismiss"`` in the resume value)
    are remembered for the repository (`nodes/baseline.py`) and suppressed from here on.
    """
    context = (runtime.context or KeelContext()).with_repo_config(state.get("repo_config"))
    thread_id = current_thread_id()
    triggers = check_review_triggers(
        findings=state.get("findings", []),
        actions=state.get("pending_actions", []),
        handoffs=state.get("handoffs", []),
        thread_id=thread_id,
        context=context,
        evidence=state.get("evidence", []),
    )
    actions = _gated_actions(state)
    request = build_review_request(state, triggers)
    response = interrupt(request)
    decisions, claimed = parse_review_response(response, actions)
    reviewer = resolve_reviewer(claimed)
    dismissed, dismissals = baseline.dismiss(
        response,
        state.get("findings", []),
        ref=state.get("baseline"),
        reviewer=reviewer,
        thread_id=thread_id,
        repo=state["repo"],
        store=baseline.current_store(),
    )
    record_feedback(request, decisions, reviewer, dismissed=dismissals)
    record = ReviewRecord(
        interrupt_id=hashlib.sha256(f"{thread_id}:{GUARD_NAME}".encode()).hexdigest()[:16],
        triggers=triggers,
        decisions=decisions,
        reviewer=reviewer,
        at=utc_now(),
    )
    if dismissals:
        record["dismissed"] = dismissals
    run_something = any(d["type"] in ("approve", "edit") for d in decisions)
    return Command(
        goto="execute_actions" if run_something else "finalize",
        update={"review": record, "status": "running", "findings": dismissed},
    )

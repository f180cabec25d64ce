"""Report and finalize: read the blackboard, propose effects, write the report.

`report` runs once after every specialist has handed off. In review mode it first gives
every finding and tool evidence its place in the diff (`nodes/agents/diff_filter.py`);
the run's diff filter then decides which findings count. It proposes the side effects
(an autofix patch when a shown finding is fixable, publishing the review when findings
are shown — specialists may have proposed running the tests), renders the report, and
routes: to the human review gate when a trigger fires, else straight to `finalize`.
`finalize` folds action results (e.g. failing tests) into the findings and writes the
final report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from keel.core.state import (
    Finding,
    GuardEvent,
    Observation,
    PendingAction,
    PipelineState,
    ThreadStatus,
    ToolEvidence,
    merge_by_id,
)
from keel.core.thread import current_thread_id
from keel.nodes import baseline
from keel.nodes.actions import REPORT, propose
from keel.nodes.agents.review_gate import check_review_triggers
from keel.nodes.context import KeelContext, RuntimeNode
from keel.nodes.guards import budget
from keel.nodes.guards._verdict import Verdict, guard_event
from keel.tools import agent_tools, diffs, instructions, reviewed_state, ruff, snapshot
from keel.tools.git import GitError
from keel.tools.issues import mask_secrets
from keel.tools.repo_config import describe as describe_tools
from keel.tools.reviewed_state import ReviewedState

from . import repo_rules
from .diff_filter import Classifier, active_filter, shown
from .evidence import unconfirmed_findings
from .grounding import fingerprint
from .render import merge_findings, render_report

__all__ = ["ModelLabel", "make_finalize", "make_report", "report_markdown"]


def _propose(
    state: PipelineState,
    context: KeelContext,
    findings: Sequence[Finding],
    hidden: Sequence[Finding] = (),
) -> tuple[list[PendingAction], list[Finding]]:
    """Side effects to propose, and the fixable findings with their suggested patch.

    `findings` are the specialists' findings the diff filter shows; `hidden`, those it
    hides, never propose anything. ruff's patch fixes whole files, so when it also fixes
    hidden findings in them the autofix's reason says how many.
    """
    actions: list[PendingAction] = []
    patched: list[Finding] = []
    fixable = sorted({f["file"] for f in findings if f.get("fixable")})
    if fixable:
        diff = ruff.ruff_fix_diff(_analysis_root(state), fixable)
        per_file = diffs.split_by_file(diff)
        patched = [
            Finding(**{**f, "patch": per_file[f["file"]]})
            for f in findings
            if f.get("fixable") and f["file"] in per_file
        ]
        also = [f for f in hidden if f.get("fixable") and f["file"] in per_file]
        if diff.strip():
            actions.append(
                propose(
                    "apply_autofix",
                    role=REPORT,
                    by="report",
                    args={"diff": diff},
                    reason=f"ruff can fix {len(fixable)} file(s) automatically"
                    + (
                        f"; the patch also fixes {len(also)} finding(s) the change did not "
                        "introduce in them"
                        if also
                        else ""
                    ),
                )
            )
    proposed = {a["name"] for a in state.get("pending_actions", [])}
    finished = any(step["status"] == "done" for step in state.get("plan", []))
    python = any(f.endswith(".py") for f in state.get("scope", []))
    if finished and python and "run_tests" not in proposed:  # not after every agent halted
        try:
            tests = agent_tools.test_files(Path(state["repo"]))
        except GitError:
            tests = []
        if tests:  # the tests are the correctness evidence: their run is not the model's call
            actions.append(
                propose(
                    "run_tests",
                    role=REPORT,
                    by="report",
                    reason=f"{len(tests)} test file(s) exist and no specialist proposed "
                    "running them; running them executes repository code, so it needs "
                    "approval",
                )
            )
    if findings:
        actions.append(
            propose(
                "publish_review",
                role=REPORT,
                by="report",
                args={"path": context.publish_path},
                reason=f"write this review ({len(merge_findings(findings))} finding(s)) into "
                "the repository",
            )
        )
    return actions, patched


def _analysis_root(state: PipelineState) -> Path:
    """Where the reviewed files are: the work tree or the snapshot intake took."""
    return Path(state.get("analysis_root") or state["repo"])


def _classified(
    state: PipelineState, findings: Sequence[Finding], evidence: Sequence[ToolEvidence]
) -> tuple[list[Finding], list[ToolEvidence]]:
    """The findings and tool evidence with their place in the diff (a review), else as is."""
    changed = state.get("diff_lines")
    if changed is None or (state.get("task") or {}).get("mode") == "audit":
        return list(findings), list(evidence)
    classes = Classifier(changed, _analysis_root(state))
    return classes.findings(findings), classes.evidence(evidence)


def _reviewed(state: PipelineState) -> tuple[ReviewedState | None, list[Observation]]:
    """What the review request is about and where the repository stands (before the gate).

    Taken once, here, and not in the gate (which re-runs on resume). None, with an
    observation, when git refuses: the approved actions then run unchecked and say so.
    """
    task = state.get("task") or {}
    base, _, head = str(task.get("rev_range") or "").partition("..")
    try:
        recorded = reviewed_state.capture(
            Path(state["repo"]),
            _analysis_root(state),
            state.get("scope", []),
            mode=task.get("mode") or "review",
            staged=bool(task.get("staged")),
            base=base or None,
            head=head or None,
        )
    except (GitError, OSError) as exc:
        text = f"reviewed state not recorded ({exc}): approved actions will run unchecked"
        return None, [Observation(source="report", text=text)]
    return recorded, []


def _reviewer_instructions(state: PipelineState) -> list[Finding]:
    """Text in the files in scope that addresses an automated reviewer, as findings.

    Found by plain code, not by a model (a model may have been talked round by it); each
    becomes a `keel.reviewer-instructions` finding, which is a review trigger.
    """
    excluded = [s["path"] for s in state.get("skipped") or [] if s["kind"] == "excluded"]
    hits = instructions.find_reviewer_instructions(
        _analysis_root(state), [*state.get("scope", []), *excluded]
    )  # the repository's exclusions do not hide text from the tripwire
    return [
        Finding(
            id=fingerprint(hit.file, instructions.RULE, hit.line, hit.evidence),
            file=hit.file,
            line=hit.line,
            end_line=hit.end_line,
            severity="medium",
            category="security",
            rule=instructions.RULE,
            title="text addressed to an automated reviewer (possible prompt injection): "
            "a human must read this change",
            evidence=hit.evidence,
            specialist="report",
            confidence=0.6,
            sources=["keel"],
        )
        for hit in hits
    ]


def _thread_budget(state: PipelineState, context: KeelContext) -> GuardEvent | None:
    """The thread-level budget check: spend rolled up across every specialist."""
    limits = budget.effective_limits(context.guards, state.get("budget_grants", []))
    used = budget.spend(state.get("usage"))
    over = [key for key, limit in limits.items() if limit > 0 and used[key] > limit]
    if not over:
        return None
    fmt = budget.format_number
    parts = ", ".join(f"{key} {fmt(used[key])}/{fmt(limits[key])}" for key in over)
    verdict = Verdict(budget.GUARD_NAME, "halt", f"thread budget exhausted: {parts}")
    return guard_event(verdict, "pipeline")


ModelLabel = Callable[[str], str]
"""The label a report gives the run's model id (`keel.models.model_label` in the CLI)."""


def make_report(label_for: ModelLabel = str) -> RuntimeNode:
    """Return the `report` node; `label_for` names the model in the report."""

    def report(
        state: PipelineState, *, runtime: Runtime[KeelContext]
    ) -> Command[Literal["review_gate", "finalize"]]:
        return _report(state, runtime, label_for)

    return report


def make_finalize(label_for: ModelLabel = str) -> RuntimeNode:
    """Return the `finalize` node; `label_for` names the model in the final report."""

    def finalize(state: PipelineState, *, runtime: Runtime[KeelContext]) -> dict[str, Any]:
        return _finalize(state, runtime, label_for)

    return finalize


def _report(
    state: PipelineState, runtime: Runtime[KeelContext], label_for: ModelLabel
) -> Command[Literal["review_gate", "finalize"]]:
    """Propose effects, render the report, and route to review when a trigger fires.

    The repository's Keel configuration applies first (`repo_rules.apply`: severity
    overrides, then the remembered dismissals): suppressed findings propose nothing and
    trigger nothing; the review triggers use the repository's tightened policy.
    """
    own_context = runtime.context or KeelContext()
    context = own_context.with_repo_config(state.get("repo_config"))
    leftover, unconfirmed = unconfirmed_findings(state.get("evidence", []))
    addressed = [*_reviewer_instructions(state), *unconfirmed]
    found, evidence = _classified(
        state,
        merge_by_id(state.get("findings", []), addressed),
        merge_by_id(state.get("evidence", []), leftover),
    )
    found, evidence, ref = repo_rules.apply(
        found,
        evidence,
        config=state.get("repo_config"),
        ref=state.get("baseline"),
        store=baseline.current_store(),
    )
    repo_view = {
        "baseline": ref,
        "repo_config": repo_rules.with_policy_notes(state.get("repo_config"), own_context),
    }
    repo_update = {key: value for key, value in repo_view.items() if value is not None}
    diff_filter = active_filter(state, context.diff_filter)
    exhausted = _thread_budget(state, context)
    if exhausted is not None:
        view = {
            **state,
            "findings": found,
            "evidence": evidence,
            "guard_events": [*state.get("guard_events", []), exhausted],
            "tool_config": describe_tools(_analysis_root(state)),
            **repo_update,
        }
        rendered = render_report(
            view | {"status": "budget_exhausted"},
            thread_id=current_thread_id(),
            model_label=label_for(context.model),
            diff_filter=diff_filter,
        )
        return Command(
            goto="finalize",
            update={
                "guard_events": [exhausted],
                "findings": found,
                "evidence": evidence,
                "report": rendered,
                "status": "budget_exhausted",
                **repo_update,
            },
        )
    own = {f["id"] for f in state.get("findings", [])}  # what the specialists submitted
    submitted = [f for f in found if f["id"] in own]
    active = [f for f in submitted if not f.get("suppressed")]  # dismissed before: nothing
    visible = shown(active, diff_filter)
    visible_ids = {f["id"] for f in visible}
    hidden = [f for f in active if f["id"] not in visible_ids]
    proposed, patched = _propose(state, context, visible, hidden)
    actions = {a["id"]: a for a in [*state.get("pending_actions", []), *proposed]}
    triggers = check_review_triggers(
        findings=found,
        actions=list(actions.values()),
        handoffs=state.get("handoffs", []),
        thread_id=current_thread_id(),
        context=context,
        evidence=evidence,
    )
    status = "awaiting_approval" if triggers else "running"
    findings = merge_by_id(found, patched)
    view = {
        **state,
        "findings": findings,
        "evidence": evidence,
        "pending_actions": list(actions.values()),
        "status": status,
        "tool_config": describe_tools(_analysis_root(state)),
        **repo_update,
    }
    rendered = render_report(
        view,
        thread_id=current_thread_id(),
        model_label=label_for(context.model),
        diff_filter=diff_filter,
    )
    update: dict[str, Any] = {
        "pending_actions": proposed,
        "findings": findings,  # every finding, each with its place in the diff
        "evidence": evidence,
        "report": rendered,
        "status": status,
        "model_label": label_for(context.model),
        **repo_update,
    }
    if triggers:
        recorded, update["observations"] = _reviewed(state)
        if recorded is not None:  # else absent, as on a thread from before it was recorded
            update["reviewed"] = recorded
    return Command(goto="review_gate" if triggers else "finalize", update=update)


def _test_findings(state: PipelineState) -> list[Finding]:
    findings: list[Finding] = []
    for result in state.get("action_results", []):
        if result["name"] != "run_tests":
            continue
        for failure in result["output"].get("failures", []):
            file, line = str(failure.get("file") or ""), int(failure.get("line") or 1)
            message = mask_secrets(str(failure.get("message", "test failed")))[:300]
            findings.append(
                Finding(
                    id=fingerprint(file, "test-failure", line, failure.get("nodeid", "")),
                    file=file,
                    line=line,
                    end_line=line,
                    severity="high",
                    category="correctness",
                    rule="test-failure",
                    title=f"failing test {failure.get('nodeid', '')}: {message}",
                    evidence=message,
                    specialist="run_tests",
                    confidence=1.0,
                    sources=["pytest"],
                )
            )
    return findings


def _final_status(state: PipelineState) -> ThreadStatus:
    events = state.get("guard_events", [])
    if any(e["guard"] == "budget" and e["verdict"] == "halt" for e in events):
        return "budget_exhausted"
    plan = state.get("plan", [])
    blocked = [s for s in plan if s["status"] == "blocked"]
    return "halted" if blocked and len(blocked) == len(plan) else "done"


def report_markdown(state: PipelineState) -> str:
    """The Markdown the `publish_review` action writes (the latest report)."""
    rendered = state.get("report")
    return rendered["markdown"] if rendered else ""


def _finalize(
    state: PipelineState, runtime: Runtime[KeelContext], label_for: ModelLabel
) -> dict[str, Any]:
    """Fold action results into the findings; write the final report."""
    context = runtime.context or KeelContext()
    if state.get("analysis_root", state["repo"]) != state["repo"]:
        snapshot.remove(Path(state["repo"]), current_thread_id())
    new_findings = _test_findings(state)
    status = _final_status(state)
    view = {**state, "findings": [*state.get("findings", []), *new_findings], "status": status}
    label = label_for(context.model)
    rendered = render_report(
        view,
        thread_id=current_thread_id(),
        model_label=label,
        diff_filter=active_filter(state, context.diff_filter),
    )
    return {
        "findings": new_findings,
        "status": status,
        "report": rendered,
        "model_label": label,
    }

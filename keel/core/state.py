"""Typed state of a Keel pipeline: the long-running agent's memory.

Everything a long-running review must remember lives in typed fields, not in chat
messages, so compressing or dropping messages never loses it: the original task, the
plan, the findings blackboard, handoff packets, pending actions, blockers, observations,
usage, and the guard audit trail. Specialists keep their chat transcript in their own
message channel (`SpecialistState.messages`), namespaced per specialist in the
checkpoint.

No field has a default: `TypedDict` defaults are silently ignored by LangGraph, so
readers use `state.get(...)` and writers always supply values.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Annotated, Any, Literal, NotRequired

from langchain_core.messages import AnyMessage
from langgraph.channels.delta import DeltaChannel
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from keel.core.observed import ChangedLines, ReviewedState, SkipKind
from keel.core.vocabulary import (
    SEVERITY_ORDER,
    Category,
    Decision,
    FiredVerdict,
    Severity,
    VerdictKind,
    severity_at_least,
)

__all__ = [
    "SEVERITY_ORDER",
    "ActionResult",
    "Category",
    "DiffClass",
    "Finding",
    "GuardEvent",
    "GuardedState",
    "Handoff",
    "Observation",
    "PendingAction",
    "PipelineInput",
    "PipelineOutput",
    "PipelineState",
    "PlanStep",
    "Report",
    "ReviewRecord",
    "Severity",
    "SkippedPath",
    "Suppression",
    "BaselineRef",
    "BudgetGrant",
    "PendingVerdict",
    "SpecialistInput",
    "SpecialistOutput",
    "SpecialistState",
    "Task",
    "ThreadStatus",
    "ToolEvidence",
    "EvidenceStatus",
    "FindingStatus",
    "Usage",
    "MESSAGE_SNAPSHOT_EVERY",
    "GUARD_EVENT_SNAPSHOT_EVERY",
    "add_event_writes",
    "add_usage",
    "add_message_writes",
    "keep_first",
    "merge_by_id",
    "severity_at_least",
]

EvidenceStatus = Literal["confirmed", "dismissed", "unaddressed"]
"""What the specialist made of a piece of tool evidence (see `ToolEvidence`)."""

FindingStatus = Literal["confirmed", "reported", "unconfirmed"]
"""Where a finding's judgement comes from (see `Finding.status`)."""

DiffClass = Literal["introduced", "context", "pre-existing", "outside"]
"""Where a finding of a review stands against the reviewed diff: `introduced` (on an
added or changed line, or a semgrep finding in a function the change touches),
`context` (on the diff's context lines), `pre-existing` (elsewhere in a file the change
touches), `outside` (in a file it does not touch). See `nodes/agents/diff_filter.py`."""

StepStatus = Literal["pending", "active", "done", "blocked"]
"""Lifecycle of a plan step."""

ThreadStatus = Literal[
    "running", "awaiting_approval", "done", "failed", "halted", "budget_exhausted"
]
"""Lifecycle of a thread, as the registry and `keel threads` show it."""


# --------------------------------------------------------------------------- parts


class Task(TypedDict):
    """The original goal. Written once at the start and never rewritten."""

    goal: str
    """What the user asked for, in words (the anchor for drift checks)."""
    repo: str
    """Absolute path of the repository root."""
    mode: Literal["review", "audit"]
    """`review` a revision range or the staged change; `audit` the whole tree."""
    rev_range: str | None
    """Revision range reviewed (`A..B`), or None for staged changes / audits."""
    staged: bool
    """Whether the staged (index) change is reviewed."""


class PlanStep(TypedDict):
    """One delegated piece of work."""

    id: str
    """Stable id (the specialist's name for the review workflow)."""
    specialist: str
    """Which specialist does it."""
    files: list[str]
    """Repository-relative files in scope for the step."""
    instructions: str
    """What the supervisor asked for."""
    status: StepStatus
    """pending / active / done / blocked."""


class Finding(TypedDict):
    """One entry of the blackboard: a problem with its evidence."""

    id: str
    """Stable fingerprint (file, rule, line, quoted code); equal findings merge."""
    file: str
    """Repository-relative path."""
    line: int
    """First line (1-based)."""
    end_line: int
    """Last line (inclusive)."""
    severity: Severity
    """info / low / medium / high / critical."""
    category: Category
    """The area of the specialist it belongs to (`keel.core.vocabulary.Category`)."""
    rule: str
    """Rule id of the tool or specialist that raised it (e.g. `B602`)."""
    title: str
    """One-line description."""
    evidence: str
    """Quoted code from the file, secrets masked."""
    specialist: str
    """Which specialist reported it."""
    confidence: float
    """0–1: how sure the specialist is."""
    sources: list[str]
    """Tools that support the finding (bandit, semgrep, ruff, ...)."""
    fixable: NotRequired[bool]
    """Whether an automatic fix exists."""
    patch: NotRequired[str]
    """Suggested fix as a unified diff of the finding's file (applying it needs review)."""
    status: NotRequired[FindingStatus]
    """`confirmed` (a specialist reported it and a tool found it too), `reported` (the
    specialist's judgement alone) or `unconfirmed` (a tool found it and the specialist
    said nothing of it). Absent on findings written before evidence was recorded."""
    diff: NotRequired[DiffClass]
    """Its place in the reviewed diff, set by `report` in review mode. Absent in audits,
    on findings made after the report (failing tests) and on older threads: such a
    finding is shown whatever the diff filter."""
    suppressed: NotRequired[Suppression]
    """Set when a reviewer dismissed this finding in an earlier review of the repository
    and its line-independent fingerprint is unchanged (`nodes/baseline.py`): reported
    under *Suppressed*, never a review trigger. Absent: not suppressed."""


class Suppression(TypedDict):
    """A reviewer's dismissal of a finding, remembered per repository (`nodes/baseline.py`)."""

    fingerprint: str
    """The finding's line-independent fingerprint (file, rule, category, normalised code)."""
    reason: str
    """Why the reviewer dismissed it."""
    reviewer: str
    """Who dismissed it."""
    at: str
    """UTC ISO time of the dismissal."""
    thread_id: str
    """The thread whose review dismissed it."""


class BaselineRef(TypedDict):
    """Which repository's remembered dismissals a thread uses (`nodes/baseline.py`)."""

    repo_id: str
    """Store key of the repository: its first commit, or a hash of its root path."""
    identified_by: str
    """How it was identified, in words (``first commit 1a2b3c4d5e6f``, ``path /src/x``)."""
    entries: NotRequired[int]
    """Dismissals remembered for the repository when the report was written."""
    suppressed: NotRequired[int]
    """Findings of this thread the baseline suppressed."""
    remembered: NotRequired[bool]
    """False when the graph ran without a store: nothing is looked up or remembered."""


class ToolEvidence(TypedDict):
    """An issue an analyzer returned inside a specialist's loop.

    Recorded as it arrives, whatever the model then submits, and reconciled with the
    submission at `finish`.
    """

    id: str
    """Fingerprint of tool, file, rule, line and code (the same issue gets the same id)."""
    specialist: str
    """The specialist whose loop (or whose backfill at `finish`) ran the analyzer."""
    tool: str
    """The analyzer: bandit, detect-secrets, semgrep, ruff."""
    rule: str
    """The analyzer's rule id."""
    file: str
    """Repository-relative path."""
    line: int
    """First line, 1-based."""
    end_line: int
    """Last line, 1-based."""
    severity: Severity
    """The analyzer's severity."""
    category: Category
    """Area the analyzer assigned."""
    message: str
    """What is wrong, in the analyzer's words (secrets masked)."""
    code: str
    """The quoted lines (secrets masked)."""
    confidence: float
    """The analyzer's own confidence, 0–1."""
    status: NotRequired[EvidenceStatus]
    """Set at `finish`; absent while the specialist is still working."""
    reason: NotRequired[str]
    """Why the specialist dismissed it (only with `status="dismissed"`)."""
    finding: NotRequired[str]
    """Id of the finding that confirms it, or the `unconfirmed` finding made from it."""
    diff: NotRequired[DiffClass]
    """Its place in the reviewed diff, as `Finding.diff` (a dismissed issue the filter
    hides is no review trigger)."""


class Handoff(TypedDict):
    """A structured packet from one agent to the next: nothing lost in transit."""

    source: str
    """Agent handing off."""
    target: str
    """Agent receiving (e.g. `report`)."""
    summary: str
    """What was done."""
    evidence: list[str]
    """Ids of findings that back the summary."""
    open_questions: list[str]
    """What remains uncertain."""
    confidence: float
    """0–1 confidence in the result, computed by `keel.nodes.agents.confidence` from the
    model's claim and the evidence (never the bare claim)."""
    claimed_confidence: NotRequired[float]
    """What the model said of its own result (absent for guard-written handoffs)."""
    confidence_basis: NotRequired[dict[str, Any]]
    """The terms the confidence was computed from (evidence counts, repairs, ...)."""
    dismissed: NotRequired[list[str]]
    """Tool evidence the source dismissed, each with its reason (one line each)."""


class PendingAction(TypedDict):
    """A side effect proposed by an agent; runs only after human review."""

    id: str
    """Stable action id (idempotency key together with the thread id)."""
    name: str
    """Action name: `apply_autofix`, `run_tests`, `publish_review`."""
    args: dict[str, Any]
    """Arguments of the action."""
    effect: str
    """The action's `Effect` value (read / write / execute / external), as the action
    registry declares it (`nodes/actions.py`); the registry, not this copy, decides
    whether the action needs approval."""
    reason: str
    """Why the agent proposes it."""
    proposed_by: str
    """Which agent proposed it."""


class ActionResult(TypedDict):
    """Outcome of a pending action after review."""

    id: str
    """Id of the `PendingAction`."""
    name: str
    """Action name."""
    decision: Decision
    """What the reviewer decided."""
    status: Literal["done", "failed", "skipped", "stale"]
    """Whether the effect happened (`stale`: not run, the repository moved after the
    review; see `nodes/actions.py`)."""
    detail: str
    """What happened, or why not."""
    output: dict[str, Any]
    """Structured result (files touched, test summary, path written)."""


class Observation(TypedDict):
    """A fact observed along the way (a tool's output summary, a file count)."""

    source: str
    """Who observed it."""
    text: str
    """The fact."""


class SkippedPath(TypedDict):
    """A listed path Keel does not analyze, or that some analyzers skip (`tools/tree.py`)."""

    path: str
    """Repository-relative path."""
    kind: SkipKind
    """Which rule: submodule, symlink, not-a-file, too-large, binary, template, encoding,
    excluded (the repository's Keel configuration, `tools/keel_config.py`)."""
    reason: str
    """Why, in one line with the numbers (size, link target, the marker's line)."""
    in_scope: bool
    """False: out of the scope, nothing reads it; True: in scope, `skipped_by` skip it."""
    skipped_by: list[str]
    """The analyzers (`Issue.tool` names) that skip a path in scope; empty when out of it."""


class Usage(TypedDict):
    """Resources spent; summed across specialists by `add_usage`."""

    input_tokens: int
    """Prompt tokens (approximate for the offline model)."""
    output_tokens: int
    """Completion tokens."""
    cost_usd: float
    """Money spent, from the price table."""
    model_calls: int
    """Chat model invocations."""
    tool_calls: int
    """Tool executions."""
    seconds: float
    """Time spent waiting for the model, summed across parallel agents."""


class GuardEvent(TypedDict):
    """Audit trail entry: a guard fired."""

    guard: str
    """Name of the guard node."""
    verdict: VerdictKind
    """What the guard decided."""
    reason: str
    """Human-readable reason, with the numbers."""
    agent: str
    """The agent it judged."""
    at: str
    """UTC ISO timestamp."""


class ReviewRecord(TypedDict):
    """A human review: what was asked, what was decided, by whom."""

    interrupt_id: str
    """Id of the interrupt that asked."""
    triggers: list[str]
    """Why review was required (side effect, severity rule, confidence, sample)."""
    decisions: list[dict[str, Any]]
    """One HITL decision per action request, in order."""
    reviewer: str
    """Who decided."""
    at: str
    """UTC ISO timestamp of the decision."""
    dismissed: NotRequired[list[dict[str, Any]]]
    """Findings the reviewer dismissed with this decision (remembered for the repository:
    `nodes/baseline.py`), each with its id, file, line, rule and the `Suppression`."""


class BudgetGrant(TypedDict):
    """Limits a human raised after a soft budget escalation (absent keys: unchanged)."""

    tokens: NotRequired[int]
    """New token limit for the thread."""
    cost_usd: NotRequired[float]
    """New money limit, USD."""
    model_calls: NotRequired[int]
    """New model-call limit."""
    tool_calls: NotRequired[int]
    """New tool-call limit."""


class PendingVerdict(TypedDict):
    """A fired guard's verdict, handed from the agent node to the guard node."""

    guard: str
    """Guard node to run."""
    action: FiredVerdict
    """What it decided."""
    reason: str
    """Why, with the numbers."""
    detail: dict[str, Any]
    """Guard-specific facts (offending call ids, limits, ...)."""


class Report(TypedDict):
    """The review report in both renderings."""

    markdown: str
    """Human-readable report."""
    data: dict[str, Any]
    """Machine-readable report (what `--json` prints)."""


# ------------------------------------------------------------------------ reducers


def keep_first(current: Any, new: Any) -> Any:
    """Keep the first value ever written (the task is never rewritten)."""
    return current if current else new


def merge_by_id(current: list[Any] | None, new: list[Any] | None) -> list[Any]:
    """Merge lists of dicts keyed by `id`: later writes replace, order is kept."""
    merged: dict[str, Any] = {item["id"]: item for item in (current or [])}
    for item in new or []:
        merged[item["id"]] = item
    return list(merged.values())


def add_usage(current: Usage | None, new: Usage | None) -> Usage:
    """Sum two usage records field by field."""
    a: dict[str, Any] = dict(current or {})
    b: dict[str, Any] = dict(new or {})
    return Usage(
        input_tokens=int(a.get("input_tokens", 0) + b.get("input_tokens", 0)),
        output_tokens=int(a.get("output_tokens", 0) + b.get("output_tokens", 0)),
        cost_usd=round(float(a.get("cost_usd", 0) + b.get("cost_usd", 0)), 6),
        model_calls=int(a.get("model_calls", 0) + b.get("model_calls", 0)),
        tool_calls=int(a.get("tool_calls", 0) + b.get("tool_calls", 0)),
        seconds=round(float(a.get("seconds", 0) + b.get("seconds", 0)), 3),
    )


def add_message_writes(current: list[AnyMessage], writes: Sequence[Any]) -> list[AnyMessage]:
    """`add_messages` folded over a batch of channel writes, oldest first.

    The reducer of the agents' `messages` `DeltaChannel`. A delta channel replays the
    writes saved since its last snapshot in one call, in batches that need not match the
    super-steps that made them, so its reducer must be batching-invariant:
    `r(r(s, xs), ys) == r(s, xs + ys)`. A left fold of `add_messages` is, by construction,
    and it keeps `add_messages`' semantics exactly: replace by id, `RemoveMessage` by id
    (an unknown id is an error, as before), `RemoveMessage(REMOVE_ALL_MESSAGES)` — what
    the compressor writes — clears what came before it, chunks become messages.

    Ids: LangGraph stamps an id on every message object (and message dict) written to a
    delta channel before the write is saved (`ensure_message_ids`), so a replay gives the
    same ids as the live run. A bare string or tuple written into the channel gets a fresh
    id from `add_messages` on each replay; Keel never writes those.
    """
    value: list[AnyMessage] = current
    for write in writes:
        value = add_messages(value, write)  # type: ignore[arg-type,assignment]
    return value


def add_event_writes(current: list[GuardEvent], writes: Sequence[Any]) -> list[GuardEvent]:
    """`operator.add` folded over a batch of channel writes, oldest first.

    The reducer of an agent's `guard_events` `DeltaChannel`: appending lists is
    batching-invariant, and folding keeps the old channel's semantics (each write is a
    list of events appended in order).
    """
    value: list[GuardEvent] = current
    for write in writes:
        value = operator.add(value, write)
    return value


MESSAGE_SNAPSHOT_EVERY = 20
"""How many channel updates an agent's `messages` delta channel waits between snapshots.

Each checkpoint stores only the new messages (the writes); every N-th update of the
channel stores the whole bounded list once (a `_DeltaSnapshot`), and reading a checkpoint
replays at most N updates' writes onto the nearest snapshot. Smaller N: faster reads,
more bytes; the trade-off is measured in docs/benchmarks.md (long threads, resume).
"""

GUARD_EVENT_SNAPSHOT_EVERY = 1
"""Every update of an agent's `guard_events` delta channel stores the whole trail once.

Guards fire rarely, so the channel is written in few checkpoints: a snapshot per update
costs one copy of the trail per firing (not one per checkpoint, as SQLite stored the old
channel), and a read walks back only to the last firing instead of N firings.

The walk is the cost: reading a checkpoint goes back to the last firing, at most
LangGraph's `LANGGRAPH_DELTA_MAX_SUPERSTEPS_SINCE_SNAPSHOT` (5,000) super-steps, and
SQLite deserializes every checkpoint on the way. Keel's agents stop after 24 model turns
by default and a long loop's compressor fires regularly, so the walk is short; a loop of
thousands of steps with a guard event early and none after reads slowly on SQLite (see
docs/benchmarks.md).
"""


# --------------------------------------------------------------------- the state


class PipelineInput(TypedDict):
    """What a caller supplies to start a run (Studio's input form)."""

    repo: str
    """Path of the git repository to review."""
    mode: NotRequired[Literal["review", "audit"]]
    """`review` (default) a change or `audit` the whole repository."""
    rev_range: NotRequired[str | None]
    """Revision range `A..B`; default the last commit (`HEAD~1..HEAD`)."""
    staged: NotRequired[bool]
    """Review the staged change instead of a revision range."""


class PipelineState(TypedDict):
    """The shared blackboard of a pipeline thread."""

    repo: str
    """Repository root (tools read it: the tool contract)."""
    mode: NotRequired[Literal["review", "audit"]]
    """Input: review or audit."""
    rev_range: NotRequired[str | None]
    """Input: revision range."""
    staged: NotRequired[bool]
    """Input: staged change."""
    task: Annotated[Task, keep_first]
    """The original goal, never rewritten."""
    scope: list[str]
    """Files in scope (changed files, or all tracked files for an audit)."""
    skipped: NotRequired[list[SkippedPath]]
    """Listed paths left out of the scope or skipped by some analyzers, with the reason
    (intake writes it once)."""
    diff_lines: NotRequired[dict[str, ChangedLines] | None]
    """What the reviewed diff changed, per file (new paths), written by intake in review
    mode; None for an audit. `report` classifies the findings against it (`Finding.diff`).
    """
    analysis_root: NotRequired[str]
    """Where the analyzers read the files: `repo`, or a snapshot of the reviewed revision
    when the work tree holds something else (`tools/snapshot.py`)."""
    plan: Annotated[list[PlanStep], merge_by_id]
    """Delegated steps and their status."""
    evidence: Annotated[list[ToolEvidence], merge_by_id]
    """Tool evidence from every specialist, reconciled (`ToolEvidence.status`); the
    model can confirm or dismiss it, never make it vanish."""
    findings: Annotated[list[Finding], merge_by_id]
    """The blackboard: findings with evidence, merged by fingerprint."""
    handoffs: Annotated[list[Handoff], operator.add]
    """Structured packets between agents."""
    pending_actions: Annotated[list[PendingAction], merge_by_id]
    """Side effects awaiting human review."""
    action_results: Annotated[list[ActionResult], merge_by_id]
    """What happened to each pending action."""
    blockers: Annotated[list[str], operator.add]
    """What stopped progress."""
    observations: Annotated[list[Observation], operator.add]
    """Facts observed along the way."""
    usage: Annotated[Usage, add_usage]
    """Resources spent, summed."""
    guard_events: Annotated[list[GuardEvent], operator.add]
    """Audit trail of guards that fired."""
    budget_grants: Annotated[list[BudgetGrant], operator.add]
    """Budget raised by humans, oldest first."""
    started_at: Annotated[str, keep_first]
    """UTC ISO time the thread started (for the deadline)."""
    review: ReviewRecord | None
    """The human review, once decided."""
    reviewed: NotRequired[ReviewedState | None]
    """What the review request was about (commits, tree, file hashes) and where the
    repository stood, recorded by `report` before the gate; approved actions run only
    while the repository still matches it. Absent on threads paused by an earlier Keel
    (not recorded: their actions run unchecked and say so)."""
    repo_config: NotRequired[dict[str, Any]]
    """The repository's Keel configuration as intake read it (`tools/keel_config.py`,
    `KeelConfig.as_dict`): the file, what it set, notes. Absent on older threads."""
    baseline: NotRequired[BaselineRef]
    """Which repository's remembered dismissals apply (intake), and how many the report
    found (report). Absent on older threads: nothing is suppressed."""
    report: Report | None
    """The latest report."""
    status: ThreadStatus
    """Where the thread stands."""
    model_label: str
    """Which model ran (`offline` for the deterministic policy model)."""


class PipelineOutput(TypedDict):
    """What a finished run returns."""

    status: ThreadStatus
    """Final status."""
    findings: list[Finding]
    """All findings."""
    action_results: list[ActionResult]
    """Outcome of each reviewed action."""
    report: Report | None
    """The final report."""
    usage: Usage
    """Resources spent."""
    guard_events: list[GuardEvent]
    """Guards that fired."""


# ------------------------------------------------------------------ specialists


class SpecialistInput(TypedDict):
    """The packet the supervisor sends to a specialist (via `Send`)."""

    repo: str
    """Repository root (tool contract)."""
    task: Task
    """The original task, for context."""
    step: PlanStep
    """The assignment: files and instructions."""
    spent: Usage
    """What the thread had spent when the work was delegated (for the budget)."""
    parallel: NotRequired[int]
    """How many agents this delegation started at once, this one included: each may spend
    an equal share of the budget left at delegation (absent: 1)."""
    granted: list[BudgetGrant]
    """Budget raised by humans before the delegation."""
    clock_start: str
    """UTC ISO time the active clock started (thread start or last human decision)."""


class GuardedState(TypedDict):
    """The keys an agent loop needs for `keel.nodes.guards.attach.attach_guards`.

    Extend it (as `SpecialistState` does) to guard any agent loop.
    """

    task: Task
    """The original task (re-injected by the drift guard)."""
    step: PlanStep
    """The assignment (files in scope)."""
    spent: Usage
    """Thread spend when the work was delegated (zero for a stand-alone agent)."""
    parallel: NotRequired[int]
    """Agents delegated to at once, this one included (absent: 1); see `SpecialistInput`."""
    clock_start: str
    """Start of the active clock (UTC ISO)."""
    messages: Annotated[
        list[AnyMessage],
        DeltaChannel(add_message_writes, snapshot_frequency=MESSAGE_SNAPSHOT_EVERY),
    ]
    """The agent's own message channel (compressible).

    A `DeltaChannel` (LangGraph beta): a checkpoint stores the messages written in its
    step, not the whole channel, so a long thread's storage grows with what is new rather
    than with the channel's size times the steps. Reads rebuild it from the nearest
    snapshot (see `add_message_writes`, `MESSAGE_SNAPSHOT_EVERY`).
    """
    verdict: PendingVerdict | None
    """The guard verdict the agent node routed on, for the guard node."""
    granted: list[BudgetGrant]
    """Budget raised by humans before the delegation."""
    budget_grants: Annotated[list[BudgetGrant], operator.add]
    """Budget raised by humans while this agent ran."""
    handoffs: Annotated[list[Handoff], operator.add]
    """The agent's handoff (a halting guard writes a zero-confidence one)."""
    plan: Annotated[list[PlanStep], merge_by_id]
    """The step, with its final status."""
    blockers: Annotated[list[str], operator.add]
    """What stopped the agent."""
    usage: Annotated[Usage, add_usage]
    """What this agent spent (a small fixed-size record; measured as a `DeltaChannel` it
    saved nothing: see docs/benchmarks.md)."""
    guard_events: Annotated[
        list[GuardEvent],
        DeltaChannel(add_event_writes, snapshot_frequency=GUARD_EVENT_SNAPSHOT_EVERY),
    ]
    """Guards that fired on this agent: appended, as a `DeltaChannel` (the trail is stored
    when a guard fires, not copied into every checkpoint; see `add_event_writes`,
    `GUARD_EVENT_SNAPSHOT_EVERY`)."""


class SpecialistState(GuardedState):
    """A specialist agent's own working state."""

    repo: str
    """Repository root (tool contract)."""
    findings: Annotated[list[Finding], merge_by_id]
    """Findings this specialist reports."""
    evidence: Annotated[list[ToolEvidence], merge_by_id]
    """Issues its analyzers returned, recorded as they arrive (see `ToolEvidence`)."""
    analyzed: Annotated[list[str], operator.add]
    """`"tool:path"` for every path an analyzer scanned (for coverage at `finish`)."""
    pending_actions: Annotated[list[PendingAction], merge_by_id]
    """Side effects this specialist proposes."""


class SpecialistOutput(TypedDict):
    """What a specialist hands back to the pipeline."""

    findings: list[Finding]
    """Its findings."""
    evidence: list[ToolEvidence]
    """Its tool evidence, reconciled with its submission."""
    handoffs: list[Handoff]
    """Its handoff packet."""
    pending_actions: list[PendingAction]
    """Its proposed side effects."""
    plan: list[PlanStep]
    """Its step with the final status."""
    blockers: list[str]
    """What stopped it."""
    usage: Usage
    """What it spent."""
    guard_events: list[GuardEvent]
    """Guards that fired on it."""
    budget_grants: list[BudgetGrant]
    """Budget grants made while it ran."""

"""Intake and supervisor: fix the task, plan from the files in scope, delegate in parallel.

`intake` writes the task once (never rewritten) and the scope: the changed files of a
revision range or the staged change, or every tracked file for an audit — less what
`tools.tree` skips (submodules, symlinks, binary and oversized files), each skip recorded
with its reason in `skipped`.
`supervisor` asks the model for a `Plan` (structured output, the `Plan` tool forced) and
fans the assignments out to the specialists with `Send`, so independent specialists run
in parallel; their findings merge on the blackboard through the state's reducers.

The plan is checked before any specialist consumes it (the `validate` guard's stage
check), because a weak model's plan can be malformed, empty or partial:

* **salvage** — a plan that fails the schema (e.g. an assignment naming a specialist that
  does not exist) keeps its well-formed assignments; the rest are dropped.
* **check** — assignments to unknown specialists and files outside the scope are dropped;
  assignments to the same specialist are merged (one `Send` per specialist). Recorded as a
  `validate` nudge, "plan checked: dropped …".
* **cover** — coverage is structural: every file in scope reaches *every* specialist whose
  `handles` globs match it, whatever the plan says. The plan adds focus and instructions
  (and may send a file to a specialist whose globs do not match it); it cannot remove a
  specialist from a file, because a weak model's plan that sends everything to `style`
  would otherwise end the review with no security or correctness pass and a report that
  looks cleaner than the change is. When the plan is invalid, empty or assigns nothing in
  scope, the globs' routing is the whole plan. Recorded as a `validate` nudge,
  "plan repaired: …", saying why, which files, and what was routed to whom.

A plan that already gives every file to all of its handlers (the offline model's always
does) records no event. The model's instructions always reach the specialists unchanged:
a step the check adds files to keeps them; a specialist the plan left out gets routed
instructions. Only when no specialist handles any file in scope does the run go straight
to the report, with a blocker if the plan itself was invalid.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime
from langgraph.types import Command, Send
from pydantic import ValidationError

from graphs.context import KeelContext, RuntimeNode, current_thread_id
from graphs.state import (
    GuardEvent,
    Observation,
    PipelineState,
    PlanStep,
    SkippedPath,
    SpecialistInput,
    Task,
    add_usage,
)
from nodes import baseline
from nodes.guards._verdict import Verdict, guard_event, utc_now
from tools import diffs, git, keel_config, snapshot, tree

from .prompts import SUPERVISOR_PROMPT
from .schemas import Assignment, Plan, plan_schema
from .specialist import ModelFactory, SpecialistSpec
from .usage import usage_of

__all__ = [
    "CheckedPlan",
    "check_plan",
    "config_team",
    "handles",
    "intake",
    "make_intake",
    "make_supervisor",
    "task_goal",
]

_GUARD = "validate"
"""The guard whose stage check the plan check is (see `nodes/guards/validate.py`)."""


def task_goal(mode: str, rev_range: str | None, staged: bool) -> str:
    """Describe the task in one sentence."""
    if mode == "audit":
        return "Audit the whole repository for security, correctness and style problems."
    what = "the staged change" if staged else f"the change {rev_range}"
    return f"Review {what} for security, correctness and style problems."


def _analysis_root(root: Path, scope: list[str], head: str | None) -> tuple[str, list[Observation]]:
    """Where the analyzers read a review's files, and what to note about it.

    The work tree, or a snapshot of `head` (None: of the staged change) when the work tree
    holds something else for the files in scope.
    """
    try:
        if not snapshot.needs_snapshot(root, scope, head):
            return str(root), []
        taken = str(snapshot.take(root, current_thread_id(), head))
    except git.GitError as exc:
        text = f"could not snapshot the reviewed revision ({exc}); the analyzers read the work tree"
        return str(root), [Observation(source="intake", text=text)]
    what = "staged change" if head is None else f"commit {head[:12]}"
    text = (
        f"the work tree differs from the {what} under review: the analyzers read a "
        f"snapshot of it ({taken})"
    )
    return taken, [Observation(source="intake", text=text)]


def _skipped(skips: Sequence[tree.Skip]) -> list[SkippedPath]:
    return [
        SkippedPath(
            path=skip.path,
            kind=skip.kind,
            reason=skip.reason,
            in_scope=skip.in_scope,
            skipped_by=list(skip.skipped_by),
        )
        for skip in skips
    ]


def _scope_note(scope: Sequence[str], skips: Sequence[tree.Skip], seconds: float) -> Observation:
    text = f"{len(scope)} file(s) in scope"
    if skips:
        kinds: dict[str, int] = {}
        for skip in skips:
            kinds[skip.kind] = kinds.get(skip.kind, 0) + 1
        counts = ", ".join(f"{count} {kind}" for kind, count in kinds.items())
        text += f"; {len(skips)} path(s) skipped or partly skipped ({counts})"
    return Observation(source="intake", text=f"{text}; listed in {seconds:.2f} s")


def config_team(specialists: Sequence[SpecialistSpec]) -> keel_config.Team:
    """The names a repository's Keel configuration may use, and those it cannot turn off."""
    return keel_config.Team(
        names=tuple(s.name for s in specialists),
        always_on=tuple(s.name for s in specialists if s.area == "security"),
    )


def _repo_config(
    root: Path,
    scope: list[str],
    *,
    mode: str,
    staged: bool,
    rev_range: str | None,
    head: str | None,
    team: keel_config.Team | None,
) -> tuple[list[str], list[tree.Skip], keel_config.KeelConfig]:
    """The repository's Keel configuration, and the scope less what it excludes.

    Read as `tools.keel_config.load_for_task` says (a range's base, HEAD for a staged
    review, the work tree for an audit). An excluded path leaves the scope as an
    `excluded` skip with the glob that excluded it.

    Raises:
        KeelConfigError: the configuration is malformed (naming the key).
    """
    base = rev_range.partition("..")[0] if rev_range else None
    config = keel_config.load_for_task(
        root, mode=mode, staged=staged, base=base, head=head, team=team
    )
    kept: list[str] = []
    excluded: list[tree.Skip] = []
    for path in scope:
        glob = config.excluded_by(path)
        if glob is None:
            kept.append(path)
        else:
            key = f"{config.key}.exclude" if config.key else "exclude"
            excluded.append(tree.Skip(path, "excluded", f"{key} {glob!r} in {config.file}"))
    return kept, excluded, config


class IntakeNode(Protocol):
    """The intake node as `make_intake` returns it."""

    def __call__(self, state: PipelineState) -> dict[str, Any]:
        """Run intake."""


def make_intake(specialists: Sequence[SpecialistSpec]) -> IntakeNode:
    """The intake node for a team (it checks the repository's configuration against it)."""
    team = config_team(specialists)

    def intake_node(state: PipelineState) -> dict[str, Any]:
        return intake(state, team=team)

    return intake_node


def intake(state: PipelineState, *, team: keel_config.Team | None = None) -> dict[str, Any]:
    """Resolve the repository and revision range; fix the task and the scope.

    The listed paths (changed or tracked) pass through `tools.tree.partition` on the
    content the analyzers will read: submodules, symlinks, binary, oversized and
    unreadable paths leave the scope; templates stay in it for the non-Python readers.
    Each skip is recorded in `skipped` with its reason. A review also maps the lines its
    diff changed (`diff_lines`), taken with the scope so both see the same change.

    The repository's Keel configuration (`tools/keel_config.py`) is read here, validated
    against `team`, and kept in `repo_config`; its exclusions leave the scope as
    `excluded` skips. `baseline` names the repository whose remembered dismissals apply.

    Raises:
        GitError: not a repository, an unknown revision, or no commits (audit/review).
        KeelConfigError: the repository's Keel configuration is malformed.
    """
    started = time.perf_counter()
    root = git.repo_root(Path(state["repo"]))
    mode = state.get("mode") or "review"
    staged = bool(state.get("staged"))
    rev_range: str | None = None
    head: str | None = None  # the reviewed commit (None: the staged change, or an audit)
    diff_lines: dict[str, diffs.ChangedLines] | None = None
    if mode == "audit":
        git.head_sha(root)  # an audit of a repository without commits is a usage error
        listed = git.tracked_files(root)
    elif staged:
        listed = git.changed_files(root, staged=True)
        diff_lines = diffs.changed_lines(git.unified_diff(root, staged=True))
    else:
        base, head = git.resolve_range(root, state.get("rev_range"))
        rev_range = f"{base}..{head}"
        listed = git.changed_files(root, rev=rev_range)
        diff_lines = diffs.changed_lines(git.unified_diff(root, rev=rev_range))
    observations: list[Observation] = []
    analysis_root = str(root)
    if mode == "review":
        analysis_root, observations = _analysis_root(root, listed, head)
    where = Path(analysis_root)
    scope, skips = tree.partition(where, listed, git.tracked_entries(where))
    scope, excluded, config = _repo_config(
        root, scope, mode=mode, staged=staged, rev_range=rev_range, head=head, team=team
    )
    skips = [*skips, *excluded]
    observations.insert(0, _scope_note(scope, skips, time.perf_counter() - started))
    task = Task(
        goal=task_goal(mode, rev_range, staged),
        repo=str(root),
        mode=mode,
        rev_range=rev_range,
        staged=staged,
    )
    return {
        "repo": str(root),
        "task": task,
        "scope": scope,
        "skipped": _skipped(skips),
        "diff_lines": diff_lines,
        "analysis_root": analysis_root,
        "repo_config": config.as_dict(),
        "baseline": baseline.repo_identity(root),
        "status": "running",
        "started_at": utc_now(),
        "observations": observations,
    }


# ------------------------------------------------------------------ the plan check


@dataclass
class CheckedPlan:
    """The plan as the specialists will receive it, and what the check changed."""

    steps: list[PlanStep]
    """One active step per specialist with work, in the specialists' order."""
    events: list[GuardEvent] = field(default_factory=list)
    """`validate` events: what was dropped, what was repaired."""
    blockers: list[str] = field(default_factory=list)
    """Set only when the plan was invalid and nothing could be routed instead."""


def handles(spec: SpecialistSpec, path: str) -> bool:
    """Whether a specialist's declared globs match a file (as the offline model matches)."""
    return any(fnmatch.fnmatch(path, glob) for glob in spec.handles)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _salvage(raw: Any) -> tuple[list[Assignment], list[str]]:
    """The well-formed assignments of a plan that failed the schema, and what was lost.

    The schema's enum rejects the whole plan for one bad name; the assignments that are
    well-formed on their own still carry the model's judgement, so they are kept.
    """
    calls = raw.tool_calls if isinstance(raw, AIMessage) else []
    args = calls[0]["args"] if calls else {}
    items = args.get("assignments") if isinstance(args, Mapping) else None
    kept: list[Assignment] = []
    lost: list[str] = []
    for item in items if isinstance(items, list) else []:
        try:
            kept.append(Assignment.model_validate(item))
        except ValidationError:
            lost.append(f"malformed assignment {_short(json.dumps(item, default=str), 80)}")
    return kept, lost


def _checked_steps(
    assignments: Sequence[Assignment], scope: Sequence[str], by_name: Mapping[str, SpecialistSpec]
) -> tuple[dict[str, PlanStep], list[str]]:
    """Steps keyed by specialist from the assignments; what was dropped, for the event."""
    in_scope = set(scope)
    steps: dict[str, PlanStep] = {}
    dropped: list[str] = []
    for assignment in assignments:
        if assignment.specialist not in by_name:
            dropped.append(f"unknown specialist {assignment.specialist!r}")
            continue
        outside = [f for f in assignment.files if f not in in_scope]
        if outside:
            dropped.append(f"{len(outside)} file(s) outside the scope: {outside[:3]}")
        files = [f for f in dict.fromkeys(assignment.files) if f in in_scope]
        if not files:
            continue
        step = steps.get(assignment.specialist)
        if step is None:
            steps[assignment.specialist] = _new_step(
                assignment.specialist, files, assignment.instructions
            )
        else:  # a second assignment to the same specialist: one Send with both
            step["files"] += [f for f in files if f not in step["files"]]
            step["instructions"] = f"{step['instructions']}\n{assignment.instructions}".strip()
    return steps, dropped


def _new_step(specialist: str, files: list[str], instructions: str) -> PlanStep:
    """An active step for `specialist` (its id is the specialist's name: one per plan)."""
    return PlanStep(
        id=specialist,
        specialist=specialist,
        files=files,
        instructions=instructions,
        status="active",
    )


def _routed_instructions(spec: SpecialistSpec, count: int) -> str:
    return (
        f"Review {count} file(s) for {spec.area} problems with your tools; "
        "cite file, lines and code for every finding."
    )


def _cover(
    steps: dict[str, PlanStep], scope: Sequence[str], specialists: Sequence[SpecialistSpec]
) -> dict[str, list[str]]:
    """Give every in-scope file to every specialist whose globs handle it.

    Mutates `steps` (a specialist the plan left out gets a step with routed instructions);
    returns the files added per specialist, in the team's order (empty: the plan was
    complete).
    """
    added: dict[str, list[str]] = {}
    for spec in specialists:
        step = steps.get(spec.name)
        have = set(step["files"]) if step is not None else set()
        mine = [f for f in scope if f not in have and handles(spec, f)]
        if not mine:
            continue
        added[spec.name] = mine
        if step is None:
            steps[spec.name] = _new_step(spec.name, mine, _routed_instructions(spec, len(mine)))
        else:
            step["files"] += mine
    return added


def _repair_why(
    plan: Plan | None, parsing_error: object, kept: int, added: Mapping[str, Sequence[str]]
) -> str:
    """Why the plan needed repair ("" when it did not), for the event's reason."""
    if plan is None:
        error = _short(str(parsing_error)) if parsing_error else "no Plan tool call"
        return f"no valid plan ({error})" + (
            f", kept {kept} well-formed assignment(s)" if kept else ""
        )
    if not added:
        return ""
    if not plan.assignments:
        return "the plan was empty"
    if not kept:
        return "the plan assigned no file in scope"
    files = list(dict.fromkeys(f for names in added.values() for f in names))
    shown = ", ".join(files[:3]) + (f", … (+{len(files) - 3})" if len(files) > 3 else "")
    return f"{len(files)} file(s) not given to every specialist that handles them ({shown})"


def check_plan(
    plan: Plan | None,
    raw: object,
    parsing_error: object,
    scope: Sequence[str],
    specialists: Sequence[SpecialistSpec],
    off: Collection[str] = (),
) -> CheckedPlan:
    """Check the model's plan against the specialists and the scope; repair what is missing.

    Args:
        plan: the parsed plan, or None when the model's output failed the schema.
        raw: the model's raw message (salvaged when `plan` is None).
        parsing_error: why parsing failed (for the event), or None.
        scope: the files in scope, in order.
        specialists: the team, in the order their steps are sent.
        off: specialists the repository's configuration turned off: the plan's
            assignments to them are dropped without an event, and they get no files.
    """
    team = [spec for spec in specialists if spec.name not in off]
    by_name = {spec.name: spec for spec in team}
    assignments, lost = (list(plan.assignments), []) if plan is not None else _salvage(raw)
    assignments = [a for a in assignments if a.specialist not in off]
    steps, dropped = _checked_steps(assignments, scope, by_name)
    events: list[GuardEvent] = []
    if lost + dropped:
        reason = "plan checked: dropped " + "; ".join(lost + dropped)
        events.append(guard_event(Verdict(_GUARD, "nudge", reason), "supervisor"))
    kept = len(steps)
    added = _cover(steps, scope, team)
    ordered = [steps[spec.name] for spec in team if spec.name in steps]
    why = _repair_why(plan, parsing_error, kept, added)
    if not ordered:  # nothing any specialist can do: straight to the report
        return CheckedPlan(steps=[], events=events, blockers=[f"supervisor: {why}"] if why else [])
    if why:
        routed = ", ".join(f"{name} +{len(files)}" for name, files in added.items())
        reason = f"plan repaired: {why}"
        reason += f"; routed by the specialists' file globs ({routed})" if routed else ""
        events.append(guard_event(Verdict(_GUARD, "nudge", reason), "supervisor"))
    return CheckedPlan(steps=ordered, events=events)


# ------------------------------------------------------------------ the node


def _brief(scope: Sequence[str], specialists: Sequence[SpecialistSpec]) -> str:
    brief = {
        "files": list(scope),
        "specialists": [
            {
                "name": s.name,
                "area": s.area,
                "description": s.description,
                "handles": list(s.handles),
            }
            for s in specialists
        ],
    }
    return "```json\n" + json.dumps(brief, indent=1) + "\n```"


def make_supervisor(specialists: Sequence[SpecialistSpec], model_for: ModelFactory) -> RuntimeNode:
    """Return the supervisor node for these specialists."""
    schema = plan_schema([spec.name for spec in specialists])

    def supervisor(state: PipelineState, runtime: Runtime[KeelContext]) -> Command[Any]:
        context = runtime.context or KeelContext()
        task, scope = state["task"], state.get("scope", [])
        if not scope:
            return Command(goto="report", update={"blockers": []})
        off = keel_config.KeelConfig.from_dict(state.get("repo_config")).off
        team = [spec for spec in specialists if spec.name not in off]
        prompt = SUPERVISOR_PROMPT.format(goal=task["goal"], brief=_brief(scope, team))
        model = model_for(context.model).with_structured_output(
            schema, include_raw=True, method="function_calling"
        )
        started = time.perf_counter()
        result = cast(dict[str, Any], model.invoke(prompt))
        usage = usage_of(result["raw"], context.model, time.perf_counter() - started)
        checked = check_plan(
            result.get("parsed"),
            result["raw"],
            result.get("parsing_error"),
            scope,
            specialists,
            off,
        )
        steps = checked.steps
        update: dict[str, Any] = {"plan": steps, "usage": usage, "blockers": checked.blockers}
        if checked.events:
            update["guard_events"] = checked.events
        if not steps:
            return Command(goto="report", update=update)
        spent = add_usage(state.get("usage"), usage)
        clock_start = state.get("started_at") or utc_now()
        sends = [
            Send(
                step["specialist"],
                SpecialistInput(
                    repo=state.get("analysis_root") or state["repo"],
                    task=task,
                    step=step,
                    spent=spent,
                    parallel=len(steps),
                    granted=list(state.get("budget_grants") or []),
                    clock_start=clock_start,
                ),
            )
            for step in steps
        ]
        return Command(goto=sends, update=update)

    return supervisor

"""The plan check: what the supervisor's plan becomes before any specialist consumes it.

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
to the report, with a blocker if the plan itself was invalid. The events are recorded as
the `supervisor` node's.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage
from pydantic import ValidationError

from keel.core.state import GuardEvent, PlanStep
from keel.nodes.guards._verdict import Verdict, guard_event

from .schemas import Assignment, Plan
from .specialist import SpecialistSpec

__all__ = ["CheckedPlan", "check_plan", "handles"]

_GUARD = "validate"
"""The guard whose stage check the plan check is (see `nodes/guards/validate.py`)."""


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

"""Intake and supervisor: fix the task, plan from the files in scope, delegate in parallel.

`intake` writes the task once (never rewritten) and the scope: the changed files of a
revision range or the staged change, or every tracked file for an audit.
`supervisor` asks the model for a `Plan` (structured output) and fans the assignments
out to the specialists with `Send`, so independent specialists run in parallel; their
findings merge on the blackboard through the state's reducers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from graphs.context import KeelContext, RuntimeNode
from graphs.state import (
    Observation,
    PipelineState,
    PlanStep,
    SpecialistInput,
    Task,
    add_usage,
)
from nodes.guards._verdict import Verdict, guard_event, utc_now
from tools import git

from .prompts import SUPERVISOR_PROMPT
from .schemas import Plan, plan_schema
from .specialist import ModelFactory, SpecialistSpec
from .usage import usage_of

__all__ = ["intake", "make_supervisor", "task_goal"]


def task_goal(mode: str, rev_range: str | None, staged: bool) -> str:
    """Describe the task in one sentence."""
    if mode == "audit":
        return "Audit the whole repository for security, correctness and style problems."
    what = "the staged change" if staged else f"the change {rev_range}"
    return f"Review {what} for security, correctness and style problems."


def intake(state: PipelineState) -> dict[str, Any]:
    """Resolve the repository and revision range; fix the task and the scope."""
    root = git.repo_root(Path(state["repo"]))
    mode = state.get("mode") or "review"
    staged = bool(state.get("staged"))
    rev_range: str | None = None
    if mode == "audit":
        scope = [f for f in git.tracked_files(root) if not git.is_binary(root, f)]
    elif staged:
        scope = git.changed_files(root, staged=True)
    else:
        base, head = git.resolve_range(root, state.get("rev_range"))
        rev_range = f"{base}..{head}"
        scope = git.changed_files(root, rev=rev_range)
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
        "status": "running",
        "started_at": utc_now(),
        "observations": [Observation(source="intake", text=f"{len(scope)} file(s) in scope")],
    }


def make_supervisor(specialists: Sequence[SpecialistSpec], model_for: ModelFactory) -> RuntimeNode:
    """Return the supervisor node for these specialists."""
    by_name = {spec.name: spec for spec in specialists}
    schema = plan_schema(list(by_name))

    def supervisor(state: PipelineState, runtime: Runtime[KeelContext]) -> Command[Any]:
        context = runtime.context or KeelContext()
        task, scope = state["task"], state.get("scope", [])
        if not scope:
            return Command(goto="report", update={"blockers": []})
        brief = {
            "files": scope,
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
        prompt = SUPERVISOR_PROMPT.format(
            goal=task["goal"], brief="```json\n" + json.dumps(brief, indent=1) + "\n```"
        )
        model = model_for(context.model).with_structured_output(
            schema, include_raw=True, method="function_calling"
        )
        started = time.perf_counter()
        result = cast(dict[str, Any], model.invoke(prompt))
        usage = usage_of(result["raw"], context.model, time.perf_counter() - started)
        plan: Plan | None = result.get("parsed")
        steps: list[PlanStep] = []
        blockers: list[str] = []
        dropped: list[str] = []
        if plan is None:
            blockers.append(f"supervisor returned no valid plan: {result.get('parsing_error')}")
        else:
            in_scope = set(scope)
            for assignment in plan.assignments:
                files = [f for f in assignment.files if f in in_scope]
                outside = [f for f in assignment.files if f not in in_scope]
                if assignment.specialist not in by_name:
                    dropped.append(f"unknown specialist {assignment.specialist!r}")
                    continue
                if outside:
                    dropped.append(f"{len(outside)} file(s) outside the scope: {outside[:3]}")
                if not files:
                    continue
                steps.append(
                    PlanStep(
                        id=assignment.specialist,
                        specialist=assignment.specialist,
                        files=files,
                        instructions=assignment.instructions,
                        status="active",
                    )
                )
        update: dict[str, Any] = {"plan": steps, "usage": usage, "blockers": blockers}
        if dropped:
            verdict = Verdict("validate", "nudge", "plan checked: dropped " + "; ".join(dropped))
            update["guard_events"] = [guard_event(verdict, "supervisor")]
        if not steps:
            return Command(goto="report", update=update)
        spent = add_usage(state.get("usage"), usage)
        clock_start = state.get("started_at") or utc_now()
        sends = [
            Send(
                step["specialist"],
                SpecialistInput(
                    repo=state["repo"],
                    task=task,
                    step=step,
                    spent=spent,
                    granted=list(state.get("budget_grants") or []),
                    clock_start=clock_start,
                ),
            )
            for step in steps
        ]
        return Command(goto=sends, update=update)

    return supervisor

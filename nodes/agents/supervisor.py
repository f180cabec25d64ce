"""Supervisor: plan from the files in scope and delegate to the specialists in parallel.

`supervisor` asks the model for a `Plan` (structured output, the `Plan` tool forced),
checks it (`plan_check.check_plan`: salvage, check, cover) and fans the steps out to the
specialists with `Send`, so independent specialists run in parallel; their findings merge
on the blackboard through the state's reducers. With nothing in scope, or no step left,
it goes straight to the report.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, cast

from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from keel.core.state import PipelineState, SpecialistInput, add_usage
from keel.nodes.context import KeelContext, RuntimeNode
from keel.nodes.guards._verdict import utc_now
from keel.tools import keel_config

from .plan_check import check_plan
from .prompts import SUPERVISOR_PROMPT
from .schemas import plan_schema
from .specialist import ModelFactory, SpecialistSpec
from .usage import usage_of

__all__ = ["make_supervisor"]


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

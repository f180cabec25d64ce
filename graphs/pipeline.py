"""Wire a Keel pipeline: intake → supervisor → specialists (parallel) → report → review → effects.

    START → intake → supervisor ─Send→ specialist₁ … specialistₙ → report
    report → review_gate → execute_actions → finalize → END
           ↘ finalize (no trigger)        ↘ finalize (all rejected)

`build_pipeline` only wires; agents and guards live in `nodes/`. The builder is returned
uncompiled: `langgraph.json` serves it compiled without a checkpointer, the CLI compiles
it with its own checkpointer and store.

The team decides what follows from it: its names are the node names and the plan's enum,
its areas the categories a submission admits (`keel.core.vocabulary.team_areas`) and the
task's wording. A specialist's tools run without review, so a tool that declares an effect
(`keel.tools.effect_of`) must declare `read`; a side effect is an action of the registry
(`nodes/actions.py`), run after the review gate.
"""

from __future__ import annotations

from collections.abc import Sequence

from langgraph.graph import END, START, StateGraph

from keel.core.state import PipelineInput, PipelineOutput, PipelineState
from keel.core.vocabulary import Effect, team_areas
from keel.nodes.actions import execute_actions
from keel.nodes.agents.intake import make_intake
from keel.nodes.agents.report import ModelLabel, make_finalize, make_report, report_markdown
from keel.nodes.agents.review_gate import GUARD_NAME as REVIEW_GATE
from keel.nodes.agents.review_gate import review_gate
from keel.nodes.agents.specialist import ModelFactory, SpecialistSpec, build_specialist
from keel.nodes.agents.supervisor import make_supervisor
from keel.nodes.context import KeelContext
from keel.tools import effect_of

__all__ = ["build_pipeline", "check_team"]

PipelineBuilder = StateGraph[PipelineState, KeelContext, PipelineInput, PipelineOutput]


def check_team(specialists: Sequence[SpecialistSpec]) -> None:
    """Refuse a team the pipeline cannot run safely.

    Raises:
        ValueError: no specialist, a name used twice or taken by a pipeline node, an empty
            area, or a tool that declares an effect other than `read` (it would run inside
            the specialist's loop, before any review). A tool that declares no effect is
            accepted as read-only; Keel's own tools all declare theirs.
    """
    names = [spec.name for spec in specialists]
    if not names:
        raise ValueError("a pipeline needs at least one specialist")
    if len(set(names)) != len(names):
        raise ValueError(f"specialist names must be unique, got {names}")
    taken = sorted(set(names) & set(_PIPELINE_NODES))
    if taken:
        raise ValueError(f"specialist names {taken} are pipeline nodes; rename them")
    for spec in specialists:
        if not spec.area.strip():
            raise ValueError(f"specialist {spec.name!r} has no area (its findings' category)")
        for tool in spec.tools:
            if "effect" not in (tool.metadata or {}):
                continue  # declares nothing: taken as a plain read-only helper
            effect = effect_of(tool)  # ValueError for an unknown effect word
            if effect is not Effect.READ:
                raise ValueError(
                    f"specialist {spec.name!r}: tool {tool.name!r} declares the {effect} "
                    "effect, but a specialist's tools run without review; make it an action "
                    "of the registry (nodes/actions.py), which runs after approval"
                )


_PIPELINE_NODES = ("intake", "supervisor", "report", REVIEW_GATE, "execute_actions", "finalize")


def build_pipeline(
    specialists: Sequence[SpecialistSpec],
    model_for: ModelFactory,
    *,
    label_for: ModelLabel = str,
) -> PipelineBuilder:
    """Return the uncompiled pipeline graph for these specialists.

    Args:
        specialists: the specialist agents; their names become node names, their areas
            the categories of the findings (`check_team` says what is refused).
        model_for: returns the chat model for `KeelContext.model`; the caller binds it
            to its settings once (`keel.models.bind_models`), the graph never reads them.
        label_for: the model's name in the report (default: the model id).

    Raises:
        ValueError: the team is refused (`check_team`).
    """
    check_team(specialists)
    names = [spec.name for spec in specialists]
    areas = team_areas(specialists)
    builder = StateGraph(
        PipelineState,
        context_schema=KeelContext,
        input_schema=PipelineInput,
        output_schema=PipelineOutput,
    )
    builder.add_node("intake", make_intake(specialists))
    builder.add_node(
        "supervisor",
        make_supervisor(specialists, model_for),
        destinations=(*names, "report"),
    )
    for spec in specialists:
        builder.add_node(spec.name, build_specialist(spec, model_for, areas))
        builder.add_edge(spec.name, "report")
    builder.add_node("report", make_report(label_for), destinations=(REVIEW_GATE, "finalize"))
    builder.add_node(REVIEW_GATE, review_gate, destinations=("execute_actions", "finalize"))
    builder.add_node("execute_actions", execute_actions(report_markdown))
    builder.add_node("finalize", make_finalize(label_for))
    builder.add_edge(START, "intake")
    builder.add_edge("intake", "supervisor")
    builder.add_edge("execute_actions", "finalize")
    builder.add_edge("finalize", END)
    return builder

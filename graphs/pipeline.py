"""Wire a Keel pipeline: intake → supervisor → specialists (parallel) → report → review → effects.

    START → intake → supervisor ─Send→ specialist₁ … specialistₙ → report
    report → review_gate → execute_actions → finalize → END
           ↘ finalize (no trigger)        ↘ finalize (all rejected)

`build_pipeline` only wires; agents and guards live in `nodes/`. The builder is returned
uncompiled: `langgraph.json` serves it compiled without a checkpointer, the CLI compiles
it with its own checkpointer and store.
"""

from __future__ import annotations

from collections.abc import Sequence

from langgraph.graph import END, START, StateGraph

from graphs.context import KeelContext
from graphs.state import PipelineInput, PipelineOutput, PipelineState
from nodes.actions import execute_actions
from nodes.agents.report import finalize, report, report_markdown
from nodes.agents.specialist import ModelFactory, SpecialistSpec, build_specialist
from nodes.agents.supervisor import make_intake, make_supervisor
from nodes.guards.review_gate import GUARD_NAME as REVIEW_GATE
from nodes.guards.review_gate import review_gate

__all__ = ["build_pipeline"]

PipelineBuilder = StateGraph[PipelineState, KeelContext, PipelineInput, PipelineOutput]


def build_pipeline(
    specialists: Sequence[SpecialistSpec], model_for: ModelFactory
) -> PipelineBuilder:
    """Return the uncompiled pipeline graph for these specialists.

    Args:
        specialists: the specialist agents; their names become node names.
        model_for: returns the chat model for `KeelContext.model`.
    """
    names = [spec.name for spec in specialists]
    if len(set(names)) != len(names):
        raise ValueError(f"specialist names must be unique, got {names}")
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
        builder.add_node(spec.name, build_specialist(spec, model_for))
        builder.add_edge(spec.name, "report")
    builder.add_node("report", report, destinations=(REVIEW_GATE, "finalize"))
    builder.add_node(REVIEW_GATE, review_gate, destinations=("execute_actions", "finalize"))
    builder.add_node("execute_actions", execute_actions(report_markdown))
    builder.add_node("finalize", finalize)
    builder.add_edge(START, "intake")
    builder.add_edge("intake", "supervisor")
    builder.add_edge("execute_actions", "finalize")
    builder.add_edge("finalize", END)
    return builder

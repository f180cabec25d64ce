"""The code review & audit workflow: security, style and correctness specialists.

Exports `build_review_graph(model_for)`, which the CLI compiles with its own checkpointer
and `keel/server.py` (for `langgraph dev` / LangGraph Server) without one, its run
settings defaulting to the server's environment. The caller binds the model factory to
its settings once (`keel.models.bind_models`); nothing here reads the environment.

The team is `SPECIALISTS` unless a caller passes another: a further specialist is one
more `SpecialistSpec` (name, area, description, file globs) and its read-only tools —
its area becomes a category, its name a plan choice and a node, the task names its area.
"""

from __future__ import annotations

from collections.abc import Sequence

from keel.graphs.pipeline import PipelineBuilder, build_pipeline
from keel.nodes.agents.report import ModelLabel
from keel.nodes.agents.specialist import ModelFactory, SpecialistSpec
from keel.nodes.context import KeelContext
from keel.tools.agent_tools import CORRECTNESS_TOOLS, SECURITY_TOOLS, STYLE_TOOLS

__all__ = ["SPECIALISTS", "build_review_graph"]

SPECIALISTS: tuple[SpecialistSpec, ...] = (
    SpecialistSpec(
        name="security",
        area="security",
        description=(
            "You find vulnerabilities: injection (SQL, shell, code), unsafe deserialization, "
            "path traversal, hardcoded secrets, weak crypto, disabled TLS checks, untrusted "
            "data reaching files, shells or XML parsers. Tools: bandit, detect-secrets, "
            "semgrep with Keel's rules."
        ),
        handles=("*",),
        tools=tuple(SECURITY_TOOLS),
    ),
    SpecialistSpec(
        name="style",
        area="style",
        description="You find lint and style problems and what ruff can fix automatically.",
        handles=("*.py", "*.pyi"),
        tools=tuple(STYLE_TOOLS),
    ),
    SpecialistSpec(
        name="correctness",
        area="correctness",
        description=(
            "You read the change for bugs: off-by-one errors, swallowed exceptions, wrong "
            "results, broken tests. You may propose running the repository's tests; that "
            "executes repository code, so it needs human approval."
        ),
        handles=("*.py",),
        tools=tuple(CORRECTNESS_TOOLS),
    ),
)
"""The review team."""


def build_review_graph(
    model_for: ModelFactory,
    *,
    label_for: ModelLabel = str,
    context_schema: type[KeelContext] = KeelContext,
    specialists: Sequence[SpecialistSpec] = SPECIALISTS,
) -> PipelineBuilder:
    """Return the uncompiled review graph (compile it with a checkpointer to persist).

    Args:
        model_for: returns the chat model for `KeelContext.model`, bound by the caller to
            its settings (`keel.models.bind_models`): the graph never reads the environment.
        label_for: the model's name in the report (`keel.models.model_label`).
        context_schema: `KeelContext` or a subclass from
            `keel.nodes.context.context_schema_with_defaults` (the served graph's).
        specialists: the team (default `SPECIALISTS`).

    Raises:
        ValueError: the team is refused (`keel.graphs.pipeline.check_team`).
    """
    builder = build_pipeline(specialists, model_for, label_for=label_for)
    builder.context_schema = context_schema
    return builder

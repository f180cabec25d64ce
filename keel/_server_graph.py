"""The review graph as `langgraph.json` serves it: run settings default to the server's.

`KeelContext` itself has the code's defaults; LangGraph builds a served run's context as
`context_schema(**context)` from the assistant's and the run's context, so
without this a server started with `KEEL_GUARD_BUDGET_TOKENS=5000` would run with the
code default. Here the context schema is `context_schema_with_defaults` of the settings
read once when the server loads the graph (`Settings.load()`: environment over `.env`,
the same settings the CLI uses): a field the run's context leaves out takes the server's
value, a `guards` dict is merged key by key over the server's guard policy. A malformed
setting stops the server at startup. The startup log names the settings that differ from
the code defaults.
"""

from __future__ import annotations

import logging
from dataclasses import fields
from typing import Any

from langgraph.graph.state import CompiledStateGraph

from keel.graphs.review import build_review_graph
from keel.models import bind_models, model_label
from keel.nodes.context import KeelContext, context_schema_with_defaults
from keel.settings import Settings

__all__ = ["graph", "served_graph", "settings_changes"]

logger = logging.getLogger("keel.server")


def settings_changes(context: KeelContext) -> dict[str, Any]:
    """The fields of `context` (guards as `guards.NAME`) that differ from the code defaults."""
    default = KeelContext()
    changes = {
        f.name: getattr(context, f.name)
        for f in fields(KeelContext)
        if f.name != "guards" and getattr(context, f.name) != getattr(default, f.name)
    }
    for name, value in context.guards.to_dict().items():
        if value != default.guards.to_dict()[name]:
            changes[f"guards.{name}"] = value
    return changes


def served_graph(settings: Settings) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the review graph (no checkpointer) with run settings defaulting to `settings`."""
    defaults = settings.run_context()
    schema = context_schema_with_defaults(defaults)
    changes = settings_changes(defaults)
    logger.info(
        "keel: served runs default to the server's settings%s",
        ": " + ", ".join(f"{k}={v!r}" for k, v in changes.items())
        if changes
        else " (all code defaults)",
    )
    models = bind_models(settings)
    return build_review_graph(models, label_for=model_label, context_schema=schema).compile(
        name="review"
    )


graph = served_graph(Settings.load())
"""The served review graph (`langgraph.json` → `keel/server.py:graph`)."""

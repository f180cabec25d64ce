"""Effect classes of tools: what a tool may do to the world when it runs.

A tool declares its `Effect` (`keel.core.vocabulary`) in its metadata; the pipeline reads it
with `effect_of` when it builds a specialist and refuses a tool that is not `read`
(a specialist's tools run without review: side effects are actions, `nodes/actions.py`).
"""

from __future__ import annotations

from langchain_core.tools import BaseTool

from keel.core.vocabulary import Effect

__all__ = ["Effect", "effect_of"]


def effect_of(tool: BaseTool) -> Effect:
    """Return the effect class declared in a tool's metadata.

    Args:
        tool: A LangChain tool built with ``metadata={"effect": ...}``.

    Returns:
        The declared effect.

    Raises:
        ValueError: If the tool declares no effect or an unknown one.
    """
    metadata = tool.metadata or {}
    value = metadata.get("effect")
    if value is None:
        raise ValueError(f"tool {tool.name!r} declares no effect in its metadata")
    try:
        return Effect(value)
    except ValueError as exc:
        raise ValueError(f"tool {tool.name!r} declares an unknown effect: {value!r}") from exc

"""Effect classes of tools: what a tool may do to the world when it runs."""

from __future__ import annotations

from enum import StrEnum

from langchain_core.tools import BaseTool

__all__ = ["Effect", "effect_of"]


class Effect(StrEnum):
    """What running a tool may do.

    Attributes:
        READ: Only reads the repository or its history.
        WRITE: Changes files in the repository.
        EXECUTE: Runs code from the repository (tests, build scripts).
        EXTERNAL: Talks to something outside the machine.
    """

    READ = "read"
    WRITE = "write"
    EXECUTE = "execute"
    EXTERNAL = "external"


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

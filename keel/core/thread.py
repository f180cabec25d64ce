"""The id of the thread the running graph belongs to."""

from __future__ import annotations

from langgraph.config import get_config

__all__ = ["current_thread_id"]


def current_thread_id(default: str = "local") -> str:
    """Return the thread id of the running graph (`config["configurable"]["thread_id"]`).

    `default` outside a graph run, or when the run has no thread id.
    """
    try:
        config = get_config()
    except RuntimeError:
        return default
    return str(config.get("configurable", {}).get("thread_id") or default)

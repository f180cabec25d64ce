"""Run settings of a Keel graph, passed as LangGraph's `context_schema`.

The CLI builds a `KeelContext` from `keel.settings.Settings`; in LangGraph Studio the
same fields are an assistant's configurable context. `thread_id` is not here: it stays in
`config["configurable"]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol

from langgraph.runtime import Runtime

if TYPE_CHECKING:
    from keel.settings import Settings

__all__ = ["KeelContext", "RuntimeNode", "current_thread_id"]


@dataclass(kw_only=True)
class KeelContext:
    """Per-run settings: model, limits and review policy."""

    model: str = field(
        default="offline",
        metadata={
            "description": "Chat model: `offline` (deterministic policy model), an "
            "init_chat_model id such as `openai:gpt-4o-mini`, or `openai-compatible:NAME` "
            "for the server at OPENAI_BASE_URL."
        },
    )
    max_agent_steps: int = field(
        default=24,
        metadata={"description": "Model turns one specialist may take before it is stopped."},
    )
    max_tool_calls: int = field(
        default=40,
        metadata={"description": "Tool calls one specialist may make before it is stopped."},
    )
    review_min_severity: str = field(
        default="high",
        metadata={"description": "Findings at or above this severity require human review."},
    )
    review_confidence_threshold: float = field(
        default=0.5,
        metadata={"description": "A handoff below this confidence requires human review."},
    )
    review_sample_rate: float = field(
        default=0.0,
        metadata={
            "description": "Fraction of otherwise automatic runs sent to human review, "
            "sampled reproducibly by thread id."
        },
    )
    publish_path: str = field(
        default="KEEL_REVIEW.md",
        metadata={"description": "Repository-relative path the approved review is written to."},
    )
    tool_timeout_s: float = field(
        default=300.0,
        metadata={"description": "Timeout of one tool subprocess (pytest, bandit, ...)."},
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> KeelContext:
        """Build the run context from the process settings."""
        return cls(
            model=settings.model,
            max_agent_steps=settings.max_agent_steps,
            max_tool_calls=settings.max_tool_calls,
            review_min_severity=settings.review_min_severity,
            review_confidence_threshold=settings.review_confidence_threshold,
            review_sample_rate=settings.review_sample_rate,
            publish_path=settings.publish_path,
            tool_timeout_s=settings.tool_timeout_s,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the context as a JSON-able dict (stored with the thread for resumes)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeelContext:
        """Rebuild a context saved by `to_dict`, ignoring unknown keys."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def current_thread_id(default: str = "local") -> str:
    """Return the thread id of the running graph (`config["configurable"]["thread_id"]`)."""
    from langgraph.config import get_config

    try:
        config = get_config()
    except RuntimeError:
        return default
    return str(config.get("configurable", {}).get("thread_id") or default)


class RuntimeNode(Protocol):
    """A node that takes the state and LangGraph's `Runtime` (for typed factories)."""

    def __call__(self, state: Any, *, runtime: Runtime[KeelContext]) -> Any:
        """Run the node."""

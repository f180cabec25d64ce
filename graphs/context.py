"""Run settings of a Keel graph, passed as LangGraph's `context_schema`.

The CLI builds a `KeelContext` from `keel.settings.Settings`; in LangGraph Studio the
same fields are an assistant's configurable context. `thread_id` is not here: it stays in
`config["configurable"]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

from langgraph.runtime import Runtime

from nodes.guards.policy import GuardPolicy

if TYPE_CHECKING:
    from keel.settings import Settings

__all__ = ["HANDOFF_STYLES", "HandoffStyle", "KeelContext", "RuntimeNode", "current_thread_id"]

HandoffStyle = Literal["packet", "summary", "full"]
"""What a specialist receives from the supervisor (see `KeelContext.handoff`)."""

HANDOFF_STYLES: tuple[HandoffStyle, ...] = get_args(HandoffStyle)


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
    guards: GuardPolicy = field(
        default_factory=GuardPolicy,
        metadata={"description": "Settings of every guard (loop, budget, drift, ...)."},
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
    effect_journal: str = field(
        default="",
        metadata={"description": "Path of a JSONL audit journal: one line per executed effect."},
    )
    tool_timeout_s: float = field(
        default=300.0,
        metadata={"description": "Timeout of one tool subprocess (pytest, bandit, ...)."},
    )
    handoff: HandoffStyle = field(
        default="packet",
        metadata={
            "description": "What a specialist receives from the supervisor: `packet` (the "
            "structured JSON brief), `summary` (a short prose summary, no JSON) or `full` "
            "(the packet plus the history upstream of the handoff)."
        },
    )

    def __post_init__(self) -> None:
        # a served run (Studio, the SDK) passes the nested policy as plain JSON
        if isinstance(self.guards, dict):
            self.guards = GuardPolicy.from_dict(self.guards)
        if self.handoff not in HANDOFF_STYLES:
            raise ValueError(
                f"KeelContext.handoff must be one of {', '.join(HANDOFF_STYLES)}, "
                f"got {self.handoff!r}"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> KeelContext:
        """Build the run context from the process settings."""
        return cls(
            model=settings.model,
            guards=settings.guards,
            review_min_severity=settings.review_min_severity,
            review_confidence_threshold=settings.review_confidence_threshold,
            review_sample_rate=settings.review_sample_rate,
            publish_path=settings.publish_path,
            tool_timeout_s=settings.tool_timeout_s,
            effect_journal=settings.effect_journal,
            handoff=settings.handoff,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the context as a JSON-able dict (stored with the thread for resumes)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["guards"] = self.guards.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeelContext:
        """Rebuild a context saved by `to_dict`, ignoring unknown keys."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if isinstance(values.get("guards"), dict):
            values["guards"] = GuardPolicy.from_dict(values["guards"])
        return cls(**values)


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

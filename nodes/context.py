"""Run settings of a Keel graph, passed as LangGraph's `context_schema`.

The CLI builds a `KeelContext` from its settings (`keel.settings.Settings.run_context`);
in LangGraph Studio the same fields are an assistant's configurable context. `thread_id`
is not here: it stays in `config["configurable"]`.

LangGraph builds a run's context from a dict as `context_schema(**context)`, so the
fields a run leaves out take the schema's defaults. `KeelContext`'s defaults are the code
defaults; `context_schema_with_defaults(ctx)` returns a subclass whose defaults are
`ctx`'s values (a nested `guards` dict merged key by key over `ctx.guards`). The served
graph uses it with the server's settings (`keel/_server_graph.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, make_dataclass, replace
from typing import Any, Literal, Protocol, get_args, get_type_hints

from langgraph.runtime import Runtime

from keel.nodes.guards.policy import GuardPolicy
from keel.tools.keel_config import KeelConfig, effective_review

__all__ = [
    "DIFF_FILTERS",
    "DiffFilter",
    "HANDOFF_STYLES",
    "HandoffStyle",
    "KeelContext",
    "RuntimeNode",
    "context_schema_with_defaults",
]

HandoffStyle = Literal["packet", "summary", "full"]
"""What a specialist receives from the supervisor (see `KeelContext.handoff`)."""

HANDOFF_STYLES: tuple[HandoffStyle, ...] = get_args(HandoffStyle)

DiffFilter = Literal["added", "diff_context", "file", "all"]
"""Which findings a review reports, by their place in the diff (reviewdog's filter modes;
`all` is reviewdog's `nofilter`): see `KeelContext.diff_filter`."""

DIFF_FILTERS: tuple[DiffFilter, ...] = get_args(DiffFilter)


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

    diff_filter: DiffFilter = field(
        default="added",
        metadata={
            "description": "Which findings a review (not an audit) reports and lets "
            "trigger human review, by their place in the diff: `added` (introduced by the "
            "change), `diff_context` (also on the diff's context lines), `file` (anywhere "
            "in a file the change touches) or `all`. The others are counted and listed "
            "apart; the report's data keeps every finding with its class."
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
        if self.diff_filter not in DIFF_FILTERS:
            raise ValueError(
                f"KeelContext.diff_filter must be one of {', '.join(DIFF_FILTERS)}, "
                f"got {self.diff_filter!r}"
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
        return cls(**{k: v for k, v in data.items() if k in known})  # guards: __post_init__

    def with_repo_config(self, config: Mapping[str, Any] | None) -> KeelContext:
        """This context under a repository's review policy (`PipelineState.repo_config`).

        The repository only tightens it (`keel.tools.keel_config.effective_review`): a lower
        `review_min_severity`, a higher `review_sample_rate`, more sensitive paths. The
        same context comes back when the repository has no configuration.
        """
        if not config:
            return self
        severity, rate, paths, _ = effective_review(
            KeelConfig.from_dict(config),
            min_severity=self.review_min_severity,
            sample_rate=self.review_sample_rate,
            sensitive_paths=self.guards.sensitive_paths,
        )
        return replace(
            self,
            review_min_severity=severity,
            review_sample_rate=rate,
            guards=replace(self.guards, sensitive_paths=paths),
        )


def context_schema_with_defaults(defaults: KeelContext) -> type[KeelContext]:
    """Return a `KeelContext` subclass whose field defaults are the values of `defaults`.

    Pass it as a graph's `context_schema`: LangGraph builds the run context as
    `schema(**context)`, so a field the run's context leaves out is `defaults`' value, and
    a `guards` dict (Studio, the SDK) is merged key by key over `defaults.guards`
    (unknown keys ignored, the result validated by `GuardPolicy`). The JSON schema keeps
    the title `KeelContext`, its fields and descriptions, with these defaults.
    """
    hints = get_type_hints(KeelContext)
    specs: list[tuple[str, Any, Any]] = []
    for f in fields(KeelContext):
        if f.name == "guards":
            spec = field(default_factory=lambda: replace(defaults.guards), metadata=f.metadata)
        else:
            spec = field(default=getattr(defaults, f.name), metadata=f.metadata)
        specs.append((f.name, hints[f.name], spec))

    def __post_init__(self: KeelContext) -> None:
        if isinstance(self.guards, dict):
            known = {f.name for f in fields(GuardPolicy)}
            given = {k: v for k, v in self.guards.items() if k in known}
            self.guards = replace(defaults.guards, **given)  # validated by GuardPolicy
        KeelContext.__post_init__(self)

    def __reduce__(self: KeelContext) -> tuple[Any, ...]:
        # the class is made here, so pickle cannot find it by name: copy as a KeelContext
        return (KeelContext.from_dict, (self.to_dict(),))

    schema: type[KeelContext] = make_dataclass(
        "KeelContext",
        specs,
        bases=(KeelContext,),
        kw_only=True,
        namespace={
            "__post_init__": __post_init__,
            "__reduce__": __reduce__,
            "__doc__": KeelContext.__doc__,
        },
    )
    schema.__module__ = __name__
    return schema


class RuntimeNode(Protocol):
    """A node that takes the state and LangGraph's `Runtime` (for typed factories)."""

    def __call__(self, state: Any, *, runtime: Runtime[KeelContext]) -> Any:
        """Run the node."""

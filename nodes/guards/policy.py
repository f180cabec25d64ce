"""`GuardPolicy`: one object that configures every guard.

It is part of the run context (`KeelContext.guards`), so the CLI fills it from settings
(`KEEL_GUARD_*` variables) and LangGraph Studio assistants can set it. Defaults:

| guard | setting | default | meaning |
|---|---|---|---|
| step_limit | `max_agent_steps` | 24 | model turns per specialist |
| step_limit | `max_tool_calls` | 40 | tool calls per specialist |
| loop | `loop_repeat_limit` | 3 | same call (normalised) this often in the window fires |
| loop | `loop_window` | 12 | tool calls looked at (the last N) |
| loop | `loop_no_progress_turns` | 6 | turns without a new tool result fire |
| budget | `budget_tokens` | 400000 | tokens in + out per thread |
| budget | `budget_cost_usd` | 2.0 | money per thread (price table in `keel.models`) |
| budget | `budget_model_calls` | 80 | model calls per thread |
| budget | `budget_tool_calls` | 200 | tool calls per thread |
| budget | `budget_soft_ratio` | 0.8 | at this share of a limit, ask a human for more |
| validate | `max_repairs` | 2 | invalid submissions sent back before escalating |
| drift | `drift_limit` | 2 | off-scope calls re-anchored before escalating |
| compress | `compress_at_tokens` | 12000 | a specialist's channel above this is compressed |
| compress | `compress_keep_last` | 6 | messages kept verbatim |
| compress | `compress_summary_tokens` | 0 | summary budget; 0 = `compress_at_tokens` / 8 |
| deadline | `deadline_s` | 1800 | active wall-clock seconds per thread |
| deadline | `deadline_action` | `halt` | `halt` or `escalate` on expiry |
| review | `sensitive_paths` | auth, crypto, payment, secret | path globs that always need review |
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["GuardPolicy"]


def _f(default: Any, description: str) -> Any:
    return field(default=default, metadata={"description": description})


_AT_LEAST_ONE = (
    "max_agent_steps",
    "max_tool_calls",
    "loop_repeat_limit",
    "loop_window",
    "loop_no_progress_turns",
    "max_repairs",
)
_NOT_NEGATIVE = (
    "budget_tokens",
    "budget_cost_usd",
    "budget_model_calls",
    "budget_tool_calls",
    "drift_limit",
    "compress_at_tokens",
    "compress_summary_tokens",
    "deadline_s",
)


@dataclass(kw_only=True)
class GuardPolicy:
    """Settings of all guards (see the module docstring for the table)."""

    max_agent_steps: int = _f(24, "Model turns one specialist may take.")
    max_tool_calls: int = _f(40, "Tool calls one specialist may make.")
    loop_repeat_limit: int = _f(3, "Identical (normalised) tool calls in the window that fire.")
    loop_window: int = _f(12, "How many recent tool calls the loop detector looks at.")
    loop_no_progress_turns: int = _f(6, "Turns without a new distinct tool result that fire.")
    budget_tokens: int = _f(400_000, "Tokens (in + out) per thread.")
    budget_cost_usd: float = _f(2.0, "Money per thread, USD.")
    budget_model_calls: int = _f(80, "Model calls per thread.")
    budget_tool_calls: int = _f(200, "Tool calls per thread.")
    budget_soft_ratio: float = _f(0.8, "Share of a limit at which a human is asked for more.")
    max_repairs: int = _f(2, "Invalid submissions sent back for repair before escalating.")
    drift_limit: int = _f(2, "Off-scope calls answered with the task before escalating.")
    compress_at_tokens: int = _f(
        12_000, "Tokens in a specialist's channel that trigger compression."
    )
    compress_keep_last: int = _f(6, "Messages kept verbatim when compressing.")
    compress_summary_tokens: int = _f(
        0,
        "Token budget of the running summary (oldest prose lines dropped first; "
        "tool-reported issues always kept); 0 = an eighth of compress_at_tokens.",
    )
    deadline_s: float = _f(1800.0, "Active wall-clock seconds per thread (human waits excluded).")
    deadline_action: str = _f("halt", "`halt` or `escalate` when the deadline passes.")
    sensitive_paths: tuple[str, ...] = _f(
        ("*auth*", "*crypto*", "*payment*", "*secret*"),
        "Path globs whose findings always need human review.",
    )

    def __post_init__(self) -> None:
        for name in _AT_LEAST_ONE:
            if getattr(self, name) < 1:
                raise ValueError(
                    f"GuardPolicy.{name} must be at least 1, got {getattr(self, name)}"
                )
        for name in _NOT_NEGATIVE:
            if getattr(self, name) < 0:
                raise ValueError(
                    f"GuardPolicy.{name} must not be negative, got {getattr(self, name)}"
                )
        if not 0 < self.budget_soft_ratio <= 1:
            raise ValueError(
                f"GuardPolicy.budget_soft_ratio must be in (0, 1], got {self.budget_soft_ratio}"
            )
        if self.deadline_action not in ("halt", "escalate"):
            raise ValueError(
                "GuardPolicy.deadline_action must be halt or escalate, "
                f"got {self.deadline_action!r}"
            )
        if self.compress_keep_last < 2:
            raise ValueError("GuardPolicy.compress_keep_last must be at least 2")
        self.sensitive_paths = tuple(self.sensitive_paths)

    def to_dict(self) -> dict[str, Any]:
        """Return the policy as JSON-able values."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in fields(self)
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GuardPolicy:
        """Rebuild a policy saved by `to_dict`, ignoring unknown keys."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

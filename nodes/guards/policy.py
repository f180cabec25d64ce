"""`GuardPolicy`: the settings of every built-in guard, composed into one object.

Each guard owns its settings (`LoopSettings` in `loop.py`, ...: typed fields, defaults,
descriptions, validation). `GuardPolicy` inherits them all, so it *is* each guard's
settings (`Guard.settings_for(policy)` returns it) and stays the one flat surface the
run context (`KeelContext.guards`), LangGraph Studio assistants, the `KEEL_GUARD_<FIELD>`
variables (`base.settings_from_env`) and `to_dict` / `from_dict` use. Defaults:

| guard | setting | default | meaning |
|---|---|---|---|
| step_limit | `max_agent_steps` | 24 | model turns per specialist |
| step_limit | `max_tool_calls` | 40 | tool calls per specialist |
| loop | `loop_repeat_limit` | 3 | same call (normalised) this often in the window fires |
| loop | `loop_window` | 12 | tool calls looked at (the last N) |
| loop | `loop_no_progress_turns` | 6 | turns without a new tool result fire |
| loop | `loop_nudges` | 1 | loop-ladder events answered with a nudge |
| loop | `loop_escalations` | 1 | then human asks before a halt |
| tool_misuse | `tool_misuse_nudges` | 2 | loop-ladder events answered with guidance |
| tool_misuse | `tool_misuse_escalations` | 1 | then human asks before a halt |
| budget | `budget_tokens` | 400000 | tokens in + out per thread |
| budget | `budget_cost_usd` | 2.0 | money per thread (price table in `keel.core.pricing`) |
| budget | `budget_model_calls` | 80 | model calls per thread |
| budget | `budget_tool_calls` | 200 | tool calls per thread |
| budget | `budget_soft_ratio` | 0.8 | at this share of a limit, ask a human for more |
| validate | `max_repairs` | 2 | invalid submissions sent back before escalating |
| drift | `drift_window` | 12 | tool calls looked at (the last N) |
| drift | `drift_limit` | 2 | off-scope calls re-anchored before escalating |
| drift | `drift_escalations` | 1 | then human asks before a halt |
| compress | `compress_at_tokens` | 12000 | a specialist's channel above this is compressed |
| compress | `compress_keep_last` | 6 | messages kept verbatim |
| compress | `compress_summary_tokens` | 0 | summary budget; 0 = `compress_at_tokens` / 8 |
| deadline | `deadline_s` | 1800.0 | active wall-clock seconds per thread |
| deadline | `deadline_action` | halt | `halt` or `escalate` on expiry |
| review | `sensitive_paths` | *auth*, *crypto*, *payment*, *secret* | always reviewed globs |
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .base import GuardSettings, setting
from .budget import BudgetSettings
from .compress import CompressSettings
from .deadline import DeadlineSettings
from .drift import DriftSettings
from .loop import LoopSettings
from .step_limit import StepLimitSettings
from .tool_misuse import ToolMisuseSettings
from .validate import ValidateSettings

__all__ = ["GuardPolicy", "ReviewSettings"]


@dataclass(kw_only=True)
class ReviewSettings(GuardSettings):
    """The review gate's guard setting (the gate itself: `review_gate.py`)."""

    sensitive_paths: tuple[str, ...] = setting(
        ("*auth*", "*crypto*", "*payment*", "*secret*"),
        "Path globs whose findings always need human review.",
    )

    def _validate(self) -> None:
        self.sensitive_paths = tuple(self.sensitive_paths)


@dataclass(kw_only=True)
class GuardPolicy(  # bases in reverse: the fields come in the order of the table above
    ReviewSettings,
    DeadlineSettings,
    CompressSettings,
    DriftSettings,
    ValidateSettings,
    BudgetSettings,
    ToolMisuseSettings,
    LoopSettings,
    StepLimitSettings,
):
    """Settings of all built-in guards (see the module docstring for the table)."""

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

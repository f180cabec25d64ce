"""Budget check: tokens, money, model calls and tool calls per thread.

Spend is rolled up across specialists: each specialist starts from what the thread had
spent when the work was delegated (`spent`) and adds its own `usage`; the report node
checks the rolled-up total again after all specialists hand off. Specialists delegated
at once (`parallel`) cannot see each other's spend, so each is held to an equal share of
what was left at delegation, `spent + (limit - spent) / parallel`: when one nears or
passes its share, a human is asked (a share is an allocation; only the thread's own
limits halt). A grant raises the thread's limits, and so every share. Money comes from the
price table in `keel.models`. Wall-clock time is the deadline guard's.

The check runs before each model request (`Budget.check`), counting that request's
prompt. At `budget_soft_ratio` of any limit a human is asked, with the spend
so far, whether to grant more (`grant_budget`: approve grants the proposed 1.5× limits,
edit sets them, reject stops the agent); at 100% the agent halts with a partial report
and the thread ends `budget_exhausted`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from keel.core.state import BudgetGrant, GuardedState

from ._escalate import Escalation
from ._verdict import OK, Verdict
from .base import Ask, BaseGuard, GuardSettings, Phase, Turn, Update, setting

__all__ = [
    "BUDGET",
    "GUARD_NAME",
    "Budget",
    "BudgetSettings",
    "effective_limits",
    "format_number",
    "share_limits",
    "spend",
]

GUARD_NAME: Final = "budget"
_KEYS: Final = ("tokens", "cost_usd", "model_calls", "tool_calls")


@dataclass(kw_only=True)
class BudgetSettings(GuardSettings):
    """Settings of the budget (thread limits; 0 disables a dimension)."""

    budget_tokens: int = setting(400_000, "Tokens (in + out) per thread.", at_least=0)
    budget_cost_usd: float = setting(2.0, "Money per thread, USD.", at_least=0)
    budget_model_calls: int = setting(80, "Model calls per thread.", at_least=0)
    budget_tool_calls: int = setting(200, "Tool calls per thread.", at_least=0)
    budget_soft_ratio: float = setting(0.8, "Share of a limit at which a human is asked for more.")

    def _validate(self) -> None:
        if not 0 < self.budget_soft_ratio <= 1:
            raise ValueError(
                f"{type(self).__name__}.budget_soft_ratio must be in (0, 1], "
                f"got {self.budget_soft_ratio}"
            )


def format_number(value: float) -> str:
    """Exact and readable: integers as integers, money to 4 decimals, no trailing zeros."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _build_message(kind: str, used: dict[str, float], limits: dict[str, float]) -> str:
    parts = ", ".join(
        f"{key} {format_number(used[key])}/{format_number(limits[key])}"
        for key in _KEYS
        if limits[key] > 0
    )
    return f"{kind}: {parts}"


def effective_limits(policy: BudgetSettings, grants: Sequence[BudgetGrant]) -> dict[str, float]:
    """Policy limits, raised by every grant (a grant never lowers a limit)."""
    limits = {
        "tokens": float(policy.budget_tokens),
        "cost_usd": float(policy.budget_cost_usd),
        "model_calls": float(policy.budget_model_calls),
        "tool_calls": float(policy.budget_tool_calls),
    }
    for grant in grants:
        for key in _KEYS:
            value = dict(grant).get(key)
            if isinstance(value, int | float) and value > 0:
                limits[key] = max(limits[key], float(value))
    return limits


def spend(*usages: Mapping[str, Any] | None) -> dict[str, float]:
    """Sum usage records into the budget's units."""
    total = dict.fromkeys(_KEYS, 0.0)
    for usage in usages:
        usage = usage or {}
        total["tokens"] += usage.get("input_tokens", 0) + usage.get("output_tokens", 0)
        total["cost_usd"] += usage.get("cost_usd", 0.0)
        total["model_calls"] += usage.get("model_calls", 0)
        total["tool_calls"] += usage.get("tool_calls", 0)
    total["cost_usd"] = round(total["cost_usd"], 6)
    return total


def share_limits(
    limits: Mapping[str, float], spent: Mapping[str, float], parallel: int
) -> dict[str, float]:
    """One agent's limits when `parallel` agents split what was left at delegation."""
    if parallel <= 1:
        return dict(limits)
    return {
        k: round(spent[k] + (limits[k] - spent[k]) / parallel, 6) if limits[k] > 0 else 0.0
        for k in _KEYS
    }


def _raise(limit: float) -> float:
    return round(limit * 1.5, 4)


@dataclass(frozen=True)
class Budget(BaseGuard[BudgetSettings]):
    """Asks a human at the soft ratio of any limit (or of the agent's share); halts past one."""

    name: ClassVar[str] = GUARD_NAME
    phase: ClassVar[Phase] = "before_model_call"

    def check(self, state: GuardedState, turn: Turn, settings: BudgetSettings) -> Verdict:
        """Halt at a hard limit; escalate at the soft ratio unless already asked at this level.

        Reads the thread's spend at delegation (`spent`), the agents delegated at once
        (`parallel`: each gets an equal share of what was left), the agent's own `usage`,
        the grants (`granted` before the delegation, `budget_grants` since) and this
        agent's earlier soft asks; from the turn, the tool results not yet in `usage` and
        the prompt about to be sent (`turn.tokens`): the human is asked before a call that
        would pass the soft ratio, not after.
        """
        spent, usage = state.get("spent"), state.get("usage")
        parallel = int(state.get("parallel") or 1)
        own_grants = state.get("budget_grants") or []
        grants = [*(state.get("granted") or []), *own_grants]
        used = spend(spent, usage)
        used["tool_calls"] += turn.pending_tool_calls
        used["model_calls"] += 1  # the call about to be made
        thread_limits = effective_limits(settings, grants)
        over = [k for k in _KEYS if thread_limits[k] > 0 and used[k] > thread_limits[k]]
        if over:
            reason = _build_message("budget exhausted", used, thread_limits)
            return Verdict(GUARD_NAME, "halt", reason, {"used": used, "limits": thread_limits})
        # The share is an allocation, not a wall: past it (or near it) the human decides.
        limits = (
            share_limits(thread_limits, spend(spent), parallel) if parallel > 1 else thread_limits
        )
        soft = settings.budget_soft_ratio
        upcoming = turn.tokens if thread_limits["tokens"] > 0 else 0
        projected = {**used, "tokens": used["tokens"] + upcoming}
        near = [k for k in _KEYS if limits[k] > 0 and projected[k] >= soft * limits[k]]
        if not near:
            return OK
        soft_asked = sum(
            1
            for e in state.get("guard_events") or []
            if e["guard"] == GUARD_NAME and e["verdict"] == "escalate"
        )
        if soft_asked > len(own_grants):  # asked at this level, not answered with a grant
            return OK
        ratio = f"{soft:.0%}"
        reached = any(used[k] >= soft * limits[k] for k in near)
        kind = (
            f"{ratio} of the budget reached"
            if reached
            else f"the next call (~{upcoming} prompt tokens) would pass {ratio} of it"
        )
        share = f" (this agent's share: 1 of {parallel} delegated at once)" if parallel > 1 else ""
        reason = _build_message(kind, used, limits) + share
        proposal = {k: _raise(thread_limits[k]) for k in _KEYS}  # grants are thread limits
        return Verdict(
            GUARD_NAME, "escalate", reason, {"used": used, "limits": limits, "proposal": proposal}
        )

    def escalation(self, state: GuardedState, verdict: Verdict, agent: str) -> Ask:
        """Ask for a grant: approve the proposed 1.5x limits, edit them, or reject."""
        proposal = verdict.detail["proposal"]
        return Ask(
            action="grant_budget",
            args={
                "tokens": int(proposal["tokens"]),
                "cost_usd": proposal["cost_usd"],
                "model_calls": int(proposal["model_calls"]),
                "tool_calls": int(proposal["tool_calls"]),
            },
            evidence=[{"spent": verdict.detail["used"], "limits": verdict.detail["limits"]}],
            confidence=1.0,
            refused="budget not raised by reviewer: {reason}",
            accepts=lambda decision: decision.carry_on and decision.decision != "respond",
        )

    def recover(
        self, state: GuardedState, verdict: Verdict, agent: str, decision: Escalation | None
    ) -> Update:
        """Record the grant the human approved or edited."""
        args: Mapping[str, Any] = decision.args if decision is not None else {}
        grant = BudgetGrant(**{k: v for k, v in args.items() if v is not None})  # type: ignore[typeddict-item]
        return {"budget_grants": [grant]}


BUDGET: Final = Budget(BudgetSettings())

"""Budget check: tokens, money, model calls and tool calls per thread.

Spend is rolled up across specialists: each specialist starts from what the thread had
spent when the work was delegated (`spent`) and adds its own `usage`; the report node
checks the rolled-up total again after all specialists hand off. Specialists delegated
at once (`parallel`) cannot see each other's spend, so each is held to an equal share of
what was left at delegation, `spent + (limit - spent) / parallel`: when one nears or
passes its share, a human is asked (a share is an allocation; only the thread's own
limits halt). A grant raises the thread's limits, and so every share. Money comes from the
price table in `keel.models`. Wall-clock time is the deadline guard's.

The check runs before each model request (`check_before_model_call`), counting that
request's prompt. At `budget_soft_ratio` of any limit a human is asked, with the spend
so far, whether to grant more (`grant_budget`: approve grants the proposed 1.5× limits,
edit sets them, reject stops the agent); at 100% the agent halts with a partial report
and the thread ends `budget_exhausted`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from langgraph.types import Command

from graphs.state import BudgetGrant, Usage

from ._escalate import ask_human
from ._verdict import OK, Verdict, guard_event, halt_update
from .policy import GuardPolicy

__all__ = [
    "GUARD_NAME",
    "BudgetExceededError",
    "budget_node",
    "check_before_model_call",
    "effective_limits",
    "format_number",
    "share_limits",
    "spend",
]

GUARD_NAME: Final = "budget"
_KEYS: Final = ("tokens", "cost_usd", "model_calls", "tool_calls")


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


class BudgetExceededError(RuntimeError):
    """For callers that prefer an exception: carries spend and limits."""

    def __init__(self, used: dict[str, float], limits: dict[str, float]) -> None:
        self.used, self.limits = used, limits
        super().__init__(_build_message("budget exhausted", used, limits))


def effective_limits(policy: GuardPolicy, grants: Sequence[BudgetGrant]) -> dict[str, float]:
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


def check_before_model_call(
    *,
    spent: Usage | None,
    parallel: int = 1,
    usage: Usage | None,
    pending_tool_calls: int,
    grants: Sequence[BudgetGrant],
    soft_asked: int,
    own_grants: int,
    policy: GuardPolicy,
    upcoming_tokens: int = 0,
) -> Verdict:
    """Halt at a hard limit; escalate at the soft ratio unless already asked at this level.

    Args:
        spent: thread spend at delegation.
        parallel: agents delegated at once (each gets an equal share of what was left).
        usage: the agent's own spend so far.
        pending_tool_calls: tool results not yet counted in `usage`.
        grants: every grant that applies (inherited and own).
        soft_asked: soft escalations this agent already made.
        own_grants: grants made in answer to them.
        policy: the limits.
        upcoming_tokens: the prompt of the call about to be made (approximate): the
            human is asked before a call that would pass the soft ratio, not after.
    """
    used = spend(spent, usage)
    used["tool_calls"] += pending_tool_calls
    used["model_calls"] += 1  # the call about to be made
    thread_limits = effective_limits(policy, grants)
    over = [k for k in _KEYS if thread_limits[k] > 0 and used[k] > thread_limits[k]]
    if over:
        reason = _build_message("budget exhausted", used, thread_limits)
        return Verdict(GUARD_NAME, "halt", reason, {"used": used, "limits": thread_limits})
    # The share is an allocation, not a wall: past it (or near it) the human decides.
    limits = share_limits(thread_limits, spend(spent), parallel)
    share = f" (this agent's share: 1 of {parallel} delegated at once)" if parallel > 1 else ""
    projected = {**used, "tokens": used["tokens"] + upcoming_tokens}
    near = [
        k for k in _KEYS if limits[k] > 0 and projected[k] >= policy.budget_soft_ratio * limits[k]
    ]
    if near and soft_asked <= own_grants:
        ratio = f"{policy.budget_soft_ratio:.0%}"
        reached = any(used[k] >= policy.budget_soft_ratio * limits[k] for k in near)
        kind = (
            f"{ratio} of the budget reached"
            if reached
            else f"the next call (~{upcoming_tokens} prompt tokens) would pass {ratio} of it"
        )
        reason = _build_message(kind, used, limits) + share
        proposal = {k: _raise(thread_limits[k]) for k in _KEYS}  # grants are thread limits
        return Verdict(
            GUARD_NAME, "escalate", reason, {"used": used, "limits": limits, "proposal": proposal}
        )
    return OK


def _raise(limit: float) -> float:
    return round(limit * 1.5, 4)


def budget_node(agent: str, model_node: str = "agent") -> Any:
    """Return the `budget` guard node for an agent."""

    def budget(state: Mapping[str, Any]) -> Command[Literal["agent", "__end__"]]:
        pending = state.get("verdict")
        if not pending:
            raise RuntimeError("budget guard entered without a verdict")
        verdict = Verdict.from_pending(pending)
        if verdict.action == "halt":
            return Command(goto="__end__", update=halt_update(state, verdict, agent))
        proposal = verdict.detail["proposal"]
        decision = ask_human(
            guard=GUARD_NAME,
            agent=agent,
            action="grant_budget",
            args={
                "tokens": int(proposal["tokens"]),
                "cost_usd": proposal["cost_usd"],
                "model_calls": int(proposal["model_calls"]),
                "tool_calls": int(proposal["tool_calls"]),
            },
            reason=verdict.reason,
            evidence=[{"spent": verdict.detail["used"], "limits": verdict.detail["limits"]}],
            confidence=1.0,
        )
        if not decision.carry_on or decision.decision == "respond":
            stopped = Verdict(
                GUARD_NAME, "halt", f"budget not raised by reviewer: {verdict.reason}"
            )
            return Command(goto="__end__", update=halt_update(state, stopped, agent))
        grant = BudgetGrant(**{k: v for k, v in decision.args.items() if v is not None})  # type: ignore[typeddict-item]
        return Command(
            goto=model_node,  # type: ignore[arg-type]
            update={
                "guard_events": [guard_event(verdict, agent)],
                "budget_grants": [grant],
                "verdict": None,
            },
        )

    return budget

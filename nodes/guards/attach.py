"""Attach Keel's guards to an agent loop: `attach_guards(builder, agent=..., tools=...)`.

Works on any `StateGraph` whose model node loops through a tool node and whose state
has the guarded keys (as `graphs.state.SpecialistState` does):

| key | type | used by |
|---|---|---|
| `messages` | `DeltaChannel(add_message_writes)` (`add_messages` semantics) | all |
| `usage` | `Annotated[Usage, add_usage]` | step_limit, budget |
| `spent` | `Usage` (thread spend at delegation) | budget |
| `parallel` | `int` (agents delegated at once; optional) | budget |
| `granted`, `budget_grants` | `list[BudgetGrant]` | budget |
| `clock_start` | `str` (UTC ISO) | deadline |
| `step` | `PlanStep` (assigned files) | drift, halts |
| `task` | `Task` | drift (re-injection) |
| `summary` | `str`, legacy: read only for threads compressed before | compress |
| `verdict` | `PendingVerdict | None` | every guard node |
| `guard_events` | `DeltaChannel(add_event_writes)` (appends) | every guard node, budget |
| `blockers`, `handoffs`, `plan` | reducers | every guard node |

`GuardedState` declares them all. The compressor's running summary is a message in
`messages` (the one it reads back); it is no longer copied into `summary`. The two delta
channels store only what a step wrote (plus a snapshot now and then) instead of the whole
value in every checkpoint; any channel with the same semantics works (a plain
`add_messages` / `operator.add` one too).

`attach_guards` adds one named node per guard (so Studio draws them) and returns an
`AgentGuards` whose two checks the model node calls, where routing already happens:

    verdict = guards.before_model_call(state, policy, pending_tool_calls=n)
    if verdict.fired:
        return Command(goto=verdict.guard, update={"verdict": verdict.pending(), ...})
    response = model.invoke(...)
    verdict = guards.after_model_call(state, response, policy)

Checks are pure and look at bounded windows; a guard's node runs only when its check
fires, so a run where nothing fires costs no extra super-step or checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.tools import BaseTool
from langgraph.graph import END, StateGraph

from . import budget, compress, deadline, drift, loop, step_limit, tool_misuse, validate
from ._memo import channel_tokens
from ._verdict import OK, Verdict
from .policy import GuardPolicy

__all__ = ["GUARD_NODES", "AgentGuards", "attach_guards"]

GUARD_NODES = (
    step_limit.GUARD_NAME,
    budget.GUARD_NAME,
    deadline.GUARD_NAME,
    compress.GUARD_NAME,
    tool_misuse.GUARD_NAME,
    loop.GUARD_NAME,
    drift.GUARD_NAME,
    validate.GUARD_NAME,
)
"""Names of the guard nodes `attach_guards` adds."""


@dataclass(frozen=True)
class AgentGuards:
    """The checks of one agent's guards (the nodes are already in the graph)."""

    agent: str
    tools: Mapping[str, BaseTool]
    submit_tool: str

    def before_model_call(
        self,
        state: Mapping[str, Any],
        policy: GuardPolicy,
        *,
        pending_tool_calls: int = 0,
        messages: Sequence[BaseMessage] | None = None,
        now: datetime | None = None,
    ) -> Verdict:
        """Run the checks due before a model request; return the first that fires."""
        channel = messages if messages is not None else state.get("messages") or []
        tokens = channel_tokens(channel)  # new messages only; the budget and compress use it
        own_grants = list(state.get("budget_grants") or [])
        events = state.get("guard_events") or []
        checks: tuple[Callable[[], Verdict], ...] = (
            lambda: step_limit.check_before_model_call(
                self.agent,
                state.get("usage"),
                pending_tool_calls=pending_tool_calls,
                max_steps=policy.max_agent_steps,
                max_tool_calls=policy.max_tool_calls,
            ),
            lambda: budget.check_before_model_call(
                spent=state.get("spent"),
                parallel=int(state.get("parallel") or 1),
                usage=state.get("usage"),
                pending_tool_calls=pending_tool_calls,
                grants=[*(state.get("granted") or []), *own_grants],
                soft_asked=sum(
                    1
                    for e in events
                    if e["guard"] == budget.GUARD_NAME and e["verdict"] == "escalate"
                ),
                own_grants=len(own_grants),
                policy=policy,
                upcoming_tokens=tokens,
            ),
            lambda: deadline.check_before_model_call(
                clock_start=state.get("clock_start"), now=now or datetime.now(UTC), policy=policy
            ),
            lambda: compress.check_before_model_call(channel, policy, tokens),
        )
        for check in checks:
            verdict = check()
            if verdict.fired:
                return verdict
        return OK

    def after_model_call(
        self, state: Mapping[str, Any], response: AIMessage, policy: GuardPolicy
    ) -> Verdict:
        """Run the checks on the model's new tool calls; return the first that fires.

        Malformed calls (`response.invalid_tool_calls`) are checked too: `tool_misuse` fires
        on them before the loop and drift checks, which read only the parsed calls.
        """
        if not response.tool_calls and not response.invalid_tool_calls:
            return OK
        for verdict in (
            tool_misuse.check_after_model_call(
                state, response, agent=self.agent, tools=self.tools, skip=(self.submit_tool,)
            ),
            loop.check_after_model_call(state, response, agent=self.agent, policy=policy),
            drift.check_after_model_call(state, response, agent=self.agent, policy=policy),
        ):
            if verdict.fired:
                return verdict
        return OK


def attach_guards(
    builder: StateGraph[Any, Any, Any, Any],
    *,
    agent: str,
    tools: Sequence[BaseTool],
    submit_tool: str,
    model_node: str = "agent",
) -> AgentGuards:
    """Add the guard nodes for `agent` to `builder` and return its checks.

    Args:
        builder: the agent loop's graph (state with the guarded keys, see module docs).
        agent: the agent's name (recorded in every guard event).
        tools: the agent's own tools (for tool-misuse checks).
        submit_tool: the tool that ends the agent's work (validated by `validate`).
        model_node: the node guards send the agent back to.
    """
    back = (model_node, END)
    builder.add_node(step_limit.GUARD_NAME, step_limit.step_limit_node(agent), destinations=(END,))
    builder.add_node(budget.GUARD_NAME, budget.budget_node(agent, model_node), destinations=back)
    builder.add_node(
        deadline.GUARD_NAME, deadline.deadline_node(agent, model_node), destinations=back
    )
    builder.add_node(
        compress.GUARD_NAME, compress.compress_node(agent, model_node), destinations=(model_node,)
    )
    builder.add_node(
        tool_misuse.GUARD_NAME, tool_misuse.tool_misuse_node(agent, model_node), destinations=back
    )
    builder.add_node(loop.GUARD_NAME, loop.loop_node(agent, model_node), destinations=back)
    builder.add_node(drift.GUARD_NAME, drift.drift_node(agent, model_node), destinations=back)
    builder.add_node(
        validate.GUARD_NAME,
        validate.validate_node(agent, submit_tool, model_node),
        destinations=back,
    )
    return AgentGuards(agent=agent, tools={t.name: t for t in tools}, submit_tool=submit_tool)

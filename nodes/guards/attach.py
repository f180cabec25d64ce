"""Attach guards to an agent loop: `attach_guards(builder, agent=..., tools=..., guards=[...])`.

Works on any `StateGraph` whose model node loops through a tool node and whose state
has the guarded keys (as `keel.core.state.SpecialistState` does):

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
| `guard_events` | `DeltaChannel(add_event_writes)` (appends) | every guard node, ladders |
| `blockers`, `handoffs`, `plan` | reducers | every guard node |

`GuardedState` declares them all. The two delta channels store only what a step wrote
(plus a snapshot now and then) instead of the whole value in every checkpoint; any
channel with the same semantics works (a plain `add_messages` / `operator.add` one too).

`attach_guards` loops over `guards` (default `DEFAULT_GUARDS`) and adds one named node
per guard — `base.guard_node`, the one generic body — so Studio draws them, and returns
an `AgentGuards` that runs their checks by phase where routing already happens:

    guards = attach_guards(builder, agent="forecaster", tools=[weather], submit_tool="")
    builder.add_node("agent", agent, destinations=("tools", END, *guards.model_routes))

    def agent(state):
        return guards.model_turn(state, policy, lambda channel: call_model(channel))

`model_turn` runs the `on_tool_results` and `before_model_call` checks, calls the model,
runs the `after_model_call` checks, and routes with a `Command` to the guard whose check
fired (the verdict handed over in `verdict`), to the tool node, or to `done`. A node that
routes itself calls `before_model_call` / `after_model_call` / `on_submission` and
`route`. Checks are pure and incremental (bounded windows, counts cached per channel:
see `_memo.py`); a guard's node runs only when its check fires, so a run where nothing
fires costs no extra super-step or checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.tools import BaseTool
from langgraph.graph import END, StateGraph
from langgraph.types import Command
from pydantic import ValidationError

from keel.core.state import GuardedState

from ._verdict import OK, Verdict
from .base import Guard, Phase, Turn, Update, guard_node
from .budget import BUDGET
from .compress import COMPRESS
from .deadline import DEADLINE
from .drift import DRIFT
from .loop import LOOP
from .step_limit import STEP_LIMIT
from .tool_misuse import TOOL_MISUSE
from .validate import VALIDATE

__all__ = [
    "DEFAULT_GUARDS",
    "GUARD_NODES",
    "MODEL_PHASES",
    "AgentGuards",
    "attach_guards",
    "names_in",
]

DEFAULT_GUARDS: Final[tuple[Guard[Any], ...]] = (
    STEP_LIMIT,
    BUDGET,
    DEADLINE,
    COMPRESS,
    TOOL_MISUSE,
    LOOP,
    DRIFT,
    VALIDATE,
)
"""Keel's guards, in the order their checks run within a phase."""

GUARD_NODES: Final = tuple(g.name for g in DEFAULT_GUARDS)
"""Names of the nodes `attach_guards` adds by default."""

MODEL_PHASES: Final[tuple[Phase, ...]] = (
    "on_tool_results",
    "before_model_call",
    "after_model_call",
)
"""The phases checked in the model node (its guards are the model node's destinations)."""


def names_in(guards: Sequence[Guard[Any]], *phases: Phase) -> tuple[str, ...]:
    """The names of the guards of these phases (all when none is given), in order.

    For a node's `destinations` declared before `attach_guards` adds the guard nodes:
    `names_in(guards, *MODEL_PHASES)` for the model node, `"on_submission"` for `finish`.
    """
    return tuple(g.name for g in guards if not phases or g.phase in phases)


@dataclass(frozen=True)
class AgentGuards:
    """The checks of one agent's guards, by phase (their nodes are already in the graph).

    `policy` arguments are the run's settings (`KeelContext.guards`): each guard reads
    its own settings from it (`Guard.settings_for`), or uses its defaults.
    """

    agent: str
    tools: Mapping[str, BaseTool]
    submit_tool: str
    guards: tuple[Guard[Any], ...] = DEFAULT_GUARDS
    _by_phase: dict[Phase, tuple[Guard[Any], ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_phase = {
            phase: tuple(g for g in self.guards if g.phase == phase) for phase in MODEL_PHASES
        }
        by_phase["on_submission"] = tuple(g for g in self.guards if g.phase == "on_submission")
        object.__setattr__(self, "_by_phase", by_phase)

    def names(self, *phases: Phase) -> tuple[str, ...]:
        """The guard nodes of these phases (all guards when none is given)."""
        return names_in(self.guards, *phases)

    @property
    def model_routes(self) -> tuple[str, ...]:
        """The guard nodes the model node may route to (its `destinations`)."""
        return self.names(*MODEL_PHASES)

    def check(self, phase: Phase, state: GuardedState, turn: Turn, policy: object) -> Verdict:
        """Run the checks of `phase` in order; return the first that fires (else OK)."""
        for guard in self._by_phase.get(phase, ()):
            verdict = guard.check(state, turn, guard.settings_for(policy))
            if verdict.fired:
                return verdict
        return OK

    def _turn(self, **facts: Any) -> Turn:
        return Turn(agent=self.agent, tools=self.tools, submit_tool=self.submit_tool, **facts)

    def before_model_call(
        self,
        state: GuardedState,
        policy: object,
        *,
        pending_tool_calls: int = 0,
        messages: Sequence[BaseMessage] | None = None,
        now: datetime | None = None,
    ) -> Verdict:
        """The `on_tool_results` checks (when results are new), then `before_model_call`.

        `messages`: the channel as the model will see it (default: the state's).
        """
        turn = self._turn(
            messages=messages if messages is not None else state.get("messages") or [],
            pending_tool_calls=pending_tool_calls,
            at=now,
        )
        if pending_tool_calls:
            verdict = self.check("on_tool_results", state, turn, policy)
            if verdict.fired:
                return verdict
        return self.check("before_model_call", state, turn, policy)

    def after_model_call(self, state: GuardedState, response: AIMessage, policy: object) -> Verdict:
        """Run the checks on the model's new tool calls; return the first that fires.

        Malformed calls (`response.invalid_tool_calls`) are checked too: `tool_misuse` fires
        on them before the loop and drift checks, which read only the parsed calls.
        """
        if not response.tool_calls and not response.invalid_tool_calls:
            return OK
        turn = self._turn(messages=state.get("messages") or [], response=response)
        return self.check("after_model_call", state, turn, policy)

    def on_submission(
        self, state: GuardedState, error: ValidationError, call_id: str, policy: object
    ) -> Verdict:
        """Run the checks on an invalid submission (the `validate` guard)."""
        turn = self._turn(
            messages=state.get("messages") or [], submission_error=error, call_id=call_id
        )
        return self.check("on_submission", state, turn, policy)

    @staticmethod
    def route(verdict: Verdict, otherwise: str, update: Update | None = None) -> Command[str]:
        """To the guard whose check fired (handing it the verdict), else to `otherwise`."""
        if verdict.fired:
            return Command(
                goto=verdict.guard, update={**(update or {}), "verdict": verdict.pending()}
            )
        return Command(goto=otherwise, update=update)

    def model_turn(
        self,
        state: GuardedState,
        policy: object,
        respond: Callable[[list[BaseMessage]], tuple[BaseMessage, Update]],
        *,
        opening: Sequence[BaseMessage] = (),
        pending_tool_calls: int = 0,
        before: Update | None = None,
        tools_node: str = "tools",
        done: str = END,
        final: Callable[[AIMessage], bool] | None = None,
    ) -> Command[str]:
        """One guarded model turn, routed: the one protocol every guarded model node follows.

        1. the checks before the call, on the channel (the state's messages + `opening`,
           messages not yet written): one fires → its guard, with `before` and the verdict;
        2. `respond(channel)` calls the model: (response, the state update to write);
        3. a response without tool calls (parsed or malformed), or one `final` accepts
           (a submission) → `done`;
        4. the checks after the call: one fires → its guard, else → `tools_node`.
        """
        channel = [*(state.get("messages") or []), *opening]
        verdict = self.before_model_call(
            state, policy, pending_tool_calls=pending_tool_calls, messages=channel
        )
        if verdict.fired:
            return self.route(verdict, done, before)
        response, update = respond(channel)
        if not isinstance(response, AIMessage) or not (
            response.tool_calls or response.invalid_tool_calls
        ):
            return Command(goto=done, update=update)
        if final is not None and final(response):
            return Command(goto=done, update=update)
        seen: GuardedState = {**state, "messages": channel} if opening else state  # type: ignore[typeddict-item]
        return self.route(self.after_model_call(seen, response, policy), tools_node, update)


def attach_guards(
    builder: StateGraph[Any, Any, Any, Any],
    *,
    agent: str,
    tools: Sequence[BaseTool],
    submit_tool: str,
    model_node: str = "agent",
    guards: Sequence[Guard[Any]] = DEFAULT_GUARDS,
) -> AgentGuards:
    """Add one node per guard for `agent` to `builder` and return their checks.

    Args:
        builder: the agent loop's graph (state with the guarded keys, see module docs).
        agent: the agent's name (recorded in every guard event).
        tools: the agent's own tools (for tool-misuse checks).
        submit_tool: the tool that ends the agent's work (validated by `validate`).
        model_node: the node guards send the agent back to.
        guards: the guards, in the order their checks run within a phase; names unique.
    """
    names = [g.name for g in guards]
    if len(set(names)) != len(names):
        raise ValueError(f"guard names must be unique, got {names}")
    for guard in guards:
        routes = tuple(model_node if r == "model" else END for r in guard.routes)
        builder.add_node(
            guard.name,
            guard_node(guard, agent, model_node),
            destinations=routes,
            # the agent's own state, not the node's annotation: a state whose channels
            # differ in type from GuardedState's (an older messages channel) stays valid
            input_schema=builder.state_schema,
        )
    return AgentGuards(
        agent=agent, tools={t.name: t for t in tools}, submit_tool=submit_tool, guards=tuple(guards)
    )

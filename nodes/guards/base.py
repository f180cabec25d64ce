"""What a guard is: a name, a phase, typed settings, a pure check and a recovery.

A guard is one small object (see `loop.py` for one, `docs/guards.md` to write your own):

* `name` — the node it gets in the compiled graph (Studio draws it);
* `phase` — when its check runs (`Phase`);
* `settings` — its own `GuardSettings` dataclass instance: typed fields with defaults
  and descriptions; the `KEEL_GUARD_<FIELD>` variables are derived from the fields
  (`settings_from_env`);
* `check(state, turn, settings)` — pure, over `GuardedState` and the `Turn` being
  judged; returns a `Verdict` (`ok` when nothing is wrong) whose reason has the numbers;
* `recover(state, verdict, agent, decision)` — the state update for a `nudge`,
  `compress` or an `escalate` a human let through (the agent carries on);
* `escalation(...)` / `halt(...)` — what to ask a human, and how to stop (defaults in
  `BaseGuard`).

`guard_node` is the one node body every guard shares: pending verdict → halt, or ask a
human on `escalate` (a refusal halts) → the recovery → the audit event → a `Command`
back to the model node. `Ladder` is the one escalation ladder: nudge, then escalate,
then halt, counted over the agent's earlier events.

Contract: a check never raises for bad input it can judge (it returns a verdict), never
writes state and never calls a model or a tool; a guard's node runs only when its check
fired (the agent node hands the verdict over in `verdict`) and raises `RuntimeError` if
entered without one.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Generic, Literal, Protocol, TypeVar, get_args, get_type_hints

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.tools import BaseTool
from langgraph.graph import END
from langgraph.types import Command
from pydantic import ValidationError

from keel.core.state import GuardedState

from ._escalate import Escalation, ask_human
from ._memo import channel_tokens
from ._verdict import (
    OK,
    Verdict,
    VerdictAction,
    answer_calls,
    guard_event,
    halt_update,
    prior_events,
)

__all__ = [
    "OK",
    "PHASES",
    "Ask",
    "BaseGuard",
    "Escalation",
    "Guard",
    "GuardNode",
    "GuardSettings",
    "Ladder",
    "Phase",
    "Route",
    "SettingsEnvError",
    "Turn",
    "Update",
    "Verdict",
    "VerdictAction",
    "answer_calls",
    "defaults_of",
    "guard_node",
    "halt_update",
    "setting",
    "settings_from_env",
]

Phase = Literal[
    "before_model_call",
    "after_model_call",
    "on_tool_results",
    "on_submission",
    "on_plan",
    "at_report",
]
"""When a guard's check runs.

`before_model_call` (before each model request), `after_model_call` (on the model's new
tool calls, before any runs), `on_tool_results` (before the model reads new tool
results), `on_submission` (on the agent's final submission, in `finish`): run by
`attach_guards`' `AgentGuards`. `on_plan` (the supervisor's plan) and `at_report` (the
report, over the whole thread) name the checks those nodes run themselves
(`nodes/agents/supervisor.py`, `report.py`); `AgentGuards` skips guards of these phases.
"""

PHASES: tuple[Phase, ...] = get_args(Phase)


# ------------------------------------------------------------------------ settings


def setting(default: Any, description: str, *, at_least: float | None = None) -> Any:
    """A settings field: its default, its description, and optionally its minimum."""
    metadata: dict[str, Any] = {"description": description}
    if at_least is not None:
        metadata["at_least"] = at_least
    if isinstance(default, list | dict | set):
        raise TypeError("settings defaults must be immutable (use a tuple)")
    return field(default=default, metadata=metadata)


@dataclass(kw_only=True)
class GuardSettings:
    """Base of a guard's settings: checks each field's `at_least`, then each class's `_validate`.

    Field names are the public names (`loop_window`): `KEEL_GUARD_LOOP_WINDOW` and the
    keys of `GuardPolicy` / `KeelContext.guards`. Errors name the class and the field:
    `GuardPolicy.loop_window must be at least 1, got 0`. `GuardPolicy` inherits every
    built-in guard's settings, so their field and method names must not repeat
    (`tests/unit/guards/test_policy.py` checks it).
    """

    def __post_init__(self) -> None:
        name = type(self).__name__
        for f in fields(self):
            minimum = f.metadata.get("at_least")
            value = getattr(self, f.name)
            if minimum is None or value >= minimum:
                continue
            if minimum == 0:
                raise ValueError(f"{name}.{f.name} must not be negative, got {value}")
            raise ValueError(f"{name}.{f.name} must be at least {minimum:g}, got {value}")
        for cls in reversed(type(self).__mro__):
            validate = cls.__dict__.get("_validate")
            if validate is not None:
                validate(self)


S = TypeVar("S", bound=GuardSettings)

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class SettingsEnvError(ValueError):
    """A `KEEL_GUARD_*` value that does not parse or that the settings refuse."""


def _parse(raw: str, kind: Any, name: str) -> Any:
    origin = typing.get_origin(kind)
    if kind is bool:
        word = raw.lower()
        if word in _TRUE | _FALSE:
            return word in _TRUE
        raise SettingsEnvError(f"{name}={raw!r} is not a valid bool (true/false, 1/0, yes/no)")
    if origin is tuple:
        return tuple(p.strip() for p in raw.split(",") if p.strip())
    if origin in (Literal, types.UnionType, typing.Union) or kind is str:
        return raw
    try:
        return kind(raw)
    except (TypeError, ValueError):
        raise SettingsEnvError(f"{name}={raw!r} is not a valid {kind.__name__}") from None


def settings_from_env(
    cls: type[S],
    env: Mapping[str, str],
    *,
    prefix: str = "KEEL_GUARD_",
    aliases: Mapping[str, str] | None = None,
) -> S:
    """Build `cls` from `{prefix}{FIELD}` variables; blank or absent ones keep the default.

    Types come from the field annotations: `bool` reads true/false, 1/0, yes/no, on/off;
    `tuple[str, ...]` a comma-separated list; `int` / `float` their literals; `str` and
    `Literal` fields the text. `aliases` maps a field to an extra variable read when
    the main one is unset.

    Raises:
        SettingsEnvError: naming the variable, for a value that does not parse or one the
            settings refuse (`KEEL_GUARD_LOOP_WINDOW: GuardPolicy.loop_window must be ...`).
    """
    hints = get_type_hints(cls)
    aliases = aliases or {}
    values: dict[str, Any] = {}
    for f in fields(cls):
        if not f.init:
            continue
        name = f"{prefix}{f.name.upper()}"
        raw = (env.get(name) or env.get(aliases.get(f.name, ""), "") or "").strip()
        if raw:
            values[f.name] = _parse(raw, hints[f.name], name)
    try:
        return cls(**values)
    except ValueError as exc:
        field_name = str(exc).split(" ", 1)[0].rsplit(".", 1)[-1]
        raise SettingsEnvError(f"{prefix}{field_name.upper()}: {exc}") from None


def defaults_of(cls: type[GuardSettings]) -> dict[str, Any]:
    """Each field's default (for tables and docs)."""
    return {f.name: f.default for f in fields(cls) if f.default is not MISSING}


# -------------------------------------------------------------------------- ladder


@dataclass(frozen=True)
class Ladder:
    """One escalation ladder: `nudges` nudges, then `escalations` asks, then halt.

    Counted over this agent's earlier events of the guards in `counts` (the loop and
    tool-misuse guards climb one ladder together). `escalations=None`: never halts.
    """

    counts: tuple[str, ...]
    nudges: int
    escalations: int | None = 1

    def step(self, fired: int) -> Literal["nudge", "escalate", "halt"]:
        """The action after `fired` earlier events."""
        if fired < self.nudges:
            return "nudge"
        if self.escalations is None or fired < self.nudges + self.escalations:
            return "escalate"
        return "halt"

    def climb(self, state: Mapping[str, Any], agent: str) -> Literal["nudge", "escalate", "halt"]:
        """The action for `agent` now (its earlier events in `state["guard_events"]`)."""
        return self.step(prior_events(state, agent, self.counts))


# ---------------------------------------------------------------------------- turn


@dataclass(frozen=True)
class Turn:
    """What a check judges besides the state: the agent, its channel, this turn's facts.

    `messages` is the channel as the model will see it (the state's, plus an opening not
    yet written). `response` is set after the model call, `submission_error` and
    `call_id` on an invalid submission.
    """

    agent: str
    messages: Sequence[BaseMessage] = ()
    tools: Mapping[str, BaseTool] = field(default_factory=dict)
    submit_tool: str = ""
    pending_tool_calls: int = 0
    """Tool results in `messages` not yet counted in the state's `usage`."""
    at: datetime | None = None
    """The time the checks run at (default: now, read when a check first asks)."""
    response: AIMessage | None = None
    submission_error: ValidationError | None = None
    call_id: str = ""

    prompt_tokens: int | None = None
    """The channel's token count, when the caller already has it."""

    @cached_property
    def now(self) -> datetime:
        """`at`, or the current UTC time."""
        return self.at if self.at is not None else datetime.now(UTC)

    @cached_property
    def tokens(self) -> int:
        """Tokens of `messages` (approximate; counted incrementally, once per turn)."""
        if self.prompt_tokens is not None:
            return self.prompt_tokens
        return channel_tokens(self.messages)


# --------------------------------------------------------------------------- guard


@dataclass(frozen=True)
class Ask:
    """What a guard asks a human on an `escalate` verdict (see `_escalate.ask_human`)."""

    action: str = "continue_agent"
    args: Mapping[str, Any] = field(default_factory=dict)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    uncertainty: list[str] = field(default_factory=list)
    confidence: float = 0.0
    refused: str = "{reason}; stopped by reviewer"
    """The halt reason when the human does not let the agent carry on."""
    accepts: Callable[[Escalation], bool] = lambda decision: decision.carry_on


Update = dict[str, Any]
"""A state update for the guarded agent."""

Route = Literal["model", "end"]
"""Where a guard's node goes: back to the model node (the agent carries on), or END."""


class Guard(Protocol[S]):
    """The shape of a guard (see the module docstring); `BaseGuard` has the defaults."""

    @property
    def name(self) -> str:
        """Node name, and the `guard` of its verdicts and events."""
        ...

    @property
    def phase(self) -> Phase:
        """When its check runs."""
        ...

    @property
    def settings(self) -> S:
        """Its settings when the run's policy does not carry them."""
        ...

    @property
    def routes(self) -> tuple[Route, ...]:
        """Where its node may go: back to the model node, and/or END."""
        ...

    def check(self, state: GuardedState, turn: Turn, settings: S) -> Verdict:
        """Judge; pure."""
        ...

    def recover(
        self, state: GuardedState, verdict: Verdict, agent: str, decision: Escalation | None
    ) -> Update:
        """The update when the agent carries on (nudge, compress, let-through escalate)."""
        ...

    def escalation(self, state: GuardedState, verdict: Verdict, agent: str) -> Ask:
        """What to ask a human on an `escalate` verdict."""
        ...

    def halt(self, state: GuardedState, verdict: Verdict, agent: str) -> Update:
        """The update that stops the agent."""
        ...

    def settings_for(self, policy: object) -> S:
        """The run's settings: `policy` when it carries this guard's, else `settings`."""
        ...


@dataclass(frozen=True)
class BaseGuard(Generic[S]):
    """Defaults for a guard: halt with a partial report, ask `continue_agent`, no recovery."""

    settings: S
    """Its settings when the run's policy does not carry them (see `settings_for`)."""

    name: typing.ClassVar[str]
    phase: typing.ClassVar[Phase]
    routes: typing.ClassVar[tuple[Route, ...]] = ("model", "end")

    def settings_for(self, policy: object) -> S:
        """`policy` if it is an instance of this guard's settings class, else `settings`.

        `GuardPolicy` inherits every built-in guard's settings, so the run context's policy
        configures them; a guard with its own settings class uses its own unless the
        policy passed in is one.
        """
        return policy if isinstance(policy, type(self.settings)) else self.settings

    def check(self, state: GuardedState, turn: Turn, settings: S) -> Verdict:
        """Judge; pure. Subclasses implement it."""
        raise NotImplementedError

    def recover(
        self, state: GuardedState, verdict: Verdict, agent: str, decision: Escalation | None
    ) -> Update:
        """No update besides the event (override to nudge or repair)."""
        return {}

    def escalation(self, state: GuardedState, verdict: Verdict, agent: str) -> Ask:
        """Ask whether the agent may carry on."""
        return Ask()

    def halt(self, state: GuardedState, verdict: Verdict, agent: str) -> Update:
        """Stop the agent with a partial report (`halt_update`)."""
        return halt_update(state, verdict, agent)


class GuardNode(Protocol):
    """A guard's node, as LangGraph calls it."""

    __name__: str

    def __call__(self, state: GuardedState) -> Command[str]:
        """Act on the verdict in `state["verdict"]`."""
        ...


def guard_node(guard: Guard[Any], agent: str, model_node: str = "agent") -> GuardNode:
    """The node of `guard` for `agent`: the verdict handed over → halt / ask → recover.

    * `halt`: the guard's `halt` update, to END;
    * `escalate`: ask a human (`guard.escalation`); if the answer is not accepted, halt
      with the ask's `refused` reason; else go on as below with the decision;
    * otherwise: the guard's `recover` update, the verdict's event, back to `model_node`.

    The node re-runs from its start when a paused thread resumes: nothing before the
    question to the human has side effects.
    """

    def node(state: GuardedState) -> Command[str]:
        pending = state.get("verdict")
        if not pending:
            raise RuntimeError(f"{guard.name} guard entered without a verdict")
        verdict = Verdict.from_pending(pending)
        if verdict.action == "halt":
            return Command(goto=END, update=guard.halt(state, verdict, agent))
        decision: Escalation | None = None
        if verdict.action == "escalate":
            ask = guard.escalation(state, verdict, agent)
            decision = ask_human(
                guard=verdict.guard,
                agent=agent,
                action=ask.action,
                args=ask.args,
                reason=verdict.reason,
                evidence=ask.evidence,
                uncertainty=ask.uncertainty,
                confidence=ask.confidence,
            )
            if not ask.accepts(decision):
                stopped = Verdict(verdict.guard, "halt", ask.refused.format(reason=verdict.reason))
                return Command(goto=END, update=guard.halt(state, stopped, agent))
        update: Update = {
            **guard.recover(state, verdict, agent, decision),
            "guard_events": [guard_event(verdict, agent)],
            "verdict": None,
        }
        return Command(goto=model_node, update=update)

    node.__name__ = guard.name
    return node

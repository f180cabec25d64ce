"""A specialist agent: a model with only its own tools, as a compiled subgraph.

    START → agent ⇄ tools
              ↓ submit_findings
            finish → END
    agent → step_limit | budget | deadline | compress | tool_misuse | loop | drift
    finish → validate → agent

The agent node runs the guards' checks where routing already happens — before each
model request and right after the answer — and routes with a `Command` to `tools`,
`finish`, or the guard whose check fired (no extra super-step when none fires).
`finish` validates the submission (an invalid one goes to the `validate` guard for a
repair turn), grounds every finding in the repository and hands off a structured packet.

What the specialist receives from the supervisor depends on `KeelContext.handoff`
(`handoff_messages`): the structured JSON brief (`packet`, the default), a prose summary
(`summary`) or the packet plus the history upstream of the handoff (`full`).

Each turn binds the tools with a tool choice from `_tool_choice`: "call some tool" by
default, and a forced call where the graph already knows which tool is next — so a weak
model that answers in prose or repeats itself still makes progress.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime
from langgraph.types import Command
from pydantic import ValidationError

from keel.core.state import (
    Finding,
    Handoff,
    PlanStep,
    SpecialistInput,
    SpecialistOutput,
    SpecialistState,
    Task,
    Usage,
    merge_by_id,
)
from keel.nodes.actions import SPECIALIST, propose
from keel.nodes.context import HandoffStyle, KeelContext
from keel.nodes.guards import validate
from keel.nodes.guards._verdict import guard_event
from keel.nodes.guards.attach import DEFAULT_GUARDS, attach_guards, names_in
from keel.tools.agent_tools import ANALYZERS

from . import evidence as tool_evidence
from .confidence import computed_confidence
from .grounding import ground_findings
from .prompts import (
    SPECIALIST_SUMMARY_PROMPT,
    SPECIALIST_SYSTEM_PROMPT,
    SPECIALIST_TASK_PROMPT,
    SUBMIT_REMINDER,
    SUPERVISOR_PROMPT,
    UPSTREAM_HISTORY_PROMPT,
)
from .schemas import SUBMIT_TOOL_NAME, FindingsSubmission, submission_schema, submit_tool
from .usage import usage_of

__all__ = ["ModelFactory", "SpecialistSpec", "build_specialist", "handoff_messages"]

ModelFactory = Callable[[str], BaseChatModel]
"""Returns the chat model for a model id (`KeelContext.model`)."""

GUARDS = DEFAULT_GUARDS
"""The guards on every specialist's loop (`attach_guards`)."""


@dataclass(frozen=True)
class SpecialistSpec:
    """What makes a specialist: its name, area, files it handles and its own tools."""

    name: str
    """Node name in the pipeline (and the specialist's identity)."""
    area: str
    """Category of findings it owns; the team's areas are its categories.

    See `keel.core.vocabulary`.
    """
    description: str
    """One paragraph for its system prompt and the supervisor's brief."""
    handles: tuple[str, ...]
    """Glob patterns of the files it can judge."""
    tools: tuple[BaseTool, ...]
    """Its own tools — no other agent's."""


def _brief(files: Sequence[str]) -> str:
    return "```json\n" + json.dumps({"files": list(files)}, indent=1) + "\n```"


def _upstream_history(spec: SpecialistSpec, task: Task, step: PlanStep) -> str:
    """The exchange upstream of the handoff, re-rendered from the packet, quoted.

    The pipeline keeps no supervisor transcript, so this is rebuilt from what the packet
    carries: the task intake fixed, the supervisor's prompt (its brief limited to this
    specialist and its files) and the plan call for this assignment. No code fences: the
    packet's brief stays the only fenced JSON block.
    """
    brief = {
        "files": list(step["files"]),
        "specialists": [
            {
                "name": spec.name,
                "area": spec.area,
                "description": spec.description,
                "handles": list(spec.handles),
            }
        ],
    }
    plan = {
        "assignments": [
            {
                "specialist": step["specialist"],
                "files": list(step["files"]),
                "instructions": step["instructions"],
            }
        ]
    }
    parts = [
        "[intake] task fixed: " + json.dumps(dict(task), sort_keys=True, default=str),
        "[supervisor → model] "
        + SUPERVISOR_PROMPT.format(goal=task["goal"], brief=json.dumps(brief, indent=1)),
        "[model → supervisor] plan: " + json.dumps(plan, indent=1),
        f"[supervisor → {spec.name}] delegated step {step['id']!r}.",
    ]
    quoted = "\n".join(("> " + line).rstrip() for line in "\n\n".join(parts).splitlines())
    return UPSTREAM_HISTORY_PROMPT.format(history=quoted)


def handoff_messages(
    style: HandoffStyle, spec: SpecialistSpec, task: Task, step: PlanStep
) -> list[BaseMessage]:
    """The opening of a specialist's channel for a handoff style (`KeelContext.handoff`).

    * `packet`: the system prompt and the task with the structured JSON brief (`files`);
    * `summary`: the system prompt and a short prose summary — goal, instructions and
      the file names in a sentence, no JSON;
    * `full`: the packet, then the history upstream of the handoff as one more message
      (after the opening, so the context compressor may fold it).
    """
    system = SystemMessage(
        SPECIALIST_SYSTEM_PROMPT.format(
            name=spec.name, area=spec.area, description=spec.description
        )
    )
    if style == "summary":
        summary = SPECIALIST_SUMMARY_PROMPT.format(
            goal=task["goal"], instructions=step["instructions"], files=", ".join(step["files"])
        )
        return [system, HumanMessage(summary)]
    packet = HumanMessage(
        SPECIALIST_TASK_PROMPT.format(
            goal=task["goal"], instructions=step["instructions"], brief=_brief(step["files"])
        )
    )
    if style == "full":
        return [system, packet, HumanMessage(_upstream_history(spec, task, step))]
    return [system, packet]


def _submit_call(message: BaseMessage) -> ToolCall | None:
    if not isinstance(message, AIMessage):
        return None
    return next((c for c in message.tool_calls if c["name"] == SUBMIT_TOOL_NAME), None)


def _new_tool_results(messages: Sequence[BaseMessage]) -> int:
    count = 0
    for message in reversed(messages):
        if isinstance(message, ToolMessage):
            count += 1
        elif isinstance(message, AIMessage):
            break
    return count


def _recorded(state: SpecialistState, messages: Sequence[BaseMessage]) -> dict[str, Any]:
    """The state update that records the latest analyzer results as tool evidence."""
    found = tool_evidence.record(messages, state["step"]["specialist"])
    seen = set(state.get("analyzed", []))
    scanned = [p for p in dict.fromkeys(tool_evidence.analyzed_paths(messages)) if p not in seen]
    update: dict[str, Any] = {}
    if found:
        update["evidence"] = found
    if scanned:
        update["analyzed"] = scanned
    return update


def _tool_choice(
    messages: Sequence[BaseMessage], tools: Sequence[BaseTool], *, last_turn: bool
) -> str:
    """Return the tool choice for the agent's next turn.

    * `submit_findings` (forced) when the last turn submitted (a repair turn after an
      invalid submission), on the last turn the step limit allows, or once every analysis
      tool has been called and the model has since spent a turn not submitting.
    * the first analysis tool not yet called (forced) once the model has stalled — a turn
      with no tool call (prose routed to `finish` and its reminder) or with only tools it had
      already called.
    * `any` otherwise: the model picks, but must call some tool.

    A model that makes progress on its own — the offline policy model calls every analysis
    tool in one turn, then submits — is never forced. A model that stalls once stays forced:
    one analysis tool a turn, then the submission. Free-form answers are still possible
    where a client ignores the choice; `finish` turns them into a reminder.
    """
    analysis = [tool.name for tool in tools]
    called: set[str] = set()
    stalled = submitted_last = False
    for message in messages:
        if not isinstance(message, AIMessage):
            continue
        names = {call["name"] for call in message.tool_calls}
        submitted_last = SUBMIT_TOOL_NAME in names
        if not submitted_last and not (names & set(analysis)) - called:
            stalled = True
        called |= names
    remaining = [name for name in analysis if name not in called]
    if submitted_last or last_turn or (stalled and not remaining):
        return SUBMIT_TOOL_NAME
    if stalled:
        return remaining[0]
    return "any"


def build_specialist(
    spec: SpecialistSpec, model_for: ModelFactory, categories: Sequence[str] = ()
) -> CompiledStateGraph[SpecialistState, KeelContext, SpecialistInput, SpecialistOutput]:
    """Compile the specialist's agent loop as a subgraph named after it.

    `categories`: the team's areas, the only categories its submission admits (empty: any).
    """
    schema = submission_schema(categories) if categories else FindingsSubmission
    bound_tools: list[BaseTool] = [*spec.tools, submit_tool(schema)]

    def agent(state: SpecialistState, runtime: Runtime[KeelContext]) -> Command[Any]:
        context = runtime.context or KeelContext()
        policy = context.guards
        messages: list[BaseMessage] = list(state.get("messages", []))
        opening: list[BaseMessage] = []
        if not messages:
            opening = handoff_messages(context.handoff, spec, state["task"], state["step"])
        pending_tools = _new_tool_results(messages)
        recorded = _recorded(state, messages)
        tool_usage = Usage(
            input_tokens=0,
            output_tokens=0,
            cost_usd=0.0,
            model_calls=0,
            tool_calls=pending_tools,
            seconds=0.0,
        )
        turns = int((state.get("usage") or {}).get("model_calls", 0))

        def respond(channel: list[BaseMessage]) -> tuple[BaseMessage, dict[str, Any]]:
            choice = _tool_choice(
                channel, spec.tools, last_turn=turns + 1 >= policy.max_agent_steps
            )
            model = model_for(context.model).bind_tools(bound_tools, tool_choice=choice)
            started = time.perf_counter()
            response = model.invoke(channel)
            usage = usage_of(response, context.model, time.perf_counter() - started)
            usage["tool_calls"] = tool_usage["tool_calls"]
            return response, {"messages": [*opening, response], "usage": usage, **recorded}

        return guards.model_turn(
            state,
            policy,
            respond,
            opening=opening,
            pending_tool_calls=pending_tools,
            before={"messages": opening, "usage": tool_usage, **recorded},
            done="finish",
            final=lambda r: _submit_call(r) is not None and not r.invalid_tool_calls,
        )

    def finish(
        state: SpecialistState, runtime: Runtime[KeelContext]
    ) -> Command[Literal["agent", "validate", "__end__"]]:
        policy = (runtime.context or KeelContext()).guards
        messages = state.get("messages", [])
        call = _submit_call(messages[-1]) if messages else None
        if call is None:
            return Command(goto="agent", update={"messages": [HumanMessage(SUBMIT_REMINDER)]})
        try:
            submission = schema.model_validate(call["args"])
        except ValidationError as exc:
            verdict = guards.on_submission(state, exc, call["id"] or "", policy)
            return Command(goto=validate.GUARD_NAME, update={"verdict": verdict.pending()})
        grounded, dropped = ground_findings(state["repo"], submission.findings, spec.name)
        events = (
            [guard_event(validate.grounding_event(spec.name, dropped), spec.name)]
            if dropped
            else []
        )
        step = state["step"]
        analyzers = [tool.name for tool in spec.tools if tool.name in ANALYZERS]
        gaps = tool_evidence.coverage_gaps(analyzers, step["files"], state.get("analyzed", []))
        backfilled, notes = tool_evidence.backfill(Path(state["repo"]), gaps, spec.name)
        pool = merge_by_id(state.get("evidence", []), backfilled)
        reconciled = tool_evidence.reconcile(pool, grounded, submission.dismissed)
        findings: list[Finding] = reconciled.findings
        prior = state.get("guard_events", [])
        confidence, basis = computed_confidence(
            submission.confidence,
            reconciled.evidence,
            repairs=sum(1 for e in prior if e["guard"] == validate.GUARD_NAME),
            ungrounded=len(dropped),
            guard_events=prior,
            backfilled=len(gaps),
            corroborated=bool(analyzers) or any(f.get("status") == "confirmed" for f in findings),
        )
        open_questions = list(submission.open_questions)
        open_questions += [f"dropped ungrounded finding {reason}" for reason in dropped]
        open_questions += notes + reconciled.unmatched_dismissals
        unaddressed = reconciled.count("unaddressed")
        if unaddressed:
            open_questions.append(
                f"{unaddressed} tool issue(s) neither reported nor dismissed by {spec.name}: "
                "listed as unconfirmed"
            )
        actions = [
            propose(action.name, role=SPECIALIST, by=spec.name, reason=action.reason)
            for action in submission.proposed_actions
        ]
        ack = ToolMessage(
            content=f"accepted {len(grounded)} finding(s); "
            + ", ".join(f"{k} {v}" for k, v in reconciled.summary().items())
            + " tool issue(s)",
            tool_call_id=call["id"],
            name=SUBMIT_TOOL_NAME,
        )
        return Command(
            goto="__end__",  # END
            update={
                "messages": [ack],
                "guard_events": events,
                "findings": findings,
                "evidence": reconciled.evidence,
                "pending_actions": actions,
                "plan": [PlanStep(**{**step, "status": "done"})],
                "handoffs": [
                    Handoff(
                        source=spec.name,
                        target="report",
                        summary=submission.summary,
                        evidence=[f["id"] for f in findings],
                        open_questions=open_questions,
                        confidence=confidence,
                        claimed_confidence=submission.confidence,
                        confidence_basis=basis | reconciled.summary(),
                        dismissed=tool_evidence.dismissed_lines(reconciled.evidence),
                    )
                ],
            },
        )

    builder = StateGraph(
        SpecialistState,
        context_schema=KeelContext,
        input_schema=SpecialistInput,
        output_schema=SpecialistOutput,
    )
    # every guard, `validate` too (entered from `finish` only), as the drawing has it
    builder.add_node("agent", agent, destinations=("tools", "finish", *names_in(GUARDS)))
    builder.add_node("tools", ToolNode(list(spec.tools), handle_tool_errors=True))
    builder.add_node(
        "finish", finish, destinations=("agent", *names_in(GUARDS, "on_submission"), END)
    )
    guards = attach_guards(
        builder, agent=spec.name, tools=spec.tools, submit_tool=SUBMIT_TOOL_NAME, guards=GUARDS
    )
    builder.add_edge(START, "agent")
    builder.add_edge("tools", "agent")
    return builder.compile(name=spec.name)

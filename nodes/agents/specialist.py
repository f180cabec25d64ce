"""A specialist agent: a model with only its own tools, as a compiled subgraph.

    START → agent ⇄ tools
              ↓ submit_findings      ↘ (limit hit)
            finish → END            step_limit → END

The agent node runs the step-limit check before each model request (no extra
super-step) and routes with a typed `Command`. `finish` validates the submission,
grounds every finding in the repository and hands off a structured packet; an invalid
submission goes back to the model with the validation error (bounded by the step limit).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

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

from graphs.context import KeelContext
from graphs.state import (
    Handoff,
    PendingAction,
    PlanStep,
    SpecialistInput,
    SpecialistOutput,
    SpecialistState,
    Usage,
)
from nodes.guards.step_limit import GUARD_NAME, check_before_model_call, step_limit_node

from .grounding import ground_findings
from .prompts import SPECIALIST_SYSTEM_PROMPT, SPECIALIST_TASK_PROMPT, SUBMIT_REMINDER
from .schemas import SUBMIT_TOOL, SUBMIT_TOOL_NAME, FindingsSubmission
from .usage import usage_of

__all__ = ["ModelFactory", "SpecialistSpec", "build_specialist"]

ModelFactory = Callable[[str], BaseChatModel]
"""Returns the chat model for a model id (`KeelContext.model`)."""

_ACTION_EFFECTS = {"run_tests": "execute"}


@dataclass(frozen=True)
class SpecialistSpec:
    """What makes a specialist: its name, area, files it handles and its own tools."""

    name: str
    """Node name in the pipeline (and the specialist's identity)."""
    area: str
    """Category of findings it owns (security / correctness / style)."""
    description: str
    """One paragraph for its system prompt and the supervisor's brief."""
    handles: tuple[str, ...]
    """Glob patterns of the files it can judge."""
    tools: tuple[BaseTool, ...]
    """Its own tools — no other agent's."""


def _brief(files: Sequence[str]) -> str:
    return "```json\n" + json.dumps({"files": list(files)}, indent=1) + "\n```"


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


def build_specialist(
    spec: SpecialistSpec, model_for: ModelFactory
) -> CompiledStateGraph[SpecialistState, KeelContext, SpecialistInput, SpecialistOutput]:
    """Compile the specialist's agent loop as a subgraph named after it."""
    bound_tools: list[BaseTool] = [*spec.tools, SUBMIT_TOOL]

    def agent(
        state: SpecialistState, runtime: Runtime[KeelContext]
    ) -> Command[Literal["tools", "finish", "step_limit"]]:
        context = runtime.context or KeelContext()
        messages: list[BaseMessage] = list(state.get("messages", []))
        opening: list[BaseMessage] = []
        if not messages:
            step, task = state["step"], state["task"]
            opening = [
                SystemMessage(
                    SPECIALIST_SYSTEM_PROMPT.format(
                        name=spec.name, area=spec.area, description=spec.description
                    )
                ),
                HumanMessage(
                    SPECIALIST_TASK_PROMPT.format(
                        goal=task["goal"],
                        instructions=step["instructions"],
                        brief=_brief(step["files"]),
                    )
                ),
            ]
        tool_usage = Usage(
            input_tokens=0,
            output_tokens=0,
            cost_usd=0.0,
            model_calls=0,
            tool_calls=_new_tool_results(messages),
            seconds=0.0,
        )
        verdict = check_before_model_call(
            spec.name,
            messages,
            max_steps=context.max_agent_steps,
            max_tool_calls=context.max_tool_calls,
        )
        if verdict.fired:
            return Command(goto=GUARD_NAME, update={"messages": opening, "usage": tool_usage})
        model = model_for(context.model).bind_tools(bound_tools)
        started = time.perf_counter()
        response = model.invoke([*messages, *opening])
        usage = usage_of(response, context.model, time.perf_counter() - started)
        usage["tool_calls"] = tool_usage["tool_calls"]
        update = {"messages": [*opening, response], "usage": usage}
        if not isinstance(response, AIMessage) or not response.tool_calls:
            return Command(goto="finish", update=update)
        if _submit_call(response) is not None:
            return Command(goto="finish", update=update)
        return Command(goto="tools", update=update)

    def finish(state: SpecialistState) -> Command[Literal["agent", "__end__"]]:
        messages = state.get("messages", [])
        call = _submit_call(messages[-1]) if messages else None
        if call is None:
            return Command(goto="agent", update={"messages": [HumanMessage(SUBMIT_REMINDER)]})
        try:
            submission = FindingsSubmission.model_validate(call["args"])
        except ValidationError as exc:
            error = ToolMessage(
                content=f"Invalid submission, fix it and call {SUBMIT_TOOL_NAME} again:\n{exc}",
                tool_call_id=call["id"],
                name=SUBMIT_TOOL_NAME,
                status="error",
            )
            return Command(goto="agent", update={"messages": [error]})
        findings, dropped = ground_findings(state["repo"], submission.findings, spec.name)
        step = state["step"]
        open_questions = list(submission.open_questions)
        open_questions += [f"dropped ungrounded finding {reason}" for reason in dropped]
        actions = [
            PendingAction(
                id=action.name,
                name=action.name,
                args={},
                effect=_ACTION_EFFECTS.get(action.name, "execute"),  # type: ignore[typeddict-item]
                reason=action.reason,
                proposed_by=spec.name,
            )
            for action in submission.proposed_actions
        ]
        ack = ToolMessage(
            content=f"accepted {len(findings)} finding(s)",
            tool_call_id=call["id"],
            name=SUBMIT_TOOL_NAME,
        )
        return Command(
            goto="__end__",  # END
            update={
                "messages": [ack],
                "findings": findings,
                "pending_actions": actions,
                "plan": [PlanStep(**{**step, "status": "done"})],
                "handoffs": [
                    Handoff(
                        source=spec.name,
                        target="report",
                        summary=submission.summary,
                        evidence=[f["id"] for f in findings],
                        open_questions=open_questions,
                        confidence=submission.confidence,
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
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(list(spec.tools), handle_tool_errors=True))
    builder.add_node("finish", finish)
    builder.add_node(GUARD_NAME, step_limit_node(spec.name))
    builder.add_edge(START, "agent")
    builder.add_edge("tools", "agent")
    builder.add_edge(GUARD_NAME, END)
    return builder.compile(name=spec.name)

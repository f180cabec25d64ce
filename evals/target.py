"""The evaluation target: one whole review run of a case, end to end.

`run_case(inputs, ...)` builds the case's git repository in a temporary directory,
compiles `keel.graphs.review.build_review_graph` (its models bound to `Settings.load()`)
with an in-memory checkpointer and store,
and runs it on a fresh thread with a `KeelContext`. When the thread stops at an
interrupt — the review gate, or a guard escalating inside a specialist — it records the
request and answers every action with **reject** (so the repository's tests never run and
nothing is written), until the report is final. It sees only the case's `inputs`, never
its reference.

The output carries what the evaluators judge: the final report's findings, whether and
why the run stopped for review, the guard escalations, each specialist's tool calls (as
OpenAI-style assistant messages, for agentevals), the guard nodes entered, usage, and the
largest prompt each specialist sent.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command

from keel.graphs.review import build_review_graph
from keel.models import bind_models, model_label
from keel.nodes.context import HandoffStyle, KeelContext
from keel.nodes.guards.attach import GUARD_NODES
from keel.nodes.guards.policy import GuardPolicy
from keel.settings import Settings
from keel.toolcalls import SOURCE_KEY

from .repo import build_case_repo

__all__ = ["REJECT_MESSAGE", "run_case"]

REJECT_MESSAGE = "eval: rejected (evals never run repository code or write to the repo)"
_MAX_ROUNDS = 8


def _policy(case_guards: Mapping[str, Any], overrides: Mapping[str, Any]) -> GuardPolicy:
    return GuardPolicy.from_dict({**GuardPolicy().to_dict(), **case_guards, **overrides})


def _openai_call(call: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(call.get("id") or ""),
        "type": "function",
        "function": {
            "name": str(call["name"]),
            "arguments": json.dumps(call.get("args") or {}, sort_keys=True, default=str),
        },
    }


class _Recorder:
    """Collects tool calls, guard nodes and prompt sizes from the `tasks` stream."""

    def __init__(self) -> None:
        self.trajectories: dict[str, list[dict[str, Any]]] = {}
        self.guard_nodes: list[str] = []
        self.max_prompt_tokens: dict[str, int] = {}
        self.tool_call_sources: dict[str, int] = {
            "native": 0,
            "constrained": 0,
            "recovered": 0,
            "none": 0,
        }
        """Model answers by where their tool calls came from (every answer should call)."""

    def task_result(self, namespace: tuple[str, ...], chunk: Mapping[str, Any]) -> None:
        name = str(chunk.get("name") or "")
        if not namespace:
            return
        agent = namespace[0].split(":", 1)[0]
        if name in GUARD_NODES:
            self.guard_nodes.append(f"{name}:{agent}")
        result = chunk.get("result")
        messages: list[BaseMessage] = []
        if isinstance(result, Mapping):
            messages = list(result.get("messages") or [])
        elif isinstance(result, list):
            for channel, value in result:
                if channel == "messages":
                    messages.extend(value if isinstance(value, list) else [value])
        for message in messages:
            if not isinstance(message, AIMessage):
                continue
            source = (message.response_metadata or {}).get(SOURCE_KEY) or (
                "native" if message.tool_calls or message.invalid_tool_calls else "none"
            )
            if not message.tool_calls and source != "none":
                source = "none"  # only malformed calls: the answer produced no usable call
            self.tool_call_sources[source] = self.tool_call_sources.get(source, 0) + 1
            tokens = message.usage_metadata["input_tokens"] if message.usage_metadata else 0
            self.max_prompt_tokens[agent] = max(self.max_prompt_tokens.get(agent, 0), tokens)
            if message.tool_calls:
                self.trajectories.setdefault(agent, []).append(
                    {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [_openai_call(c) for c in message.tool_calls],
                    }
                )


def _stream(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    graph_input: Any,
    config: RunnableConfig,
    context: KeelContext,
) -> Iterator[tuple[tuple[str, ...], Mapping[str, Any]]]:
    for namespace, mode, chunk in graph.stream(
        graph_input,
        config,
        context=context,
        stream_mode=["tasks"],
        subgraphs=True,
    ):
        if mode == "tasks" and isinstance(chunk, Mapping) and "result" in chunk:
            yield tuple(namespace), chunk


def _answer(value: Mapping[str, Any]) -> dict[str, Any]:
    count = max(1, len(value.get("action_requests") or []))
    decision = {"type": "reject", "message": REJECT_MESSAGE}
    return {"decisions": [dict(decision) for _ in range(count)], "reviewer": "keel-evals"}


def run_case(
    inputs: Mapping[str, Any],
    *,
    model: str = "offline",
    guard_overrides: Mapping[str, Any] | None = None,
    handoff: HandoffStyle = "packet",
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Run the review pipeline on one case and return what the evaluators need.

    Args:
        inputs: the case's `inputs` (repository spec, mode, range, staged, guards).
        model: `KeelContext.model` (`offline` or a chat-model id).
        guard_overrides: `GuardPolicy` fields that win over the case's own.
        handoff: `KeelContext.handoff` — what the specialists receive from the supervisor.
        workdir: parent of the temporary repository (default: the system temp dir).
    """
    started = time.perf_counter()
    recorder = _Recorder()
    review_requests: list[dict[str, Any]] = []
    escalations: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="keel-eval-", dir=workdir) as tmp:
        repo = build_case_repo(inputs["repo"], Path(tmp) / "repo")
        context = KeelContext(
            model=model,
            guards=_policy(inputs.get("guards") or {}, guard_overrides or {}),
            handoff=handoff,
        )
        models = bind_models(Settings.load())
        graph = build_review_graph(models, label_for=model_label).compile(
            checkpointer=InMemorySaver(), store=InMemoryStore(), name="review"
        )
        config: RunnableConfig = {
            "configurable": {"thread_id": f"eval-{uuid.uuid4().hex[:12]}"},
            "recursion_limit": 200,
        }
        graph_input: Any = {
            "repo": str(repo),
            "mode": inputs.get("mode") or "review",
            "rev_range": inputs.get("rev_range"),
            "staged": bool(inputs.get("staged")),
        }
        error: str | None = None
        try:
            for _round in range(_MAX_ROUNDS):
                for namespace, chunk in _stream(graph, graph_input, config, context):
                    recorder.task_result(namespace, chunk)
                snapshot = graph.get_state(config)
                if not snapshot.interrupts:
                    break
                answers = {}
                for item in snapshot.interrupts:
                    value = item.value if isinstance(item.value, Mapping) else {}
                    packet = value.get("packet") or {}
                    if "guard" in packet:
                        escalations.append(
                            {
                                "guard": packet.get("guard"),
                                "agent": packet.get("agent"),
                                "actions": [a["name"] for a in value.get("action_requests", [])],
                                "reason": packet.get("summary"),
                            }
                        )
                    else:
                        review_requests.append(
                            {
                                "actions": [a["name"] for a in value.get("action_requests", [])],
                                "triggers": list(packet.get("triggers") or []),
                                "confidence": packet.get("confidence"),
                            }
                        )
                    answers[item.id] = _answer(value)
                graph_input = Command(resume=answers)
            else:
                error = f"still interrupted after {_MAX_ROUNDS} rounds of answers"
            values = dict(graph.get_state(config).values or {})
        except Exception as exc:  # noqa: BLE001 - a failing case is a result, not a crash
            error = f"{type(exc).__name__}: {exc}"[:1000]
            values = {}
    report = values.get("report") or None
    data: dict[str, Any] = dict(report["data"]) if report else {}
    return {
        "status": str(values.get("status") or "error"),
        "error": error,
        "report_produced": bool(report and report.get("markdown")),
        "findings": list(data.get("findings") or []),
        "handoffs": list(data.get("handoffs") or []),
        "report_markdown": (report or {}).get("markdown", ""),
        "interrupted": bool(review_requests),
        "review_requests": review_requests,
        "escalations": escalations,
        "trajectories": recorder.trajectories,
        "guard_nodes": recorder.guard_nodes,
        "guard_events": list(values.get("guard_events") or []),
        "usage": dict(values.get("usage") or {}),
        "max_prompt_tokens": recorder.max_prompt_tokens,
        "tool_call_sources": recorder.tool_call_sources,
        "model": model,
        "handoff": handoff,
        "seconds": round(time.perf_counter() - started, 3),
    }

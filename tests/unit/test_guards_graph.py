"""Tier 2: the compiled pipeline driven by adversarial scripted agents.

Each test scripts a misbehaving specialist and asserts the exact guard event, the route
taken (nudge, escalation interrupt, halt) and the final thread status. The scripted model
fails on any call past its script, so an unguarded loop fails the test instead of
running 5,000 model calls.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command

from keel.graphs.pipeline import build_pipeline
from keel.nodes.agents.specialist import SpecialistSpec
from keel.nodes.context import KeelContext
from keel.nodes.guards.policy import GuardPolicy
from tests.support.gitrepo import two_commit_repo
from tests.support.scripted import ScriptedChatModel

CODE = "import os\n\n\ndef run(cmd):\n    os.system(cmd)\n\n\ndef other():\n    return 1\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    base = {"README.md": "demo\n", "lib.py": "x = 1\n", "util.py": "y = 2\n"}
    return two_commit_repo(tmp_path / "repo", base, {"app.py": CODE})


BIG = "x" * 4000
SLEEP_S = 0.0


@tool
def scan(paths: list[str]) -> str:
    """Scan the files."""
    return json.dumps({"issues": [], "scanned": paths})


@tool
def grep(pattern: str) -> str:
    """Search the code."""
    return json.dumps({"matches": [], "pattern": pattern})


@tool
def dump(paths: list[str]) -> str:
    """Return a lot of text, with an early issue."""
    issue = {
        "tool": "dump",
        "rule": "R1",
        "file": "app.py",
        "line": 5,
        "severity": "high",
        "category": "security",
        "message": "early fact",
        "confidence": 0.9,
    }
    return json.dumps({"issues": [issue], "blob": BIG})


@tool
def slow(paths: list[str]) -> str:
    """Take a while."""
    time.sleep(SLEEP_S)
    return "{}"


SPEC = SpecialistSpec(
    name="sec",
    area="security",
    description="d",
    handles=("*.py",),
    tools=(scan, grep, dump, slow),
)


def _call(name: str, args: dict[str, Any], i: int, **meta: Any) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"{name}{i}"}], **meta)


def _plan(files: list[str]) -> AIMessage:
    args = {"assignments": [{"specialist": "sec", "files": files, "instructions": "look"}]}
    return AIMessage("", tool_calls=[{"name": "Plan", "args": args, "id": "p"}])


def _submit(findings: list[dict[str, Any]] | Any, i: int = 0, **meta: Any) -> AIMessage:
    args = {"findings": findings, "summary": "done", "confidence": 0.9}
    return AIMessage(
        "", tool_calls=[{"name": "submit_findings", "args": args, "id": f"s{i}"}], **meta
    )


def _run(repo: Path, model: ScriptedChatModel, policy: GuardPolicy, thread: str = "t") -> Any:
    graph = build_pipeline([SPEC], lambda _id: model).compile(
        checkpointer=InMemorySaver(), store=InMemoryStore()
    )
    config = {"configurable": {"thread_id": thread}}
    context = KeelContext(guards=policy)
    graph.invoke({"repo": str(repo)}, config, context=context)
    return graph, config, context


def _events(graph: Any, config: Any) -> list[tuple[str, str]]:
    """Guard events of the thread, including a specialist paused inside its subgraph."""
    snap = graph.get_state(config, subgraphs=True)
    events = list(snap.values.get("guard_events", []))
    for task in snap.tasks:
        if task.state is not None and hasattr(task.state, "values"):
            events += task.state.values.get("guard_events", [])
    return [(e["guard"], e["verdict"]) for e in events]


def _resume(graph: Any, config: Any, context: KeelContext, decision: dict[str, Any]) -> Any:
    (interrupt,) = graph.get_state(config).interrupts
    return graph.invoke(Command(resume={interrupt.id: decision}), config, context=context)


SCAN = {"paths": ["app.py"]}


def test_looping_agent_is_nudged_then_escalated_then_stopped(repo: Path) -> None:
    repeat = [_call("scan", SCAN, i) for i in range(4)]
    model = ScriptedChatModel(responses=[_plan(["app.py"]), *repeat])
    graph, config, context = _run(repo, model, GuardPolicy())
    # third identical call: nudged (the call is answered with an error, not run)
    # fourth: the ladder's second rung — a human is asked
    (interrupt,) = graph.get_state(config).interrupts
    assert interrupt.value["packet"]["guard"] == "loop"
    assert interrupt.value["action_requests"][0]["name"] == "continue_agent"
    assert _events(graph, config) == [("loop", "nudge")]
    nudge = [m for m in model.seen[4] if isinstance(m, HumanMessage)][-1]
    assert "repeated call: scan" in nudge.content
    result = _resume(
        graph,
        config,
        context,
        {"decisions": [{"type": "reject", "message": "stop"}], "reviewer": "r"},
    )
    # stopped: the zero-confidence handoff sends the partial result to the review gate
    assert _events(graph, config) == [("loop", "nudge"), ("loop", "halt")]
    (gate,) = graph.get_state(config).interrupts
    assert gate.value["packet"]["triggers"] == ["confidence: 1 handoff(s) below 0.5 (lowest 0.00)"]
    result = _resume(graph, config, context, {"decisions": [{"type": "approve"}]})
    assert result["status"] == "halted"
    assert result["usage"]["model_calls"] == 5  # plan + 4 turns, not 5,000
    model.assert_complete()


def test_oscillating_agent_is_nudged(repo: Path) -> None:
    a, b = ("scan", SCAN), ("grep", {"pattern": "os.system"})
    turns = [_call(*a, 0), _call(*b, 1), _call(*a, 2), _call(*b, 3)]
    model = ScriptedChatModel(responses=[_plan(["app.py"]), *turns, _submit([])])
    graph, config, _ = _run(repo, model, GuardPolicy())
    events = graph.get_state(config).values["guard_events"]
    assert [(e["guard"], e["verdict"]) for e in events] == [("loop", "nudge")]
    assert events[0]["reason"].startswith("oscillation:")
    assert graph.get_state(config).values["status"] == "done"
    model.assert_complete()


def test_agent_calling_a_missing_tool_gets_guidance(repo: Path) -> None:
    model = ScriptedChatModel(
        responses=[
            _plan(["app.py"]),
            _call("delete_repo", {}, 0),
            _call("scan", {"paths": 3}, 1),
            _submit([]),
        ]
    )
    graph, config, _ = _run(repo, model, GuardPolicy())
    assert _events(graph, config) == [("tool_misuse", "nudge"), ("tool_misuse", "nudge")]
    first_error = [m for m in model.seen[2] if isinstance(m, ToolMessage)][-1]
    assert "delete_repo is not one of your tools (dump, grep, scan, slow)" in first_error.content
    second_error = [m for m in model.seen[3] if isinstance(m, ToolMessage)][-1]
    assert "scan: paths: Input should be a valid list" in second_error.content
    assert graph.get_state(config).values["status"] == "done"
    model.assert_complete()


def _not_json(i: int) -> AIMessage:
    """A turn whose one tool call did not parse: the client puts it in invalid_tool_calls."""
    bad = {"type": "invalid_tool_call", "id": f"bad{i}", "name": "scan", "args": "{not json,"}
    return AIMessage("", invalid_tool_calls=[bad | {"error": "not JSON"}])


def test_agent_whose_calls_never_parse_is_escalated_then_stopped(repo: Path) -> None:
    # before: no tool call -> `finish` -> a reminder, every turn, until the budget stopped it
    model = ScriptedChatModel(responses=[_plan(["app.py"]), *(_not_json(i) for i in range(4))])
    graph, config, context = _run(repo, model, GuardPolicy())
    # two nudges answer the malformed call with its parse error, the third turn asks a human
    (interrupt,) = graph.get_state(config).interrupts
    assert interrupt.value["packet"]["guard"] == "tool_misuse"
    assert _events(graph, config) == [("tool_misuse", "nudge"), ("tool_misuse", "nudge")]
    # what the model saw on its second turn: its call repaired (JSON arguments, same id)
    # and answered by id with the parse error, so the request is valid for any server
    sent = model.seen[2]
    (repaired,) = [m for m in sent if isinstance(m, AIMessage) and m.invalid_tool_calls]
    assert [(c["id"], c["args"]) for c in repaired.invalid_tool_calls] == [("bad0", "{}")]
    (answer,) = [m for m in sent if isinstance(m, ToolMessage)]
    assert answer.tool_call_id == "bad0" and answer.status == "error"
    assert answer.content.startswith("Error: scan: arguments that are not JSON")
    assert "'{not json,'" in answer.content and "send one JSON object with paths" in answer.content
    # the reviewer lets it carry on; the fourth malformed turn halts it
    _resume(graph, config, context, {"decisions": [{"type": "approve"}], "reviewer": "r"})
    assert _events(graph, config) == [
        ("tool_misuse", "nudge"),
        ("tool_misuse", "nudge"),
        ("tool_misuse", "escalate"),  # approved
        ("tool_misuse", "halt"),
    ]
    (gate,) = graph.get_state(config).interrupts  # zero-confidence handoff -> review gate
    result = _resume(graph, config, context, {"decisions": [{"type": "approve"}]})
    assert result["status"] == "halted"
    assert result["usage"]["model_calls"] == 5  # plan + 4 turns
    model.assert_complete()


def test_overspending_agent_asks_for_budget_then_asks_again_before_passing_it(
    repo: Path,
) -> None:
    usage = {"usage_metadata": {"input_tokens": 900, "output_tokens": 100, "total_tokens": 1000}}
    turns = [_call("grep", {"pattern": f"p{i}"}, i, **usage) for i in range(3)]
    model = ScriptedChatModel(responses=[_plan(["app.py"]), *turns])
    policy = GuardPolicy(budget_tokens=2500)
    graph, config, context = _run(repo, model, policy)
    (interrupt,) = graph.get_state(config).interrupts
    request = interrupt.value
    assert request["packet"]["guard"] == "budget"
    assert request["action_requests"][0]["name"] == "grant_budget"
    assert request["action_requests"][0]["args"]["tokens"] == 3750
    assert re.match(
        r"80% of the budget reached: tokens 20\d\d/2500, cost_usd 0/2, "
        r"model_calls 4/80, tool_calls 2/200",
        request["packet"]["summary"],
    )
    # the reviewer grants a little more; one more turn, then the agent asks again before
    # the call whose prompt would take it past 80% of the new limit (3,042 + prompt)
    edit = {"type": "edit", "edited_action": {"name": "grant_budget", "args": {"tokens": 4000}}}
    _resume(graph, config, context, {"decisions": [edit], "reviewer": "ana"})
    (again,) = graph.get_state(config).interrupts
    assert again.value["packet"]["guard"] == "budget"
    assert re.match(
        r"the next call \(~\d+ prompt tokens\) would pass 80% of it: tokens 3042/4000",
        again.value["packet"]["summary"],
    )
    # refused: the agent stops before spending more; its partial result goes to review
    refuse = {"type": "reject", "message": "enough"}
    _resume(graph, config, context, {"decisions": [refuse], "reviewer": "ana"})
    snap = graph.get_state(config)
    assert snap.values["budget_grants"] == [
        {"tokens": 4000, "cost_usd": 3.0, "model_calls": 120, "tool_calls": 300}
    ]
    events = snap.values["guard_events"]
    assert [(e["guard"], e["verdict"], e["agent"]) for e in events] == [
        ("budget", "escalate", "sec"),  # granted
        ("budget", "halt", "sec"),  # the second ask, refused
    ]
    assert events[1]["reason"].startswith("budget not raised by reviewer: the next call")
    (gate,) = snap.interrupts
    assert any(t.startswith("confidence") for t in gate.value["packet"]["triggers"])
    model.assert_complete()


def test_malformed_output_is_repaired_twice_then_escalated(repo: Path) -> None:
    bad = [_submit("not a list", i) for i in range(3)]
    model = ScriptedChatModel(responses=[_plan(["app.py"]), *bad, _submit([], 9)])
    graph, config, context = _run(repo, model, GuardPolicy(max_repairs=2))
    assert _events(graph, config) == [("validate", "nudge"), ("validate", "nudge")]
    repair = [m for m in model.seen[2] if isinstance(m, ToolMessage)][-1]
    assert "Invalid submission" in repair.content and "findings" in repair.content
    (interrupt,) = graph.get_state(config).interrupts
    assert interrupt.value["packet"]["guard"] == "validate"
    advice = {"type": "respond", "message": "findings must be a list; send [] if none"}
    result = _resume(graph, config, context, {"decisions": [advice]})
    assert [m.content for m in model.seen[4] if isinstance(m, HumanMessage)][-1] == (
        "A human reviewer says: findings must be a list; send [] if none"
    )
    assert result["status"] == "done"
    model.assert_complete()


def test_hallucinated_finding_is_dropped_with_an_event(repo: Path) -> None:
    real = {
        "file": "app.py",
        "line": 5,
        "severity": "medium",
        "category": "security",
        "title": "os.system",
        "confidence": 0.8,
    }
    fake = real | {"line": 400}
    ghost = real | {"file": "nowhere.py"}
    model = ScriptedChatModel(responses=[_plan(["app.py"]), _submit([real, fake, ghost])])
    graph, config, _ = _run(repo, model, GuardPolicy())
    values = graph.get_state(config).values
    assert [(f["file"], f["line"]) for f in values["findings"]] == [("app.py", 5)]
    (event,) = values["guard_events"]
    assert event["guard"] == "validate"
    assert event["reason"].startswith("dropped 2 ungrounded finding(s): app.py:400 — the file has")
    model.assert_complete()


def test_drifting_agent_gets_its_task_back(repo: Path) -> None:
    away = [_call("scan", {"paths": ["lib.py", "util.py"]}, i) for i in range(2)]
    model = ScriptedChatModel(responses=[_plan(["app.py"]), *away, _submit([])])
    graph, config, _ = _run(repo, model, GuardPolicy())
    events = graph.get_state(config).values["guard_events"]
    # one call with two off-scope paths is already "mostly elsewhere"
    assert [(e["guard"], e["verdict"]) for e in events] == [("drift", "nudge"), ("drift", "nudge")]
    refresh = [m for m in model.seen[2] if isinstance(m, HumanMessage)][-1]
    assert "back to your task" in refresh.content and "Files: app.py" in refresh.content
    assert graph.get_state(config).values["status"] == "done"
    model.assert_complete()


def test_chatty_agent_context_is_compressed_and_early_facts_kept(repo: Path) -> None:
    turns = [_call("dump", {"paths": ["app.py"]}, 0)]
    turns += [_call("grep", {"pattern": f"q{i}"}, i) for i in range(1, 6)]
    model = ScriptedChatModel(responses=[_plan(["app.py"]), *turns, _submit([])])
    policy = GuardPolicy(compress_at_tokens=800, compress_keep_last=2)
    graph, config, _ = _run(repo, model, policy)
    sub_state = model.seen[-1]
    assert ("compress", "compress") in _events(graph, config)
    assert count_tokens_approximately(sub_state) < 1500  # the 4,000-char blob was folded
    summary = next(m.content for m in sub_state if "Summary of earlier work" in str(m.content))
    assert '"message": "early fact"' in summary and '"called": ["dump"' in summary
    # tool calls never lose their results
    ids = {c["id"] for m in sub_state if isinstance(m, AIMessage) for c in m.tool_calls}
    answered = {m.tool_call_id for m in sub_state if isinstance(m, ToolMessage)}
    assert ids <= answered | {"s0"}
    model.assert_complete()


def test_verbose_agent_is_compressed_every_other_turn_and_always_under_the_limit(
    repo: Path,
) -> None:
    """A model writing ~7,500 tokens every turn, against the default 12,000-token limit."""
    turns = 10
    replies = [
        AIMessage(
            f"turn {i}: " + "y" * 30_000,
            tool_calls=[{"name": "grep", "args": {"pattern": f"q{i}"}, "id": f"grep{i}"}],
        )
        for i in range(turns)
    ]
    model = ScriptedChatModel(responses=[_plan(["app.py"]), *replies, _submit([])])
    policy = GuardPolicy()
    graph, config, _ = _run(repo, model, policy)
    assert count_tokens_approximately(replies[:1]) > 7_500
    prompts = [count_tokens_approximately(seen) for seen in model.seen[1:]]
    assert max(prompts) < policy.compress_at_tokens  # every request the agent made
    events = graph.get_state(config).values["guard_events"]
    compressions = [e["reason"] for e in events if e["guard"] == "compress"]
    assert [e["guard"] for e in events] == ["compress"] * len(compressions)
    # a compression leaves room for a turn like the last: every other turn, not every one
    assert 2 <= len(compressions) <= turns // 2
    assert all(
        re.search(r", cutting \d+ \(\d+ characters\); \d+ tokens after$", r) for r in compressions
    )
    assert graph.get_state(config).values["status"] == "done"
    model.assert_complete()


def test_deadline_halts_a_slow_agent(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "SLEEP_S", 1.1)
    model = ScriptedChatModel(responses=[_plan(["app.py"]), _call("slow", SCAN, 0)])
    graph, config, context = _run(repo, model, GuardPolicy(deadline_s=1.0))
    events = graph.get_state(config).values["guard_events"]
    assert [(e["guard"], e["verdict"]) for e in events] == [("deadline", "halt")]
    assert re.fullmatch(r"deadline passed: \ds of active time \(limit 1s\)", events[0]["reason"])
    model.assert_complete()


def test_clean_agent_fires_no_guard(repo: Path) -> None:
    finding = {
        "file": "app.py",
        "line": 5,
        "severity": "medium",
        "category": "security",
        "title": "os.system",
        "confidence": 0.8,
    }
    model = ScriptedChatModel(
        responses=[
            _plan(["app.py"]),
            _call("scan", SCAN, 0),
            _call("grep", {"pattern": "system"}, 1),
            _submit([finding]),
        ]
    )
    graph, config, _ = _run(repo, model, GuardPolicy())
    assert _events(graph, config) == []
    model.assert_complete()

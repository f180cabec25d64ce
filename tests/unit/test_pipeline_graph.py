"""The compiled pipeline driven by a scripted model: routes, interrupt, resume, effects."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
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

CODE = "import os\n\n\ndef run(cmd):\n    os.system(cmd)\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return two_commit_repo(tmp_path / "repo", {"README.md": "demo\n"}, {"app.py": CODE})


@tool
def scan(paths: list[str]) -> str:
    """Scan the files."""
    return json.dumps({"issues": [], "scanned": paths})


@tool
def grep(pattern: str) -> str:
    """Search the code."""
    return json.dumps({"matches": [], "pattern": pattern})


SPEC = SpecialistSpec(
    name="sec", area="security", description="d", handles=("*.py",), tools=(scan, grep)
)


def _plan(files: list[str]) -> AIMessage:
    args = {
        "assignments": [{"specialist": "sec", "files": files, "instructions": "look"}],
        "rationale": "r",
    }
    return AIMessage("", tool_calls=[{"name": "Plan", "args": args, "id": "p1"}])


def _submit(findings: list[dict[str, Any]], confidence: float = 0.9) -> AIMessage:
    args = {"findings": findings, "summary": "done", "confidence": confidence}
    return AIMessage("", tool_calls=[{"name": "submit_findings", "args": args, "id": "s1"}])


FINDING = {
    "file": "app.py",
    "line": 5,
    "severity": "high",
    "category": "security",
    "rule": "shell",
    "title": "os.system on input",
    "evidence": "made up",
    "confidence": 0.9,
}


def _compile(model: ScriptedChatModel) -> Any:
    return build_pipeline([SPEC], lambda _id: model).compile(
        checkpointer=InMemorySaver(), store=InMemoryStore()
    )


def test_review_pauses_then_approval_publishes_once(repo: Path) -> None:
    model = ScriptedChatModel(
        responses=[
            _plan(["app.py"]),
            AIMessage("", tool_calls=[{"name": "scan", "args": {"paths": ["app.py"]}, "id": "c1"}]),
            _submit([FINDING]),
        ]
    )
    graph = _compile(model)
    config = {"configurable": {"thread_id": "t1"}}
    graph.invoke({"repo": str(repo)}, config, context=KeelContext())
    snap = graph.get_state(config)
    (interrupt,) = snap.interrupts
    request = interrupt.value
    assert [r["name"] for r in request["action_requests"]] == ["publish_review"]
    assert request["packet"]["triggers"] == [
        "rule: side effect proposed (publish_review)",
        "rule: 1 finding(s) at or above high",
    ]
    (finding,) = snap.values["findings"]
    # evidence is re-quoted from the file, not taken from the model
    assert finding["evidence"] == "    os.system(cmd)"
    assert snap.values["usage"]["model_calls"] == 3
    assert snap.values["usage"]["tool_calls"] == 1
    assert not (repo / "KEEL_REVIEW.md").exists()

    result = graph.invoke(
        Command(resume={"decisions": [{"type": "approve"}], "reviewer": "ana"}),
        config,
        context=KeelContext(),
    )
    assert result["status"] == "done"
    assert (repo / "KEEL_REVIEW.md").read_text().startswith("# Keel review")
    (action,) = result["action_results"]
    assert (action["name"], action["status"], action["decision"]) == (
        "publish_review",
        "done",
        "approve",
    )
    assert graph.get_state(config).values["review"]["reviewer"] == "ana"
    assert result["guard_events"] == []
    model.assert_complete()


def test_reject_leaves_repo_untouched(repo: Path) -> None:
    model = ScriptedChatModel(responses=[_plan(["app.py"]), _submit([FINDING])])
    graph = _compile(model)
    config = {"configurable": {"thread_id": "t2"}}
    graph.invoke({"repo": str(repo)}, config, context=KeelContext())
    result = graph.invoke(
        Command(resume={"decisions": [{"type": "reject", "message": "no"}]}),
        config,
        context=KeelContext(),
    )
    assert result["status"] == "done"
    assert result["action_results"] == []
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True
    )
    assert status.stdout == ""
    model.assert_complete()


def test_clean_change_finishes_without_review(repo: Path) -> None:
    model = ScriptedChatModel(responses=[_plan(["app.py"]), _submit([])])
    graph = _compile(model)
    config = {"configurable": {"thread_id": "t3"}}
    result = graph.invoke({"repo": str(repo)}, config, context=KeelContext())
    assert result["status"] == "done"
    assert graph.get_state(config).interrupts == ()
    assert result["findings"] == []
    model.assert_complete()


def test_tests_no_specialist_proposed_to_run_are_proposed_by_the_report(tmp_path: Path) -> None:
    # measured on Qwen2.5-Coder-0.5B and 1.5B (eval corr-failing-test): a change breaking
    # the tests, no finding, no run_tests proposal, the thread ended done with no human
    tested = two_commit_repo(
        tmp_path / "tested",
        {"README.md": "demo\n", "tests/test_app.py": "def test_app() -> None:\n    pass\n"},
        {"app.py": CODE},
    )
    model = ScriptedChatModel(responses=[_plan(["app.py"]), _submit([])])
    graph = _compile(model)
    config = {"configurable": {"thread_id": "t-tests"}}
    graph.invoke({"repo": str(tested)}, config, context=KeelContext())
    state = graph.get_state(config)
    [interrupt] = state.interrupts
    proposed = {a["name"]: a for a in state.values["pending_actions"]}
    assert proposed["run_tests"]["proposed_by"] == "report"
    assert proposed["run_tests"]["reason"].startswith("1 test file(s) exist")
    model.assert_complete()


def test_ungrounded_finding_is_dropped_and_noted(repo: Path) -> None:
    bogus = FINDING | {"line": 999}
    model = ScriptedChatModel(responses=[_plan(["app.py"]), _submit([bogus])])
    graph = _compile(model)
    config = {"configurable": {"thread_id": "t4"}}
    result = graph.invoke({"repo": str(repo)}, config, context=KeelContext())
    assert result["findings"] == []
    handoff = graph.get_state(config).values["handoffs"][0]
    assert handoff["open_questions"] == [
        "dropped ungrounded finding app.py:999 — the file has 5 lines"
    ]
    model.assert_complete()


def test_invalid_submission_is_sent_back_for_repair(repo: Path) -> None:
    broken = AIMessage(
        "", tool_calls=[{"name": "submit_findings", "args": {"findings": "nope"}, "id": "b1"}]
    )
    model = ScriptedChatModel(responses=[_plan(["app.py"]), broken, _submit([])])
    graph = _compile(model)
    result = graph.invoke(
        {"repo": str(repo)}, {"configurable": {"thread_id": "t5"}}, context=KeelContext()
    )
    assert result["status"] == "done"
    repair_prompt = model.seen[2][-1]
    assert "Invalid submission" in repair_prompt.content
    model.assert_complete()


def test_step_limit_halts_a_busy_specialist(repo: Path) -> None:
    # different searches each turn: not a loop, just too many turns
    loop = [
        AIMessage("", tool_calls=[{"name": "grep", "args": {"pattern": f"p{i}"}, "id": f"l{i}"}])
        for i in range(3)
    ]
    model = ScriptedChatModel(responses=[_plan(["app.py"]), *loop])
    graph = _compile(model)
    config = {"configurable": {"thread_id": "t6"}}
    context = KeelContext(guards=GuardPolicy(max_agent_steps=3))
    graph.invoke({"repo": str(repo)}, config, context=context)
    # the halted specialist hands off with confidence 0: a human must look
    (interrupt,) = graph.get_state(config).interrupts
    assert interrupt.value["packet"]["triggers"] == [
        "confidence: 1 handoff(s) below 0.5 (lowest 0.00)"
    ]
    assert [r["name"] for r in interrupt.value["action_requests"]] == ["accept_result"]
    result = graph.invoke(
        Command(resume={"decisions": [{"type": "approve"}]}), config, context=context
    )
    (event,) = result["guard_events"]
    assert event["guard"] == "step_limit" and event["verdict"] == "halt"
    assert (
        event["reason"]
        == "sec specialist stopped: 3 model turns (limit 3), 3 tool calls (limit 40)"
    )
    assert result["status"] == "halted"
    assert "step_limit" in result["report"]["markdown"]
    model.assert_complete()

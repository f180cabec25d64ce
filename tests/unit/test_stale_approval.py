"""`execute_actions` runs approved actions only on the reviewed state (nodes/actions.py).

The node in a one-node graph (checkpointer + store, a real git repository, the test run
faked), then the whole pipeline for a thread paused without a recorded reviewed state.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command

from keel.core.state import PendingAction, PipelineState, ReviewRecord, Task
from keel.graphs.pipeline import build_pipeline
from keel.nodes import actions
from keel.nodes.actions import NOT_RECORDED, STALE_APPROVAL, execute_actions, validate_action_args
from keel.nodes.agents import report as report_node
from keel.nodes.agents.report import report_markdown
from keel.nodes.agents.specialist import SpecialistSpec
from keel.nodes.context import KeelContext
from keel.tools import reviewed_state as rs
from keel.tools import snapshot
from keel.tools.git import resolve_range
from keel.tools.pytest_runner import TestRun
from keel.tools.ruff import ruff_fix_diff
from tests.support.gitrepo import commit_files, git, two_commit_repo
from tests.support.scripted import ScriptedChatModel

CODE = "import json\nimport os\n\n\ndef run(cmd):\n    os.system(cmd)\n"
ALL = ("apply_autofix", "run_tests", "publish_review")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return two_commit_repo(tmp_path / "repo", {"README.md": "demo\n"}, {"app.py": CODE})


class FakeTests:
    """Stands in for `run_pytest`: records where it ran and what `app.py` held there."""

    def __init__(self, during: Callable[[], None] | None = None) -> None:
        self.runs: list[tuple[Path, str]] = []
        self.during = during

    def __call__(self, root: Path, timeout: float = 300, args: Any = ()) -> TestRun:
        self.runs.append((root, (root / "app.py").read_text()))
        if self.during is not None:
            self.during()
        return TestRun(
            exit_code=0,
            passed=1,
            failed=0,
            errors=0,
            skipped=0,
            duration_s=0.0,
            failures=[],
            output_tail="",
        )


@pytest.fixture
def tests_run(monkeypatch: pytest.MonkeyPatch) -> FakeTests:
    fake = FakeTests()
    monkeypatch.setattr(actions.pytest_runner, "run_pytest", fake)
    return fake


def _state(
    repo: Path, *, analysis_root: Path | None = None, rev: str | None = None, record: bool = True
) -> dict[str, Any]:
    base, head = resolve_range(repo, rev)
    root = analysis_root or repo
    pending = [
        PendingAction(
            id="apply_autofix",
            name="apply_autofix",
            args={"diff": ruff_fix_diff(root, ["app.py"])},
            effect="write",
            reason="ruff",
            proposed_by="report",
        ),
        PendingAction(
            id="run_tests",
            name="run_tests",
            args={},
            effect="execute",
            reason="tests",
            proposed_by="correctness",
        ),
        PendingAction(
            id="publish_review",
            name="publish_review",
            args={"path": "KEEL_REVIEW.md"},
            effect="write",
            reason="publish",
            proposed_by="report",
        ),
    ]
    decisions = [
        {
            "action_id": a["id"],
            "name": a["name"],
            "type": "approve",
            "args": validate_action_args(a["name"], a["args"]),
        }
        for a in pending
    ]
    state: dict[str, Any] = {
        "repo": str(repo),
        "task": Task(
            goal="g", repo=str(repo), mode="review", rev_range=f"{base}..{head}", staged=False
        ),
        "scope": ["app.py"],
        "pending_actions": pending,
        "review": ReviewRecord(
            interrupt_id="i", triggers=[], decisions=decisions, reviewer="ana", at="t"
        ),
        "report": {"markdown": "# Keel review\n", "data": {"counts": {"high": 1}}},
    }
    if record:
        state["reviewed"] = rs.capture(
            repo, root, ["app.py"], mode="review", staged=False, base=base, head=head
        )
    return state


def _graph() -> Any:
    builder = StateGraph(PipelineState, context_schema=KeelContext)
    builder.add_node("execute_actions", execute_actions(report_markdown))
    builder.add_edge(START, "execute_actions")
    builder.add_edge("execute_actions", END)
    return builder.compile(checkpointer=InMemorySaver(), store=InMemoryStore())


def _config(thread: str) -> Any:
    return {"configurable": {"thread_id": thread}}


def _results(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in values["action_results"]}


def test_a_fresh_approval_runs_each_action_once_on_the_reviewed_state(
    repo: Path, tests_run: FakeTests
) -> None:
    graph, config, state = _graph(), _config("t1"), _state(repo)
    values = graph.invoke(state, config, context=KeelContext())
    results = _results(values)
    assert {n: r["status"] for n, r in results.items()} == dict.fromkeys(ALL, "done")
    assert "import json" not in (repo / "app.py").read_text()
    assert (repo / "KEEL_REVIEW.md").read_text() == "# Keel review\n"
    ((root, tested),) = tests_run.runs
    assert root == snapshot.snapshot_path(repo, "t1") and not root.exists()
    assert "import json" not in tested  # the approved autofix, on the reviewed tree
    assert "with the approved autofix" in results["run_tests"]["detail"]
    # the same thread again: the ledger has every result, nothing runs twice
    again = graph.invoke(state, config, context=KeelContext())
    assert _results(again) == results
    assert len(tests_run.runs) == 1


def test_a_move_before_the_actions_runs_nothing_even_if_it_moves_back(
    repo: Path, tests_run: FakeTests
) -> None:
    graph, config, state = _graph(), _config("t2"), _state(repo)
    reviewed_head = git(repo, "rev-parse", "HEAD").strip()
    commit_files(repo, {"app.py": CODE + "# more\n"}, "edit after the review")
    graph.invoke(state, config, context=KeelContext())
    (pending,) = graph.get_state(config).interrupts
    request = pending.value
    assert [a["name"] for a in request["action_requests"]] == [STALE_APPROVAL]
    verdict = request["packet"][STALE_APPROVAL]
    assert verdict["ran"] == [] and verdict["not_run"] == list(ALL)
    assert any("HEAD moved" in c and "edit after the review" in c for c in verdict["changes"])
    assert "app.py: edited since the review" in verdict["changes"]
    assert verdict["rereview"]["command"] == "keel rereview t2"
    assert verdict["rereview"]["input"]["rev_range"].endswith(
        git(repo, "rev-parse", "HEAD").strip()
    )
    assert tests_run.runs == [] and not (repo / "KEEL_REVIEW.md").exists()

    git(repo, "reset", "-q", "--hard", reviewed_head)  # back as reviewed: still stale
    values = graph.invoke(
        Command(resume={"decisions": [{"type": "reject", "message": "moved"}], "reviewer": "bo"}),
        config,
        context=KeelContext(),
    )
    results = _results(values)
    assert {n: r["status"] for n, r in results.items()} == dict.fromkeys(ALL, "stale")
    assert all("rejected by bo: moved" in r["detail"] for r in results.values())
    (blocker,) = values["blockers"]
    assert blocker.startswith("stale approval:") and "not run: apply_autofix" in blocker
    assert tests_run.runs == [] and not (repo / "KEEL_REVIEW.md").exists()
    assert (repo / "app.py").read_text() == CODE


def test_a_move_during_the_tests_stops_what_follows_and_nothing_runs_twice(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeTests(during=lambda: commit_files(repo, {"NOTES": "x\n"}, "meanwhile"))
    monkeypatch.setattr(actions.pytest_runner, "run_pytest", fake)
    graph, config = _graph(), _config("t3")
    graph.invoke(_state(repo), config, context=KeelContext())
    (pending,) = graph.get_state(config).interrupts
    verdict = pending.value["packet"][STALE_APPROVAL]
    # our own autofix is not a move; the commit made while the tests ran is
    assert verdict["ran"] == ["apply_autofix", "run_tests"]
    assert verdict["not_run"] == ["publish_review"]
    values = graph.invoke(
        Command(resume={"decisions": [{"type": "rereview", "thread_id": "kr-new"}]}),
        config,
        context=KeelContext(),
    )
    results = _results(values)
    assert {n: r["status"] for n, r in results.items()} == {
        "apply_autofix": "done",
        "run_tests": "done",
        "publish_review": "stale",
    }
    assert "re-reviewed in thread kr-new" in results["publish_review"]["detail"]
    assert len(fake.runs) == 1  # the re-run after the answer reused the ledger
    assert not (repo / "KEEL_REVIEW.md").exists()


def test_an_approve_of_a_stale_approval_asks_again(repo: Path, tests_run: FakeTests) -> None:
    graph, config = _graph(), _config("t4")
    state = _state(repo)
    (repo / "app.py").write_text("edited\n")
    graph.invoke(state, config, context=KeelContext())
    graph.invoke(
        Command(resume={"decisions": [{"type": "approve"}]}), config, context=KeelContext()
    )
    (pending,) = graph.get_state(config).interrupts
    assert "a stale approval takes one of ['reject', 'rereview']" in pending.value["error"]
    values = graph.invoke(
        Command(resume={"decisions": [{"type": "reject"}]}), config, context=KeelContext()
    )
    assert {r["status"] for r in values["action_results"]} == {"stale"}
    assert tests_run.runs == [] and (repo / "app.py").read_text() == "edited\n"


def test_without_a_recorded_state_the_actions_run_and_say_so(
    repo: Path, tests_run: FakeTests
) -> None:
    graph, config = _graph(), _config("t5")
    values = graph.invoke(_state(repo, record=False), config, context=KeelContext())
    results = _results(values)
    assert {n: r["status"] for n, r in results.items()} == dict.fromkeys(ALL, "done")
    assert all(NOT_RECORDED in r["detail"] for r in results.values())
    ((root, _),) = tests_run.runs
    assert root == repo  # as before: the work tree


def test_autofix_refuses_a_work_tree_that_is_not_what_was_reviewed(
    repo: Path, tests_run: FakeTests
) -> None:
    reviewed = git(repo, "rev-parse", "HEAD").strip()
    commit_files(repo, {"app.py": "import json\n\nVALUE = 1\n"}, "three")
    taken = snapshot.take(repo, "t6", reviewed)  # what intake does for an older revision
    state = _state(repo, analysis_root=taken, rev=reviewed)
    values = _graph().invoke(state, _config("t6"), context=KeelContext())
    results = _results(values)
    assert results["apply_autofix"]["status"] == "failed"
    assert "app.py is not the content the review read" in results["apply_autofix"]["detail"]
    assert (repo / "app.py").read_text() == "import json\n\nVALUE = 1\n"
    ((_, tested),) = tests_run.runs
    assert tested == CODE  # the reviewed commit, without the refused fix
    assert results["publish_review"]["status"] == "done"


# ------------------------------------------------- a thread from an earlier Keel

SPEC = SpecialistSpec(name="sec", area="security", description="d", handles=("*.py",), tools=())
FINDING = {
    "file": "app.py",
    "line": 6,
    "severity": "high",
    "category": "security",
    "rule": "shell",
    "title": "os.system on input",
    "evidence": "os.system(cmd)",
    "confidence": 0.9,
}


def _model() -> ScriptedChatModel:
    plan = {
        "assignments": [{"specialist": "sec", "files": ["app.py"], "instructions": "look"}],
        "rationale": "r",
    }
    submit = {"findings": [FINDING], "summary": "done", "confidence": 0.9}
    return ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[{"name": "Plan", "args": plan, "id": "p1"}]),
            AIMessage("", tool_calls=[{"name": "submit_findings", "args": submit, "id": "s1"}]),
        ]
    )


def test_a_thread_paused_without_a_reviewed_state_resumes(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _model()
    graph = build_pipeline([SPEC], lambda _id: model).compile(
        checkpointer=InMemorySaver(), store=InMemoryStore()
    )
    config = _config("old")
    with monkeypatch.context() as old_keel:  # the report of a Keel that recorded nothing
        old_keel.setattr(report_node, "_reviewed", lambda state: (None, []))
        graph.invoke({"repo": str(repo)}, config, context=KeelContext())
    snap = graph.get_state(config)
    assert "reviewed" not in snap.values
    (pending,) = snap.interrupts
    assert pending.value["packet"]["reviewed"] is None
    decisions = [{"type": "approve"} for _ in pending.value["action_requests"]]
    values = graph.invoke(Command(resume={"decisions": decisions}), config, context=KeelContext())
    assert values["status"] == "done"
    results = _results(values)
    assert results["publish_review"]["status"] == "done"
    assert NOT_RECORDED in results["publish_review"]["detail"]
    assert "reviewed state not recorded" in values["report"]["markdown"]
    model.assert_complete()

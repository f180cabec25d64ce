"""The supervisor's plan check: salvage, drop, merge, and cover the scope by the globs.

A weak model's plan is malformed, empty, names specialists that do not exist or leaves
files out. Coverage is structural: the check sends every in-scope file to every specialist
whose globs handle it, and says so with a `validate` event; a complete plan passes unchanged.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore
from pydantic import ValidationError

from keel.graphs.pipeline import build_pipeline
from keel.graphs.review import SPECIALISTS
from keel.nodes.agents.plan_check import CheckedPlan, check_plan
from keel.nodes.agents.schemas import Plan, plan_schema
from keel.nodes.agents.specialist import SpecialistSpec
from keel.nodes.context import KeelContext
from tests.support.scripted import ScriptedChatModel


@tool
def scan(paths: list[str]) -> str:
    """Scan the files."""
    return json.dumps({"issues": [], "scanned": paths})


SEC = SpecialistSpec(name="sec", area="security", description="d", handles=("*",), tools=(scan,))
STY = SpecialistSpec(name="sty", area="style", description="d", handles=("*.py",), tools=(scan,))
TEAM = (SEC, STY)
SCOPE = ["app.py", "notes.md"]


def _plan_call(args: Any) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": "Plan", "args": args, "id": "p1"}])


def _check(args: Any, scope: list[str] = SCOPE, team: tuple[SpecialistSpec, ...] = TEAM) -> Any:
    """Parse `args` as the structured-output parser does (schema enum included), then check."""
    raw = _plan_call(args)
    try:
        plan: Plan | None = plan_schema([s.name for s in team]).model_validate(args)
        error: ValidationError | None = None
    except ValidationError as exc:
        plan, error = None, exc
    return check_plan(plan, raw, error, scope, team)


def _files(checked: CheckedPlan) -> dict[str, list[str]]:
    return {step["specialist"]: step["files"] for step in checked.steps}


def _reasons(checked: CheckedPlan) -> list[str]:
    assert all(
        (e["guard"], e["verdict"], e["agent"]) == ("validate", "nudge", "supervisor")
        for e in checked.events
    ), checked.events
    return [e["reason"] for e in checked.events]


def _assign(specialist: str, files: list[str], instructions: str = "look") -> dict[str, Any]:
    return {"specialist": specialist, "files": files, "instructions": instructions}


# ------------------------------------------------------------------ check_plan


def test_plan_covering_the_scope_passes_unchanged() -> None:
    checked = _check(
        {"assignments": [_assign("sty", ["app.py"], "lint"), _assign("sec", SCOPE, "vulns")]}
    )
    # sent in the team's order, with the model's own instructions
    assert [(s["specialist"], s["files"], s["instructions"]) for s in checked.steps] == [
        ("sec", SCOPE, "vulns"),
        ("sty", ["app.py"], "lint"),
    ]
    assert checked.events == [] and checked.blockers == []


def test_empty_plan_falls_back_to_the_globs() -> None:
    checked = _check({"assignments": [], "rationale": "nothing to do"})
    assert _files(checked) == {"sec": SCOPE, "sty": ["app.py"]}
    assert _reasons(checked) == [
        "plan repaired: the plan was empty; routed by the specialists' file globs (sec +2, sty +1)"
    ]
    assert checked.blockers == []
    assert checked.steps[0]["instructions"].startswith("Review 2 file(s) for security problems")


def test_invalid_plan_falls_back_to_the_globs() -> None:
    checked = _check({"assignments": "security please"})
    assert _files(checked) == {"sec": SCOPE, "sty": ["app.py"]}
    (reason,) = _reasons(checked)
    assert reason.startswith("plan repaired: no valid plan (1 validation error for Plan")
    assert reason.endswith("; routed by the specialists' file globs (sec +2, sty +1)")
    assert checked.blockers == []  # repaired: nothing blocks the review


def test_prose_instead_of_a_plan_falls_back() -> None:
    checked = check_plan(None, AIMessage("I would ask security."), None, SCOPE, TEAM)
    assert _files(checked) == {"sec": SCOPE, "sty": ["app.py"]}
    assert _reasons(checked) == [
        "plan repaired: no valid plan (no Plan tool call); routed by the specialists' file "
        "globs (sec +2, sty +1)"
    ]


def test_unknown_specialist_is_dropped_then_the_globs_route() -> None:
    checked = _check({"assignments": [_assign("1234567890", SCOPE)]})
    assert _files(checked) == {"sec": SCOPE, "sty": ["app.py"]}
    dropped, repaired = _reasons(checked)
    assert dropped == "plan checked: dropped unknown specialist '1234567890'"
    assert repaired.startswith("plan repaired: no valid plan (")
    assert repaired.endswith("(sec +2, sty +1)")


def test_well_formed_assignments_survive_a_bad_sibling() -> None:
    # the enum fails the whole plan; the valid assignment still carries the model's choice
    checked = _check(
        {"assignments": [_assign("sec", SCOPE, "vulns"), _assign("ghost", ["app.py"]), "junk"]}
    )
    sec, sty = checked.steps
    assert (sec["specialist"], sec["files"], sec["instructions"]) == ("sec", SCOPE, "vulns")
    # sty still gets the file its globs handle, with routed instructions
    assert (sty["specialist"], sty["files"]) == ("sty", ["app.py"])
    assert sty["instructions"].startswith("Review 1 file(s) for style problems")
    dropped, repaired = _reasons(checked)
    assert dropped == (
        "plan checked: dropped malformed assignment \"junk\"; unknown specialist 'ghost'"
    )
    assert repaired.startswith("plan repaired: no valid plan (")
    assert repaired.endswith(
        ", kept 1 well-formed assignment(s); routed by the specialists' file globs (sty +1)"
    )


def test_partial_plan_cannot_drop_a_specialist_from_a_file() -> None:
    checked = _check({"assignments": [_assign("sty", ["app.py"], "lint")]})
    # app.py went to sty only: sec handles it too, and notes.md went nowhere
    assert _files(checked) == {"sec": SCOPE, "sty": ["app.py"]}
    assert _reasons(checked) == [
        "plan repaired: 2 file(s) not given to every specialist that handles them (app.py, "
        "notes.md); routed by the specialists' file globs (sec +2)"
    ]
    assert checked.steps[1]["instructions"] == "lint"


def test_a_file_given_only_to_a_specialist_that_cannot_judge_it_is_covered() -> None:
    checked = _check({"assignments": [_assign("sty", SCOPE), _assign("sec", ["app.py"])]})
    # sty keeps notes.md (focus the plan may add); sec, which handles it, gets it too
    assert _files(checked) == {"sec": ["app.py", "notes.md"], "sty": SCOPE}
    assert _reasons(checked) == [
        "plan repaired: 1 file(s) not given to every specialist that handles them "
        "(notes.md); routed by the specialists' file globs (sec +1)"
    ]


SAMPLE_SCOPE = ["inventory/admin.py", "inventory/reports.py", "tests/test_reports.py"]


def test_all_files_to_style_only_gets_security_and_correctness() -> None:
    # measured with Qwen2.5-Coder-1.5B: every file to style, so security and correctness
    # never ran and the thread ended done with 0 findings
    plan = {"assignments": [_assign("style", SAMPLE_SCOPE, "check the style")]}
    checked = _check(plan, scope=SAMPLE_SCOPE, team=SPECIALISTS)
    assert _files(checked) == {
        "security": SAMPLE_SCOPE,
        "style": SAMPLE_SCOPE,
        "correctness": SAMPLE_SCOPE,
    }
    assert _reasons(checked) == [
        "plan repaired: 3 file(s) not given to every specialist that handles them "
        "(inventory/admin.py, inventory/reports.py, tests/test_reports.py); routed by the "
        "specialists' file globs (security +3, correctness +3)"
    ]
    instructions = {s["specialist"]: s["instructions"] for s in checked.steps}
    assert instructions["style"] == "check the style"
    assert instructions["security"].startswith("Review 3 file(s) for security problems")
    assert instructions["correctness"].startswith("Review 3 file(s) for correctness problems")


def test_complete_plan_for_the_review_team_records_no_event() -> None:
    plan = {
        "assignments": [
            _assign("security", SAMPLE_SCOPE, "injection"),
            _assign("style", SAMPLE_SCOPE, "lint"),
            _assign("correctness", SAMPLE_SCOPE, "bugs"),
        ]
    }
    checked = _check(plan, scope=SAMPLE_SCOPE, team=SPECIALISTS)
    assert checked.events == [] and checked.blockers == []
    assert [(s["specialist"], s["files"], s["instructions"]) for s in checked.steps] == [
        ("security", SAMPLE_SCOPE, "injection"),
        ("style", SAMPLE_SCOPE, "lint"),
        ("correctness", SAMPLE_SCOPE, "bugs"),
    ]


def test_extra_instructions_and_focus_are_kept_when_repaired() -> None:
    scope = [*SAMPLE_SCOPE, "README.md"]
    plan = {
        "assignments": [
            _assign("security", ["inventory/admin.py"], "the AWS key in admin.py"),
            _assign("security", ["README.md"], "secrets in docs"),
            _assign("correctness", ["tests/test_reports.py"], "does the test assert anything?"),
        ]
    }
    checked = _check(plan, scope=scope, team=SPECIALISTS)
    steps = {s["specialist"]: s for s in checked.steps}
    # the model's files first, in its order; the files its plan left out appended
    assert steps["security"]["files"] == [
        "inventory/admin.py",
        "README.md",
        "inventory/reports.py",
        "tests/test_reports.py",
    ]
    assert steps["security"]["instructions"] == "the AWS key in admin.py\nsecrets in docs"
    assert steps["correctness"]["files"] == [
        "tests/test_reports.py",
        "inventory/admin.py",
        "inventory/reports.py",
    ]
    assert steps["correctness"]["instructions"] == "does the test assert anything?"
    assert steps["style"]["files"] == SAMPLE_SCOPE  # README.md is no style file
    assert _reasons(checked) == [
        "plan repaired: 3 file(s) not given to every specialist that handles them "
        "(inventory/reports.py, tests/test_reports.py, inventory/admin.py); routed by the "
        "specialists' file globs (security +2, style +3, correctness +2)"
    ]


def test_files_outside_the_scope_only_count_as_no_assignment() -> None:
    checked = _check({"assignments": [_assign("sec", ["/Users/me/app.py", "x.py"])]})
    assert _files(checked) == {"sec": SCOPE, "sty": ["app.py"]}
    assert _reasons(checked) == [
        "plan checked: dropped 2 file(s) outside the scope: ['/Users/me/app.py', 'x.py']",
        "plan repaired: the plan assigned no file in scope; routed by the specialists' file "
        "globs (sec +2, sty +1)",
    ]


def test_assignments_to_one_specialist_merge_into_one_step() -> None:
    checked = _check(
        {
            "assignments": [
                _assign("sec", ["app.py"], "a"),
                _assign("sec", ["notes.md", "app.py"], "b"),
                _assign("sty", ["app.py"]),
            ]
        }
    )
    assert [(s["id"], s["files"], s["instructions"]) for s in checked.steps] == [
        ("sec", SCOPE, "a\nb"),
        ("sty", ["app.py"], "look"),
    ]
    assert checked.events == []


def test_nothing_routable_goes_to_the_report() -> None:
    scope = ["notes.md"]  # sty handles only *.py
    invalid = _check({"assignments": 3}, scope=scope, team=(STY,))
    assert invalid.steps == [] and invalid.events == []
    (blocker,) = invalid.blockers
    assert blocker.startswith("supervisor: no valid plan (")
    empty = _check({"assignments": []}, scope=scope, team=(STY,))
    assert (empty.steps, empty.events, empty.blockers) == ([], [], [])


# ------------------------------------------------------------------ through the pipeline


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.email", "t@example.com")
    _git(root, "config", "user.name", "t")
    (root / "README.md").write_text("demo\n")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "one")
    (root / "app.py").write_text("x = 1\n")
    (root / "notes.md").write_text("notes\n")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "two")
    return root


def _submit() -> AIMessage:
    args = {"findings": [], "summary": "nothing", "confidence": 0.9}
    return AIMessage("", tool_calls=[{"name": "submit_findings", "args": args, "id": "s1"}])


def test_pipeline_runs_the_globs_routing_after_an_unknown_specialist(repo: Path) -> None:
    # one reply per specialist after the plan: both must run although the plan named none
    model = ScriptedChatModel(
        responses=[_plan_call({"assignments": [_assign("1", ["app.py"])]}), _submit(), _submit()]
    )
    graph = build_pipeline(list(TEAM), lambda _id: model).compile(
        checkpointer=InMemorySaver(), store=InMemoryStore()
    )
    config: RunnableConfig = {"configurable": {"thread_id": "p1"}}
    graph.invoke({"repo": str(repo)}, config, context=KeelContext())
    result = graph.get_state(config).values
    assert result["status"] == "done"
    assert sorted(h["source"] for h in result["handoffs"]) == ["sec", "sty"]
    assert {s["id"]: (s["files"], s["status"]) for s in result["plan"]} == {
        "sec": (SCOPE, "done"),
        "sty": (["app.py"], "done"),
    }
    assert result["usage"]["model_calls"] == 3
    assert [(e["guard"], e["verdict"]) for e in result["guard_events"]] == [
        ("validate", "nudge"),
        ("validate", "nudge"),
    ]
    assert result["guard_events"][1]["reason"].startswith("plan repaired: no valid plan (")
    assert result["blockers"] == []
    # the report shows the repair, so a reader knows the routing was not the model's
    assert "plan repaired" in result["report"]["markdown"]
    model.assert_complete()

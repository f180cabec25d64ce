"""A fourth specialist is one `SpecialistSpec` plus its tools (issue 14, "one vocabulary").

The review workflow's team with a `docs` specialist added — a new area, so a new category —
runs end to end on a real git repository with the offline policy model: the plan, the
task's wording, the submission's categories and the report all follow from the team.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.prebuilt import ToolRuntime
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command
from pydantic import ValidationError

from keel.core.vocabulary import Effect, team_areas
from keel.graphs.pipeline import build_pipeline, check_team
from keel.graphs.review import SPECIALISTS, build_review_graph
from keel.nodes.actions import proposable_by
from keel.nodes.agents.schemas import submission_schema
from keel.nodes.agents.specialist import SpecialistSpec
from keel.nodes.context import KeelContext
from keel.offline import OfflinePolicyModel
from keel.tools.agent_tools import read_file
from keel.tools.issues import make_issue
from tests.support.gitrepo import two_commit_repo

UNDOCUMENTED = '''"""Pricing helpers."""


def total(prices):
    return sum(prices)


def mean(prices):
    """The average price."""
    return total(prices) / len(prices)
'''


@tool
def check_docstrings(runtime: ToolRuntime[Any, Any], paths: list[str] | None = None) -> str:  # noqa: D417 - runtime is injected
    """Find Python functions and classes without a docstring.

    Args:
        paths: Repository-relative Python files.

    Returns:
        JSON {"issues": [issue]}: one issue per undocumented function or class.
    """
    root = Path(str(runtime.state["repo"]))
    issues = []
    for path in paths or []:
        if not path.endswith(".py"):
            continue
        tree = ast.parse((root / path).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            defines = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
            if isinstance(node, defines) and ast.get_docstring(node) is None:
                issues.append(
                    make_issue(
                        root,
                        tool="docstrings",
                        rule="missing-docstring",
                        file=path,
                        line=node.lineno,
                        message=f"{node.name} has no docstring",
                        severity="low",
                        category="docs",
                        confidence=0.9,
                    )
                )
    return json.dumps({"issues": issues, "count": len(issues)})


check_docstrings.metadata = {"effect": Effect.READ.value}

DOCS = SpecialistSpec(
    name="docs",
    area="docs",
    description="You find public functions and classes without documentation.",
    handles=("*.py", "*.md"),
    tools=(read_file, check_docstrings),
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return two_commit_repo(tmp_path / "repo", {"README.md": "demo\n"}, {"pricing.py": UNDOCUMENTED})


def test_a_docs_specialist_reports_under_its_own_category_end_to_end(repo: Path) -> None:
    team = (*SPECIALISTS, DOCS)
    builder = build_review_graph(lambda _id: OfflinePolicyModel(), specialists=team)
    graph = builder.compile(checkpointer=InMemorySaver(), store=InMemoryStore())
    config = {"configurable": {"thread_id": "docs-1"}}
    graph.invoke({"repo": str(repo)}, config, context=KeelContext())
    values = graph.get_state(config).values

    # the task's wording and the plan follow from the team
    assert values["task"]["goal"].endswith("for security, style, correctness and docs problems.")
    docs_step = next(step for step in values["plan"] if step["specialist"] == "docs")
    assert docs_step["files"] == ["pricing.py"] and docs_step["status"] == "done"
    assert {step["specialist"] for step in values["plan"]} == {s.name for s in team}
    assert [e for e in values.get("guard_events", []) if e["guard"] == "validate"] == []

    # its finding reaches the blackboard and the report under the new category
    (docs,) = [f for f in values["findings"] if f["category"] == "docs"]
    assert (docs["file"], docs["line"], docs["rule"]) == ("pricing.py", 4, "missing-docstring")
    assert docs["specialist"] == "docs" and docs["evidence"] == "def total(prices):"
    report = values["report"]
    assert docs["id"] in {f["id"] for f in report["data"]["shown"]}
    assert "`pricing.py:4` · docs · rule `missing-docstring` · docs" in report["markdown"]
    assert "docs" in {h["source"] for h in values["handoffs"]}

    # the gate asks (publishing the review is a write); approving writes the report
    (interrupt,) = graph.get_state(config).interrupts
    names = [r["name"] for r in interrupt.value["action_requests"]]
    assert "publish_review" in names
    result = graph.invoke(
        Command(resume={"decisions": [{"type": "approve"} for _ in names], "reviewer": "ana"}),
        config,
        context=KeelContext(),
    )
    assert result["status"] == "done"
    published = (repo / "KEEL_REVIEW.md").read_text(encoding="utf-8")
    assert "pricing.py:4` · docs · rule `missing-docstring`" in published


def test_the_team_decides_the_categories_a_submission_admits() -> None:
    areas = team_areas((*SPECIALISTS, DOCS))
    assert areas == ("security", "style", "correctness", "docs")
    schema = submission_schema(areas)
    finding = {"file": "a.py", "line": 1, "severity": "low", "title": "t"}
    submitted = {"summary": "s", "confidence": 0.5}
    ok = schema.model_validate({**submitted, "findings": [finding | {"category": "docs"}]})
    assert ok.findings[0].category == "docs"
    with pytest.raises(ValidationError, match="category"):
        schema.model_validate({**submitted, "findings": [finding | {"category": "perf"}]})
    assert schema.model_json_schema()["$defs"]["ReportedFinding"]["properties"]["category"][
        "enum"
    ] == list(areas)
    # what a specialist may propose is the action registry's
    assert proposable_by("specialist") == ("run_tests",)


def test_a_team_whose_tool_writes_is_refused() -> None:
    @tool
    def fix_docs(paths: list[str]) -> str:
        """Write docstrings."""
        return "{}"

    fix_docs.metadata = {"effect": Effect.WRITE.value}
    writer = SpecialistSpec(
        name="docs", area="docs", description="d", handles=("*.py",), tools=(fix_docs,)
    )
    with pytest.raises(ValueError, match="'fix_docs' declares the write effect"):
        build_pipeline([*SPECIALISTS, writer], lambda _id: OfflinePolicyModel())
    with pytest.raises(ValueError, match="pipeline nodes"):
        check_team([DOCS, SpecialistSpec("report", "docs", "d", ("*",), ())])
    with pytest.raises(ValueError, match="unique"):
        check_team([DOCS, DOCS])

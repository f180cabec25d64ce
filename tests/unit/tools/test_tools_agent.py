"""The agent tools, called the way a graph calls them: through a ToolNode."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from keel.sample import PLANTED
from keel.tools import Effect, effect_of
from keel.tools import agent_tools as at

ToolCaller = Callable[..., dict[str, Any]]


def test_every_tool_is_read_only_and_hides_the_runtime() -> None:
    for t in at.ALL_TOOLS:
        assert effect_of(t) is Effect.READ
        assert "runtime" not in t.tool_call_schema.model_json_schema().get("properties", {})
    assert [t.name for t in at.CORRECTNESS_TOOLS] == [
        "read_file",
        "search_code",
        "git_diff",
        "list_tests",
    ]
    assert {t.name for t in at.SECURITY_TOOLS} >= {"run_bandit", "scan_secrets", "run_semgrep"}
    assert "run_ruff" in {t.name for t in at.STYLE_TOOLS}


def test_git_diff(call_tool: ToolCaller, sample: Path) -> None:
    result = call_tool(sample, "git_diff")
    assert set(result) == {"diff", "files", "truncated"}
    assert "inventory/admin.py" in result["files"] and not result["truncated"]
    assert "+import json" in result["diff"]
    only = call_tool(sample, "git_diff", paths=["tests/test_reports.py"])
    assert "inventory/admin.py" not in only["diff"]


def test_read_file_and_search(call_tool: ToolCaller, sample: Path) -> None:
    result = call_tool(sample, "read_file", path="inventory/reports.py", start_line=5, end_line=6)
    assert result["content"].splitlines() == ["   5| import json", "   6| import sqlite3"]
    hits = call_tool(sample, "search_code", pattern="shell=True", glob="**/*.py")
    assert hits["count"] == 1 and hits["matches"][0]["file"] == "inventory/admin.py"


def test_analyzers_default_to_the_changed_files(call_tool: ToolCaller, sample: Path) -> None:
    for name, kind in [
        ("run_bandit", "shell-injection"),
        ("scan_secrets", "hardcoded-secret"),
        ("run_ruff", "unused-import"),
        ("run_semgrep", "path-traversal"),
    ]:
        result = call_tool(sample, name)
        assert set(result) == {"issues", "count", "truncated"}, result
        assert result["count"] == len(result["issues"]) and not result["truncated"]
        found = {(i["file"], i["line"]) for i in result["issues"]}
        spots = {(p["file"], p["line"]) for p in PLANTED if p["kind"] == kind}
        assert spots <= found, (name, result)


def test_list_tests(call_tool: ToolCaller, sample: Path) -> None:
    result = call_tool(sample, "list_tests")
    assert result["tests"] == [
        "tests/test_pricing.py",
        "tests/test_reports.py",
        "tests/test_store.py",
    ]


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("read_file", {"path": "../../../etc/passwd"}),
        ("read_file", {"path": "/etc/passwd"}),
        ("read_file", {"path": "inventory/missing.py"}),
        ("git_diff", {"paths": ["../outside.py"]}),
        ("run_bandit", {"paths": ["../outside.py"]}),
        ("scan_secrets", {"paths": ["/etc"]}),
        ("run_semgrep", {"paths": ["../.."]}),
        ("run_ruff", {"paths": ["../x.py"]}),
        ("search_code", {"pattern": ""}),
    ],
)
def test_bad_input_is_a_json_error(
    call_tool: ToolCaller, sample: Path, name: str, args: dict[str, Any]
) -> None:
    result = call_tool(sample, name, **args)
    assert set(result) == {"error"} and result["error"]


def test_missing_repository_is_a_json_error(call_tool: ToolCaller, tmp_path: Path) -> None:
    assert "repository not found" in call_tool(tmp_path / "nope", "list_tests")["error"]
    plain = tmp_path / "plain"
    plain.mkdir()
    assert call_tool(plain, "git_diff") == {"error": f"not a git repository: {plain}"}


def test_missing_analyzer_is_a_json_error(
    call_tool: ToolCaller, sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEL_SEMGREP", "/nonexistent/semgrep")
    result = call_tool(sample, "run_semgrep", paths=["inventory"])
    assert "make tools" in result["error"]


def test_output_is_capped(call_tool: ToolCaller, make_repo: Any) -> None:
    root = make_repo({f"m{i}.py": f"import os{i}\n" + "x = 1\n" * 3 for i in range(400)})
    result = call_tool(root, "run_ruff", paths=["."])
    assert result["truncated"] and result["count"] == 400 and len(result["issues"]) < 400
    assert len(json.dumps(result)) <= at.MAX_OUTPUT_CHARS
    diff = call_tool(root, "git_diff")
    assert diff["truncated"] and "truncated" in diff["diff"][-200:]
    assert len(json.dumps(diff, ensure_ascii=False)) <= at.MAX_OUTPUT_CHARS

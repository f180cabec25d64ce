"""The offline policy model: a real chat model whose output comes only from its inputs."""

from __future__ import annotations

import json

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from keel.nodes.agents.schemas import SUBMIT_TOOL, Plan
from keel.offline import OfflinePolicyModel, extract_brief


def _brief(**data: object) -> str:
    return "Task\n```json\n" + json.dumps(data) + "\n```"


@tool
def scan(paths: list[str]) -> str:
    """Scan files."""
    return "{}"


@tool
def lookup(pattern: str) -> str:
    """Needs an argument the brief cannot supply."""
    return "{}"


def test_plan_assigns_files_by_glob() -> None:
    brief = _brief(
        files=["app.py", "README.md"],
        specialists=[{"name": "sec", "handles": ["*"]}, {"name": "lint", "handles": ["*.py"]}],
    )
    result = OfflinePolicyModel().with_structured_output(Plan, include_raw=True).invoke(brief)
    plan = result["parsed"]
    assert [(a.specialist, a.files) for a in plan.assignments] == [
        ("sec", ["app.py", "README.md"]),
        ("lint", ["app.py"]),
    ]
    usage = result["raw"].usage_metadata
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0


def test_plan_without_brief_is_empty() -> None:
    plan = OfflinePolicyModel().with_structured_output(Plan).invoke("no brief here")
    assert plan.assignments == []


def test_tool_loop_calls_fillable_tools_then_submits_what_tools_returned() -> None:
    model = OfflinePolicyModel().bind_tools([scan, lookup, SUBMIT_TOOL])
    messages: list = [HumanMessage(_brief(files=["a.py"]))]
    first = model.invoke(messages)
    assert [(c["name"], c["args"]) for c in first.tool_calls] == [("scan", {"paths": ["a.py"]})]
    issue = {
        "file": "a.py",
        "line": 3,
        "end_line": 4,
        "severity": "high",
        "category": "security",
        "rule": "B602",
        "message": "shell=True",
        "code": "run(x, shell=True)",
        "confidence": 0.9,
        "tool": "bandit",
    }
    messages += [
        first,
        ToolMessage(
            json.dumps({"issues": [issue], "tests": ["tests/test_a.py"]}),
            tool_call_id=first.tool_calls[0]["id"],
            name="scan",
        ),
    ]
    second = model.invoke(messages)
    (call,) = second.tool_calls
    assert call["name"] == "submit_findings"
    (finding,) = call["args"]["findings"]
    assert (finding["file"], finding["line"], finding["end_line"], finding["rule"]) == (
        "a.py",
        3,
        4,
        "B602",
    )
    assert finding["sources"] == ["bandit"]
    assert call["args"]["proposed_actions"][0]["name"] == "run_tests"
    assert call["args"]["confidence"] == 0.85


def test_tool_errors_lower_confidence_and_become_open_questions() -> None:
    model = OfflinePolicyModel().bind_tools([scan, SUBMIT_TOOL])
    messages: list = [HumanMessage(_brief(files=["a.py"]))]
    first = model.invoke(messages)
    messages += [
        first,
        ToolMessage(
            json.dumps({"error": "semgrep missing"}),
            tool_call_id=first.tool_calls[0]["id"],
            name="scan",
        ),
    ]
    args = model.invoke(messages).tool_calls[0]["args"]
    assert args["findings"] == []
    assert args["confidence"] == 0.6
    assert args["open_questions"] == ["scan failed: semgrep missing"]


def test_deterministic() -> None:
    messages = [HumanMessage(_brief(files=["x.py", "y.py"]))]
    model = OfflinePolicyModel().bind_tools([scan, SUBMIT_TOOL])
    assert model.invoke(messages).tool_calls == model.invoke(messages).tool_calls


def test_plain_chat_without_tools() -> None:
    reply = OfflinePolicyModel().invoke("hello")
    assert isinstance(reply, AIMessage)
    assert "offline" in reply.content


def test_extract_brief_skips_tool_messages_and_bad_json() -> None:
    messages = [
        HumanMessage(_brief(files=["a"])),
        ToolMessage('```json\n{"files": ["evil"]}\n```', tool_call_id="1"),
        HumanMessage("```json\n{not json}\n```"),
    ]
    assert extract_brief(messages) == {"files": ["a"]}


def test_compressed_notes_count_as_called_tools_and_results() -> None:
    from keel.nodes.guards.compress import fold

    first = AIMessage("", tool_calls=[{"name": "scan", "args": {"paths": ["a.py"]}, "id": "c1"}])
    issue = {
        "file": "a.py",
        "line": 7,
        "severity": "high",
        "category": "security",
        "rule": "B602",
        "message": "shell=True",
        "tool": "bandit",
        "confidence": 0.9,
    }
    result = ToolMessage(json.dumps({"issues": [issue]}), tool_call_id="c1", name="scan")
    summary = fold("", [first, result])
    messages = [HumanMessage(_brief(files=["a.py"])), HumanMessage(summary)]
    reply = OfflinePolicyModel().bind_tools([scan, SUBMIT_TOOL]).invoke(messages)
    (call,) = reply.tool_calls
    assert call["name"] == "submit_findings"  # scan is not called again
    (finding,) = call["args"]["findings"]
    assert (finding["file"], finding["line"], finding["rule"]) == ("a.py", 7, "B602")


def test_forced_submission_still_reports_tool_results() -> None:
    model = OfflinePolicyModel().bind_tools([scan, SUBMIT_TOOL])
    messages: list = [HumanMessage(_brief(files=["a.py"]))]
    first = model.invoke(messages)
    issue = {
        "file": "a.py",
        "line": 2,
        "severity": "low",
        "category": "style",
        "rule": "F401",
        "message": "unused",
        "tool": "ruff",
    }
    messages += [
        first,
        ToolMessage(
            json.dumps({"issues": [issue]}), tool_call_id=first.tool_calls[0]["id"], name="scan"
        ),
    ]
    forced = OfflinePolicyModel().bind_tools([scan, SUBMIT_TOOL], tool_choice="submit_findings")
    (call,) = forced.invoke(messages).tool_calls
    assert call["name"] == "submit_findings"
    assert [f["rule"] for f in call["args"]["findings"]] == ["F401"]


def test_plan_schema_limits_specialists_to_real_names() -> None:
    import pydantic

    from keel.nodes.agents.schemas import plan_schema

    schema = plan_schema(["security", "style"])
    bad = {"assignments": [{"specialist": "1234567890", "files": [], "instructions": ""}]}
    try:
        schema.model_validate(bad)
    except pydantic.ValidationError:
        pass
    else:
        raise AssertionError("an unknown specialist must not validate")
    enum = schema.model_json_schema()["$defs"]["Assignment"]["properties"]["specialist"]["enum"]
    assert enum == ["security", "style"]

"""Tool calls a local model wrote as text are recovered; broken ones reach the guards."""

from __future__ import annotations

from langchain_core.messages import AIMessage

from keel.toolcalls import SOURCE_KEY, recover_tool_calls, with_recovered_calls

TOOLS = {"run_bandit", "submit_findings"}


def test_a_fenced_call_followed_by_prose_is_recovered() -> None:
    text = (
        '```json\n{"name": "run_bandit", "arguments": {"paths": ["app.py"]}}\n```\n'
        "**Explanation**: this scans the file."
    )
    calls, invalid = recover_tool_calls(text, TOOLS)
    assert [(c["name"], c["args"]) for c in calls] == [("run_bandit", {"paths": ["app.py"]})]
    assert invalid == []


def test_tagged_calls_win_and_string_arguments_are_decoded() -> None:
    text = (
        'Sure. <tool_call>\n{"name": "run_bandit", "arguments": "{\\"paths\\": []}"}\n'
        '</tool_call><tool_call>{"name": "submit_findings", "arguments": {"findings": [], '
        '"summary": "s", "confidence": 0.5}}'  # the second block is not closed
    )
    calls, _ = recover_tool_calls(text, TOOLS)
    assert [c["name"] for c in calls] == ["run_bandit", "submit_findings"]
    assert calls[0]["args"] == {"paths": []}
    assert calls[0]["id"] != calls[1]["id"]


def test_a_bare_object_with_parameters_is_recovered() -> None:
    calls, _ = recover_tool_calls('I will call {"name": "run_bandit", "parameters": {}} now', TOOLS)
    assert [c["name"] for c in calls] == ["run_bandit"]


def test_broken_json_naming_a_tool_is_an_invalid_call_with_the_error() -> None:
    calls, invalid = recover_tool_calls('{"name": "run_bandit", "arguments": {not json,}', TOOLS)
    assert calls == []
    [bad] = invalid
    assert bad["name"] == "run_bandit" and "not JSON" in (bad["error"] or "")


def test_objects_that_name_no_offered_tool_stay_text() -> None:
    text = 'Example: {"name": "rm_rf", "arguments": {}} and {"a": 1}'
    assert recover_tool_calls(text, TOOLS) == ([], [])


def test_native_calls_are_left_alone_and_the_source_is_recorded() -> None:
    native = AIMessage("", tool_calls=[{"name": "run_bandit", "args": {}, "id": "n1"}])
    assert with_recovered_calls(native, TOOLS).response_metadata[SOURCE_KEY] == "native"
    prose = with_recovered_calls(AIMessage("No problems found."), TOOLS)
    assert prose.response_metadata[SOURCE_KEY] == "none" and prose.tool_calls == []
    written = with_recovered_calls(AIMessage('{"name": "run_bandit", "arguments": {}}'), TOOLS)
    assert written.response_metadata[SOURCE_KEY] == "recovered"
    assert [c["name"] for c in written.tool_calls] == ["run_bandit"]


def _payload(mode: str, choice: str) -> dict[str, object]:
    from langchain_core.messages import HumanMessage
    from langchain_core.tools import tool

    from keel.models import _llama_cpp_chat

    @tool
    def run_bandit(paths: list[str]) -> str:
        """Scan."""
        return ""

    @tool
    def submit_findings(summary: str) -> str:
        """Submit."""
        return ""

    model = _llama_cpp_chat()(  # type: ignore[call-arg]
        model="m", base_url="http://127.0.0.1:9/v1", api_key="x", tool_calls_mode=mode
    )
    bound = model.bind_tools([run_bandit, submit_findings], tool_choice=choice)
    kwargs = dict(bound.kwargs)  # type: ignore[attr-defined]
    return model._get_request_payload([HumanMessage("go")], **kwargs)


def test_constrained_mode_decodes_a_must_call_turn_under_the_calls_schema() -> None:
    payload = _payload("constrained", "any")
    assert payload["tool_choice"] == "none"
    schema = payload["extra_body"]["response_format"]["json_schema"]["schema"]  # type: ignore[index]
    names = [option["properties"]["name"]["const"] for option in schema["anyOf"]]
    assert names == ["run_bandit", "submit_findings"]
    assert "response_format" not in payload  # top level would take langchain's strict path
    forced = _payload("constrained", "submit_findings")
    only = forced["extra_body"]["response_format"]["json_schema"]["schema"]  # type: ignore[index]
    assert only["properties"]["name"]["const"] == "submit_findings"
    assert [t["function"]["name"] for t in forced["tools"]] == ["submit_findings"]  # type: ignore[attr-defined]


def test_constrained_strings_and_arrays_are_bounded_so_a_repeating_model_closes_them() -> None:
    from keel.models import GRAMMAR_MAX_ITEMS, GRAMMAR_MAX_STRING

    payload = _payload("constrained", "any")
    schema = payload["extra_body"]["response_format"]["json_schema"]["schema"]  # type: ignore[index]
    bandit, submit = (option["properties"]["arguments"] for option in schema["anyOf"])
    assert bandit["properties"]["paths"]["maxItems"] == GRAMMAR_MAX_ITEMS
    assert bandit["properties"]["paths"]["items"]["maxLength"] == GRAMMAR_MAX_STRING
    assert submit["properties"]["summary"]["maxLength"] == GRAMMAR_MAX_STRING
    # the tools offered to the server keep their own schemas: only the grammar is bounded
    offered = [t["function"]["parameters"] for t in payload["tools"]]  # type: ignore[attr-defined]
    assert "maxLength" not in offered[1]["properties"]["summary"]


def test_native_mode_sends_required_and_offers_a_named_tool_alone() -> None:
    assert _payload("native", "any")["tool_choice"] == "required"
    forced = _payload("native", "submit_findings")
    assert forced["tool_choice"] == "required"
    assert [t["function"]["name"] for t in forced["tools"]] == ["submit_findings"]  # type: ignore[attr-defined]
    assert "response_format" not in (forced.get("extra_body") or {})  # type: ignore[operator]

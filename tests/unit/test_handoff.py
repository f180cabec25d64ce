"""Handoff styles: what a specialist receives from the supervisor (`KeelContext.handoff`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from keel.core.state import PlanStep, Task
from keel.graphs.pipeline import build_pipeline
from keel.nodes.agents.prompts import SPECIALIST_SYSTEM_PROMPT, SPECIALIST_TASK_PROMPT
from keel.nodes.agents.schemas import SUBMIT_TOOL
from keel.nodes.agents.specialist import SpecialistSpec, handoff_messages
from keel.nodes.context import HANDOFF_STYLES, KeelContext
from keel.nodes.guards.compress import fold
from keel.nodes.guards.policy import GuardPolicy
from keel.offline import OfflinePolicyModel, extract_brief, prose_files
from keel.settings import Settings, SettingsError
from tests.support.gitrepo import two_commit_repo

SCANNED: list[list[str]] = []


@tool
def scan(paths: list[str]) -> str:
    """Scan files for problems."""
    SCANNED.append(list(paths))
    return json.dumps({"issues": [], "scanned": paths})


SPEC = SpecialistSpec(
    name="sec", area="security", description="Finds vulnerabilities.", handles=("*",), tools=(scan,)
)
TASK = Task(
    goal="Review the change 1a2b3c..4d5e6f for security, correctness and style problems.",
    repo="/repo",
    mode="review",
    rev_range="1a2b3c..4d5e6f",
    staged=False,
)
STEP = PlanStep(
    id="sec",
    specialist="sec",
    files=["app/db.py", "docs/notes.md", ".env"],
    instructions="Review 3 file(s) for security problems with your tools.",
    status="active",
)


def _text(message: BaseMessage) -> str:
    assert isinstance(message.content, str)
    return message.content


def test_packet_is_the_structured_brief_unchanged() -> None:
    system, task = handoff_messages("packet", SPEC, TASK, STEP)
    assert isinstance(system, SystemMessage) and isinstance(task, HumanMessage)
    assert _text(system) == SPECIALIST_SYSTEM_PROMPT.format(
        name="sec", area="security", description="Finds vulnerabilities."
    )
    brief = "```json\n" + json.dumps({"files": STEP["files"]}, indent=1) + "\n```"
    assert _text(task) == SPECIALIST_TASK_PROMPT.format(
        goal=TASK["goal"], instructions=STEP["instructions"], brief=brief
    )
    assert extract_brief([system, task]) == {"files": STEP["files"]}


def test_summary_is_prose_only_and_names_every_file() -> None:
    system, task = handoff_messages("summary", SPEC, TASK, STEP)
    text = _text(task)
    assert "```" not in text and "{" not in text
    assert TASK["goal"] in text and STEP["instructions"] in text
    assert "Files: app/db.py, docs/notes.md, .env." in text
    assert extract_brief([system, task]) == {}
    # the offline model reads the files back from the prose (not the revision range)
    assert prose_files([system, task]) == STEP["files"]


def test_full_is_the_packet_plus_the_quoted_upstream_history() -> None:
    packet = handoff_messages("packet", SPEC, TASK, STEP)
    full = handoff_messages("full", SPEC, TASK, STEP)
    assert full[:2] == packet  # the opening the compressor keeps is the packet itself
    history = _text(full[2])
    lines = history.splitlines()[2:]
    assert lines and all(line == ">" or line.startswith("> ") for line in lines)
    assert "[intake] task fixed:" in history and '"rev_range": "1a2b3c..4d5e6f"' in history
    assert "You are the supervisor of a code review team." in history
    assert "[model → supervisor] plan:" in history and STEP["instructions"] in history
    assert "```" not in history  # the packet's brief stays the only fenced JSON
    assert extract_brief(full) == {"files": STEP["files"]}


def test_token_cost_orders_summary_packet_full() -> None:
    cost = {
        s: count_tokens_approximately(handoff_messages(s, SPEC, TASK, STEP)) for s in HANDOFF_STYLES
    }
    assert cost["summary"] < cost["packet"] < cost["full"]


def test_prose_files_is_a_generic_rule() -> None:
    notes = fold("", [])
    messages = [
        SystemMessage("Look at system.py"),
        HumanMessage("Check `src/a.py`, (b.txt); range HEAD~1..HEAD, version 3.11, Makefile."),
        HumanMessage(notes + " ignored.py"),
    ]
    # a word with a `/` or a dotted extension; not a range, a number, a bare name, a
    # system prompt or a compressor summary
    assert prose_files(messages) == ["src/a.py", "b.txt"]


def test_offline_model_calls_tools_with_the_files_of_a_prose_handoff() -> None:
    model = OfflinePolicyModel().bind_tools([scan, SUBMIT_TOOL])
    for style in HANDOFF_STYLES:
        reply = model.invoke(handoff_messages(style, SPEC, TASK, STEP))
        assert [(c["name"], c["args"]) for c in reply.tool_calls] == [
            ("scan", {"paths": STEP["files"]})
        ], style


def test_context_and_settings_validate_the_style(tmp_path: Path) -> None:
    assert KeelContext().handoff == "packet"
    with pytest.raises(ValueError, match="handoff must be one of"):
        KeelContext(handoff="everything")  # type: ignore[arg-type]
    context = KeelContext(handoff="full")
    assert KeelContext.from_dict(context.to_dict()).handoff == "full"
    assert KeelContext.from_dict({"model": "offline"}).handoff == "packet"  # older threads
    missing = tmp_path / "missing.env"
    settings = Settings.load({"KEEL_HANDOFF": "Summary"}, dotenv=missing)
    assert settings.run_context().handoff == "summary"
    assert Settings.load({}, dotenv=missing).handoff == "packet"
    with pytest.raises(SettingsError, match="KEEL_HANDOFF='all' is not one of"):
        Settings.load({"KEEL_HANDOFF": "all"}, dotenv=missing)


def _review(repo: Path, style: Any, policy: GuardPolicy) -> dict[str, Any]:
    graph = build_pipeline([SPEC], lambda _id: OfflinePolicyModel()).compile(
        checkpointer=InMemorySaver(), store=InMemoryStore()
    )
    config: Any = {"configurable": {"thread_id": f"handoff-{style}"}}
    return dict(
        graph.invoke({"repo": str(repo)}, config, context=KeelContext(handoff=style, guards=policy))
    )


@pytest.mark.parametrize("style", HANDOFF_STYLES)
def test_every_style_reaches_the_same_files_through_the_pipeline(
    tmp_path: Path, style: Any
) -> None:
    repo = two_commit_repo(
        tmp_path / "repo", {"README.md": "demo\n"}, {"app/db.py": "x = 1\n", "notes.md": "n\n"}
    )
    SCANNED.clear()
    aggressive = GuardPolicy(compress_at_tokens=100, compress_keep_last=2)
    result = _review(repo, style, aggressive)
    assert result["status"] == "done"
    assert SCANNED == [["app/db.py", "notes.md"]]
    compressed = [e for e in result["guard_events"] if e["guard"] == "compress"]
    # only the full handoff has something foldable besides the opening and the one tool
    # turn: its upstream history (a call is never separated from its results)
    assert bool(compressed) is (style == "full")

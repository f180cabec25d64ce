"""The real ChatOpenAI client over HTTP, through a specialist turn and a whole review.

The server is a local OpenAI-compatible HTTP server on 127.0.0.1 whose replies follow the
offline policy (or, for the malformed-output cases, never parse); the client is the
unpatched `langchain_openai.ChatOpenAI`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command

from keel.graphs.pipeline import build_pipeline
from keel.graphs.review import SPECIALISTS
from keel.models import chat_model
from keel.nodes.agents.specialist import build_specialist
from keel.nodes.context import KeelContext
from keel.sample import build_sample_repo
from keel.settings import Settings
from tests.support.offline_responder import offline_responder
from tests.support.openai_server import OpenAICompatServer, ResponderError, tool_call


def test_security_specialist_turn_over_http(tmp_path: Path) -> None:
    repo = build_sample_repo(tmp_path / "sample")
    with OpenAICompatServer(offline_responder) as server:
        settings = Settings.load(
            {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test"},
            dotenv=tmp_path / "none",
        )
        model = chat_model("openai-compatible:keel-offline", settings)
        security = next(s for s in SPECIALISTS if s.name == "security")
        graph = build_specialist(security, lambda _id: model)
        step = {
            "id": "security",
            "specialist": "security",
            "status": "active",
            "files": ["inventory/admin.py"],
            "instructions": "look for vulnerabilities",
        }
        task = {
            "goal": "review",
            "repo": str(repo),
            "mode": "review",
            "rev_range": None,
            "staged": False,
        }
        result = graph.invoke(
            {"repo": str(repo), "task": task, "step": step},
            context=KeelContext(model="openai-compatible:keel-offline"),
        )
        bodies = [r.body for r in server.requests]

    # turn 1 asked for the tools, turn 2 submitted what they returned
    assert len(bodies) == 2
    offered = {t["function"]["name"] for t in bodies[0]["tools"]}
    assert offered == {t.name for t in security.tools} | {"submit_findings"}
    assert {"run_bandit", "scan_secrets", "run_semgrep"} <= offered
    tool_results = [m for m in bodies[1]["messages"] if m["role"] == "tool"]
    lines = {(f["file"], f["line"]) for f in result["findings"]}
    assert ("inventory/admin.py", 16) in lines  # shell=True
    assert ("inventory/admin.py", 10) in lines  # hardcoded key
    usage = result["usage"]
    assert usage["model_calls"] == 2 and usage["tool_calls"] == len(tool_results) >= 3
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert result["handoffs"][0]["source"] == "security"


def test_cli_review_against_openai_compatible_server(tmp_path: Path) -> None:
    repo = build_sample_repo(tmp_path / "sample")
    with OpenAICompatServer(offline_responder) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
        env |= {
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": "test",
            "KEEL_HOME": str(tmp_path / "home"),
            "KEEL_MODEL": "openai-compatible:local",
        }
        proc = subprocess.run(
            [sys.executable, "-m", "keel.cli", "review", str(repo), "--no-input", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        requests = len(server.requests)
    assert proc.returncode == 3, proc.stderr
    report = json.loads(proc.stdout)["report"]
    assert report["model"] == "openai-compatible:local" and report["offline"] is False
    assert report["usage"]["model_calls"] == requests == 7  # 1 plan + 3 specialists x 2 turns
    assert any(f["file"] == "inventory/reports.py" and f["line"] == 12 for f in report["findings"])


# ------------------------------------------------------------------ malformed tool calls

NOT_JSON = "{not json,"


def _refuse_what_servers_refuse(messages: list[dict[str, Any]]) -> None:
    """Refuse a history real servers refuse.

    llama.cpp's server answers 500 to arguments that are not a JSON object; OpenAI answers
    400 to an assistant tool call without its tool answer.
    """
    calls = [c for m in messages if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    for call in calls:
        try:
            parsed = json.loads(call["function"]["arguments"])
        except (TypeError, ValueError):
            parsed = None
        if not isinstance(parsed, dict):
            raise ResponderError(500, "Failed to parse tool call arguments as JSON")
    answered = sorted(m["tool_call_id"] for m in messages if m["role"] == "tool")
    if answered != sorted(c["id"] for c in calls):
        raise ResponderError(400, "an assistant tool call has no tool answer")


def _never_parses(body: dict[str, Any]) -> dict[str, Any]:
    """A valid plan; then, for every specialist turn, a tool call whose arguments are not JSON."""
    _refuse_what_servers_refuse(body["messages"])
    names = [t["function"]["name"] for t in body.get("tools") or []]
    if "Plan" in names:
        return offline_responder(body)
    return {"content": None, "tool_calls": [tool_call(names[0], NOT_JSON)]}


def test_malformed_tool_calls_over_http_stop_the_specialist_in_four_turns(
    tmp_path: Path,
) -> None:
    repo = build_sample_repo(tmp_path / "sample")
    security = next(s for s in SPECIALISTS if s.name == "security")
    with OpenAICompatServer(_never_parses) as server:
        settings = Settings.load(
            {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test"},
            dotenv=tmp_path / "none",
        )
        model = chat_model("openai-compatible:local", settings)
        graph = build_pipeline([security], lambda _id: model).compile(
            checkpointer=InMemorySaver(), store=InMemoryStore()
        )
        config: RunnableConfig = {"configurable": {"thread_id": "malformed"}}
        context = KeelContext(model="openai-compatible:local")
        graph.invoke({"repo": str(repo)}, config, context=context)
        # plan + 3 malformed turns (nudge, nudge, escalate): a human is asked
        assert len(server.chat_requests) == 4
        (ask,) = graph.get_state(config).interrupts
        assert ask.value["packet"]["guard"] == "tool_misuse"
        approve = {"decisions": [{"type": "approve"}], "reviewer": "r"}
        graph.invoke(Command(resume={ask.id: approve}), config, context=context)
        (gate,) = graph.get_state(config).interrupts  # the halt's zero-confidence handoff
        result = graph.invoke(
            Command(resume={gate.id: {"decisions": [{"type": "approve"}]}}),
            config,
            context=context,
        )
        bodies = server.chat_requests
    assert len(bodies) == 5  # plan + 4 turns: halted on the fourth
    assert result["status"] == "halted"
    events = [(e["guard"], e["verdict"]) for e in result["guard_events"]]
    assert events == [
        ("tool_misuse", "nudge"),
        ("tool_misuse", "nudge"),
        ("tool_misuse", "escalate"),
        ("tool_misuse", "halt"),
    ]
    first = result["guard_events"][0]["reason"]
    assert first.startswith("1 invalid tool call(s): ") and "not JSON" in first
    assert repr(NOT_JSON) in first
    # every request after a malformed turn was valid: the call went back with JSON
    # arguments and its id answered with the parse error
    last = bodies[-1]["messages"]
    sent = [c for m in last if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    assert len(sent) == 3 and all(c["function"]["arguments"] == "{}" for c in sent)
    answers = [m for m in last if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in answers] == [c["id"] for c in sent]
    assert all(NOT_JSON in m["content"] for m in answers)


def test_cli_review_with_malformed_tool_calls_is_bounded(tmp_path: Path) -> None:
    # measured before the guard: 61 model requests, stopped by the budget's 80% ask
    repo = build_sample_repo(tmp_path / "sample")
    with OpenAICompatServer(_never_parses) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "OPENAI_"))}
        env |= {
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": "test",
            "KEEL_HOME": str(tmp_path / "home"),
            "KEEL_MODEL": "openai-compatible:local",
        }
        proc = subprocess.run(
            [sys.executable, "-m", "keel.cli", "review", str(repo), "--no-input", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        requests = len(server.chat_requests)
    assert proc.returncode == 3, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["status"] == "awaiting_approval"
    # 1 plan + 3 specialists x 3 malformed turns, each specialist's tool_misuse guard asking
    assert requests == 10
    asking = sorted(
        (r["packet"]["guard"], r["packet"]["agent"]) for r in payload["review_requests"]
    )
    assert asking == [("tool_misuse", name) for name in ("correctness", "security", "style")]

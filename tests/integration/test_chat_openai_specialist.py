"""The real ChatOpenAI client over HTTP, through a specialist turn and a whole review.

The server is a local OpenAI-compatible HTTP server on 127.0.0.1 whose replies follow the
offline policy; the client is the unpatched `langchain_openai.ChatOpenAI`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from graphs.context import KeelContext
from graphs.review import SPECIALISTS
from keel.models import chat_model
from keel.sample import build_sample_repo
from keel.settings import Settings
from nodes.agents.specialist import build_specialist
from tests.support.offline_responder import offline_responder
from tests.support.openai_server import OpenAICompatServer


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

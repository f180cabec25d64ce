"""Fixtures for the tools tests: real git repositories built with the real ``git``."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pytest
from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode
from typing_extensions import TypedDict

from keel.sample import build_sample_repo

GitRunner = Callable[..., str]


def _git(root: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(root),
    }
    proc = subprocess.run(
        ["git", *args], cwd=root, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return proc.stdout


@pytest.fixture
def git() -> GitRunner:
    """Run a git command in a repository: ``git(root, "add", "-A")``."""
    return _git


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Create a git repository whose first commit holds the given files."""

    def make(files: dict[str, str]) -> Path:
        root = tmp_path / "repo"
        root.mkdir()
        _git(root, "init", "-q", "-b", "main")
        _git(root, "config", "user.name", "Test")
        _git(root, "config", "user.email", "test@example.com")
        _git(root, "config", "commit.gpgsign", "false")
        for name, text in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "-m", "first")
        return root.resolve()

    return make


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample repository, shared by tests that only read it."""
    return build_sample_repo(tmp_path_factory.mktemp("sample") / "repo")


@pytest.fixture
def fresh_sample(tmp_path: Path) -> Path:
    """A sample repository of this test's own, for tests that change it."""
    return build_sample_repo(tmp_path / "sample")


class _ToolState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    repo: str


@pytest.fixture(scope="session")
def call_tool() -> Callable[..., dict[str, Any]]:
    """Call one agent tool the way a graph does (ToolNode, ``repo`` in state); decode its JSON."""
    from keel.tools.agent_tools import ALL_TOOLS

    builder = StateGraph(_ToolState)
    builder.add_node("tools", ToolNode(ALL_TOOLS))
    builder.add_edge(START, "tools")
    builder.add_edge("tools", END)
    graph = builder.compile()

    def call(repo: Path | str, name: str, **args: Any) -> dict[str, Any]:
        message = AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": "c1"}])
        out = graph.invoke({"messages": [message], "repo": str(repo)})
        reply = out["messages"][-1]
        assert isinstance(reply, ToolMessage)
        assert isinstance(reply.content, str)
        result: dict[str, Any] = json.loads(reply.content)
        return result

    return call

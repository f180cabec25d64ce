"""`langgraph dev` without `KEEL_API_TOKENS`: an open server that says so.

Also the pure parts of the server glue (token parsing, reviewer resolution), which need
no server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph_sdk import get_sync_client
from typing_extensions import TypedDict

from keel._server_auth import parse_tokens
from keel.nodes.agents.review_gate import resolve_reviewer
from keel.sample import build_sample_repo
from tests.support.devserver import DevServer, resume, run_to_interrupt, same_decision


def test_open_server_warns_and_keeps_the_claimed_reviewer(tmp_path: Path) -> None:
    repo = build_sample_repo(tmp_path / "sample")
    with DevServer(workdir=tmp_path / "server") as server:
        client = get_sync_client(url=server.url)  # no token needed
        thread_id, request = run_to_interrupt(client, repo)
        values = resume(
            client,
            thread_id,
            {"decisions": same_decision(request, {"type": "reject"}), "reviewer": "ana"},
        )
        log = server.log()
    assert "KEEL_API_TOKENS is not set: the server is OPEN" in log
    assert "dev server's in-memory saver" in log
    assert values["status"] == "done"
    assert values["review"]["reviewer"] == "ana"


def test_parse_tokens() -> None:
    assert parse_tokens("t1:alice, t2:bob,") == {"t1": "alice", "t2": "bob"}
    assert parse_tokens("") == {}
    for bad in ("t1", "t1:", ":alice", "t1:a,t1:b"):
        with pytest.raises(ValueError, match="KEEL_API_TOKENS"):
            parse_tokens(bad)


class _S(TypedDict):
    reviewer: str


def _reviewer_under(configurable: dict[str, Any]) -> str:
    def node(state: _S) -> _S:
        return {"reviewer": resolve_reviewer(state["reviewer"])}

    builder = StateGraph(_S)
    builder.add_node("node", node)
    builder.add_edge(START, "node")
    builder.add_edge("node", END)
    graph = builder.compile()
    return str(graph.invoke({"reviewer": "claimed"}, {"configurable": configurable})["reviewer"])


class _User:
    identity = "alice"
    is_authenticated = True


def test_resolve_reviewer_prefers_the_authenticated_user() -> None:
    assert resolve_reviewer("claimed") == "claimed"  # outside a graph
    assert _reviewer_under({}) == "claimed"
    assert _reviewer_under({"langgraph_auth_user": None}) == "claimed"
    assert _reviewer_under({"langgraph_auth_user": _User()}) == "alice"
    assert _reviewer_under({"langgraph_auth_user": {"identity": "bob"}}) == "bob"
    open_user = {"identity": "anonymous", "is_authenticated": False}
    assert _reviewer_under({"langgraph_auth_user": open_user}) == "claimed"

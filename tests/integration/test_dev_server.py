"""The review graph served by the real `langgraph dev`, driven by the real langgraph-sdk.

One server for the module, with auth on (`KEEL_API_TOKENS`: alice, bob) and the dev
server's own persistence (no `KEEL_DATABASE_URL`). Every test reviews its own freshly
built sample repository: intake → specialists → report → interrupt at the review gate,
then resumes with `Command(resume=...)`. The default model is the deterministic offline
model, so no network is used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.client import SyncLangGraphClient

from keel.sample import build_sample_repo
from tests.support.devserver import (
    GRAPH,
    DevServer,
    resume,
    run_to_interrupt,
    same_decision,
)

ALICE, BOB = "alice-token-1", "bob-token-2"
SPECIALISTS = {"security", "style", "correctness"}
SPECIALIST_GUARDS = {
    "step_limit",
    "budget",
    "deadline",
    "compress",
    "tool_misuse",
    "loop",
    "drift",
    "validate",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """`langgraph dev` with two users; stopped (process group killed) after the module."""
    with DevServer(
        workdir=tmp_path_factory.mktemp("devserver"),
        env={"KEEL_API_TOKENS": f"{ALICE}:alice,{BOB}:bob"},
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def alice(server: DevServer) -> SyncLangGraphClient:
    return get_sync_client(url=server.url, headers=server.auth(ALICE))


@pytest.fixture(scope="module")
def bob(server: DevServer) -> SyncLangGraphClient:
    return get_sync_client(url=server.url, headers=server.auth(BOB))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return build_sample_repo(tmp_path / "sample")


# --- what Studio sees -------------------------------------------------------------------------


def test_async_client_lists_the_review_assistant_with_its_schemas(server: DevServer) -> None:
    async def fetch() -> tuple[list[Any], dict[str, Any]]:
        client = get_client(url=server.url, headers=server.auth(ALICE))
        found = await client.assistants.search(graph_id=GRAPH)
        return list(found), dict(await client.assistants.get_schemas(found[0]["assistant_id"]))

    assistants, schemas = asyncio.run(fetch())
    assert [a["graph_id"] for a in assistants] == [GRAPH]
    # input_schema = PipelineInput (Studio's input form)
    assert set(schemas["input_schema"]["properties"]) == {"repo", "mode", "rev_range", "staged"}
    assert schemas["input_schema"]["required"] == ["repo"]
    # context_schema = KeelContext (model, guard policy, review policy)
    context = schemas["context_schema"]["properties"]
    assert {"model", "guards", "review_min_severity", "review_confidence_threshold"} <= set(context)
    assert context["model"]["default"] == "offline"
    assert "status" in schemas["output_schema"]["properties"]


def test_graph_drawing_names_every_guard_and_specialist(alice: SyncLangGraphClient) -> None:
    drawing = alice.assistants.get_graph(GRAPH, xray=True)
    nodes = {node["id"] for node in drawing["nodes"]}
    assert {"intake", "supervisor", "report", "review_gate", "execute_actions"} <= nodes
    for specialist in SPECIALISTS:
        inner = {f"{specialist}:{name}" for name in {"agent", "tools", "finish"}}
        guards = {f"{specialist}:{guard}" for guard in SPECIALIST_GUARDS}
        assert inner | guards <= nodes, sorted((inner | guards) - nodes)
    flat = {node["id"] for node in alice.assistants.get_graph(GRAPH)["nodes"]}
    assert SPECIALISTS | {"review_gate"} <= flat
    assistant_id = alice.assistants.search(graph_id=GRAPH)[0]["assistant_id"]
    assert set(alice.assistants.get_subgraphs(assistant_id)) == SPECIALISTS


# --- interrupt and resume ---------------------------------------------------------------------


def test_interrupt_carries_the_hitl_request_and_packet(
    alice: SyncLangGraphClient, repo: Path
) -> None:
    thread_id, request = run_to_interrupt(alice, repo)
    assert alice.threads.get(thread_id)["status"] == "interrupted"
    names = [a["name"] for a in request["action_requests"]]
    assert "publish_review" in names
    assert [c["action_name"] for c in request["review_configs"]] == names
    assert all(
        c["allowed_decisions"] == ["approve", "edit", "reject", "respond"]
        for c in request["review_configs"]
    )
    packet = request["packet"]
    assert {"summary", "reasoning", "confidence", "evidence", "uncertainty", "triggers"} <= set(
        packet
    )
    assert packet["report_markdown"].startswith("# Keel review")
    assert any(t.startswith("rule: side effect proposed") for t in packet["triggers"])
    values = alice.threads.get_state(thread_id)["values"]
    assert values["status"] == "awaiting_approval"


def test_approve_runs_the_actions_and_records_the_authenticated_reviewer(
    alice: SyncLangGraphClient, repo: Path
) -> None:
    thread_id, request = run_to_interrupt(alice, repo)
    values = resume(
        alice,
        thread_id,
        # the claimed name is ignored: the reviewer is whoever holds the token
        {"decisions": same_decision(request, {"type": "approve"}), "reviewer": "mallory"},
    )
    assert values["status"] == "done"
    assert values["report"]["markdown"].startswith("# Keel review")
    assert values["review"]["reviewer"] == "alice"
    assert {r["name"]: r["status"] for r in values["action_results"]}["publish_review"] == "done"
    assert (repo / "KEEL_REVIEW.md").is_file()
    assert alice.threads.get(thread_id)["status"] == "idle"


def test_reject_touches_nothing(alice: SyncLangGraphClient, repo: Path) -> None:
    thread_id, request = run_to_interrupt(alice, repo)
    values = resume(
        alice,
        thread_id,
        {"decisions": same_decision(request, {"type": "reject", "message": "not now"})},
    )
    assert values["status"] == "done"
    assert values["report"]["markdown"]
    assert values["review"]["reviewer"] == "alice"
    assert all(d["type"] == "reject" for d in values["review"]["decisions"])
    assert not (repo / "KEEL_REVIEW.md").exists()


def test_edit_changes_the_publish_path(alice: SyncLangGraphClient, repo: Path) -> None:
    thread_id, request = run_to_interrupt(alice, repo)
    chosen: list[dict[str, Any]] = []
    for action in request["action_requests"]:
        if action["name"] == "publish_review":
            chosen.append(
                {
                    "type": "edit",
                    "edited_action": {"name": "publish_review", "args": {"path": "docs/R.md"}},
                }
            )
        else:
            chosen.append({"type": "reject", "message": "only the review"})
    values = resume(alice, thread_id, {"decisions": chosen})
    assert values["status"] == "done"
    results = {r["name"]: r for r in values["action_results"]}
    assert results["publish_review"]["status"] == "done"
    assert (repo / "docs" / "R.md").is_file()
    assert not (repo / "KEEL_REVIEW.md").exists()


def test_stream_updates_with_subgraphs_shows_specialists_and_their_nodes(
    alice: SyncLangGraphClient, repo: Path
) -> None:
    thread_id = str(alice.threads.create()["thread_id"])
    nodes: set[str] = set()
    namespaces: set[str] = set()
    for part in alice.runs.stream(
        thread_id, GRAPH, input={"repo": str(repo)}, stream_mode="updates", stream_subgraphs=True
    ):
        assert part.event != "error", part.data
        if part.event.startswith("updates"):
            nodes.update(part.data)
            if "|" in part.event:
                namespaces.add(part.event.split("|", 1)[1].split(":", 1)[0])
    assert {"intake", "supervisor", "report", "__interrupt__"} | SPECIALISTS <= nodes
    assert {"agent", "tools", "finish"} <= nodes  # inside the specialists' subgraphs
    assert namespaces == SPECIALISTS
    request = alice.threads.get_state(thread_id)["interrupts"][0]["value"]
    after: set[str] = set()
    for part in alice.runs.stream(
        thread_id,
        GRAPH,
        command={"resume": {"decisions": same_decision(request, {"type": "reject"})}},
        stream_mode="updates",
        stream_subgraphs=True,
    ):
        if part.event.startswith("updates"):
            after.update(part.data)
    assert {"review_gate", "finalize"} <= after


def test_guard_policy_from_the_run_context_fires_a_guard(
    alice: SyncLangGraphClient, repo: Path
) -> None:
    thread_id = str(alice.threads.create()["thread_id"])
    nodes: set[str] = set()
    for part in alice.runs.stream(
        thread_id,
        GRAPH,
        input={"repo": str(repo)},
        # one tool call allowed: the first turn's tool calls use it up, so the step-limit
        # guard stops each specialist before its second model call
        context={"guards": {"max_tool_calls": 1}},
        stream_mode="updates",
        stream_subgraphs=True,
    ):
        assert part.event != "error", part.data
        if part.event.startswith("updates"):
            nodes.update(part.data)
    assert "step_limit" in nodes


# --- auth -------------------------------------------------------------------------------------


def test_requests_without_a_valid_token_are_refused(server: DevServer) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": ALICE},  # no scheme
        {"x-auth-scheme": "langsmith"},  # Studio's no-token path is disabled
    ):
        response = httpx.post(f"{server.url}/threads/search", json={}, headers=headers)
        assert response.status_code == 401, (headers, response.text)
    assert httpx.get(f"{server.url}/ok").status_code == 200


def test_threads_are_private_to_their_creator(
    server: DevServer, alice: SyncLangGraphClient, bob: SyncLangGraphClient, repo: Path
) -> None:
    thread_id, request = run_to_interrupt(alice, repo)
    assert alice.threads.get(thread_id)["metadata"]["owner"] == "alice"
    headers = server.auth(BOB)
    approve = {"decisions": same_decision(request, {"type": "approve"}), "reviewer": "bob"}
    run = {"assistant_id": GRAPH, "command": {"resume": approve}}
    attempts = [
        ("GET", f"/threads/{thread_id}", None),
        ("GET", f"/threads/{thread_id}/state", None),
        ("POST", f"/threads/{thread_id}/history", {}),
        ("PATCH", f"/threads/{thread_id}", {"metadata": {"owner": "bob"}}),
        ("POST", f"/threads/{thread_id}/state", {"values": {"status": "done"}}),
        ("POST", f"/threads/{thread_id}/runs", run),
        ("POST", f"/threads/{thread_id}/runs/wait", run),
        ("GET", f"/threads/{thread_id}/runs", None),
        ("DELETE", f"/threads/{thread_id}", None),
    ]
    for method, path, body in attempts:
        response = httpx.request(method, f"{server.url}{path}", json=body, headers=headers)
        assert response.status_code in (403, 404), (method, path, response.status_code)
    assert thread_id not in {t["thread_id"] for t in bob.threads.search(limit=100)}
    assert thread_id in {t["thread_id"] for t in alice.threads.search(limit=100)}
    # still alice's, still waiting; alice approves it herself
    state = alice.threads.get_state(thread_id)
    assert state["next"] == ["review_gate"]
    assert alice.threads.get(thread_id)["metadata"]["owner"] == "alice"
    values = resume(alice, thread_id, approve)
    assert values["status"] == "done"
    assert values["review"]["reviewer"] == "alice"


def test_each_user_reviews_their_own_thread(
    bob: SyncLangGraphClient, alice: SyncLangGraphClient, repo: Path
) -> None:
    thread_id, request = run_to_interrupt(bob, repo)
    assert bob.threads.get(thread_id)["metadata"]["owner"] == "bob"
    assert thread_id not in {t["thread_id"] for t in alice.threads.search(limit=100)}
    values = resume(bob, thread_id, {"decisions": same_decision(request, {"type": "reject"})})
    assert values["review"]["reviewer"] == "bob"

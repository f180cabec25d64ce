"""`langgraph dev` started with `KEEL_*` settings: served runs default to them.

One open server for the module with `KEEL_GUARD_MAX_TOOL_CALLS=1` (the step-limit guard
stops each specialist after its first turn's tool calls) and
`KEEL_PUBLISH_PATH=docs/ENV_REVIEW.md`. A run without a context gets both; a run's
context overrides field by field, and a nested `guards` dict is merged key by key over
the server's guard policy. The offline model keeps it deterministic and fast (a review
takes a few seconds).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient

from keel.nodes.context import KeelContext, context_schema_with_defaults
from keel.nodes.guards.policy import GuardPolicy
from keel.sample import build_sample_repo
from tests.support.devserver import GRAPH, DevServer

ENV = {"KEEL_GUARD_MAX_TOOL_CALLS": "1", "KEEL_PUBLISH_PATH": "docs/ENV_REVIEW.md"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    with DevServer(workdir=tmp_path_factory.mktemp("devserver-settings"), env=ENV) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: DevServer) -> SyncLangGraphClient:
    return get_sync_client(url=server.url)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sample_repo(tmp_path_factory.mktemp("settings") / "sample")


def review(
    client: SyncLangGraphClient, repo: Path, context: dict[str, Any] | None = None
) -> tuple[set[str], list[str]]:
    """Run a review to the gate: (nodes that ran, specialists' included; publish paths)."""
    thread_id = str(client.threads.create()["thread_id"])
    nodes: set[str] = set()
    for part in client.runs.stream(
        thread_id,
        GRAPH,
        input={"repo": str(repo)},
        stream_mode="updates",
        stream_subgraphs=True,
        **({} if context is None else {"context": context}),
    ):
        assert part.event != "error", part.data
        if part.event.startswith("updates"):
            nodes.update(part.data)
    state = client.threads.get_state(thread_id)
    assert state["next"] == ["review_gate"], state["next"]
    paths = [
        action["args"]["path"]
        for interrupt in state["interrupts"]
        for action in interrupt["value"]["action_requests"]
        if action["name"] == "publish_review"
    ]
    return nodes, paths


def test_the_startup_log_and_the_studio_schema_show_the_servers_settings(
    server: DevServer, client: SyncLangGraphClient
) -> None:
    assert (
        "keel: served runs default to the server's settings: "
        "publish_path='docs/ENV_REVIEW.md', guards.max_tool_calls=1"
    ) in server.log()
    (assistant,) = client.assistants.search(graph_id=GRAPH)
    schema = client.assistants.get_schemas(assistant["assistant_id"])["context_schema"]
    assert schema["title"] == "KeelContext"
    assert schema["properties"]["publish_path"]["default"] == "docs/ENV_REVIEW.md"
    assert schema["properties"]["model"]["default"] == "offline"
    assert "guards" in schema["properties"]


def test_a_run_without_a_context_follows_the_servers_guard_policy(
    client: SyncLangGraphClient, repo: Path
) -> None:
    nodes, _ = review(client, repo)
    assert "step_limit" in nodes


def test_a_run_context_overrides_the_server_field_by_field(
    client: SyncLangGraphClient, repo: Path
) -> None:
    nodes, paths = review(client, repo, {"guards": {"max_tool_calls": 40}})
    assert "step_limit" not in nodes  # the run's guard wins
    assert paths == ["docs/ENV_REVIEW.md"]  # the server's publish path stays

    _, paths = review(client, repo, {"guards": {"max_tool_calls": 40}, "publish_path": "RUN.md"})
    assert paths == ["RUN.md"]


def test_a_partial_guards_dict_keeps_the_servers_other_guards(
    client: SyncLangGraphClient, repo: Path
) -> None:
    nodes, _ = review(client, repo, {"guards": {"loop_window": 12}})
    assert "step_limit" in nodes  # max_tool_calls=1 from the server, not the code's 40


# --- the schema itself, no server -------------------------------------------------------------


def test_context_schema_with_defaults_merges_over_the_defaults() -> None:
    defaults = KeelContext(
        model="openai:gpt-4o-mini",
        guards=GuardPolicy(budget_tokens=5000, max_tool_calls=3),
        review_sample_rate=0.25,
    )
    schema = context_schema_with_defaults(defaults)

    empty = schema()  # LangGraph: schema(**{})
    assert isinstance(empty, KeelContext)
    assert empty.to_dict() == defaults.to_dict()
    assert empty.guards is not defaults.guards  # a copy per run

    run = schema(guards={"max_tool_calls": 9, "unknown": 1}, publish_path="R.md")
    assert (run.guards.budget_tokens, run.guards.max_tool_calls) == (5000, 9)
    assert (run.model, run.publish_path, run.review_sample_rate) == (
        "openai:gpt-4o-mini",
        "R.md",
        0.25,
    )
    assert schema.from_dict({"guards": {"loop_window": 4}}).guards.budget_tokens == 5000
    with pytest.raises(ValueError, match="max_tool_calls must be at least 1"):
        schema(guards={"max_tool_calls": 0})

    # pickles (and deep-copies) as a plain KeelContext with the same values
    copied = pickle.loads(pickle.dumps(run))  # noqa: S301
    assert type(copied) is KeelContext
    assert copied.to_dict() == run.to_dict()

    # KeelContext itself keeps the code defaults
    assert KeelContext(guards={"max_tool_calls": 9}).guards.budget_tokens == 400_000
    assert KeelContext().to_dict() == KeelContext.from_dict({}).to_dict()

"""Persistence on a real SQLite file and a real PostgreSQL server.

A thread pauses at the review gate, the process's database handles are closed, and a
fresh `open_persistence` (as a new process would) resumes it to the end.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage
from langgraph.types import Command

from keel.graphs.pipeline import build_pipeline
from keel.nodes.agents.specialist import SpecialistSpec
from keel.nodes.context import KeelContext
from keel.persistence import DatabaseUnavailableError, open_persistence, safe_serializer
from tests.support.gitrepo import two_commit_repo
from tests.support.scripted import ScriptedChatModel

SPEC = SpecialistSpec(name="sec", area="security", description="d", handles=("*",), tools=())


def _repo(tmp_path: Path) -> Path:
    return two_commit_repo(tmp_path / "repo", {"a.py": "x = 1\n"}, {"b.py": "eval(input())\n"})


def _model() -> ScriptedChatModel:
    plan = {"assignments": [{"specialist": "sec", "files": ["b.py"], "instructions": "x"}]}
    finding = {
        "file": "b.py",
        "line": 1,
        "severity": "critical",
        "category": "security",
        "title": "eval of input",
        "confidence": 0.9,
    }
    return ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[{"name": "Plan", "args": plan, "id": "p"}]),
            AIMessage(
                "",
                tool_calls=[
                    {
                        "name": "submit_findings",
                        "id": "s",
                        "args": {"findings": [finding], "summary": "s", "confidence": 0.9},
                    }
                ],
            ),
        ]
    )


def test_pause_and_resume_across_connections(db_url: str, tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    config = {"configurable": {"thread_id": "thread-1"}}
    model = _model()
    with open_persistence(db_url) as first:
        graph = build_pipeline([SPEC], lambda _: model).compile(
            checkpointer=first.checkpointer, store=first.store
        )
        graph.invoke({"repo": str(repo)}, config, context=KeelContext(publish_path="OUT.md"))
        first.registry.create(
            "thread-1",
            workflow="review",
            repo=str(repo),
            model="scripted",
            context={"publish_path": "OUT.md"},
        )
        first.registry.update("thread-1", status="awaiting_approval")
    model.assert_complete()

    with open_persistence(db_url) as second:
        graph = build_pipeline([SPEC], lambda _: ScriptedChatModel(responses=[])).compile(
            checkpointer=second.checkpointer, store=second.store
        )
        snap = graph.get_state(config)
        assert snap.interrupts and snap.values["findings"][0]["file"] == "b.py"
        record = second.registry.get("thread-1")
        assert record is not None and record.status == "awaiting_approval"
        assert record.context == {"publish_path": "OUT.md"}
        result = graph.invoke(
            Command(resume={"decisions": [{"type": "approve"}]}),
            config,
            context=KeelContext(publish_path="OUT.md"),
        )
        assert result["status"] == "done"
        assert (repo / "OUT.md").exists()
        # the ledger remembers the effect: replaying the node does not repeat it
        ledger = second.store.get(("keel_ledger", "thread-1"), "publish_review")
        assert ledger is not None and ledger.value["status"] == "done"
        second.registry.update("thread-1", status="done", findings=1)
        assert [r.status for r in second.registry.list()] == ["done"]
        assert second.registry.list(status="awaiting_approval") == []


def test_registry_rejects_unknown_columns(db_url: str) -> None:
    with open_persistence(db_url) as persistence:
        persistence.registry.create("t", workflow="review", repo="/r", model="m", context={})
        with pytest.raises(ValueError, match="cannot update registry columns"):
            persistence.registry.update("t", repo="/elsewhere")
        assert persistence.registry.get("nope") is None


def test_serializer_has_no_pickle_fallback() -> None:
    serde = safe_serializer()
    assert serde.pickle_fallback is False
    payload = pickle.dumps({"a": 1})
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do; must not unpickle
        serde.loads_typed(("pickle", payload))


def test_unreachable_postgres_is_a_clear_error() -> None:
    with pytest.raises(
        DatabaseUnavailableError, match=r"cannot reach PostgreSQL at postgresql://u@127.0.0.1:9/db"
    ):
        with open_persistence("postgresql://u:pw@127.0.0.1:9/db"):
            pass


def test_unwritable_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DatabaseUnavailableError, match="cannot open SQLite database"):
        with open_persistence(f"sqlite:///{blocker}/sub/keel.db"):
            pass

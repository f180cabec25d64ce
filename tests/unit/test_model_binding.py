"""The model factory is bound once per run: a review never reads the settings again.

`keel.models.bind_models(settings)` is what the Runner, the served graph and the evals
build the review graph with. Here the settings are read once, then reading them again (the
environment through `Settings.load`, or `.env`) raises, and a whole offline review still
runs to the review gate, its report naming the model as `model_label` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from keel import models, settings
from keel.graphs.review import build_review_graph
from keel.models import bind_models, model_label
from keel.sample import build_sample_repo
from keel.settings import Settings


def _refuse(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError("the settings were read again during the run")


def test_a_review_reads_no_settings_after_the_graph_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEL_HOME", str(tmp_path / "home"))
    bound = Settings.load(env={"KEEL_MODEL": "offline", "KEEL_HOME": str(tmp_path / "home")})
    graph = build_review_graph(bind_models(bound), label_for=model_label).compile(
        checkpointer=InMemorySaver(), store=InMemoryStore()
    )
    monkeypatch.setattr(Settings, "load", _refuse)
    monkeypatch.setattr(settings, "dotenv_values", _refuse)
    models._CACHE.clear()  # the model itself is created from the bound settings, in the run

    repo = build_sample_repo(tmp_path / "sample")
    config = {"configurable": {"thread_id": "bound-1"}}
    graph.invoke({"repo": str(repo)}, config, context=bound.run_context())

    state = graph.get_state(config)
    (gate,) = state.interrupts  # the review stops at the review gate
    assert "publish_review" in [r["name"] for r in gate.value["action_requests"]]
    assert state.values["report"]["data"]["model"] == "offline"
    assert any(f["category"] == "security" for f in state.values["findings"])


def test_the_label_a_report_carries_comes_from_the_caller(tmp_path: Path) -> None:
    bound = Settings.load(env={"KEEL_HOME": str(tmp_path / "home")})
    graph = build_review_graph(
        bind_models(bound), label_for=lambda model_id: f"labelled:{model_id}"
    ).compile(checkpointer=InMemorySaver(), store=InMemoryStore())
    repo = build_sample_repo(tmp_path / "sample")
    config = {"configurable": {"thread_id": "bound-2"}}
    graph.invoke({"repo": str(repo)}, config, context=bound.run_context())
    assert graph.get_state(config).values["report"]["data"]["model"] == "labelled:offline"

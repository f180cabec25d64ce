"""Snapshot of the review graph's drawing: every specialist and guard is a named node.

Update after an intended change:
`KEEL_UPDATE_SNAPSHOTS=1 pytest tests/unit/test_graph_drawing.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

from keel.graphs.review import SPECIALISTS, build_review_graph
from keel.offline import OfflinePolicyModel

graph = build_review_graph(lambda _id: OfflinePolicyModel()).compile(name="review")

SNAPSHOT = Path(__file__).parents[1] / "snapshots" / "review_graph.mmd"


def test_review_graph_matches_snapshot() -> None:
    drawing = graph.get_graph(xray=1).draw_mermaid()
    if os.environ.get("KEEL_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(drawing)
    assert drawing == SNAPSHOT.read_text()


def test_named_nodes() -> None:
    nodes = set(graph.get_graph(xray=1).nodes)
    for name in ("intake", "supervisor", "report", "review_gate", "execute_actions", "finalize"):
        assert name in nodes
    for spec in SPECIALISTS:
        for inner in ("agent", "tools", "finish", "step_limit"):
            assert f"{spec.name}:{inner}" in nodes


def test_specialists_have_only_their_own_tools() -> None:
    tools = {spec.name: {t.name for t in spec.tools} for spec in SPECIALISTS}
    assert "run_bandit" in tools["security"] and "run_bandit" not in tools["style"]
    assert "run_ruff" in tools["style"] and "run_ruff" not in tools["security"]
    assert "list_tests" in tools["correctness"]
    for names in tools.values():
        assert not names & {"apply_patch", "publish_report", "run_pytest"}

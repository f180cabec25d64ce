"""A stranded thread resumes from its newest earlier checkpoint that still has work.

Stranded: the last checkpoint has no work left but the run never finished (a write lost in
a database outage).
"""

from __future__ import annotations

from pathlib import Path

from keel.nodes.context import KeelContext
from keel.persistence import open_persistence
from keel.runner import Runner
from keel.sample import build_sample_repo
from keel.settings import Settings


def test_stranded_thread_resumes_from_an_earlier_checkpoint(tmp_path: Path) -> None:
    repo = build_sample_repo(tmp_path / "sample")
    with open_persistence(f"sqlite:///{tmp_path / 'keel.db'}") as persistence:
        runner = Runner(persistence, Settings.load())
        context = KeelContext()
        first = runner.start(
            thread_id="kr-s", graph_input={"repo": str(repo)}, context=context, workflow="review"
        )
        assert first.status == "awaiting_approval"
        # simulate the lost writes: a last checkpoint that claims the run ended mid-way
        config = runner.config("kr-s")
        runner.graph.update_state(config, {"status": "running"}, as_node="finalize")
        snap = runner.snapshot("kr-s")
        assert snap.next == () and not snap.interrupts
        assert runner.stranded("kr-s") is not None
        outcome = runner.resume("kr-s", context=context)
        assert outcome.status == "awaiting_approval"
        assert runner.stranded("kr-s") is None

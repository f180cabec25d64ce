"""The queue's crash harness at CI size: 5 worker SIGKILLs, nothing lost, nothing repeated.

The 100-kill run is `python -m tests.reliability.queue_harness --kills 100` (docs/scale.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.queue_harness import QueueHarness

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_random_worker_kills_lose_nothing_and_repeat_nothing(pg_url: str, tmp_path: Path) -> None:
    harness = QueueHarness(pg_url, tmp_path, threads=2, target_kills=5, seed=7).run()
    assert harness.kills == 5
    assert harness.check() == []

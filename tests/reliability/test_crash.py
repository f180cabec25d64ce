"""Crash recovery on PostgreSQL: at least 20 SIGKILLs, then every invariant must hold.

Bigger runs: `python scripts/crash_harness.py --kills 200` (see the script).
"""

from __future__ import annotations

from pathlib import Path

from tests.reliability.harness import Harness


def test_random_sigkills_lose_nothing_and_repeat_nothing(pg_url: str, tmp_path: Path) -> None:
    harness = Harness(database_url=pg_url, workdir=tmp_path, threads=3, target_kills=20, seed=7)
    stats = harness.run()
    assert stats.kills >= 20
    assert set(stats.kills_by_command) >= {"review", "approve"}, stats.kills_by_command
    assert harness.check() == []

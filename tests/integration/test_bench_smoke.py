"""`python -m bench --quick` runs end to end (a smoke test: timings are not judged)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench import BENCHMARKS

ROOT = Path(__file__).resolve().parents[2]
TITLES = (
    "== guard overhead ==",
    "== checkpoint cost ==",
    "== resume latency vs history depth ==",
    "== long threads ==",
    "== token savings ==",
    "== concurrency ==",
)


def test_quick_bench_prints_every_table_and_leaves_the_document(pg_admin_url: str) -> None:
    doc = ROOT / "docs" / "benchmarks.md"
    before = doc.read_bytes() if doc.exists() else None
    env = {**os.environ, "KEEL_BENCH_DATABASE_URL": pg_admin_url}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert len(TITLES) == len(BENCHMARKS)
    for title in TITLES:
        assert title in proc.stdout, f"{title} missing from:\n{proc.stdout[-4000:]}"
    assert (doc.read_bytes() if doc.exists() else None) == before, "--quick rewrote the doc"

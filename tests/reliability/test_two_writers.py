"""One writer per thread: two processes approving the same thread at once.

Exactly one proceeds; the other exits 8 ("already being processed") or 5 ("not awaiting
approval": it took the lock after the first had finished) and changes nothing. The effect
journal shows each approved action ran once.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.e2e.conftest import KeelRunner, _keel_command


def test_two_concurrent_approvals_one_proceeds(
    keel: KeelRunner, sample_repo: Path, db_url: str, tmp_path: Path
) -> None:
    journal = tmp_path / "effects.jsonl"
    thread = keel(
        "review",
        str(sample_repo),
        "--no-input",
        "--json",
        extra_env={"KEEL_EFFECT_JOURNAL": str(journal)},
    ).json()["thread_id"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env |= {"KEEL_DATABASE_URL": db_url, "KEEL_HOME": str(tmp_path / "home")}
    procs = [
        subprocess.Popen(
            [*_keel_command(), "approve", thread, "--reviewer", f"r{i}", "--json", "-q"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes in ([0, 5], [0, 8]), outputs
    loser = next(out for p, out in zip(procs, outputs, strict=True) if p.returncode != 0)
    assert (
        "already being processed by another process" in loser[1]
        or "is not awaiting approval (status: done)" in loser[1]
    ), loser[1]
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert sorted(line["action_id"] for line in lines) == [
        "apply_autofix",
        "publish_review",
        "run_tests",
    ]
    feedback = keel("feedback", "export").stdout.splitlines()
    assert len(feedback) == 1
    final = keel("show", thread, "--json").json()
    assert final["status"] == "done"
    winner = next(i for i, p in enumerate(procs) if p.returncode == 0)
    assert final["report"]["review"]["reviewer"] == f"r{winner}"

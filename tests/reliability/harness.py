"""Crash-recovery harness: SIGKILL `keel` workers at random points, then check invariants.

Each thread reviews its own copy of the sample repository. The driver runs one `keel`
command at a time for a thread (`review`, `approve`, `resume`, chosen from the thread's
checkpointed state) and, with probability `kill_rate`, SIGKILLs the worker's process group
after a random delay — during imports, a model call, a tool, a checkpoint write, or right
after an approval. Once `target_kills` kills have happened it lets every thread finish.

Invariants checked at the end (`check`):
* every thread is `done`, in its checkpoint and in the registry;
* each approved action happened once: the effect journal has at most one line per
  (thread, action) — the effect ran at most once — the ledger says `done`, and the file
  system shows it (the autofix patch is in place, the review file is written); the
  rejected `run_tests` never ran;
* no finding is duplicated (unique ids and unique file/line/rule);
* no approval was lost: the recorded review has the driver's decisions.

Used by `tests/reliability/test_crash.py` (small run in CI) and by
`scripts/crash_harness.py` for big runs.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keel.persistence import open_persistence
from keel.runner import Runner
from keel.sample import build_sample_repo
from keel.settings import Settings
from keel.tools import actions as effects

REVIEWER = "crash-driver"
DECISIONS = {
    "decisions": [
        {"type": "approve"},  # apply_autofix
        {"type": "reject", "message": "not in the harness"},  # run_tests
        {"type": "approve"},  # publish_review
    ]
}
APPROVED = ("apply_autofix", "publish_review")


def keel_command() -> list[str]:
    """How to start the `keel` CLI with this interpreter."""
    script = Path(sys.executable).parent / "keel"
    return [str(script)] if script.exists() else [sys.executable, "-m", "keel.cli"]


@dataclass
class Stats:
    """What a run did."""

    kills: int = 0
    commands: int = 0
    kills_by_command: Counter[str] = field(default_factory=Counter)
    recovery_s: list[float] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Harness:
    """One crash run against one database."""

    database_url: str
    workdir: Path
    threads: int
    target_kills: int
    seed: int = 0
    kill_rate: float = 0.6
    kill_window: tuple[float, float] = (0.5, 4.0)
    stats: Stats = field(default_factory=Stats)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 - test randomness
        self.journal = self.workdir / "effects.jsonl"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
        self.env |= {
            "KEEL_DATABASE_URL": self.database_url,
            "KEEL_HOME": str(self.workdir / "home"),
            "KEEL_EFFECT_JOURNAL": str(self.journal),
            "KEEL_REVIEWER": REVIEWER,
        }

    def repo(self, index: int) -> Path:
        """The thread's repository."""
        return self.workdir / f"repo-{index}"

    @staticmethod
    def thread(index: int) -> str:
        """The thread id."""
        return f"kr-crash-{index:04d}"

    # ------------------------------------------------------------------ driving

    def _next_command(self, runner: Runner, index: int) -> list[str] | None:
        thread = self.thread(index)
        if runner.persistence.registry.get(thread) is None:
            return ["review", str(self.repo(index)), "--no-input", "--thread", thread]
        outcome = runner.outcome(thread)
        if outcome.status == "awaiting_approval":
            return ["approve", thread, "--edit", json.dumps(DECISIONS)]
        if outcome.status == "done":
            record = runner.persistence.registry.get(thread)
            if record is not None and record.status == "done":
                return None
        return ["resume", thread]

    def _run(self, args: list[str], may_kill: bool) -> bool:
        """Run one command; return whether it was killed."""
        self.stats.commands += 1
        proc = subprocess.Popen(  # noqa: S603 - our own CLI
            [*keel_command(), *args, "-q"],
            env=self.env,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        if may_kill and self.rng.random() < self.kill_rate:
            delay = self.rng.uniform(*self.kill_window)
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                self.stats.kills += 1
                self.stats.kills_by_command[args[0]] += 1
                return True
            return False
        proc.wait(timeout=600)
        return False

    def run(self) -> Stats:
        """Drive threads until `target_kills` kills, then let every thread finish."""
        started = time.monotonic()
        created = 0
        killed_at: dict[int, float] = {}
        with open_persistence(self.database_url) as persistence:
            runner = Runner(persistence, Settings.load())
            while True:
                if created < self.threads:
                    build_sample_repo(self.repo(created))
                    created += 1
                pending = [i for i in range(created) if self._next_command(runner, i)]
                if not pending and created >= self.threads:
                    if self.stats.kills >= self.target_kills:
                        break
                    self.threads += 1  # keep going until enough kills happened
                    continue
                for index in pending:
                    command = self._next_command(runner, index)
                    if command is None:
                        continue
                    may_kill = self.stats.kills < self.target_kills
                    if self._run(command, may_kill):
                        killed_at.setdefault(index, time.monotonic())
                    elif index in killed_at and self._next_command(runner, index) is None:
                        self.stats.recovery_s.append(time.monotonic() - killed_at.pop(index))
        self.stats.seconds = time.monotonic() - started
        return self.stats

    # --------------------------------------------------------------- invariants

    def check(self) -> list[str]:
        """Return every violated invariant (empty: all hold)."""
        problems: list[str] = []
        lines = (
            [json.loads(line) for line in self.journal.read_text().splitlines()]
            if self.journal.exists()
            else []
        )
        runs = Counter((line["thread_id"], line["action_id"]) for line in lines)
        with open_persistence(self.database_url) as persistence:
            runner = Runner(persistence, Settings.load())
            for index in range(self.threads):
                thread = self.thread(index)
                problems += self._check_thread(runner, persistence, index, thread, runs)
        return problems

    def _check_thread(
        self, runner: Runner, persistence: Any, index: int, thread: str, runs: Counter[Any]
    ) -> list[str]:
        problems = []
        outcome = runner.outcome(thread)
        record = persistence.registry.get(thread)
        if outcome.status != "done" or record is None or record.status != "done":
            problems.append(f"{thread}: not done ({outcome.status}, registry {record})")
            return problems
        values = outcome.values
        ids = [f["id"] for f in values.get("findings", [])]
        keys = [(f["file"], f["line"], f["rule"]) for f in values.get("findings", [])]
        if len(ids) != len(set(ids)) or len(keys) != len(set(keys)):
            problems.append(f"{thread}: duplicated findings")
        review = values.get("review") or {}
        kinds = [d["type"] for d in review.get("decisions", [])]
        if kinds != ["approve", "reject", "approve"] or review.get("reviewer") != REVIEWER:
            problems.append(f"{thread}: approval lost or altered: {review}")
        for action in APPROVED:
            count = runs[(thread, action)]
            if count > 1:
                problems.append(f"{thread}: {action} ran {count} times")
            entry = persistence.store.get(("keel_ledger", thread), action)
            if entry is None or entry.value.get("status") != "done":
                problems.append(f"{thread}: ledger has no completed {action}")
        if runs[(thread, "run_tests")]:
            problems.append(f"{thread}: rejected run_tests ran")
        repo = self.repo(index)
        fix = next(a for a in values["pending_actions"] if a["name"] == "apply_autofix")
        if not effects.patch_applied(repo, fix["args"]["diff"]):
            problems.append(f"{thread}: the approved autofix is not in the work tree")
        if not (repo / "KEEL_REVIEW.md").is_file():
            problems.append(f"{thread}: the approved review file is missing")
        return problems

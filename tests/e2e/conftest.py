"""Fixtures for driving the `keel` CLI in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from keel.sample import build_sample_repo


@dataclass
class Result:
    """A finished `keel` process."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def _keel_command() -> list[str]:
    script = Path(sys.executable).parent / "keel"
    return [str(script)] if script.exists() else [sys.executable, "-m", "keel.cli"]


@pytest.fixture
def sample_repo(tmp_path: Path) -> Path:
    """The bundled sample repository, freshly built as a real git repo."""
    return build_sample_repo(tmp_path / "sample")


KeelRunner = Callable[..., Result]


def cli_env(db_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a `keel` process on this test's database: no outside KEEL_/OPENAI_."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "OPENAI_"))}
    env |= {
        "KEEL_DATABASE_URL": db_url,
        "KEEL_HOME": str(tmp_path / "home"),
        "KEEL_REVIEWER": "e2e-reviewer",
        "LANGSMITH_TRACING": "false",
    }
    return env


@pytest.fixture
def keel(tmp_path: Path, db_url: str) -> KeelRunner:
    """Run `keel ARGS...` in a new process against this test's database."""
    env = cli_env(db_url, tmp_path)

    def run(*args: str, extra_env: dict[str, str] | None = None, timeout: float = 300) -> Result:
        proc = subprocess.run(
            [*_keel_command(), *args],
            env=env | (extra_env or {}),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


def git_status(repo: Path) -> str:
    """Porcelain status of a repository."""
    return subprocess.run(
        ["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout

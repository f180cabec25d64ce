"""On a terminal (no --no-input) `keel review` asks for each action's decision."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import _keel_command, git_status


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_terminal_prompt_rejects_every_action(
    tmp_path: Path, sample_repo: Path, db_url: str
) -> None:
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env |= {"KEEL_DATABASE_URL": db_url, "KEEL_REVIEWER": "tty-user", "TERM": "dumb"}
    # three actions: reject each, with a message
    os.write(master, b"reject\nnot now\nreject\n\nreject\n\n")
    proc = subprocess.run(
        [*_keel_command(), "review", str(sample_repo)],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    os.close(slave)
    output = b""
    try:
        while chunk := os.read(master, 65536):
            output += chunk
    except OSError:
        pass
    os.close(master)
    text = output.decode(errors="replace")
    assert proc.returncode == 0, text[-2000:]
    assert "Human review required" in text
    assert "apply_autofix" in text and "publish_review" in text
    assert git_status(sample_repo) == ""
    assert b"reviewer: tty-user" in proc.stdout

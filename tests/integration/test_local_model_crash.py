"""The local model server dies mid-run: the thread is `failed`, and `keel resume` continues it.

A real `llama-server` (SmolLM2-135M, the fastest catalog model) serves `keel review`; the
test SIGKILLs the server after its first answer. The review must end `failed` (exit 1,
one line on stderr), and `keel resume` in a new process must start a new server and
carry the thread from its last checkpoint to a final status, without repeating the
supervisor's plan (checkpointed before the crash).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keel.local_model import LocalModelError, find_llama_server, resolve_gguf
from keel.sample import build_sample_repo

pytestmark = [pytest.mark.local_model, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
MODEL = "local:smollm2-135m"
SETTINGS = {
    "KEEL_GUARD_MAX_AGENT_STEPS": "3",
    "KEEL_GUARD_MAX_TOOL_CALLS": "6",
    "KEEL_GUARD_DEADLINE_S": "300",
    "KEEL_LOCAL_MAX_TOKENS": "256",
    "KEEL_LOCAL_CTX": "8192",
}


@pytest.fixture(scope="module")
def server_binary() -> Path:
    if os.environ.get("KEEL_SKIP_LOCAL_MODEL") == "1":
        pytest.skip("KEEL_SKIP_LOCAL_MODEL=1: the local-model test was switched off")
    try:
        resolve_gguf(MODEL, os.environ.get("KEEL_MODELS_DIR"))
        return find_llama_server(os.environ.get("KEEL_LLAMA_SERVER"), root=ROOT)
    except LocalModelError as exc:
        pytest.skip(f"local model stack not installed (make local-model): {exc}")


def _servers_of(parent: int) -> list[int]:
    """Pids of `llama-server` processes descending from `parent` (via its supervisor)."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            names[int(entry.name)] = (entry / "cmdline").read_bytes().split(b"\0")[0].decode()
        except (OSError, IndexError, UnicodeDecodeError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [parent]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            if names.get(child, "").endswith("llama-server"):
                found.append(child)
            todo.append(child)
    return found


def _servers_on(log_dir: Path) -> list[int]:
    """Pids of live `llama-server` processes on a port one of the logs in `log_dir` names.

    Keel names each server's log `llama-server-<keel pid>-<port>.log`; a server of a Keel
    process that has exited is reparented away from it, so it is found by its port.
    """
    ports = {log.stem.rsplit("-", 1)[1] for log in log_dir.glob("llama-server-*.log")}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (entry / "cmdline").read_bytes().decode().split("\0")
        except (OSError, IndexError, UnicodeDecodeError):
            continue
        if stat[0] == "Z" or not argv[0].endswith("llama-server") or "--port" not in argv:
            continue
        if argv[argv.index("--port") + 1] in ports:
            found.append(int(entry.name))
    return found


def _answers(log_dir: Path) -> int:
    return sum(
        log.read_text(errors="replace").count("total time")
        for log in log_dir.glob("llama-server-*.log")
    )


def test_a_dead_model_server_fails_the_thread_and_resume_continues_it(
    server_binary: Path, tmp_path: Path
) -> None:
    repo = build_sample_repo(tmp_path / "sample")
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "OPENAI_"))}
    env |= SETTINGS | {
        "KEEL_MODEL": MODEL,
        "KEEL_LLAMA_SERVER": str(server_binary),
        **(
            {"KEEL_MODELS_DIR": os.environ["KEEL_MODELS_DIR"]}
            if "KEEL_MODELS_DIR" in os.environ
            else {}
        ),
        "KEEL_HOME": str(home),
        "KEEL_DATABASE_URL": f"sqlite:///{tmp_path / 'keel.db'}",
        "LANGSMITH_TRACING": "false",
    }
    thread = "kr-crashmodel01"
    review = subprocess.Popen(
        [sys.executable, "-m", "keel.cli", "review", str(repo), "--no-input", "--json",
         "--thread", thread],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 600
    killed: list[int] = []
    while time.monotonic() < deadline and review.poll() is None and not killed:
        servers = _servers_of(review.pid)
        if servers and _answers(home / "local-model") >= 1:
            for pid in servers:
                os.kill(pid, signal.SIGKILL)
            killed = servers
        time.sleep(0.2)
    out, err = review.communicate(timeout=600)
    assert killed, f"the server never answered (exit {review.returncode}): {err[-2000:]}"
    assert review.returncode == 1, (review.returncode, err[-3000:])
    assert json.loads(out)["exit_code"] == 1
    threads = subprocess.run(
        [sys.executable, "-m", "keel.cli", "threads", "--json"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    [row] = [t for t in json.loads(threads.stdout) if t["thread_id"] == thread]
    assert row["status"] == "failed"

    resumed = subprocess.run(
        [sys.executable, "-m", "keel.cli", "resume", thread, "--json"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert resumed.returncode in (0, 3, 7), (resumed.returncode, resumed.stderr[-3000:])
    payload = json.loads(resumed.stdout)
    assert payload["status"] in ("done", "awaiting_approval", "halted")
    assert payload["report"] is not None
    leaked = _servers_on(home / "local-model")
    deadline = time.monotonic() + 5  # an orphaned supervisor notices its parent within 1 s
    while leaked and time.monotonic() < deadline:
        time.sleep(0.2)
        leaked = _servers_on(home / "local-model")
    assert not leaked, "no server may outlive its keel process"

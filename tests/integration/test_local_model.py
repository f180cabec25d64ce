"""A real small model end to end: `keel review` on SmolLM2-135M served by `llama-server`.

A 135M-parameter model is the honest adversary for the guards: it answers with empty or
free-form text, wrong arguments, repeated calls and rambling. These tests assert only what
must hold whatever it says — the run ends in a final status within its (tight) budget,
nothing crashes, the specialists run (the supervisor's plan check routes the files by the
specialists' globs when the model's plan does not), every malformed output met a guard,
no ungrounded finding reaches the report, the approval gate held, and the report names the
model — and print the figures and guard events it caused (docs/local-model.md).

The model is `KEEL_MODEL=local:smollm2-135m` (the catalog's SmolLM2-135M-Instruct, in
`KEEL_MODELS_DIR` or `~/.keel/models`), served by llama.cpp's `llama-server`
(`KEEL_LLAMA_SERVER`, or `make local-model`'s `~/.keel/tools/llama-server`); when either is
missing the test runs `scripts/install-local-model.sh smollm2-135m` (~8 min the first time:
llama.cpp compiles). Opt out with `KEEL_SKIP_LOCAL_MODEL=1`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from keel.local_model import LocalModelError, find_llama_server, resolve_gguf
from keel.sample import build_sample_repo

ROOT = Path(__file__).resolve().parents[2]
MODEL = "local:smollm2-135m"
FINAL_STATUSES = {"done", "awaiting_approval", "halted", "budget_exhausted"}
EXIT_OK = {0: "done", 3: "awaiting approval", 7: "halted by a guard"}
GUARD_VERDICTS = {"nudge", "escalate", "halt", "compress"}
SPECIALIST_NAMES = {"security", "style", "correctness"}

# Tight guards so the whole review (three specialists sharing one llama.cpp server that
# serves one request at a time) ends in a few minutes: two turns per specialist — one where
# the model picks a tool, one where `submit_findings` is forced — and a deadline.
TIGHT_GUARDS = {
    "KEEL_GUARD_MAX_AGENT_STEPS": "2",
    "KEEL_GUARD_MAX_TOOL_CALLS": "4",
    "KEEL_GUARD_BUDGET_MODEL_CALLS": "12",
    "KEEL_GUARD_COMPRESS_AT_TOKENS": "6000",
    "KEEL_GUARD_DEADLINE_S": "300",
    "KEEL_LOCAL_MAX_TOKENS": "256",
    "KEEL_LOCAL_CTX": "8192",
}


def _stack() -> Path:
    """The `llama-server` binary, after checking that the model resolves (and verifies)."""
    server = find_llama_server(os.environ.get("KEEL_LLAMA_SERVER"), root=ROOT)
    resolve_gguf(MODEL, os.environ.get("KEEL_MODELS_DIR"))
    return server


@pytest.fixture(scope="module")
def llama_server() -> Path:
    """The server binary, installing the local stack (and the model) first if missing."""
    if os.environ.get("KEEL_SKIP_LOCAL_MODEL") == "1":
        pytest.skip("KEEL_SKIP_LOCAL_MODEL=1: the local-model test was switched off")
    try:
        return _stack()
    except LocalModelError:
        pass
    started = time.monotonic()
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-local-model.sh"), MODEL.partition(":")[2]],
        cwd=ROOT,
        env={**os.environ, "KEEL_VENV_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=1800,
        stdin=subprocess.DEVNULL,
    )
    print(f"\ninstall-local-model.sh: exit {proc.returncode} in {time.monotonic() - started:.0f} s")
    print(proc.stdout[-2000:])
    assert proc.returncode == 0, proc.stderr[-4000:]
    return _stack()


def _guard_events(payload: dict[str, Any]) -> list[dict[str, Any]]:
    report = payload.get("report") or {}
    events = list(report.get("guard_events") or [])
    for request in payload.get("review_requests") or []:
        packet = request.get("packet") or request.get("handoff") or {}
        if isinstance(packet, dict) and packet.get("guard"):
            events.append(
                {
                    "guard": packet.get("guard"),
                    "verdict": "escalate",
                    "agent": packet.get("agent", ""),
                    "reason": packet.get("reason", ""),
                }
            )
    return events


def _print_run(
    proc: subprocess.CompletedProcess[str], payload: dict[str, Any], wall: float
) -> None:
    report = payload.get("report") or {}
    events = _guard_events(payload)
    print(
        f"\nlocal model run: exit {proc.returncode} ({EXIT_OK.get(proc.returncode)}), status "
        f"{payload.get('status')}, {wall:.0f} s wall"
    )
    if report:
        print(f"model {report['model']}; usage {report['usage']}")
        print(f"findings: {len(report.get('findings') or [])}")
        for handoff in report.get("handoffs") or []:
            print(
                f"  handoff {handoff['source']} confidence {handoff['confidence']}: "
                f"{handoff['summary'][:120]}"
            )
    print(f"guard events ({len(events)}):")
    for event in events:
        print(
            f"  {event.get('guard')}/{event.get('verdict')} "
            f"[{event.get('agent', '')}] {str(event.get('reason', ''))[:200]}"
        )


def _routed_by_repair(events: list[dict[str, Any]]) -> set[str]:
    """Specialists the supervisor's plan check routed files to (`plan repaired` events)."""
    routed: set[str] = set()
    for event in events:
        if event.get("agent") == "supervisor" and "plan repaired" in event.get("reason", ""):
            routed |= set(re.findall(r"(\w+) \+\d+", event["reason"]))
    return routed


def _assert_grounded(repo: Path, findings: list[dict[str, Any]]) -> None:
    """Every finding in the report cites a repository file and lines that exist."""
    for finding in findings:
        path = repo / finding["file"]
        assert path.is_file(), finding
        lines = len(path.read_text(errors="replace").splitlines())
        assert 1 <= finding["line"] <= finding["end_line"] <= lines, finding


def _assert_report(repo: Path, payload: dict[str, Any], events: list[dict[str, Any]]) -> None:
    report = payload["report"]
    assert report["model"] == "local:SmolLM2-135M-Instruct"
    assert report["offline"] is False
    usage = report["usage"]
    assert usage["model_calls"] <= int(TIGHT_GUARDS["KEEL_GUARD_BUDGET_MODEL_CALLS"])
    # the specialists ran on the model: calls beyond the supervisor's one, and handoffs
    ran = {h["source"] for h in report["handoffs"]} & SPECIALIST_NAMES
    assert ran and usage["model_calls"] > 1, (ran, usage)
    # a repaired plan's routing was carried out: each routed specialist handed off
    assert _routed_by_repair(events) <= ran, (_routed_by_repair(events), ran)
    # a specialist that did not submit was stopped by a guard, and the event says so
    halted = {e["agent"] for e in events if e["verdict"] == "halt"}
    for handoff in report["handoffs"]:
        if handoff["summary"].startswith("stopped by the "):
            assert handoff["source"] in halted and handoff["confidence"] == 0.0, handoff
    # no blocker without the guard event that caused it
    reasons = " ".join(str(e.get("reason", "")) for e in events)
    for blocker in report["blockers"]:
        assert blocker in reasons or blocker.startswith("supervisor: "), blocker
    _assert_grounded(repo, report["findings"])
    # the approval gate held: nothing ran without a human
    assert not report.get("action_results"), report.get("action_results")


@pytest.mark.local_model
@pytest.mark.slow
def test_review_on_smollm2_stays_bounded(llama_server: Path, tmp_path: Path) -> None:
    repo = build_sample_repo(tmp_path / "sample")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "OPENAI_"))}
    env |= TIGHT_GUARDS | {
        "KEEL_MODEL": MODEL,
        "KEEL_LLAMA_SERVER": str(llama_server),
        **(
            {"KEEL_MODELS_DIR": os.environ["KEEL_MODELS_DIR"]}
            if "KEEL_MODELS_DIR" in os.environ
            else {}
        ),
        "KEEL_HOME": str(tmp_path / "home"),
        "KEEL_DATABASE_URL": f"sqlite:///{tmp_path / 'keel.db'}",
        "KEEL_REVIEWER": "local-model-test",
        "LANGSMITH_TRACING": "false",
    }
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "keel.cli", "review", str(repo), "--no-input", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1200,
        stdin=subprocess.DEVNULL,
    )
    wall = time.monotonic() - started

    # no crash: a final status with its exit code, and JSON on stdout
    assert proc.returncode in EXIT_OK, f"exit {proc.returncode}\n{proc.stderr[-4000:]}"
    payload = json.loads(proc.stdout)
    _print_run(proc, payload, wall)
    assert payload["status"] in FINAL_STATUSES, payload["status"]
    events = _guard_events(payload)

    # malformed output never crashed: each validate / tool_misuse event was a guard action,
    # and the supervisor's only events are its plan check's
    for event in events:
        if event.get("guard") in ("validate", "tool_misuse"):
            assert event.get("verdict") in GUARD_VERDICTS, event
        if event.get("agent") == "supervisor":
            assert (event["guard"], event["verdict"]) == ("validate", "nudge"), event
            assert event["reason"].startswith(("plan checked: ", "plan repaired: ")), event

    if payload.get("report"):
        _assert_report(repo, payload, events)
    else:
        # paused inside a specialist (a guard asked a human) before any report was written
        assert payload["status"] == "awaiting_approval" and payload["review_requests"], payload
    assert not (repo / "KEEL_REVIEW.md").exists(), "published without approval"
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True
    )
    assert status.stdout == "", f"the repository changed without approval:\n{status.stdout}"


@pytest.mark.local_model
@pytest.mark.slow
def test_security_specialist_on_smollm2_ends_within_its_steps(
    llama_server: Path, tmp_path: Path
) -> None:
    from keel.graphs.review import SPECIALISTS
    from keel.local_model import stop_shared_servers
    from keel.models import chat_model
    from keel.nodes.agents.specialist import build_specialist
    from keel.nodes.context import KeelContext
    from keel.nodes.guards.policy import GuardPolicy
    from keel.settings import Settings

    repo = build_sample_repo(tmp_path / "sample")
    settings = Settings.load(
        {
            "KEEL_LLAMA_SERVER": str(llama_server),
            "KEEL_MODELS_DIR": os.environ.get("KEEL_MODELS_DIR", ""),
            "KEEL_HOME": str(tmp_path / "home"),
            "KEEL_LOCAL_CTX": TIGHT_GUARDS["KEEL_LOCAL_CTX"],
        },
        dotenv=tmp_path / "none",
    )
    model = chat_model(MODEL, settings)
    security = next(s for s in SPECIALISTS if s.name == "security")
    graph = build_specialist(security, lambda _id: model)
    policy = GuardPolicy(max_agent_steps=6, max_tool_calls=8, compress_at_tokens=6000)
    step = {
        "id": "security",
        "specialist": "security",
        "status": "active",
        "files": ["inventory/admin.py"],
        "instructions": "look for vulnerabilities",
    }
    task = {
        "goal": "review",
        "repo": str(repo),
        "mode": "review",
        "rev_range": None,
        "staged": False,
    }
    started = time.monotonic()
    try:
        result = graph.invoke(
            {"repo": str(repo), "task": task, "step": step},
            context=KeelContext(model=MODEL, guards=policy),
        )
    finally:
        # the server runs in pytest's own process: stop it, or it lives (and holds its
        # memory) until the session ends
        stopped = stop_shared_servers()
    wall = time.monotonic() - started
    assert stopped == 1, "the specialist's model calls went to one shared server"
    events = result.get("guard_events") or []
    usage = result["usage"]
    print(f"\nsecurity specialist on SmolLM2: {wall:.0f} s, usage {usage}")
    print(f"findings {len(result.get('findings') or [])}; guard events ({len(events)}):")
    for event in events:
        print(f"  {event['guard']}/{event['verdict']} {event['reason'][:160]}")

    # it ended — submitted or stopped by a guard — within its step limit, with a handoff
    assert [h["source"] for h in result["handoffs"]] == ["security"]
    assert usage["model_calls"] <= policy.max_agent_steps
    # forced tool choice: the model called tools instead of only talking
    assert usage["tool_calls"] >= 1
    for event in events:
        if event["guard"] in ("validate", "tool_misuse"):
            assert event["verdict"] in GUARD_VERDICTS, event


# ------------------------------------------------- lifecycle, without llama.cpp (fast)

# A stand-in for llama-server: answers /health on the --port it is given, records its pid,
# and ignores SIGTERM (like a server busy generating).
_FAKE_SERVER = """\
import os, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open(os.environ["FAKE_PID_FILE"], "w").write(str(os.getpid()))
port = int(sys.argv[sys.argv.index("--port") + 1])
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')
    def log_message(self, *a):
        pass
HTTPServer(("127.0.0.1", port), H).serve_forever()
"""


def _fake_binary(tmp_path: Path, body: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    binary = tmp_path / "bin" / "llama-server"
    binary.parent.mkdir(parents=True, exist_ok=True)
    binary.write_text(f"#!{sys.executable}\n{body}")
    binary.chmod(0o755)
    monkeypatch.setenv("FAKE_PID_FILE", str(tmp_path / "server.pid"))
    return binary


def _alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie (an unreaped orphan counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_server_lifecycle_health_wait_then_sigkill_after_ignored_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel.local_model import LlamaServer, ServerOptions

    binary = _fake_binary(tmp_path, _FAKE_SERVER, monkeypatch)
    gguf = tmp_path / "Tiny-Model.Q4_K_M.gguf"
    gguf.write_bytes(b"GGUF")
    options = ServerOptions(start_timeout_s=30, stop_timeout_s=1)
    server = LlamaServer(gguf, binary=binary, options=options, log_dir=tmp_path)
    with server:
        assert server.running and server.name == "Tiny-Model"
        assert server.base_url.startswith("http://127.0.0.1:")
        proc = server._proc
        server_pid = int((tmp_path / "server.pid").read_text())
        assert _alive(server_pid)
    assert proc is not None and proc.returncode == -9  # SIGTERM ignored, then SIGKILL
    assert not server.running
    assert _gone_within(server_pid, 5), "the server outlived its supervisor"


def test_server_that_exits_early_fails_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel.local_model import LlamaServer

    body = "import sys\nprint('error loading model: bad magic', flush=True)\nsys.exit(3)\n"
    binary = _fake_binary(tmp_path, body, monkeypatch)
    server = LlamaServer(tmp_path / "m.gguf", binary=binary, log_dir=tmp_path)
    with pytest.raises(LocalModelError, match="exited with code 3(.|\n)*bad magic"):
        server.start()


def test_port_taken_before_bind_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from keel.local_model import LlamaServer, ServerOptions

    body = (
        "import os, pathlib, sys\n"
        f"tries = pathlib.Path({str(tmp_path / 'tries')!r})\n"
        "tries.write_text(tries.read_text() + 'x' if tries.exists() else 'x')\n"
        "if len(tries.read_text()) == 1:\n"
        '    print("couldn\'t bind HTTP server socket, hostname: 127.0.0.1", flush=True)\n'
        "    sys.exit(1)\n" + _FAKE_SERVER
    )
    binary = _fake_binary(tmp_path, body, monkeypatch)
    options = ServerOptions(start_timeout_s=30, stop_timeout_s=1)
    with LlamaServer(tmp_path / "m.gguf", binary=binary, options=options, log_dir=tmp_path):
        assert (tmp_path / "tries").read_text() == "xx"


_KEEL_STAND_IN = """\
import sys, threading, time
from pathlib import Path
from keel.local_model import LlamaServer, ServerOptions
server = LlamaServer(Path("m.gguf"), binary=Path(sys.argv[1]), log_dir=Path(sys.argv[2]),
                     options=ServerOptions(start_timeout_s=30))
# started from a worker thread that then ends, as LangGraph runs sync nodes
worker = threading.Thread(target=server.start)
worker.start()
worker.join()
print("ready", flush=True)
time.sleep(600)
"""


def test_server_dies_with_keel_not_with_the_thread_that_started_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = _fake_binary(tmp_path, _FAKE_SERVER, monkeypatch)
    keel = subprocess.Popen(
        [sys.executable, "-c", _KEEL_STAND_IN, str(binary), str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert keel.stdout is not None and keel.stdout.readline().strip() == "ready"
        server_pid = int((tmp_path / "server.pid").read_text())
        time.sleep(1.5)  # the starting thread is gone: the server must still run
        assert _alive(server_pid)
        keel.kill()  # Keel dies without stopping it (no atexit)
        keel.wait(timeout=10)
        assert _gone_within(server_pid, 5), "the server outlived Keel"
    finally:
        keel.kill()
        keel.wait(timeout=10)


def test_missing_stack_is_a_clear_model_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel import local_model
    from keel.models import ModelError, chat_model
    from keel.settings import Settings

    monkeypatch.setattr(local_model, "USER_TOOLS_DIR", tmp_path / "user")

    settings = Settings.load(
        {"KEEL_LLAMA_SERVER": str(tmp_path / "nope"), "KEEL_HOME": str(tmp_path)},
        dotenv=tmp_path / "none",
    )
    with pytest.raises(ModelError, match="KEEL_LLAMA_SERVER=.* is not an executable"):
        chat_model("local", settings)
    with pytest.raises(LocalModelError, match="install-local-model.sh"):
        find_llama_server(None, root=tmp_path)


def test_labels() -> None:
    from keel.models import model_label

    assert model_label(MODEL) == "local:SmolLM2-135M-Instruct"
    assert model_label("local") == "local:Qwen2.5-Coder-0.5B-Instruct"
    assert model_label("local:/m/qwen2.5-coder-7b-instruct-q4_k_m.gguf") == (
        "local:qwen2.5-coder-7b-instruct"
    )
    assert model_label("offline") == "offline"


def test_tool_choice_policy() -> None:
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
    from langchain_core.tools import tool

    from keel.nodes.agents.specialist import _tool_choice

    @tool
    def scan_a(paths: list[str]) -> str:
        """A."""
        return ""

    @tool
    def scan_b(paths: list[str]) -> str:
        """B."""
        return ""

    tools = [scan_a, scan_b]

    def call(*names: str) -> AIMessage:
        return AIMessage("", tool_calls=[{"name": n, "args": {}, "id": n} for n in names])

    start = [HumanMessage("go")]
    assert _tool_choice(start, tools, last_turn=False) == "any"
    assert _tool_choice(start, tools, last_turn=True) == "submit_findings"
    both = [*start, call("scan_a", "scan_b"), ToolMessage("", tool_call_id="scan_a")]
    assert _tool_choice(both, tools, last_turn=False) == "any"  # may submit by itself
    prose = [*start, AIMessage("I think the code is fine."), HumanMessage("reminder")]
    assert _tool_choice(prose, tools, last_turn=False) == "scan_a"  # stalled: forced
    stalled = [*prose, call("scan_a")]
    assert _tool_choice(stalled, tools, last_turn=False) == "scan_b"  # stays forced
    assert _tool_choice([*stalled, call("scan_b")], tools, last_turn=False) == "submit_findings"
    repeat = [*both, call("scan_a")]
    assert _tool_choice(repeat, tools, last_turn=False) == "submit_findings"
    repair = [*both, call("submit_findings")]
    assert _tool_choice(repair, tools, last_turn=False) == "submit_findings"

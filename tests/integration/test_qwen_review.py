"""A real code model can't make a review silently wrong: `keel review` on Qwen2.5-Coder-0.5B.

Measured before the evidence ledger: the 0.5B ran every analyzer, saw semgrep's high
SQL-injection finding and detect-secrets' AWS key, and submitted `findings=[]` with
confidence 1.0; the thread ended `done` with no human asked. Whatever the model says now,
this must hold on the sample repository:

* the thread does not end `done`: the gate asks a human (exit 3, a review request);
* every high-or-above issue the tools reported is a finding at high or above in the
  report (confirmed by the model, or `unconfirmed` from the tool);
* the planted high-severity problems (SQL injection, shell injection, the AWS key) are
  among them;
* every finding is grounded: its file exists and its quote is the file's text there;
* the repository is untouched.

The model is `KEEL_MODEL=local` (Qwen2.5-Coder-0.5B-Instruct Q4_K_M from `make
local-model`, in `~/.keel/models`), served by `llama-server`; when the stack or the model
is missing the test installs it (`scripts/install-local-model.sh qwen2.5-coder-0.5b`).
Opt out with `KEEL_SKIP_LOCAL_MODEL=1`. About 3–6 minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from keel.local_model import LocalModelError, find_llama_server, resolve_gguf
from keel.sample import PLANTED, build_sample_repo
from keel.tools.issues import mask_secrets

pytestmark = pytest.mark.local_model

ROOT = Path(__file__).resolve().parents[2]
MODEL = "local"
HIGH = {"high", "critical"}
PLANTED_HIGH = {"sql-injection", "shell-injection", "hardcoded-secret"}

# Enough turns for a specialist to call its analyzers and submit, bounded in time: three
# specialists share one llama.cpp server on two cores.
GUARDS = {
    "KEEL_GUARD_MAX_AGENT_STEPS": "5",
    "KEEL_GUARD_MAX_TOOL_CALLS": "8",
    "KEEL_GUARD_DEADLINE_S": "420",
    "KEEL_LOCAL_MAX_TOKENS": "768",
}


@pytest.fixture(scope="module")
def qwen_stack() -> Path:
    """The llama-server binary, with the 0.5B model fetched and verified."""
    if os.environ.get("KEEL_SKIP_LOCAL_MODEL") == "1":
        pytest.skip("KEEL_SKIP_LOCAL_MODEL=1: the local-model test was switched off")
    try:
        server = find_llama_server(os.environ.get("KEEL_LLAMA_SERVER"), root=ROOT)
        resolve_gguf(MODEL, os.environ.get("KEEL_MODELS_DIR"))
        return server
    except LocalModelError:
        pass
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-local-model.sh"), "qwen2.5-coder-0.5b"],
        cwd=ROOT,
        env={**os.environ, "KEEL_VENV_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=1800,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    resolve_gguf(MODEL, os.environ.get("KEEL_MODELS_DIR"))
    return find_llama_server(os.environ.get("KEEL_LLAMA_SERVER"), root=ROOT)


def _head(repo: Path) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def _assert_grounded(repo: Path, findings: list[dict[str, Any]]) -> None:
    assert findings, "the report must carry the tools' findings"
    for finding in findings:
        lines = (repo / finding["file"]).read_text(encoding="utf-8").splitlines()
        assert 1 <= finding["line"] <= len(lines), finding
        quoted = mask_secrets("\n".join(lines[finding["line"] - 1 : finding["end_line"]]))
        first = finding["evidence"].splitlines()[0] if finding["evidence"] else ""
        assert first.strip() in quoted, (finding["file"], finding["line"], first)


def test_qwen_05b_review_reaches_a_human_with_every_serious_tool_finding(
    qwen_stack: Path, tmp_path: Path
) -> None:
    repo = build_sample_repo(tmp_path / "sample")
    before = _head(repo)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "OPENAI_"))}
    env |= GUARDS | {
        "KEEL_MODEL": MODEL,
        "KEEL_LLAMA_SERVER": str(qwen_stack),
        **(
            {"KEEL_MODELS_DIR": os.environ["KEEL_MODELS_DIR"]}
            if "KEEL_MODELS_DIR" in os.environ
            else {}
        ),
        "KEEL_HOME": str(tmp_path / "home"),
        "KEEL_DATABASE_URL": f"sqlite:///{tmp_path / 'keel.db'}",
        "LANGSMITH_TRACING": "false",
    }
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "keel.cli", "review", str(repo), "--no-input", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1500,
        stdin=subprocess.DEVNULL,
    )
    wall = time.monotonic() - started
    payload = json.loads(proc.stdout)
    report = payload["report"]
    usage = report.get("usage") or {}
    print(
        f"\nqwen 0.5B review: exit {proc.returncode}, status {payload.get('status')}, "
        f"{wall:.0f} s, {usage.get('model_calls')} model calls, "
        f"{usage.get('input_tokens')} tokens in / {usage.get('output_tokens')} out"
    )
    for handoff in report.get("handoffs") or []:
        print(
            f"  {handoff['source']}: confidence {handoff['confidence']} "
            f"(claimed {handoff.get('claimed_confidence')}) {handoff.get('confidence_basis')}"
        )
    for event in report.get("guard_events") or []:
        print(f"  guard {event['guard']} {event['verdict']} on {event['agent']}: {event['reason']}")

    assert proc.returncode == 3, proc.stderr[-3000:]
    assert payload["status"] == "awaiting_approval"
    assert report["model"] == "local:Qwen2.5-Coder-0.5B-Instruct"

    findings = report["findings"]
    serious = report["evidence"]["high_or_above"]
    assert serious, "the analyzers report high-severity issues on the sample"
    for item in serious:
        assert any(
            f["file"] == item["file"]
            and f["line"] <= item["line"] <= f["end_line"]
            and f["severity"] in HIGH
            for f in findings
        ), f"tool evidence missing from the report: {item}"
    planted = {(p["file"], p["line"]) for p in PLANTED if p["kind"] in PLANTED_HIGH}
    reported = {(f["file"], f["line"]) for f in findings if f["severity"] in HIGH}
    assert planted <= reported, planted - reported
    _assert_grounded(repo, findings)
    assert _head(repo) == before, "an unapproved review must not touch the repository"

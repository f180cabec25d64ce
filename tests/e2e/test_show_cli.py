"""`keel show THREAD` on any thread, through the CLI in subprocesses.

A thread waiting at a budget escalation inside the specialists has no report yet; show
still tells what it waits for and how to continue. Same six JSON keys with a report.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sarif_pydantic import Sarif

from keel.show import SHOW_KEYS
from tests.e2e.conftest import KeelRunner
from tests.e2e.test_budget_cli import SMALL_BUDGET


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_show_a_thread_waiting_at_a_guard_escalation(
    keel: KeelRunner, sample_repo: Path, tmp_path: Path
) -> None:
    review = keel("review", str(sample_repo), "--no-input", "--json", extra_env=SMALL_BUDGET)
    assert review.code == 3, review.stderr
    thread = review.json()["thread_id"]
    waiting_for = {r["interrupt_id"] for r in review.json()["review_requests"]}

    shown = keel("show", thread)
    assert shown.code == 0, shown.stderr
    text = shown.stdout
    assert "**Status: awaiting_approval** — waiting for a human at a guard escalation (budget)" in (
        text
    )
    assert "No report yet" in text
    for agent in ("security", "style", "correctness"):
        assert f"budget guard on {agent}" in text
        assert f"| budget | escalate (pending) | {agent} |" in text
    assert "grant_budget" in text and "80% of" in text
    assert f"keel approve {thread}\n" in text
    assert f"""keel approve {thread} --edit '{{"grant_budget": {{"tokens": 1800}}}}'""" in text
    assert f"keel reject {thread} --reason '...'" in text

    for args in (["--json"], ["--format", "json"]):
        data = keel("show", thread, *args).json()
        assert tuple(data) == SHOW_KEYS
        assert data["thread_id"] == thread and data["status"] == "awaiting_approval"
        assert data["report"] is None
        requests = data["review_requests"]
        assert {r["interrupt_id"] for r in requests} == waiting_for
        packets = [r["packet"] for r in requests]
        assert {(p["guard"], p["agent"]) for p in packets} == {
            ("budget", agent) for agent in ("security", "style", "correctness")
        }
        assert all("80% of" in p["summary"] and p["evidence"] for p in packets)
        assert [a["name"] for r in requests for a in r["action_requests"]] == ["grant_budget"] * 3
        events = data["guard_events"]
        assert {(e["guard"], e["verdict"], e["agent"], e["pending"]) for e in events} == {
            ("budget", "escalate", agent, True) for agent in ("security", "style", "correctness")
        }
        assert data["usage"]["model_calls"] >= 1 and data["usage"]["input_tokens"] > 0

    sarif = keel("show", thread, "--format", "sarif")
    assert sarif.code == 5
    assert f"thread {thread} has no report yet (status awaiting_approval): SARIF needs one" in (
        sarif.stderr
    )
    assert sarif.stdout == ""
    assert keel("show", thread, "--fail-on", "high").code == 5

    # the commands it prints work: granting moves the thread on to the review gate
    granted = keel(
        "approve", thread, "--edit", '{"grant_budget": {"tokens": 50000}}', extra_env=SMALL_BUDGET
    )
    assert granted.code == 3, granted.stderr
    after = keel("show", thread, "--json").json()
    assert tuple(after) == SHOW_KEYS and after["report"] is not None
    assert {(e["guard"], e["verdict"], e["pending"]) for e in after["guard_events"]} == {
        ("budget", "escalate", False)
    }
    assert len(after["guard_events"]) == 3  # recorded once each, no longer pending
    assert after["guard_events"] == [
        e | {"pending": False} for e in after["report"]["guard_events"]
    ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_show_a_thread_with_a_report(keel: KeelRunner, sample_repo: Path, tmp_path: Path) -> None:
    review = keel("review", str(sample_repo), "--no-input", "--json")
    assert review.code == 3, review.stderr
    thread = review.json()["thread_id"]

    waiting = keel("show", thread, "--json")
    assert waiting.code == 0, waiting.stderr
    data = waiting.json()
    assert tuple(data) == SHOW_KEYS
    assert data["status"] == "awaiting_approval"
    assert data["report"] == review.json()["report"]
    assert [a["name"] for a in data["review_requests"][0]["action_requests"]] == [
        "apply_autofix",
        "run_tests",
        "publish_review",
    ]
    assert data["guard_events"] == [] and data["usage"] == data["report"]["usage"]
    markdown = keel("show", thread)
    assert markdown.stdout.startswith("# Keel review")  # the report, as before
    assert f"keel approve {thread} --edit" in markdown.stderr

    done = keel("reject", thread, "--reason", "not now")
    assert done.code == 0, done.stderr
    final = keel("show", thread, "--format", "json")
    assert final.code == 0, final.stderr
    data = final.json()
    assert tuple(data) == SHOW_KEYS
    assert data["status"] == "done" and data["review_requests"] == []
    assert data["report"]["status"] == "done"
    assert data["report"]["review"]["reviewer"] == "e2e-reviewer"
    assert data["usage"] == data["report"]["usage"]
    assert "Continue with" not in keel("show", thread).stderr

    sarif_path = tmp_path / "keel.sarif"
    sarif = keel("show", thread, "--format", "sarif", "--output", str(sarif_path))
    assert sarif.code == 0, sarif.stderr
    Sarif.model_validate_json(sarif_path.read_text())


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_show_an_unknown_thread(keel: KeelRunner) -> None:
    for args in ([], ["--json"], ["--format", "sarif"]):
        result = keel("show", "kr-doesnotexist", *args)
        assert result.code == 4, result.stderr
        assert "unknown thread: kr-doesnotexist" in result.stderr
    assert keel("show", "kr-doesnotexist", "--json").json() == {
        "error": "unknown thread: kr-doesnotexist",
        "exit_code": 4,
    }

"""A budget escalation pauses the thread; a new process grants more and it completes.

Runs the offline model on the sample repository with a deliberately small token budget,
on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.conftest import KeelRunner, git_status

SMALL_BUDGET = {"KEEL_GUARD_BUDGET_TOKENS": "1200"}


def _budget_requests(data: dict) -> list[dict]:
    return [r for r in data["review_requests"] if r["packet"].get("guard") == "budget"]


def test_budget_escalation_then_grant_in_new_process(keel: KeelRunner, sample_repo: Path) -> None:
    review = keel("review", str(sample_repo), "--no-input", "--json", extra_env=SMALL_BUDGET)
    assert review.code == 3, review.stderr
    data = review.json()
    asks = _budget_requests(data)
    assert asks and len(asks) == len(data["review_requests"])
    assert asks[0]["action_requests"][0]["name"] == "grant_budget"
    summary = asks[0]["packet"]["summary"]
    assert re.search(r"(80% of the budget reached|would pass 80% of it): tokens", summary)
    assert "share: 1 of 3 delegated at once" in summary  # three specialists in parallel
    thread = data["thread_id"]

    grant = keel(
        "approve",
        thread,
        "--edit",
        '{"grant_budget": {"tokens": 50000}}',
        "--json",
        extra_env=SMALL_BUDGET,
    )
    assert grant.code == 3, grant.stderr  # now at the review gate, with the side effects
    gate = grant.json()
    assert [a["name"] for a in gate["review_request"]["action_requests"]] == [
        "apply_autofix",
        "run_tests",
        "publish_review",
    ]
    assert {"tokens": 50000}.items() <= gate["report"]["budget_grants"][0].items()

    done = keel("reject", thread, "--reason", "no side effects today", "--json")
    assert done.code == 0, done.stderr
    report = done.json()["report"]
    assert report["status"] == "done"
    assert ("budget", "escalate") in {(e["guard"], e["verdict"]) for e in report["guard_events"]}
    assert git_status(sample_repo) == ""


def test_refused_budget_ends_the_thread_exhausted(keel: KeelRunner, sample_repo: Path) -> None:
    thread = keel(
        "review", str(sample_repo), "--no-input", "--json", extra_env=SMALL_BUDGET
    ).json()["thread_id"]
    # refused before overspending: the agents stop, and their partial result is put to
    # the reviewer (zero-confidence handoffs), who signs it off or not
    partial = keel("reject", thread, "--reason", "too expensive", "--json")
    assert partial.code == 3, partial.stderr
    request = partial.json()["review_request"]
    assert [a["name"] for a in request["action_requests"]] == ["accept_result"]
    assert any(t.startswith("confidence") for t in request["packet"]["triggers"])
    refused = keel("reject", thread, "--reason", "not worth it", "--json")
    assert refused.code == 7, refused.stderr
    assert refused.json()["status"] == "budget_exhausted"
    events = {
        (e["guard"], e["verdict"], e["agent"]) for e in refused.json()["report"]["guard_events"]
    }
    stopped = {("budget", "halt", agent) for agent in ("security", "style", "correctness")}
    assert stopped <= events
    # every agent stopped before its share ran out, so the thread never passed its budget
    assert ("budget", "halt", "pipeline") not in events
    assert keel("threads", "--json").json()[0]["status"] == "budget_exhausted"
    assert git_status(sample_repo) == ""

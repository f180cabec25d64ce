"""Review triggers and decision parsing, called directly on hand-built state."""

from __future__ import annotations

from typing import Any

import pytest

from keel.nodes.agents.review_gate import (
    ReviewResponseError,
    build_review_request,
    check_review_triggers,
    parse_review_response,
    sampled,
)
from keel.nodes.context import KeelContext


def _finding(severity: str) -> dict[str, Any]:
    return {
        "id": severity,
        "file": "a.py",
        "line": 1,
        "end_line": 1,
        "severity": severity,
        "category": "security",
        "rule": "X",
        "title": "t",
        "evidence": "e",
        "specialist": "security",
        "confidence": 0.9,
        "sources": ["bandit"],
    }


def _action(name: str, effect: str = "write", args: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": name,
        "name": name,
        "args": args or {},
        "effect": effect,
        "reason": "r",
        "proposed_by": "report",
    }


def _handoff(confidence: float) -> dict[str, Any]:
    return {
        "source": "security",
        "target": "report",
        "summary": "s",
        "evidence": [],
        "open_questions": ["q"],
        "confidence": confidence,
    }


def _check(**kw: Any) -> list[str]:
    base: dict[str, Any] = {
        "findings": [],
        "actions": [],
        "handoffs": [],
        "thread_id": "t",
        "context": KeelContext(),
    }
    return check_review_triggers(**(base | kw))


def test_clean_run_needs_no_review() -> None:
    assert _check(findings=[_finding("medium")], handoffs=[_handoff(0.9)]) == []


def test_side_effect_triggers() -> None:
    assert _check(actions=[_action("run_tests", "execute")]) == [
        "rule: side effect proposed (run_tests)"
    ]


def test_high_severity_triggers() -> None:
    assert _check(findings=[_finding("critical"), _finding("low")]) == [
        "rule: 1 finding(s) at or above high"
    ]


def test_low_confidence_triggers() -> None:
    assert _check(handoffs=[_handoff(0.3), _handoff(0.9)]) == [
        "confidence: 1 handoff(s) below 0.5 (lowest 0.30)"
    ]


def test_sampling_is_reproducible_and_proportional() -> None:
    picks = [sampled(f"thread-{i}", 0.25) for i in range(2000)]
    assert picks == [sampled(f"thread-{i}", 0.25) for i in range(2000)]
    assert 0.2 < sum(picks) / len(picks) < 0.3
    assert not any(sampled(f"thread-{i}", 0.0) for i in range(100))
    hit = next(f"thread-{i}" for i in range(2000) if sampled(f"thread-{i}", 0.25))
    assert _check(thread_id=hit, context=KeelContext(review_sample_rate=0.25)) == [
        "random sample (25% of runs)"
    ]


def test_request_has_hitl_shape_and_packet() -> None:
    state = {
        "pending_actions": [
            _action("publish_review", args={"path": "R.md"}),
            _action("apply_autofix", args={"diff": "d"}),
        ],
        "findings": [_finding("high")],
        "handoffs": [_handoff(0.7)],
    }
    request = build_review_request(state, ["rule: x"])
    assert [r["name"] for r in request["action_requests"]] == ["apply_autofix", "publish_review"]
    assert request["review_configs"][0] == {
        "action_name": "apply_autofix",
        "allowed_decisions": ["approve", "edit", "reject", "respond"],
    }
    packet = request["packet"]
    assert packet["triggers"] == ["rule: x"]
    assert packet["confidence"] == 0.7
    assert packet["uncertainty"] == ["q"]
    assert packet["evidence"][0]["file"] == "a.py"


def test_request_without_actions_asks_to_accept_result() -> None:
    request = build_review_request({"findings": [_finding("critical")]}, ["rule"])
    assert [r["name"] for r in request["action_requests"]] == ["accept_result"]


def test_parse_approve_edit_reject() -> None:
    actions = [_action("publish_review", args={"path": "R.md"}), _action("run_tests", "execute")]
    decisions, reviewer = parse_review_response(
        {
            "decisions": [
                {
                    "type": "edit",
                    "edited_action": {"name": "publish_review", "args": {"path": "docs/R.md"}},
                },
                {"type": "reject", "message": "no"},
            ],
            "reviewer": "ana",
        },
        actions,
    )
    assert reviewer == "ana"
    assert decisions[0] == {
        "action_id": "publish_review",
        "name": "publish_review",
        "type": "edit",
        "args": {"path": "docs/R.md"},
    }
    assert decisions[1]["type"] == "reject" and decisions[1]["message"] == "no"


@pytest.mark.parametrize(
    ("response", "message"),
    [
        ("approve", "must be"),
        ({"decisions": []}, "expected 1 decision"),
        ({"decisions": [{"type": "yes"}]}, "must have type"),
        (
            {"decisions": [{"type": "edit", "edited_action": {"name": "run_tests", "args": {}}}]},
            "same name",
        ),
        (
            {
                "decisions": [
                    {
                        "type": "edit",
                        "edited_action": {"name": "publish_review", "args": {"path": ""}},
                    }
                ]
            },
            "invalid arguments for publish_review",
        ),
    ],
)
def test_parse_rejects_bad_responses(response: Any, message: str) -> None:
    with pytest.raises(ReviewResponseError, match=message):
        parse_review_response(response, [_action("publish_review", args={"path": "R.md"})])

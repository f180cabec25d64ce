"""Review triggers: the sensitive-path rule and how it combines with the other triggers.

The basics of each trigger are in tests/unit/test_review_gate_check.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from keel.nodes.agents.review_gate import check_review_triggers, sampled
from keel.nodes.context import KeelContext
from keel.nodes.guards.policy import GuardPolicy


def _finding(file: str, severity: str = "low", rule: str = "X", line: int = 1) -> dict[str, Any]:
    return {
        "id": f"{file}:{rule}:{line}",
        "file": file,
        "line": line,
        "end_line": line,
        "severity": severity,
        "category": "security",
        "rule": rule,
        "title": "t",
        "evidence": "e",
        "specialist": "security",
        "confidence": 0.9,
        "sources": ["bandit"],
    }


def _action(name: str, effect: str) -> dict[str, Any]:
    return {
        "id": name,
        "name": name,
        "args": {},
        "effect": effect,
        "reason": "r",
        "proposed_by": "report",
    }


def _handoff(confidence: float) -> dict[str, Any]:
    return {
        "source": "style",
        "target": "report",
        "summary": "s",
        "evidence": [],
        "open_questions": [],
        "confidence": confidence,
    }


def _check(context: KeelContext | None = None, thread_id: str = "t", **kw: Any) -> list[str]:
    base: dict[str, Any] = {"findings": [], "actions": [], "handoffs": []}
    return check_review_triggers(
        **(base | kw), thread_id=thread_id, context=context or KeelContext()
    )


@pytest.mark.parametrize(
    "file",
    ["src/auth/login.py", "lib/crypto_utils.py", "payments/payment_api.py", "conf/secrets.yml"],
)
def test_a_low_finding_in_a_sensitive_path_needs_review(file: str) -> None:
    assert _check(findings=[_finding(file, "info")]) == [
        f"rule: findings in sensitive paths ({file})"
    ]


def test_findings_outside_sensitive_paths_do_not_trigger() -> None:
    assert _check(findings=[_finding("src/app.py"), _finding("README.md", "medium")]) == []


def test_sensitive_files_are_deduplicated_sorted_and_capped_at_five() -> None:
    files = [f"auth/m{i}.py" for i in (6, 2, 4, 1, 5, 3)]
    findings = [_finding(f, line=n) for f in files for n in (1, 2)]
    assert _check(findings=findings) == [
        "rule: findings in sensitive paths (auth/m1.py, auth/m2.py, auth/m3.py, auth/m4.py, "
        "auth/m5.py)"
    ]


def test_sensitive_globs_come_from_the_guard_policy() -> None:
    context = KeelContext(guards=GuardPolicy(sensitive_paths=("*.pem", "infra/*")))
    findings = [_finding("src/auth/login.py"), _finding("certs/key.pem"), _finding("infra/x.tf")]
    assert _check(context, findings=findings) == [
        "rule: findings in sensitive paths (certs/key.pem, infra/x.tf)"
    ]
    assert _check(KeelContext(guards=GuardPolicy(sensitive_paths=())), findings=findings) == []


def test_all_rules_fire_together_in_a_fixed_order() -> None:
    triggers = _check(
        findings=[_finding("auth/token.py", "critical"), _finding("app.py", "high", rule="Y")],
        actions=[
            _action("run_tests", "execute"),
            _action("apply_autofix", "write"),
            _action("read_more", "read"),
        ],
        handoffs=[_handoff(0.2), _handoff(0.45), _handoff(0.9)],
    )
    assert triggers == [
        "rule: side effect proposed (apply_autofix, run_tests)",
        "rule: findings in sensitive paths (auth/token.py)",
        "rule: 2 finding(s) at or above high",
        "confidence: 2 handoff(s) below 0.5 (lowest 0.20)",
    ]


def test_sensitive_rule_is_independent_of_severity_threshold() -> None:
    findings = [_finding("auth/token.py", "high")]
    context = KeelContext(review_min_severity="critical")
    assert _check(context, findings=findings) == [
        "rule: findings in sensitive paths (auth/token.py)"
    ]


def test_read_only_actions_and_confident_handoffs_do_not_trigger() -> None:
    assert _check(actions=[_action("read_more", "read")], handoffs=[_handoff(0.5)]) == []


def _sampled_thread(rate: float) -> str:
    return next(f"thread-{i}" for i in range(1000) if sampled(f"thread-{i}", rate))


def test_random_sample_is_added_only_when_no_rule_fired() -> None:
    thread = _sampled_thread(0.5)
    context = KeelContext(review_sample_rate=0.5)
    assert _check(context, thread) == ["random sample (50% of runs)"]
    assert _check(context, thread, findings=[_finding("auth/x.py")]) == [
        "rule: findings in sensitive paths (auth/x.py)"
    ]
    assert _check(context, thread, handoffs=[_handoff(0.1)]) == [
        "confidence: 1 handoff(s) below 0.5 (lowest 0.10)"
    ]


def test_sensitive_rule_and_low_confidence_both_reported() -> None:
    triggers = _check(findings=[_finding("secret_store.py")], handoffs=[_handoff(0.0)])
    assert triggers == [
        "rule: findings in sensitive paths (secret_store.py)",
        "confidence: 1 handoff(s) below 0.5 (lowest 0.00)",
    ]

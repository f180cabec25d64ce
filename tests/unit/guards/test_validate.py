"""Validator with repair: `check_submission`, `grounding_event` and the `validate` node."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from pydantic import BaseModel, Field, ValidationError

from keel.nodes.guards._verdict import Verdict
from keel.nodes.guards.base import guard_node
from keel.nodes.guards.policy import GuardPolicy
from keel.nodes.guards.validate import VALIDATE, check_submission, grounding_event

from ._state import AGENT, OTHER_AGENT, ai, assert_calls_answered, event, history, step

SUBMIT = "submit_findings"
ERRORS = "summary: Field required; confidence: Input should be less than or equal to 1"


class Submission(BaseModel):
    summary: str
    confidence: float = Field(ge=0, le=1)


class Wide(BaseModel):
    f00: int
    f01: int
    f02: int
    f03: int
    f04: int
    f05: int
    f06: int
    f07: int
    f08: int
    f09: int
    f10: int
    f11: int


def _error(model: type[BaseModel] = Submission, data: Any = None) -> ValidationError:
    try:
        model.model_validate({"confidence": 2} if data is None else data)
    except ValidationError as exc:
        return exc
    raise AssertionError("expected a validation error")


def _check(events: list[dict[str, Any]], policy: GuardPolicy | None = None) -> Verdict:
    return check_submission(
        {"guard_events": events},
        _error(),
        agent=AGENT,
        call_id="sub1",
        policy=policy or GuardPolicy(),
    )


def test_first_invalid_submission_is_sent_back_for_repair() -> None:
    verdict = _check([])
    assert (verdict.guard, verdict.action) == ("validate", "nudge")
    assert verdict.reason == f"invalid submission (repair 1 of 2): {ERRORS}"
    assert verdict.detail == {"call_id": "sub1", "error": str(_error())}


@pytest.mark.parametrize(
    ("prior", "action", "attempt"),
    [(0, "nudge", 1), (1, "nudge", 2), (2, "escalate", 2), (3, "escalate", 2)],
)
def test_repairs_up_to_max_then_escalates(prior: int, action: str, attempt: int) -> None:
    verdict = _check([event("validate") for _ in range(prior)])
    assert verdict.action == action
    assert verdict.reason == f"invalid submission (repair {attempt} of 2): {ERRORS}"


def test_max_repairs_comes_from_the_policy() -> None:
    policy = GuardPolicy(max_repairs=1)
    assert _check([], policy).reason == f"invalid submission (repair 1 of 1): {ERRORS}"
    assert _check([event("validate")], policy).action == "escalate"


def test_only_this_agents_validate_events_count() -> None:
    events = [event("validate", agent=OTHER_AGENT)] * 3 + [event("loop"), event("drift")]
    verdict = _check(events)
    assert verdict.action == "nudge"
    assert "(repair 1 of 2)" in verdict.reason


def test_reason_lists_at_most_ten_errors() -> None:
    exc = _error(Wide, {})
    verdict = check_submission({}, exc, agent=AGENT, call_id="c", policy=GuardPolicy())
    listed = verdict.reason.split("): ", 1)[1].split("; ")
    assert listed == [f"f{i:02d}: Field required" for i in range(10)]
    assert "f11" in verdict.detail["error"]


def test_grounding_event_reason() -> None:
    dropped = ["a.py:99 — the file has 40 lines", "../etc/passwd:1 — outside the repository"]
    verdict = grounding_event(AGENT, dropped)
    assert (verdict.guard, verdict.action) == ("validate", "nudge")
    assert verdict.reason == (
        "dropped 2 ungrounded finding(s): a.py:99 — the file has 40 lines; "
        "../etc/passwd:1 — outside the repository"
    )


# ----------------------------------------------------------------------------- node


def _node_state(last: AIMessage) -> dict[str, Any]:
    verdict = _check([])
    return {
        "messages": [*history([("read_file", {"path": "a.py"})]), last],
        "step": step(),
        "verdict": verdict.pending(),
    }


def test_node_nudge_returns_the_error_as_the_submit_calls_result() -> None:
    state = _node_state(ai([(SUBMIT, {"confidence": 2})], prefix="sub"))
    state["verdict"]["detail"]["call_id"] = "sub0"
    command = guard_node(VALIDATE, AGENT, model_node="model")(state)
    assert command.goto == "model"
    update = command.update
    assert update["verdict"] is None
    (recorded,) = update["guard_events"]
    assert (recorded["guard"], recorded["verdict"], recorded["agent"]) == (
        "validate",
        "nudge",
        AGENT,
    )
    assert recorded["reason"] == f"invalid submission (repair 1 of 2): {ERRORS}"
    (reply,) = update["messages"]
    assert isinstance(reply, ToolMessage)
    assert (reply.tool_call_id, reply.name, reply.status) == ("sub0", SUBMIT, "error")
    error = state["verdict"]["detail"]["error"]
    assert reply.content == f"Invalid submission, fix it and call {SUBMIT} again:\n{error}"


def test_node_nudge_answers_every_call_of_the_last_message() -> None:
    last = ai([("read_file", {"path": "b.py"}), (SUBMIT, {"confidence": 2})], prefix="l")
    state = _node_state(last)
    state["verdict"]["detail"]["call_id"] = "l1"
    command = guard_node(VALIDATE, AGENT)(state)
    assert_calls_answered(last, command.update["messages"])  # today: only l1 is answered


def test_node_without_verdict_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="validate guard entered without a verdict"):
        guard_node(VALIDATE, AGENT)({"messages": []})

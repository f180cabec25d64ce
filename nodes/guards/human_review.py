"""The human-review protocol: what a reviewer may answer, who the reviewer is.

Every pause for a person — the review gate (`review_gate.py`), a guard's escalation
(`_escalate.py`), a stale approval (`nodes/actions.py`) — asks with LangChain v1's HITL
request (`action_requests`, `review_configs`) and reads the answer here:
`{"decisions": [...], "reviewer": "name"}`, one decision per action request, in order:
`{"type": "approve"}`, `{"type": "edit", "edited_action": {"name": ..., "args": {...}}}`,
`{"type": "reject", "message": ...}` or `{"type": "respond", "message": ...}`
(`keel.core.vocabulary.DECISIONS`).

The guards' decisions are defined here, with their arguments: `continue_agent` (an agent
may carry on), `grant_budget` (new limits), `extend_deadline` (restart the clock). They
have no side effect. The pipeline's actions, which have one, are in the action registry
(`nodes/actions.py`); `parse_review_response` checks edited arguments with the validator
it is given — the guards' decisions by default, the registry and these for the gate.

Contract: an answer that does not fit the request raises `ReviewResponseError` (the
caller asks again or reports it); nothing here runs an effect or reads the repository.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from keel.core.vocabulary import DECISIONS

__all__ = [
    "ALLOWED_DECISIONS",
    "GUARD_DECISIONS",
    "ActionArgsError",
    "ArgsValidator",
    "ReviewResponseError",
    "parse_review_response",
    "resolve_reviewer",
    "validate_args",
    "validate_guard_decision",
]

ALLOWED_DECISIONS: list[str] = list(DECISIONS)
"""The decisions every review request allows (approve, edit, reject, respond)."""


class ReviewResponseError(ValueError):
    """A resume value that is not a valid answer to the review request."""


class ActionArgsError(ValueError):
    """Edited arguments do not fit the action (or the action is unknown)."""


ArgsValidator = Callable[[str, Mapping[str, Any]], dict[str, Any]]
"""Validates (edited) arguments of a named action and returns them normalised.

Raises `ActionArgsError` for an unknown name or arguments that do not fit."""


class _GrantArgs(BaseModel):
    tokens: int | None = Field(default=None, gt=0)
    cost_usd: float | None = Field(default=None, gt=0)
    model_calls: int | None = Field(default=None, gt=0)
    tool_calls: int | None = Field(default=None, gt=0)


class _NoArgs(BaseModel):
    pass


GUARD_DECISIONS: dict[str, type[BaseModel]] = {
    "continue_agent": _NoArgs,
    "grant_budget": _GrantArgs,
    "extend_deadline": _NoArgs,
}
"""What a guard may ask a human (no side effect), with the arguments an edit may set."""


def validate_args(
    schemas: Mapping[str, type[BaseModel]], name: str, args: Mapping[str, Any]
) -> dict[str, Any]:
    """Validate `args` against `schemas[name]` and return them normalised.

    Raises:
        ActionArgsError: `name` is not in `schemas`, or the arguments do not validate
            (every problem named, with its field).
    """
    schema = schemas.get(name)
    if schema is None:
        raise ActionArgsError(f"unknown action {name!r}; known: {', '.join(schemas)}")
    try:
        return schema.model_validate(dict(args)).model_dump()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ActionArgsError(f"invalid arguments for {name}: {problems}") from None


def validate_guard_decision(name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the (edited) arguments of a guard's decision (`GUARD_DECISIONS`)."""
    return validate_args(GUARD_DECISIONS, name, args)


def parse_review_response(
    response: Any,
    actions: Sequence[Mapping[str, Any]],
    validate: ArgsValidator = validate_guard_decision,
) -> tuple[list[dict[str, Any]], str]:
    """Validate a resume value against the requested actions.

    Args:
        response: the resume value.
        actions: the action requests, in order (each with `name`, `args`, maybe `id`).
        validate: checks an approved or edited action's arguments; the default knows the
            guards' decisions only (the review gate passes one that knows the registry).

    Returns:
        (normalised decisions — one per action, with `action_id` — and the claimed
        reviewer).

    Raises:
        ReviewResponseError: wrong shape, wrong count, unknown decision type, an edit that
            renames the action or whose arguments do not validate.
        ActionArgsError: an approved action whose own arguments do not validate.
    """
    if not isinstance(response, Mapping) or not isinstance(response.get("decisions"), list):
        raise ReviewResponseError('resume value must be {"decisions": [...]}')
    raw = response["decisions"]
    if len(raw) != len(actions):
        raise ReviewResponseError(
            f"expected {len(actions)} decision(s), one per action, got {len(raw)}"
        )
    decisions = []
    for action, decision in zip(actions, raw, strict=True):
        if not isinstance(decision, Mapping) or decision.get("type") not in ALLOWED_DECISIONS:
            raise ReviewResponseError(
                f"decision for {action['name']} must have type one of {ALLOWED_DECISIONS}"
            )
        kind = str(decision["type"])
        entry: dict[str, Any] = {
            "action_id": action.get("id", action["name"]),
            "name": action["name"],
            "type": kind,
        }
        if kind == "edit":
            edited = decision.get("edited_action")
            if not isinstance(edited, Mapping) or edited.get("name") != action["name"]:
                raise ReviewResponseError(
                    f"edit of {action['name']} needs edited_action with the same name"
                )
            try:
                entry["args"] = validate(
                    action["name"], {**action["args"], **dict(edited.get("args") or {})}
                )
            except ActionArgsError as exc:
                raise ReviewResponseError(str(exc)) from None
        elif kind == "approve":
            entry["args"] = validate(action["name"], action["args"])
        if "message" in decision:
            entry["message"] = str(decision["message"])[:2000]
        decisions.append(entry)
    reviewer = str(response.get("reviewer") or "unknown")[:200]
    return decisions, reviewer


def resolve_reviewer(claimed: str) -> str:
    """Return who decided: the authenticated user when served with auth, else `claimed`.

    Under `langgraph dev` / LangGraph Server the run's config carries the authenticated
    user as `config["configurable"]["langgraph_auth_user"]` (an object or dict with an
    `identity`); a name typed into the resume payload cannot override it. Outside the
    server (the CLI), or on a server without auth (its users are not authenticated),
    the claimed name is kept.
    """
    from langgraph.config import get_config

    try:
        configurable = get_config().get("configurable") or {}
    except RuntimeError:
        return claimed
    user = configurable.get("langgraph_auth_user")
    if isinstance(user, Mapping):
        identity, authenticated = user.get("identity"), user.get("is_authenticated", True)
    else:
        identity = getattr(user, "identity", None)
        authenticated = getattr(user, "is_authenticated", True)
    return str(identity)[:200] if identity and authenticated else claimed

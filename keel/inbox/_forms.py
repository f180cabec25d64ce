"""The decision form of the thread page, read into decisions — or into errors, sending nothing.

Fields, per pending action `i` (its position among every pending action): `decision-i`
(one of the decisions its review config allows), `args-i` (for an edit: the arguments
as a JSON object, merged over the proposed ones by the review protocol) and `message-i`
(the reason of a rejection, the message of a response — both required). The page's own
script checks the same before submitting; this is the check that counts.

`decisions_from_form` returns the decisions in the protocol's shape, or errors keyed by
`i`; the decisions are validated against the action registry afterwards, by `decide`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from keel.inbox._packet import RequestView

__all__ = ["FormResult", "decisions_from_form"]


@dataclass(frozen=True)
class FormResult:
    """What a submitted decision form said."""

    decisions: list[dict[str, Any]]
    errors: dict[int, str]
    """Problems by action index; non-empty means nothing may be sent."""
    values: dict[str, str]
    """The submitted fields, to show the form again as it was."""


def _edit(name: str, raw: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        args = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, (
            f"the edited arguments are not valid JSON: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno})"
        )
    if not isinstance(args, dict):
        return None, 'the edited arguments must be a JSON object, e.g. {"path": "R.md"}'
    return {"type": "edit", "edited_action": {"name": name, "args": args}}, None


def decisions_from_form(form: Mapping[str, Any], requests: Sequence[RequestView]) -> FormResult:
    """Read one decision per pending action of `requests` from the submitted `form`."""
    decisions: list[dict[str, Any]] = []
    errors: dict[int, str] = {}
    values = {str(k): str(v) for k, v in form.items()}
    for action in (a for r in requests for a in r.actions):
        i = action.index
        kind = values.get(f"decision-{i}", "")
        message = values.get(f"message-{i}", "").strip()
        if kind not in action.allowed:
            errors[i] = f"choose a decision for {action.name}: {', '.join(action.allowed)}"
        elif kind == "edit":
            decision, problem = _edit(action.name, values.get(f"args-{i}", ""))
            if problem is not None:
                errors[i] = problem
            elif decision is not None:
                decisions.append(decision)
        elif kind in ("reject", "respond"):
            if not message:
                what = "a rejection needs a reason" if kind == "reject" else "write the response"
                errors[i] = f"{action.name}: {what}"
            else:
                decisions.append({"type": kind, "message": message})
        else:
            decisions.append({"type": kind})
    return FormResult(decisions, errors, values)

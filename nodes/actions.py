"""Side-effecting actions, run only in the node after the human review gate.

Actions: `apply_autofix` (write: applies a unified diff with `git apply`),
`run_tests` (execute: runs the repository's tests, i.e. repository code),
`publish_review` (write: writes the report into the repository). `accept_result` has
no effect; it lets a reviewer sign off a run that proposed no action.

Each action goes through the idempotency ledger (`nodes.ledger`): intent before the
effect, result after, and after a crash in between, a check whether the effect is already
in place — so a resumed or replayed node does not repeat an effect.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field, ValidationError

from graphs.context import KeelContext, RuntimeNode, current_thread_id
from graphs.state import ActionResult, PendingAction, PipelineState
from nodes.ledger import Ledger, journal
from tools import actions as effects
from tools import pytest_runner
from tools._repo import RepoPathError

__all__ = [
    "ACTION_ORDER",
    "ActionArgsError",
    "execute_actions",
    "validate_action_args",
]

ACTION_ORDER = ("apply_autofix", "run_tests", "publish_review", "accept_result")
"""Actions run in this order (fixes first, so tests see them; the report last)."""


class _AutofixArgs(BaseModel):
    diff: str = Field(min_length=1)


class _RunTestsArgs(BaseModel):
    timeout_s: float = Field(default=300, gt=0, le=3600)


class _PublishArgs(BaseModel):
    path: str = Field(min_length=1)


class _NoArgs(BaseModel):
    pass


class _GrantArgs(BaseModel):
    tokens: int | None = Field(default=None, gt=0)
    cost_usd: float | None = Field(default=None, gt=0)
    model_calls: int | None = Field(default=None, gt=0)
    tool_calls: int | None = Field(default=None, gt=0)


class _ContinueArgs(BaseModel):
    pass


_SCHEMAS: dict[str, type[BaseModel]] = {
    "apply_autofix": _AutofixArgs,
    "run_tests": _RunTestsArgs,
    "publish_review": _PublishArgs,
    "accept_result": _NoArgs,
    # decisions asked by guards (no side effect)
    "grant_budget": _GrantArgs,
    "continue_agent": _ContinueArgs,
    "extend_deadline": _ContinueArgs,
}


class ActionArgsError(ValueError):
    """Edited arguments do not fit the action."""


def validate_action_args(name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Validate (edited) arguments of an action and return them normalised."""
    schema = _SCHEMAS.get(name)
    if schema is None:
        raise ActionArgsError(f"unknown action {name!r}; known: {', '.join(_SCHEMAS)}")
    try:
        return schema.model_validate(dict(args)).model_dump()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ActionArgsError(f"invalid arguments for {name}: {problems}") from None


def _run(
    action: PendingAction, args: dict[str, Any], repo: Path, report_md: str
) -> tuple[str, str, dict[str, Any]]:
    """Perform one action; return (status, detail, output)."""
    name = action["name"]
    if name == "apply_autofix":
        touched = effects.apply_patch(repo, args["diff"])
        return "done", f"patched {len(touched)} file(s)", {"files": touched}
    if name == "run_tests":
        result = pytest_runner.run_pytest(repo, timeout=args["timeout_s"])
        detail = (
            f"pytest exit {result['exit_code']}: {result['passed']} passed, "
            f"{result['failed']} failed, {result['errors']} errors"
        )
        return "done", detail, dict(result)
    if name == "publish_review":
        path = effects.publish_report(repo, args["path"], report_md)
        return "done", f"review written to {path.relative_to(repo)}", {"path": str(path)}
    return "done", "result accepted", {}


def _already_done(
    action: PendingAction, args: dict[str, Any], repo: Path, report_md: str
) -> str | None:
    """After a crash mid-effect: is the effect already in place? Returns why, or None."""
    name = action["name"]
    if name == "apply_autofix" and effects.patch_applied(repo, args["diff"]):
        return "patch already in the work tree (recovered after an interrupted attempt)"
    if name == "publish_review" and effects.report_published(repo, args["path"], report_md):
        return "review already written (recovered after an interrupted attempt)"
    if name in ("accept_result", "grant_budget", "continue_agent", "extend_deadline"):
        return "no effect"
    return None


def execute_actions(
    report_md: Callable[[PipelineState], str],
) -> RuntimeNode:
    """Return the node that runs every approved or edited action exactly once."""

    def execute(state: PipelineState, runtime: Runtime[KeelContext]) -> dict[str, Any]:
        review = state.get("review")
        if review is None:
            return {}
        context = runtime.context or KeelContext()
        thread_id = current_thread_id()
        ledger = Ledger(runtime.store, thread_id)
        decisions = {d["action_id"]: d for d in review["decisions"]}
        repo = Path(state["repo"])
        content = report_md(state)
        results: list[ActionResult] = []
        actions = sorted(
            state.get("pending_actions", []), key=lambda a: ACTION_ORDER.index(a["name"])
        )
        for action in actions:
            decision = decisions.get(action["id"])
            if decision is None or decision["type"] not in ("approve", "edit"):
                continue
            entry = ledger.get(action["id"])
            if entry is not None and entry["status"] == "done":
                results.append(cast(ActionResult, entry["result"]))
                continue
            args = decision.get("args", action["args"])
            recovered = _already_done(action, args, repo, content) if entry else None
            attempts = int((entry or {}).get("attempts", 0))
            output: dict[str, Any]
            if recovered is not None:
                status, detail, output = "done", recovered, {}
            else:
                attempts = ledger.begin(action["id"])
                try:
                    status, detail, output = _run(action, args, repo, content)
                except (effects.PatchError, RepoPathError, OSError, RuntimeError) as exc:
                    status, detail, output = "failed", str(exc)[:500], {}
                journal(context.effect_journal, thread_id, action["id"], f"{status}: {detail}")
            result = ActionResult(
                id=action["id"],
                name=action["name"],
                decision=decision["type"],
                status=status,  # type: ignore[typeddict-item]
                detail=detail,
                output=output,
            )
            ledger.finish(action["id"], dict(result), attempts)
            results.append(result)
        return {"action_results": results}

    return execute

"""Side-effecting actions, run only in the node after the human review gate.

Actions: `apply_autofix` (write: applies a unified diff with `git apply`),
`run_tests` (execute: runs the repository's tests, i.e. repository code),
`publish_review` (write: writes the report into the repository). `accept_result` has
no effect; it lets a reviewer sign off a run that proposed no action.

Each action goes through the idempotency ledger (`nodes.ledger`): intent before the
effect, result after, and after a crash in between, a check whether the effect is already
in place — so a resumed or replayed node does not repeat an effect.

**An approval is for what was reviewed.** The report recorded the reviewed state
(`tools/reviewed_state.py`: commits, tree, the files in scope and where the repository
stood). Before each action with an effect, the repository is compared with it — HEAD,
the branch, the index of a staged review, every file in scope in the work tree, with the
effects already run here accounted for. If anything moved, nothing more runs: the node
asks again with a *stale approval* request (`STALE_APPROVAL`: what changed, which
approved actions did not run, the re-review command) whose only decisions are `reject`
and `rereview` (`{"type": "rereview", "thread_id": NEW}` once a new thread reviews the
repository as it is now); either ends the thread with those actions recorded as
`stale`, never run. The verdict is kept in the ledger's namespace, so a re-run of the
node after the answer reaches the same request even if the repository moved back.
Each effect also acts only on the reviewed state: `run_tests` runs in a fresh worktree of
the reviewed tree (plus the approved autofix), `apply_autofix` refuses a file whose work
tree content is not the reviewed content, and `publish_review` writes the reviewed
report only after the comparison passed.

A thread paused by a Keel that recorded no reviewed state resumes as before (tests in
the work tree, no comparison) and says so in each result's detail.

Without a store (an in-process graph compiled without one) the ledger is a no-op: the
stale verdict is then recomputed on a re-run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import BaseModel, Field, ValidationError

from graphs.context import KeelContext, RuntimeNode, current_thread_id
from graphs.state import ActionResult, PendingAction, PipelineState
from nodes.guards._verdict import utc_now
from nodes.guards.feedback import record_feedback
from nodes.ledger import Ledger, journal
from tools import actions as effects
from tools import diffs, git, pytest_runner, snapshot
from tools import reviewed_state as rs
from tools._repo import RepoPathError

__all__ = [
    "ACTION_ORDER",
    "STALE_APPROVAL",
    "STALE_DECISIONS",
    "ActionArgsError",
    "StaleResponseError",
    "execute_actions",
    "parse_stale_response",
    "validate_action_args",
]

ACTION_ORDER = ("apply_autofix", "run_tests", "publish_review", "accept_result")
"""Actions run in this order (fixes first, so tests see them; the report last)."""

STALE_APPROVAL = "stale_approval"
"""Name (and id) of the request asked when the repository moved after the review."""

STALE_DECISIONS = ["reject", "rereview"]
"""What a reviewer may answer to a stale approval: nothing approved runs either way."""

NOT_RECORDED = (
    "reviewed state not recorded (a thread paused by an earlier Keel, or git refused when "
    "the review was requested): not checked against the repository"
)
"""Said in the result of every action of a thread without a recorded reviewed state."""

_STALE_KEY = "__stale_approval__"
"""Ledger-namespace key of a thread's stale verdict (no action has this id)."""


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


class StaleResponseError(ValueError):
    """A resume value that is not an answer to a stale-approval request."""


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


def parse_stale_response(response: Any) -> tuple[dict[str, Any], str]:
    """Validate the answer to a stale-approval request.

    Returns:
        (the decision — `reject`, or `rereview` with the new `thread_id` — and the
        claimed reviewer).

    Raises:
        StaleResponseError: not `{"decisions": [one decision]}`, or a type other than
            `STALE_DECISIONS` (an `approve` of a stale approval is refused here).
    """
    decisions = response.get("decisions") if isinstance(response, Mapping) else None
    if not isinstance(decisions, list) or len(decisions) != 1:
        raise StaleResponseError('answer a stale approval with {"decisions": [one decision]}')
    (decision,) = decisions
    kind = decision.get("type") if isinstance(decision, Mapping) else None
    if kind not in STALE_DECISIONS:
        raise StaleResponseError(
            f"a stale approval takes one of {STALE_DECISIONS}, not {kind!r}: the repository "
            "moved since the review, so the approved actions cannot run"
        )
    entry: dict[str, Any] = {"action_id": STALE_APPROVAL, "name": STALE_APPROVAL, "type": kind}
    if kind == "rereview":
        entry["thread_id"] = str(decision.get("thread_id") or "")[:200]
    if "message" in decision:
        entry["message"] = str(decision["message"])[:2000]
    return entry, str(response.get("reviewer") or "unknown")[:200]


# ------------------------------------------------------------------ freshness


class _Freshness:
    """The repository as the approved actions may find it: the review's, plus our effects."""

    def __init__(self, repo: Path, reviewed: rs.ReviewedState | None) -> None:
        self.repo = repo
        self.reviewed = reviewed
        at_review = reviewed["at_review"] if reviewed else None
        self.expected: rs.RepoState | None = (
            rs.RepoState(**{**at_review, "files": dict(at_review["files"])}) if at_review else None
        )

    def moved(self) -> list[rs.Change]:
        """What moved since the review, our own effects aside (empty: nothing, or unknown)."""
        if self.expected is None or self.reviewed is None:
            return []
        now = rs.observe(self.repo, self.expected["files"], staged=self.reviewed["staged"])
        return rs.compare(self.expected, now)

    def ran(self, name: str, output: Mapping[str, Any]) -> None:
        """Account for an effect of ours: the files an autofix patched hold its result."""
        if self.expected is not None and name == "apply_autofix":
            self.expected["files"].update(output.get("hashes") or {})

    def explain(self, changes: list[rs.Change]) -> list[str]:
        """The changes in words, with the commits that moved HEAD."""
        lines = []
        for change in changes:
            line = rs.describe(change)
            if change["kind"] == "head":
                how = rs.new_commits(self.repo, change["before"], change["after"])
                line += f" ({how})" if how else ""
            lines.append(line)
        return lines


def _autofix_refusal(repo: Path, diff: str, reviewed: rs.ReviewedState) -> str | None:
    """Why the patch may not be applied: a file it touches is not the reviewed content."""
    touched = sorted(diffs.split_by_file(diff))
    now = rs.file_hashes(repo, touched)
    wrong = [path for path in touched if path not in reviewed["files"]]
    if wrong:
        return f"refused: the patch touches files that were not reviewed ({', '.join(wrong)})"
    differ = [path for path in touched if now[path] != reviewed["files"][path]]
    if differ:
        return (
            f"refused: the work tree's {', '.join(differ)} is not the content the review read "
            "(uncommitted edits, or another revision): the patch was made for the reviewed one"
        )
    return None


def _run_tests(
    repo: Path, args: dict[str, Any], reviewed: rs.ReviewedState | None, fix: str | None
) -> tuple[str, str, dict[str, Any]]:
    """Run the tests on the reviewed tree (plus the approved fix), or the work tree if unknown."""
    if reviewed is None:
        result = pytest_runner.run_pytest(repo, timeout=args["timeout_s"])
        where = "the work tree"
    else:
        key = current_thread_id()
        try:
            tree = rs.checkout(repo, key, reviewed)
            if fix:
                effects.apply_patch(tree, fix)
            result = pytest_runner.run_pytest(tree, timeout=args["timeout_s"])
        finally:
            snapshot.remove(repo, key)
        where = f"a checkout of the reviewed tree {str(reviewed['tree'])[:12]}" + (
            " with the approved autofix" if fix else ""
        )
    detail = (
        f"pytest exit {result['exit_code']}: {result['passed']} passed, "
        f"{result['failed']} failed, {result['errors']} errors (on {where})"
    )
    return "done", detail, dict(result) | {"ran_in": where}


def _run(
    action: PendingAction,
    args: dict[str, Any],
    repo: Path,
    report_md: str,
    reviewed: rs.ReviewedState | None,
    fix: str | None,
) -> tuple[str, str, dict[str, Any]]:
    """Perform one action; return (status, detail, output)."""
    name = action["name"]
    if name == "apply_autofix":
        refusal = _autofix_refusal(repo, args["diff"], reviewed) if reviewed else None
        if refusal is not None:
            return "failed", refusal, {}
        touched = effects.apply_patch(repo, args["diff"])
        hashes = rs.file_hashes(repo, touched)
        return "done", f"patched {len(touched)} file(s)", {"files": touched, "hashes": hashes}
    if name == "run_tests":
        return _run_tests(repo, args, reviewed, fix)
    if name == "publish_review":
        path = effects.publish_report(repo, args["path"], report_md)
        return "done", f"review written to {path.relative_to(repo)}", {"path": str(path)}
    return "done", "result accepted", {}


def _already_done(
    action: PendingAction, args: dict[str, Any], repo: Path, report_md: str
) -> tuple[str, dict[str, Any]] | None:
    """After a crash mid-effect: is the effect already in place? Returns (why, output)."""
    name = action["name"]
    if name == "apply_autofix" and effects.patch_applied(repo, args["diff"]):
        touched = sorted(diffs.split_by_file(args["diff"]))
        return (
            "patch already in the work tree (recovered after an interrupted attempt)",
            {"files": touched, "hashes": rs.file_hashes(repo, touched)},
        )
    if name == "publish_review" and effects.report_published(repo, args["path"], report_md):
        return "review already written (recovered after an interrupted attempt)", {}
    if name in ("accept_result", "grant_budget", "continue_agent", "extend_deadline"):
        return "no effect", {}
    return None


# ------------------------------------------------------------- stale approvals


def _stale_verdict(ledger: Ledger) -> dict[str, Any] | None:
    return ledger.get(_STALE_KEY)


def _keep_stale_verdict(ledger: Ledger, verdict: dict[str, Any]) -> dict[str, Any]:
    """Keep the first verdict (a re-run reads it instead of looking at the repository)."""
    if ledger.store is not None:
        ledger.store.put(ledger.namespace, _STALE_KEY, verdict)
    return verdict


def _stale_request(state: PipelineState, verdict: Mapping[str, Any]) -> dict[str, Any]:
    """The stale-approval request: what changed, what did not run, how to re-review."""
    not_run = ", ".join(verdict["not_run"])
    ran = ", ".join(verdict["ran"]) or "nothing"
    rereview = verdict["rereview"]
    report: Mapping[str, Any] = state.get("report") or {}
    return {
        "action_requests": [
            {
                "id": STALE_APPROVAL,
                "name": STALE_APPROVAL,
                "args": {"rereview": rereview["command"], "review": rereview["review_command"]},
                "description": (
                    f"[read] the repository moved since the review: {not_run} did not run "
                    f"(ran before it moved: {ran}). Reject to end the thread, or re-review "
                    f"the repository as it is now: {rereview['command']}"
                ),
            }
        ],
        "review_configs": [
            {"action_name": STALE_APPROVAL, "allowed_decisions": list(STALE_DECISIONS)}
        ],
        "packet": {
            "stale_approval": dict(verdict),
            "summary": (report.get("data") or {}).get("counts", {}),
            "reasoning": list(verdict["changes"]),
            "evidence": [],
            "uncertainty": [],
            "triggers": [
                f"stale approval: the repository moved since the review; not run: {not_run}",
                *verdict["changes"],
            ],
            "report_markdown": report.get("markdown", ""),
        },
    }


def _ask_stale(request: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Pause until the stale approval is answered validly (an invalid answer asks again)."""
    from nodes.guards.review_gate import resolve_reviewer  # the gate imports this module

    asked = request
    while True:
        try:
            decision, claimed = parse_stale_response(interrupt(asked))
        except StaleResponseError as exc:
            asked = {**request, "error": str(exc)}
            continue
        return decision, resolve_reviewer(claimed)


def _stale_results(
    verdict: Mapping[str, Any],
    pending: list[tuple[PendingAction, dict[str, Any]]],
    decision: Mapping[str, Any],
    reviewer: str,
) -> tuple[list[ActionResult], str]:
    if decision["type"] == "rereview":
        outcome = f"re-reviewed in thread {decision.get('thread_id') or '(unnamed)'}"
    else:
        message = f": {decision['message']}" if decision.get("message") else ""
        outcome = f"rejected by {reviewer}{message}"
    changed = "; ".join(verdict["changes"][:5])
    results = [
        ActionResult(
            id=action["id"],
            name=action["name"],
            decision=chosen["type"],
            status="stale",
            detail=f"not run: the repository moved since the review ({changed}); {outcome}",
            output={"changes": list(verdict["changes"])},
        )
        for action, chosen in pending
    ]
    blocker = (
        f"stale approval: the repository moved since the review ({changed}); "
        f"ran before it moved: {', '.join(verdict['ran']) or 'nothing'}; "
        f"not run: {', '.join(verdict['not_run'])}; {outcome}"
    )
    return results, blocker


# ---------------------------------------------------------------------- node


def _rereview(
    state: PipelineState, reviewed: rs.ReviewedState | None, repo: Path
) -> dict[str, Any]:
    """How to review the repository as it is now: the command and the graph input."""
    try:
        head_now = git.head_sha(repo)
    except git.GitError:
        head_now = None
    task = state.get("task") or {"repo": state["repo"]}
    graph_input = rs.rereview_input(task, reviewed, head_now)
    return {
        "command": f"keel rereview {current_thread_id()}",
        "review_command": rs.rereview_command(graph_input),
        "input": graph_input,
    }


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
        reviewed = state.get("reviewed")
        fresh = _Freshness(repo, reviewed)
        approved = [
            (action, decisions[action["id"]])
            for action in sorted(
                state.get("pending_actions", []), key=lambda a: ACTION_ORDER.index(a["name"])
            )
            if decisions.get(action["id"], {}).get("type") in ("approve", "edit")
        ]
        verdict = _stale_verdict(ledger)
        results: list[ActionResult] = []
        fix: str | None = None  # the autofix applied here: the tests run with it too
        for position, (action, decision) in enumerate(approved):
            args = decision.get("args", action["args"])
            entry = ledger.get(action["id"])
            if entry is not None and entry["status"] == "done":
                result = cast(ActionResult, entry["result"])
            else:
                recovered = _already_done(action, args, repo, content) if entry else None
                if recovered is None and verdict is None and action["effect"] != "read":
                    moved = fresh.moved()
                    if moved:
                        verdict = _keep_stale_verdict(
                            ledger,
                            {
                                "changes": fresh.explain(moved),
                                "ran": [a["name"] for a, _ in approved[:position]],
                                "not_run": [a["name"] for a, _ in approved[position:]],
                                "at": utc_now(),
                                "rereview": _rereview(state, reviewed, repo),
                            },
                        )
                if verdict is not None and recovered is None:
                    break
                attempts = int((entry or {}).get("attempts", 0))
                output: dict[str, Any]
                if recovered is not None:
                    status, (detail, output) = "done", recovered
                else:
                    attempts = ledger.begin(action["id"])
                    try:
                        status, detail, output = _run(action, args, repo, content, reviewed, fix)
                    except (effects.PatchError, RepoPathError, OSError, RuntimeError) as exc:
                        status, detail, output = "failed", str(exc)[:500], {}
                    journal(context.effect_journal, thread_id, action["id"], f"{status}: {detail}")
                if reviewed is None:
                    detail = f"{detail} — {NOT_RECORDED}"
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
            fresh.ran(result["name"], result["output"])
            if result["name"] == "apply_autofix" and result["status"] == "done":
                fix = args["diff"]
        if verdict is None:
            return {"action_results": results}
        request = _stale_request(state, verdict)
        answer, reviewer = _ask_stale(request)
        record_feedback(request, [answer], reviewer)
        done = {r["id"] for r in results}
        pending = [(a, d) for a, d in approved if a["id"] not in done]
        stale, blocker = _stale_results(verdict, pending, answer, reviewer)
        return {"action_results": [*results, *stale], "blockers": [blocker]}

    return execute

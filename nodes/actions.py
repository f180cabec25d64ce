"""Side-effecting actions, run only in the node after the human review gate.

**The action registry** (`ACTIONS`) has one entry per action (`ActionSpec`): its name, its
`Effect`, its argument model, how it runs, how to tell it already ran, who may propose
it, and — by its place in the registry — the order approved actions run in:
`apply_autofix` (write: applies a unified diff with `git apply`; proposed by `report`),
`run_tests` (execute: runs the repository's tests, i.e. repository code; proposed by a
specialist), `publish_review` (write: writes the report into the repository; proposed by
`report`), `accept_result` (read: no effect; the review gate's sign-off of a run that
proposed no action). `propose` is the only way a `PendingAction` is made; the effect
written into it comes from the registry, and every decision on an action — is it a review
trigger (`review_gate.check_review_triggers`), must the repository still match the
review before it runs — reads the registry's effect, never the state's copy. An action
that is not `read` runs only after a reviewer approved or edited it.

Each action goes through the idempotency ledger (`keel.nodes.ledger`): intent before the
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import BaseModel, Field

from keel.core.state import ActionResult, PendingAction, PipelineState
from keel.core.thread import current_thread_id
from keel.core.vocabulary import Effect
from keel.nodes.context import KeelContext, RuntimeNode
from keel.nodes.guards._verdict import utc_now
from keel.nodes.guards.feedback import record_feedback
from keel.nodes.guards.human_review import (
    GUARD_DECISIONS,
    ActionArgsError,
    resolve_reviewer,
    validate_args,
)
from keel.nodes.ledger import Ledger, journal
from keel.tools import actions as effects
from keel.tools import diffs, git, pytest_runner, snapshot
from keel.tools import reviewed_state as rs
from keel.tools._repo import RepoPathError

__all__ = [
    "ACTIONS",
    "ACTION_ORDER",
    "REPORT",
    "REVIEW_GATE",
    "SPECIALIST",
    "STALE_APPROVAL",
    "STALE_DECISIONS",
    "ActionArgsError",
    "ActionCall",
    "ActionSpec",
    "StaleResponseError",
    "action_spec",
    "execute_actions",
    "needs_review",
    "parse_stale_response",
    "propose",
    "proposable_by",
    "validate_action_args",
    "validate_decision_args",
]

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


class StaleResponseError(ValueError):
    """A resume value that is not an answer to a stale-approval request."""


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
        """Account for an effect of ours: the files it wrote (`output["hashes"]`) hold it."""
        if self.expected is not None:  # an action that writes files reports their hashes
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


# ------------------------------------------------------------------- registry

SPECIALIST = "specialist"
"""Proposer role: any specialist of the team (through its submission's `proposed_actions`)."""

REPORT = "report"
"""Proposer role: the report node (from the findings on the blackboard)."""

REVIEW_GATE = "review_gate"
"""Proposer role: the review gate (its sign-off when nothing else was proposed)."""


@dataclass(frozen=True)
class ActionCall:
    """What one run of an approved action gets."""

    args: dict[str, Any]
    """The approved (or edited) arguments, validated by the action's model."""
    repo: Path
    """The repository root."""
    report_md: str
    """The latest report's Markdown."""
    reviewed: rs.ReviewedState | None
    """What the review was about (None: not recorded, a thread of an earlier Keel)."""
    fix: str | None
    """The autofix patch this node applied before (the tests run with it), if any."""


ActionOutcome = tuple[str, str, dict[str, Any]]
"""(status, detail, output) of a run: `done` or `failed`, in words, structured."""

Recovered = tuple[str, dict[str, Any]]
"""(why it counts as done, output) of an effect found already in place."""


@dataclass(frozen=True)
class ActionSpec:
    """One action of the registry: everything Keel knows about it, in one place."""

    name: str
    """Action name (and `PendingAction.id`: an action is proposed once per thread)."""
    effect: Effect
    """What it does to the world; anything but `read` needs a reviewer's approval."""
    args: type[BaseModel]
    """Its arguments (a reviewer's edit is validated against it)."""
    run: Callable[[ActionCall], ActionOutcome]
    """Performs it. May raise `PatchError`, `RepoPathError`, `OSError`, `RuntimeError`:
    the node records those as `failed`."""
    already_done: Callable[[ActionCall], Recovered | None]
    """After a crash between intent and result: is the effect already in place? None: not
    known to be, so it runs again."""
    proposed_by: frozenset[str]
    """Roles that may propose it (`SPECIALIST`, `REPORT`, `REVIEW_GATE`)."""


def _apply_autofix(call: ActionCall) -> ActionOutcome:
    diff = call.args["diff"]
    refusal = _autofix_refusal(call.repo, diff, call.reviewed) if call.reviewed else None
    if refusal is not None:
        return "failed", refusal, {}
    touched = effects.apply_patch(call.repo, diff)
    hashes = rs.file_hashes(call.repo, touched)
    return "done", f"patched {len(touched)} file(s)", {"files": touched, "hashes": hashes}


def _autofix_done(call: ActionCall) -> Recovered | None:
    if not effects.patch_applied(call.repo, call.args["diff"]):
        return None
    touched = sorted(diffs.split_by_file(call.args["diff"]))
    return (
        "patch already in the work tree (recovered after an interrupted attempt)",
        {"files": touched, "hashes": rs.file_hashes(call.repo, touched)},
    )


def _tests(call: ActionCall) -> ActionOutcome:
    return _run_tests(call.repo, call.args, call.reviewed, call.fix)


def _not_known(call: ActionCall) -> Recovered | None:
    """Tests leave nothing behind to check: an interrupted run runs again."""
    return None


def _publish(call: ActionCall) -> ActionOutcome:
    path = effects.publish_report(call.repo, call.args["path"], call.report_md)
    return "done", f"review written to {path.relative_to(call.repo)}", {"path": str(path)}


def _published(call: ActionCall) -> Recovered | None:
    if effects.report_published(call.repo, call.args["path"], call.report_md):
        return "review already written (recovered after an interrupted attempt)", {}
    return None


def _accept(call: ActionCall) -> ActionOutcome:
    return "done", "result accepted", {}


def _no_effect(call: ActionCall) -> Recovered | None:
    return "no effect", {}


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(
        name="apply_autofix",
        effect=Effect.WRITE,
        args=_AutofixArgs,
        run=_apply_autofix,
        already_done=_autofix_done,
        proposed_by=frozenset({REPORT}),
    ),
    ActionSpec(
        name="run_tests",
        effect=Effect.EXECUTE,
        args=_RunTestsArgs,
        run=_tests,
        already_done=_not_known,
        proposed_by=frozenset({SPECIALIST, REPORT}),
    ),
    ActionSpec(
        name="publish_review",
        effect=Effect.WRITE,
        args=_PublishArgs,
        run=_publish,
        already_done=_published,
        proposed_by=frozenset({REPORT}),
    ),
    ActionSpec(
        name="accept_result",
        effect=Effect.READ,
        args=_NoArgs,
        run=_accept,
        already_done=_no_effect,
        proposed_by=frozenset({REVIEW_GATE}),
    ),
)
"""The registry, in run order: fixes first (so the tests see them), the report last."""

_BY_NAME: dict[str, ActionSpec] = {spec.name: spec for spec in ACTIONS}

ACTION_ORDER: tuple[str, ...] = tuple(spec.name for spec in ACTIONS)
"""Action names in the order approved actions run."""


def action_spec(name: str) -> ActionSpec:
    """The registry entry of an action.

    Raises:
        ActionArgsError: no action has this name.
    """
    spec = _BY_NAME.get(name)
    if spec is None:
        raise ActionArgsError(f"unknown action {name!r}; known: {', '.join(ACTION_ORDER)}")
    return spec


def proposable_by(role: str) -> tuple[str, ...]:
    """The actions a proposer role may propose, in run order."""
    return tuple(spec.name for spec in ACTIONS if role in spec.proposed_by)


def propose(
    name: str, *, role: str, by: str, reason: str, args: Mapping[str, Any] | None = None
) -> PendingAction:
    """A pending action as the registry declares it (the only way one is made).

    Args:
        name: the action.
        role: the proposer's role (`SPECIALIST`, `REPORT`, `REVIEW_GATE`).
        by: who proposes it (a specialist's name, `report`, `review_gate`).
        reason: why, for the reviewer.
        args: its arguments (validated by the action's model; absent: its defaults).

    Raises:
        ActionArgsError: an unknown action, a role that may not propose it, or arguments
            that do not fit.
    """
    spec = action_spec(name)
    if role not in spec.proposed_by:
        raise ActionArgsError(
            f"{by} ({role}) may not propose {name}; it is proposed by "
            f"{', '.join(sorted(spec.proposed_by))}"
        )
    validate_action_args(name, args or {})  # fails early; the state keeps the args as given
    return PendingAction(
        id=name,
        name=name,
        args=dict(args or {}),
        effect=spec.effect.value,
        reason=reason,
        proposed_by=by,
    )


def validate_action_args(name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Validate (edited) arguments of a registry action and return them normalised.

    Raises:
        ActionArgsError: an unknown action or arguments that do not fit its model.
    """
    return validate_args({spec.name: spec.args for spec in ACTIONS}, name, args)


def validate_decision_args(name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the arguments of anything a reviewer may approve.

    That is a registry action or a guard's decision
    (`keel.nodes.guards.human_review.GUARD_DECISIONS`).

    Raises:
        ActionArgsError: neither an action nor a guard decision, or arguments that do not fit.
    """
    schemas = {spec.name: spec.args for spec in ACTIONS} | GUARD_DECISIONS
    return validate_args(schemas, name, args)


def needs_review(action: Mapping[str, Any]) -> bool:
    """Whether a pending action needs a reviewer's approval before it runs.

    The registry's effect decides for a registry action, whatever the action's own copy
    says. A name the registry does not know (it can never run: `execute_actions` refuses
    it) is judged by the effect it states; an unknown effect word needs review.
    """
    spec = _BY_NAME.get(str(action.get("name")))
    if spec is not None:
        return spec.effect.needs_review
    try:
        return Effect(str(action.get("effect"))).needs_review
    except ValueError:
        return True


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
            # nothing runs without a reviewer's approve or edit, whatever its effect
            if decisions.get(action["id"], {}).get("type") in ("approve", "edit")
        ]
        verdict = _stale_verdict(ledger)
        results: list[ActionResult] = []
        fix: str | None = None  # the autofix applied here: the tests run with it too
        for position, (action, decision) in enumerate(approved):
            args = decision.get("args", action["args"])
            spec = action_spec(action["name"])
            call = ActionCall(args=args, repo=repo, report_md=content, reviewed=reviewed, fix=fix)
            entry = ledger.get(action["id"])
            if entry is not None and entry["status"] == "done":
                result = cast(ActionResult, entry["result"])
            else:
                recovered = spec.already_done(call) if entry else None
                if recovered is None and verdict is None and spec.effect.needs_review:
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
                        status, detail, output = spec.run(call)
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

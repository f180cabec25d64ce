"""Intake: fix the task and the scope before anything is planned.

`intake` writes the task once (never rewritten) and the scope: the changed files of a
revision range or the staged change, or every tracked file for an audit — less what
`keel.tools.tree` skips (submodules, symlinks, binary and oversized files) and what the
repository's Keel configuration excludes, each skip recorded with its reason in
`skipped`. The graph's node is `intake` (`make_intake`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from keel.core.state import Observation, PipelineState, SkippedPath, Task
from keel.core.thread import current_thread_id
from keel.core.vocabulary import areas_phrase, team_areas
from keel.nodes import baseline
from keel.nodes.guards._verdict import utc_now
from keel.tools import diffs, git, keel_config, snapshot, tree

from .specialist import SpecialistSpec

__all__ = ["IntakeNode", "config_team", "intake", "make_intake", "task_goal"]


def task_goal(mode: str, rev_range: str | None, staged: bool, areas: Sequence[str] = ()) -> str:
    """Describe the task in one sentence, naming the team's areas (`team_areas`)."""
    problems = f"{areas_phrase(areas)} problems"
    if mode == "audit":
        return f"Audit the whole repository for {problems}."
    what = "the staged change" if staged else f"the change {rev_range}"
    return f"Review {what} for {problems}."


def _analysis_root(root: Path, scope: list[str], head: str | None) -> tuple[str, list[Observation]]:
    """Where the analyzers read a review's files, and what to note about it.

    The work tree, or a snapshot of `head` (None: of the staged change) when the work tree
    holds something else for the files in scope.
    """
    try:
        if not snapshot.needs_snapshot(root, scope, head):
            return str(root), []
        taken = str(snapshot.take(root, current_thread_id(), head))
    except git.GitError as exc:
        text = f"could not snapshot the reviewed revision ({exc}); the analyzers read the work tree"
        return str(root), [Observation(source="intake", text=text)]
    what = "staged change" if head is None else f"commit {head[:12]}"
    text = (
        f"the work tree differs from the {what} under review: the analyzers read a "
        f"snapshot of it ({taken})"
    )
    return taken, [Observation(source="intake", text=text)]


def _skipped(skips: Sequence[tree.Skip]) -> list[SkippedPath]:
    return [
        SkippedPath(
            path=skip.path,
            kind=skip.kind,
            reason=skip.reason,
            in_scope=skip.in_scope,
            skipped_by=list(skip.skipped_by),
        )
        for skip in skips
    ]


def _scope_note(scope: Sequence[str], skips: Sequence[tree.Skip], seconds: float) -> Observation:
    text = f"{len(scope)} file(s) in scope"
    if skips:
        kinds: dict[str, int] = {}
        for skip in skips:
            kinds[skip.kind] = kinds.get(skip.kind, 0) + 1
        counts = ", ".join(f"{count} {kind}" for kind, count in kinds.items())
        text += f"; {len(skips)} path(s) skipped or partly skipped ({counts})"
    return Observation(source="intake", text=f"{text}; listed in {seconds:.2f} s")


def config_team(specialists: Sequence[SpecialistSpec]) -> keel_config.Team:
    """The names a repository's Keel configuration may use, and those it cannot turn off."""
    return keel_config.Team(
        names=tuple(s.name for s in specialists),
        always_on=tuple(s.name for s in specialists if s.area == "security"),
    )


def _repo_config(
    root: Path,
    scope: list[str],
    *,
    mode: str,
    staged: bool,
    rev_range: str | None,
    head: str | None,
    team: keel_config.Team | None,
) -> tuple[list[str], list[tree.Skip], keel_config.KeelConfig]:
    """The repository's Keel configuration, and the scope less what it excludes.

    Read as `keel.tools.keel_config.load_for_task` says (a range's base, HEAD for a staged
    review, the work tree for an audit). An excluded path leaves the scope as an
    `excluded` skip with the glob that excluded it.

    Raises:
        KeelConfigError: the configuration is malformed (naming the key).
    """
    base = rev_range.partition("..")[0] if rev_range else None
    config = keel_config.load_for_task(
        root, mode=mode, staged=staged, base=base, head=head, team=team
    )
    kept: list[str] = []
    excluded: list[tree.Skip] = []
    for path in scope:
        glob = config.excluded_by(path)
        if glob is None:
            kept.append(path)
        else:
            key = f"{config.key}.exclude" if config.key else "exclude"
            excluded.append(tree.Skip(path, "excluded", f"{key} {glob!r} in {config.file}"))
    return kept, excluded, config


class IntakeNode(Protocol):
    """The intake node as `make_intake` returns it."""

    def __call__(self, state: PipelineState) -> dict[str, Any]:
        """Run intake."""


def make_intake(specialists: Sequence[SpecialistSpec]) -> IntakeNode:
    """The intake node for a team (it checks the repository's configuration against it)."""
    team = config_team(specialists)
    areas = team_areas(specialists)

    def intake_node(state: PipelineState) -> dict[str, Any]:
        return intake(state, team=team, areas=areas)

    return intake_node


def intake(
    state: PipelineState, *, team: keel_config.Team | None = None, areas: Sequence[str] = ()
) -> dict[str, Any]:
    """Resolve the repository and revision range; fix the task and the scope.

    The listed paths (changed or tracked) pass through `keel.tools.tree.partition` on the
    content the analyzers will read: submodules, symlinks, binary, oversized and
    unreadable paths leave the scope; templates stay in it for the non-Python readers.
    Each skip is recorded in `skipped` with its reason. A review also maps the lines its
    diff changed (`diff_lines`), taken with the scope so both see the same change.

    The repository's Keel configuration (`tools/keel_config.py`) is read here, validated
    against `team`, and kept in `repo_config`; its exclusions leave the scope as
    `excluded` skips. `baseline` names the repository whose remembered dismissals apply.

    Raises:
        GitError: not a repository, an unknown revision, or no commits (audit/review).
        KeelConfigError: the repository's Keel configuration is malformed.
    """
    started = time.perf_counter()
    root = git.repo_root(Path(state["repo"]))
    mode = state.get("mode") or "review"
    staged = bool(state.get("staged"))
    rev_range: str | None = None
    head: str | None = None  # the reviewed commit (None: the staged change, or an audit)
    diff_lines: dict[str, diffs.ChangedLines] | None = None
    if mode == "audit":
        git.head_sha(root)  # an audit of a repository without commits is a usage error
        listed = git.tracked_files(root)
    elif staged:
        listed = git.changed_files(root, staged=True)
        diff_lines = diffs.changed_lines(git.unified_diff(root, staged=True))
    else:
        base, head = git.resolve_range(root, state.get("rev_range"))
        rev_range = f"{base}..{head}"
        listed = git.changed_files(root, rev=rev_range)
        diff_lines = diffs.changed_lines(git.unified_diff(root, rev=rev_range))
    observations: list[Observation] = []
    analysis_root = str(root)
    if mode == "review":
        analysis_root, observations = _analysis_root(root, listed, head)
    where = Path(analysis_root)
    scope, skips = tree.partition(where, listed, git.tracked_entries(where))
    scope, excluded, config = _repo_config(
        root, scope, mode=mode, staged=staged, rev_range=rev_range, head=head, team=team
    )
    skips = [*skips, *excluded]
    observations.insert(0, _scope_note(scope, skips, time.perf_counter() - started))
    task = Task(
        goal=task_goal(mode, rev_range, staged, areas),
        repo=str(root),
        mode=mode,
        rev_range=rev_range,
        staged=staged,
    )
    return {
        "repo": str(root),
        "task": task,
        "scope": scope,
        "skipped": _skipped(skips),
        "diff_lines": diff_lines,
        "analysis_root": analysis_root,
        "repo_config": config.as_dict(),
        "baseline": baseline.repo_identity(root),
        "status": "running",
        "started_at": utc_now(),
        "observations": observations,
    }

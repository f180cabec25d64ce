"""What a review reviewed, and whether the repository has moved since.

An approval is for what was reviewed. `capture` records two things when the report is
written, before the review gate asks a human:

* **the reviewed content**: the commit the analyzed files come from (`head`: the range's
  head, or HEAD for a staged review or an audit), the range's `base` and its commits
  (resolved ids), the complete reviewed `tree` (the range head's tree, the staged index
  tree, or for an audit the tracked files as the work tree held them) and the blob id of
  every file in scope as the analyzers read it (under `analysis_root`, which may be a
  snapshot worktree: `tools/snapshot.py`);
* **the repository the effects land in** (`at_review`, a `RepoState`): HEAD's commit,
  the branch, the index tree (staged reviews only) and the blob id of every file in scope
  in the user's work tree.

`observe` reads a `RepoState` again; `compare` (pure) says what moved between two of
them: HEAD, the branch, the index, a file in scope edited, deleted or created. `checkout`
materialises the reviewed tree in a fresh detached worktree, so an approved test run
executes what was reviewed and not whatever the work tree holds by then.

Blob ids are git's (what `git hash-object --no-filters` prints) over the raw bytes on
disk; a symbolic link hashes its target path, as git stores it. Comparisons are always
between two such hashes, never against a tree entry, so clean/smudge filters cannot make
a file look moved.

What `compare` does not see: files outside the scope (an approved test run does not read
them from the work tree; it runs in `checkout`'s worktree) and untracked files.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from typing_extensions import TypedDict

from keel.core.observed import RepoState, ReviewedState
from keel.tools import snapshot
from keel.tools._proc import run
from keel.tools.git import EMPTY_TREE, GitError
from keel.tools.git import command as _git

__all__ = [
    "VERSION",
    "Change",
    "RepoState",
    "ReviewedState",
    "capture",
    "checkout",
    "compare",
    "describe",
    "file_hashes",
    "new_commits",
    "observe",
    "rereview_command",
    "rereview_input",
]

VERSION = 1
"""Layout version of `ReviewedState` (absent state: a thread from before it existed)."""

_MAX_COMMITS = 50
"""Commits of a range recorded by id (newest first); `commit_count` has the total."""


class Change(TypedDict):
    """One way the repository moved since the review."""

    kind: Literal["head", "branch", "index", "file"]
    """What moved."""
    path: str | None
    """The file, for `kind="file"`."""
    before: str | None
    """Its id (or branch) at review time."""
    after: str | None
    """Its id (or branch) now."""


# ------------------------------------------------------------------------ hashing


def _blob_id(data: bytes) -> str:
    digest = hashlib.sha1(b"blob %d\0" % len(data), usedforsecurity=False)
    digest.update(data)
    return digest.hexdigest()


def file_hashes(root: Path, paths: Iterable[str]) -> dict[str, str | None]:
    """Blob id of each repository-relative path under `root` (None: missing, not a file)."""
    hashes: dict[str, str | None] = {}
    for rel in paths:
        path = root / rel
        try:
            if path.is_symlink():
                hashes[rel] = _blob_id(os.fsencode(os.readlink(path)))
            elif path.is_file():
                hashes[rel] = _blob_id(path.read_bytes())
            else:
                hashes[rel] = None
        except OSError:
            hashes[rel] = None
    return hashes


# ------------------------------------------------------------------- git reading


def _head(root: Path) -> str | None:
    out = _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False).strip()
    return out or None


def _branch(root: Path) -> str | None:
    return _git(root, "symbolic-ref", "--quiet", "HEAD", check=False).strip() or None


def _index_tree(root: Path) -> str:
    """The index as a tree, read from a copy (the user's index file is not rewritten)."""
    index = Path(_git(root, "rev-parse", "--git-path", "index").strip())
    index = index if index.is_absolute() else root / index
    with tempfile.TemporaryDirectory(prefix="keel-index-") as tmp:
        copy = Path(tmp) / "index"
        if index.exists():
            shutil.copyfile(index, copy)
        return _with_index(root, copy, "write-tree").strip()


def _with_index(root: Path, index: Path, *args: str) -> str:
    proc = run(
        ["git", "--no-pager", *args],
        cwd=root,
        timeout=600,
        env={"GIT_INDEX_FILE": str(index), "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
    )
    if proc.returncode != 0:
        raise GitError(f"git {args[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def _work_tree_tree(root: Path) -> str:
    """The tracked files as the work tree holds them, as a tree (for an audit)."""
    index = Path(_git(root, "rev-parse", "--git-path", "index").strip())
    index = index if index.is_absolute() else root / index
    with tempfile.TemporaryDirectory(prefix="keel-index-") as tmp:
        copy = Path(tmp) / "index"
        if index.exists():
            shutil.copyfile(index, copy)
        _with_index(root, copy, "add", "--update", "--", ".")
        return _with_index(root, copy, "write-tree").strip()


def observe(root: Path, paths: Iterable[str], *, staged: bool) -> RepoState:
    """Where the user's repository stands now, for these files in scope.

    Raises:
        GitError: `root` is no longer a git repository.
    """
    return RepoState(
        head=_head(root),
        branch=_branch(root),
        index=_index_tree(root) if staged else None,
        files=file_hashes(root, paths),
    )


def capture(
    root: Path,
    analysis_root: Path,
    scope: Sequence[str],
    *,
    mode: Literal["review", "audit"],
    staged: bool,
    base: str | None,
    head: str | None,
) -> ReviewedState:
    """Record what a review reviewed and where the repository stands.

    Args:
        root: The user's repository root.
        analysis_root: Where the analyzers read the files: `root` or a snapshot worktree
            of the reviewed content (its HEAD and index are then exactly that content).
        scope: The files in scope.
        mode: `review` or `audit`.
        staged: Whether the staged change is reviewed.
        base: The range's resolved base (None for staged reviews and audits).
        head: The range's resolved head (None for staged reviews and audits).

    Raises:
        GitError: git refused (e.g. an index with unresolved conflicts).
    """
    at_review = observe(root, scope, staged=staged)
    commit: str | None
    if analysis_root.resolve() != root.resolve():
        commit = _head(analysis_root)
        tree: str | None = _git(analysis_root, "write-tree").strip()
    elif staged:
        commit, tree = at_review["head"], at_review["index"]
    elif mode == "audit" or head is None:
        commit, tree = at_review["head"], _work_tree_tree(root)
    else:
        commit = head
        tree = _git(root, "rev-parse", f"{head}^{{tree}}").strip()
    commits: list[str] = []
    count = 0
    if head is not None and not staged and mode == "review":
        spec = [head] if base in (None, EMPTY_TREE) else [f"{base}..{head}"]
        commits = _git(root, "rev-list", f"--max-count={_MAX_COMMITS}", *spec).split()
        count = int(_git(root, "rev-list", "--count", *spec).strip() or 0)
    return ReviewedState(
        version=VERSION,
        mode=mode,
        staged=staged,
        base=base,
        head=commit,
        commits=commits,
        commit_count=count,
        tree=tree,
        files=file_hashes(analysis_root, scope),
        at_review=at_review,
    )


# ------------------------------------------------------------------- comparing


def compare(before: RepoState, now: RepoState) -> list[Change]:
    """What moved from `before` to `now` (empty: nothing did). Pure.

    HEAD and the branch always count; the index only when `before` recorded one (a
    staged review); files only those `before` lists (the scope).
    """
    changes: list[Change] = []
    if before["head"] != now["head"]:
        changes.append(Change(kind="head", path=None, before=before["head"], after=now["head"]))
    if before["branch"] != now["branch"]:
        changes.append(
            Change(kind="branch", path=None, before=before["branch"], after=now["branch"])
        )
    if before["index"] is not None and before["index"] != now["index"]:
        changes.append(Change(kind="index", path=None, before=before["index"], after=now["index"]))
    for path, blob in sorted(before["files"].items()):
        current = now["files"].get(path)
        if current != blob:
            changes.append(Change(kind="file", path=path, before=blob, after=current))
    return changes


def _short(ref: str | None) -> str:
    if ref is None:
        return "(none)"
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/") else ref[:12]


def describe(change: Change) -> str:
    """One line for a change, for people. Pure."""
    kind = change["kind"]
    before, after = change["before"], change["after"]
    if kind == "head":
        return f"HEAD moved: {_short(before)} -> {_short(after)}"
    if kind == "branch":
        return (
            f"another branch is checked out: {_short(before) if before else 'detached'} -> "
            f"{_short(after) if after else 'detached HEAD'}"
        )
    if kind == "index":
        return f"the index (staged change) changed: tree {_short(before)} -> {_short(after)}"
    what = "deleted" if after is None else "created" if before is None else "edited"
    return f"{change['path']}: {what} since the review"


def new_commits(root: Path, before: str | None, after: str | None, limit: int = 10) -> str:
    """How HEAD got from `before` to `after`, in words (commit subjects when it advanced)."""
    if before is None or after is None:
        return ""
    ancestor = run(
        ["git", "merge-base", "--is-ancestor", before, after],
        cwd=root,
        timeout=60,
        env={"GIT_TERMINAL_PROMPT": "0"},
    )
    if ancestor.returncode != 0:
        return f"{_short(before)} is not an ancestor of {_short(after)}"
    log = _git(
        root, "log", f"--max-count={limit}", "--format=%h %s", f"{before}..{after}", check=False
    )
    lines = [line for line in log.splitlines() if line.strip()]
    return f"{len(lines)} new commit(s): " + "; ".join(lines) if lines else ""


# ----------------------------------------------------------------- re-reviewing


def rereview_input(
    task: Mapping[str, Any], reviewed: ReviewedState | None, head_now: str | None
) -> dict[str, Any]:
    """The graph input of a re-review over the repository as it is now. Pure.

    An audit audits again and a staged review reviews the index as it is now. A range
    whose head was HEAD when it was reviewed (the default `HEAD~1..HEAD`) follows HEAD:
    `base..HEAD-now`; a range that ended elsewhere (an explicit older range) stays as
    it was. Without a recorded state the range follows HEAD.
    """
    repo = str(task["repo"])
    if (task.get("mode") or "review") == "audit":
        return {"repo": repo, "mode": "audit"}
    if task.get("staged"):
        return {"repo": repo, "mode": "review", "staged": True}
    base, _, head = str(task.get("rev_range") or "").partition("..")
    followed = reviewed is None or reviewed["head"] == reviewed["at_review"]["head"]
    if followed and head_now:
        head = head_now
    if not base or not head:
        return {"repo": repo, "mode": "review"}
    return {"repo": repo, "mode": "review", "rev_range": f"{base}..{head}"}


def rereview_command(graph_input: Mapping[str, Any]) -> str:
    """The `keel review`/`keel audit` command line of a graph input. Pure."""
    repo = shlex.quote(str(graph_input["repo"]))
    if graph_input.get("mode") == "audit":
        return f"keel audit {repo}"
    if graph_input.get("staged"):
        return f"keel review {repo} --staged"
    if graph_input.get("rev_range"):
        return f"keel review {repo} --rev {graph_input['rev_range']}"
    return f"keel review {repo}"


# ------------------------------------------------------------------ checking out


def checkout(root: Path, key: str, reviewed: ReviewedState) -> Path:
    """A fresh detached worktree holding exactly the reviewed tree.

    At `snapshot.snapshot_path(root, key)` (an earlier one there is replaced); remove it
    with `snapshot.remove(root, key)`. Nothing in the user's work tree or index changes.

    Raises:
        GitError: the reviewed commit or tree is no longer in the repository.
    """
    commit, tree = reviewed["head"], reviewed["tree"]
    if commit is None or tree is None:
        raise GitError("the review recorded no commit to check out")
    snapshot.remove(root, key)
    target = snapshot.snapshot_path(root, key)
    target.parent.mkdir(parents=True, exist_ok=True)
    _git(root, "worktree", "add", "--detach", "--force", str(target), commit, timeout=600)
    if _git(target, "rev-parse", "HEAD^{tree}").strip() != tree:
        _git(target, "read-tree", "--reset", "-u", tree, timeout=600)
    if _git(target, "write-tree").strip() != tree:
        raise GitError(f"could not check out the reviewed tree {tree[:12]}")
    return target

"""The shapes of what the tools observe and a thread keeps in its state.

Typed, JSON-shaped values (lists, not tuples or sets: they are checkpointed): the lines a
diff changed (`keel.tools.diffs` computes them), where the repository stood when a review
asked (`keel.tools.reviewed_state`), and why a path is skipped (`keel.tools.tree`). They
live in the core so that the state (`keel.core.state`) and the tools share them without
the core importing the tools.
"""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict

__all__ = ["ChangedLines", "RepoState", "ReviewedState", "SkipKind"]


SkipKind = Literal[
    "submodule", "symlink", "not-a-file", "too-large", "binary", "template", "encoding", "excluded"
]
"""Why a path is skipped (see the module docstring for each rule; `excluded`: by the
repository's Keel configuration, `keel.tools.keel_config`, applied at intake)."""


class ChangedLines(TypedDict):
    """What a diff did to one file, in the new file's line numbers (1-based).

    JSON-shaped (lists, not tuples or sets): it is kept in the checkpointed state.
    """

    added: list[list[int]]
    """Inclusive `[first, last]` ranges of added lines; a changed line is an added one."""
    context: list[list[int]]
    """Inclusive ranges of the hunks' unchanged context lines."""
    removed_at: list[int]
    """Where lines were deleted: each entry is the new line the deletion sits before
    (`last + 1` when it is at the end of the file), once per run of deleted lines."""


class RepoState(TypedDict):
    """The user's repository, where approved effects land, at one moment."""

    head: str | None
    """HEAD's commit id (None on an unborn branch)."""
    branch: str | None
    """The checked-out branch (`refs/heads/...`), None when HEAD is detached."""
    index: str | None
    """The index as a tree id: recorded for staged reviews only (None otherwise)."""
    files: dict[str, str | None]
    """Blob id of each file in scope in the work tree (None: no such file)."""


class ReviewedState(TypedDict):
    """What a review looked at, and where the repository stood when it asked."""

    version: int
    """`VERSION` when recorded."""
    mode: Literal["review", "audit"]
    """`review` (a range or the staged change) or `audit`."""
    staged: bool
    """Whether the staged change was reviewed."""
    base: str | None
    """The range's base commit (or git's empty tree); None for staged reviews and audits."""
    head: str | None
    """The commit the reviewed content is based on: the range's head, or HEAD."""
    commits: list[str]
    """Commit ids of the range `base..head`, newest first (at most 50; empty otherwise)."""
    commit_count: int
    """How many commits the range holds."""
    tree: str | None
    """The reviewed content as a git tree id (what an approved test run checks out)."""
    files: dict[str, str | None]
    """Blob id of each file in scope as the analyzers read it (None: absent)."""
    at_review: RepoState
    """The user's repository when the review was requested."""

"""Snapshots of the reviewed revision (tools/snapshot.py), on real git repositories."""

from __future__ import annotations

from pathlib import Path

from keel.tools import snapshot
from keel.tools.git import head_sha, resolve_range
from tests.support.gitrepo import commit_files, git, two_commit_repo

OLD = "def f(x):\n    return eval(x)\n"
NEW = "import ast\n\n\ndef f(x):\n    return ast.literal_eval(x)\n"


def _three_commits(tmp_path: Path) -> tuple[Path, str]:
    root = two_commit_repo(tmp_path / "repo", {"README.md": "r\n"}, {"app.py": OLD})
    reviewed = head_sha(root)
    commit_files(root, {"app.py": NEW}, "three")
    return root, reviewed


def _worktrees(root: Path) -> list[str]:
    return [ln for ln in git(root, "worktree", "list", "--porcelain").splitlines() if ln]


def test_a_clean_work_tree_at_the_reviewed_head_needs_no_snapshot(tmp_path: Path) -> None:
    root = two_commit_repo(tmp_path / "repo", {"README.md": "r\n"}, {"app.py": OLD})
    assert not snapshot.needs_snapshot(root, ["app.py"], head_sha(root))


def test_uncommitted_edit_to_a_file_in_scope_needs_a_snapshot(tmp_path: Path) -> None:
    root = two_commit_repo(tmp_path / "repo", {"README.md": "r\n"}, {"app.py": OLD})
    (root / "app.py").write_text(NEW)
    assert snapshot.needs_snapshot(root, ["app.py"], head_sha(root))
    assert not snapshot.needs_snapshot(root, ["README.md"], head_sha(root))


def test_snapshot_of_an_older_commit_holds_its_content_and_leaves_the_repo(
    tmp_path: Path,
) -> None:
    root, reviewed = _three_commits(tmp_path)
    _, head = resolve_range(root, "HEAD~1")
    assert head == reviewed
    assert snapshot.needs_snapshot(root, ["app.py"], head)
    taken = snapshot.take(root, "thread/1", head)
    assert (taken / "app.py").read_text() == OLD
    assert (root / "app.py").read_text() == NEW
    assert git(root, "status", "--porcelain") == ""
    assert head_sha(taken) == reviewed
    again = snapshot.take(root, "thread/1", head)  # a re-run intake finds it
    assert again == taken
    assert len([w for w in _worktrees(root) if w.startswith("worktree ")]) == 2
    snapshot.remove(root, "thread/1")
    assert not taken.exists()
    assert [w for w in _worktrees(root) if w.startswith("worktree ")] == [f"worktree {root}"]
    snapshot.remove(root, "thread/1")  # idempotent


def test_staged_snapshot_holds_the_index_not_the_unstaged_edit(tmp_path: Path) -> None:
    root = two_commit_repo(tmp_path / "repo", {"README.md": "r\n"}, {"app.py": NEW})
    (root / "app.py").write_text(OLD)
    git(root, "add", "app.py")
    (root / "app.py").write_text(OLD + "\n# unstaged\n")
    assert snapshot.needs_snapshot(root, ["app.py"], None)
    taken = snapshot.take(root, "staged", None)
    assert (taken / "app.py").read_text() == OLD
    assert git(taken, "diff", "--cached", "--name-only").split() == ["app.py"]
    assert git(root, "diff", "--cached", "--name-only").split() == ["app.py"]  # index kept
    assert (root / "app.py").read_text().endswith("# unstaged\n")
    snapshot.remove(root, "staged")


def test_a_broken_leftover_directory_is_replaced(tmp_path: Path) -> None:
    root, reviewed = _three_commits(tmp_path)
    leftover = snapshot.snapshot_path(root, "t")
    leftover.mkdir(parents=True)
    (leftover / "junk").write_text("half-made by a crash")
    taken = snapshot.take(root, "t", reviewed)
    assert (taken / "app.py").read_text() == OLD
    assert not (taken / "junk").exists()
    snapshot.remove(root, "t")

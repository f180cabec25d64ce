from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from keel.tools import git as g
from keel.tools.git import GitError


def test_repo_root_of_a_subdirectory(make_repo: Callable[[dict[str, str]], Path]) -> None:
    root = make_repo({"a/b/c.py": "x = 1\n"})
    assert g.repo_root(root / "a" / "b") == root
    assert g.repo_root(root / "a" / "b" / "c.py") == root


def test_repo_root_outside_a_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(GitError, match=f"not a git repository: {plain}"):
        g.repo_root(plain)
    with pytest.raises(GitError, match="not a git repository"):
        g.repo_root(tmp_path / "missing")


def test_unknown_revision(make_repo: Callable[[dict[str, str]], Path]) -> None:
    root = make_repo({"a.py": "x = 1\n"})
    with pytest.raises(GitError, match="unknown revision: nope"):
        g.resolve_range(root, "nope")
    with pytest.raises(GitError, match="unknown revision: nope"):
        g.resolve_range(root, "HEAD..nope")
    with pytest.raises(GitError, match="unknown revision"):
        g.changed_files(root, "--output=/tmp/x")


def test_range_of_a_first_commit_starts_at_the_empty_tree(
    make_repo: Callable[[dict[str, str]], Path],
) -> None:
    root = make_repo({"a.py": "x = 1\n"})
    base, head = g.resolve_range(root, None)
    assert base == g.EMPTY_TREE
    assert head == g.head_sha(root)
    assert g.changed_files(root) == ["a.py"]
    assert "+x = 1" in g.diff(root)


def test_changed_files_and_diff(
    make_repo: Callable[[dict[str, str]], Path], git: Callable[..., str]
) -> None:
    root = make_repo({"keep.py": "a = 1\n", "gone.py": "b = 2\n", "old.py": "c = 3\n"})
    first = g.head_sha(root)
    (root / "keep.py").write_text("a = 10\n")
    (root / "new.py").write_text("d = 4\n")
    git(root, "rm", "-q", "gone.py")
    git(root, "mv", "old.py", "renamed.py")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "second")
    second = g.head_sha(root)

    assert g.resolve_range(root, None) == (first, second)
    assert g.resolve_range(root, f"{first}..HEAD") == (first, second)
    assert g.resolve_range(root, "HEAD") == (first, second)
    # Deleted files are not listed; renamed files are listed under their new name.
    assert g.changed_files(root) == ["keep.py", "new.py", "renamed.py"]
    text = g.diff(root, paths=["keep.py"])
    assert "-a = 1" in text and "+a = 10" in text and "new.py" not in text
    assert g.show(root, first, "keep.py") == "a = 1\n"
    assert sorted(g.tracked_files(root)) == ["keep.py", "new.py", "renamed.py"]


def test_staged_changes(
    make_repo: Callable[[dict[str, str]], Path], git: Callable[..., str]
) -> None:
    root = make_repo({"a.py": "x = 1\n"})
    (root / "a.py").write_text("x = 2\n")
    (root / "b.py").write_text("y = 1\n")
    assert g.changed_files(root, staged=True) == []
    git(root, "add", "b.py")
    assert g.changed_files(root, staged=True) == ["b.py"]
    assert "+y = 1" in g.diff(root, staged=True)
    assert "x = 2" not in g.diff(root, staged=True)


def test_diff_is_truncated_with_a_marker(make_repo: Callable[[dict[str, str]], Path]) -> None:
    root = make_repo({"big.py": "".join(f"value_{i} = {i}\n" for i in range(5000))})
    text = g.diff(root, max_bytes=1000)
    assert len(text.encode()) < 1200
    assert "[... truncated: 1000 of" in text


def test_diff_paths_are_confined(make_repo: Callable[[dict[str, str]], Path]) -> None:
    root = make_repo({"a.py": "x = 1\n"})
    with pytest.raises(ValueError, match="escapes"):
        g.diff(root, paths=["../etc/passwd"])


def test_is_binary(make_repo: Callable[[dict[str, str]], Path]) -> None:
    root = make_repo({"a.py": "x = 1\n"})
    (root / "blob.bin").write_bytes(b"\x89PNG\x00\x01\x02")
    assert g.is_binary(root, "blob.bin")
    assert not g.is_binary(root, "a.py")


def test_git_error_outside_a_repository(tmp_path: Path) -> None:
    with pytest.raises(GitError):
        g.tracked_files(tmp_path)

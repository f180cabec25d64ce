"""`keel.tools.diffs.changed_lines` on real `git diff` output (`keel.tools.git.unified_diff`)."""

from __future__ import annotations

from pathlib import Path

from keel.tools import git as keel_git
from keel.tools.diffs import changed_lines
from tests.support.gitrepo import commit_files, git, init_repo

BASE = "".join(f"line {n}\n" for n in range(1, 21))


def _lines(tmp_path: Path, change: dict[str, str], base: dict[str, str] | None = None) -> dict:
    root = init_repo(tmp_path / "repo")
    commit_files(root, base or {"m.py": BASE}, "base")
    commit_files(root, change, "change")
    return changed_lines(keel_git.unified_diff(root, rev="HEAD~1..HEAD"))


def test_added_changed_context_and_removed_lines(tmp_path: Path) -> None:
    text = BASE.replace("line 5\n", "line five\n").replace("line 12\n", "")
    text = text.replace("line 18\n", "line 18\nnew line\n")
    got = _lines(tmp_path, {"m.py": text})["m.py"]
    # line 5 changed: its new text is added, its old text removed before it; old line 12
    # deleted: the deletion sits before new line 12 (old 13); line 18 added after old 18
    assert got["added"] == [[5, 5], [18, 18]]
    assert got["removed_at"] == [5, 12]
    context = {n for a, b in got["context"] for n in range(a, b + 1)}
    assert {2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 19, 20} == context
    assert 1 not in context


def test_new_file_is_all_added_and_a_deleted_file_is_absent(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    commit_files(root, {"old.py": "x = 1\n", "keep.py": "k = 1\n"}, "base")
    git(root, "rm", "-q", "old.py")
    commit_files(root, {"new.py": "a = 1\nb = 2\n"}, "change")
    got = changed_lines(keel_git.unified_diff(root, rev="HEAD~1..HEAD"))
    assert got == {"new.py": {"added": [[1, 2]], "context": [], "removed_at": []}}


def test_a_moved_file_is_listed_without_changed_lines(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    commit_files(root, {"old.py": BASE}, "base")
    git(root, "mv", "old.py", "moved.py")
    git(root, "commit", "-qm", "move")
    got = changed_lines(keel_git.unified_diff(root, rev="HEAD~1..HEAD"))
    assert got == {"moved.py": {"added": [], "context": [], "removed_at": []}}


def test_paths_with_spaces_and_quotes_and_lines_that_look_like_headers(tmp_path: Path) -> None:
    base = {"a b.py": "x = 1\n", 'q"uote.py': "--- not a header\n", "plain.py": "p = 1\n"}
    change = {"a b.py": "x = 2\n", 'q"uote.py': "+++ b/elsewhere\n", "plain.py": "p = 2\n"}
    got = _lines(tmp_path, change, base)
    assert sorted(got) == ["a b.py", "plain.py", 'q"uote.py']
    assert all(v["added"] == [[1, 1]] and v["removed_at"] == [1] for v in got.values())


def test_staged_diff_and_repository_diff_settings_do_not_change_the_map(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    commit_files(root, {"m.py": BASE}, "base")
    git(root, "config", "diff.noprefix", "true")
    git(root, "config", "diff.context", "0")
    (root / "m.py").write_text(BASE.replace("line 10\n", "line ten\n"))
    git(root, "add", "m.py")
    got = changed_lines(keel_git.unified_diff(root, staged=True))
    assert got["m.py"]["added"] == [[10, 10]]
    assert got["m.py"]["context"] == [[7, 9], [11, 13]]


def test_deletion_at_the_end_and_no_newline_marker(tmp_path: Path) -> None:
    got = _lines(tmp_path, {"m.py": BASE.replace("line 20\n", "").rstrip("\n")})["m.py"]
    # "line 19" lost its newline (changed) and "line 20" went: one run of deletions
    assert got["added"] == [[19, 19]]
    assert got["removed_at"] == [19]


def test_a_hunk_of_deletions_only_sits_after_its_last_kept_line(tmp_path: Path) -> None:
    text = BASE.replace("line 19\nline 20\n", "").replace("line 3\n", "")
    got = _lines(tmp_path, {"m.py": text})["m.py"]
    assert got["added"] == []
    assert got["removed_at"] == [3, 18]  # before new line 3; at the end (17 lines kept, + 1)

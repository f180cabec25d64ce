"""The reviewed-state fingerprint (tools/reviewed_state.py): pure compare, and real git repos."""

from __future__ import annotations

import subprocess
from pathlib import Path

from keel.tools import reviewed_state as rs
from keel.tools import snapshot
from keel.tools.git import EMPTY_TREE, head_sha, resolve_range
from tests.support.gitrepo import commit_files, git, two_commit_repo

OLD = "def f(x):\n    return eval(x)\n"
NEW = "import ast\n\n\ndef f(x):\n    return ast.literal_eval(x)\n"


def _state(**changes: object) -> rs.RepoState:
    base = rs.RepoState(
        head="a" * 40, branch="refs/heads/main", index=None, files={"app.py": "1" * 40}
    )
    return rs.RepoState(**{**base, **changes})  # type: ignore[typeddict-item]


# ------------------------------------------------------------------------- pure


def test_nothing_moved_is_no_change() -> None:
    assert rs.compare(_state(), _state()) == []


def test_each_kind_of_move_is_one_change() -> None:
    before = _state(index="c" * 40, files={"app.py": "1" * 40, "gone.py": "2" * 40, "new.py": None})
    now = _state(
        head="b" * 40,
        branch=None,
        index="d" * 40,
        files={"app.py": "3" * 40, "gone.py": None, "new.py": "4" * 40, "other.py": "5" * 40},
    )
    changes = rs.compare(before, now)
    assert [(c["kind"], c["path"]) for c in changes] == [
        ("head", None),
        ("branch", None),
        ("index", None),
        ("file", "app.py"),
        ("file", "gone.py"),
        ("file", "new.py"),
    ]  # other.py was not in scope: not compared
    assert [rs.describe(c) for c in changes] == [
        f"HEAD moved: {'a' * 12} -> {'b' * 12}",
        "another branch is checked out: main -> detached HEAD",
        f"the index (staged change) changed: tree {'c' * 12} -> {'d' * 12}",
        "app.py: edited since the review",
        "gone.py: deleted since the review",
        "new.py: created since the review",
    ]


def test_the_index_counts_only_when_it_was_recorded() -> None:
    assert rs.compare(_state(index=None), _state(index="d" * 40)) == []


def test_rereview_follows_head_only_when_the_review_did() -> None:
    task = {"repo": "/r", "mode": "review", "rev_range": "b..h", "staged": False}
    followed = _reviewed(head="h", at_head="h")
    assert rs.rereview_input(task, followed, "n") == {
        "repo": "/r",
        "mode": "review",
        "rev_range": "b..n",
    }
    older = _reviewed(head="h", at_head="x")
    assert rs.rereview_input(task, older, "n")["rev_range"] == "b..h"
    assert rs.rereview_input(task, None, "n")["rev_range"] == "b..n"  # not recorded
    staged = {**task, "staged": True, "rev_range": None}
    assert rs.rereview_input(staged, None, "n") == {"repo": "/r", "mode": "review", "staged": True}
    assert rs.rereview_input({"repo": "/r", "mode": "audit"}, None, "n") == {
        "repo": "/r",
        "mode": "audit",
    }


def test_rereview_command_lines() -> None:
    assert rs.rereview_command({"repo": "/a b", "rev_range": "x..y"}) == (
        "keel review '/a b' --rev x..y"
    )
    assert rs.rereview_command({"repo": "/r", "staged": True}) == "keel review /r --staged"
    assert rs.rereview_command({"repo": "/r", "mode": "audit"}) == "keel audit /r"


def _reviewed(*, head: str, at_head: str) -> rs.ReviewedState:
    return rs.ReviewedState(
        version=rs.VERSION,
        mode="review",
        staged=False,
        base="b",
        head=head,
        commits=[head],
        commit_count=1,
        tree="t",
        files={},
        at_review=_state(head=at_head),
    )


# ---------------------------------------------------------------- on git repos


def test_file_hashes_are_git_blob_ids(tmp_path: Path) -> None:
    root = two_commit_repo(tmp_path / "repo", {"README.md": "r\n"}, {"app.py": OLD})
    (root / "link.py").symlink_to("app.py")
    hashes = rs.file_hashes(root, ["app.py", "missing.py", "link.py"])
    assert hashes["app.py"] == git(root, "hash-object", "--no-filters", "app.py").strip()
    assert hashes["missing.py"] is None
    link = subprocess.run(
        ["git", "hash-object", "--stdin"], input="app.py", capture_output=True, text=True
    ).stdout.strip()
    assert hashes["link.py"] == link  # a symlink is its target path, as git stores it


def test_capture_of_the_last_commit(tmp_path: Path) -> None:
    root = two_commit_repo(tmp_path / "repo", {"README.md": "r\n"}, {"app.py": OLD})
    base, head = resolve_range(root, None)
    state = rs.capture(root, root, ["app.py"], mode="review", staged=False, base=base, head=head)
    assert state["head"] == head and state["base"] == base
    assert state["commits"] == [head] and state["commit_count"] == 1
    assert state["tree"] == git(root, "rev-parse", "HEAD^{tree}").strip()
    assert state["files"] == state["at_review"]["files"] == rs.file_hashes(root, ["app.py"])
    assert state["at_review"]["branch"] == "refs/heads/main"
    assert state["at_review"]["index"] is None
    now = rs.observe(root, ["app.py"], staged=False)
    assert rs.compare(state["at_review"], now) == []
    (root / "app.py").write_text(NEW)
    moved = rs.compare(state["at_review"], rs.observe(root, ["app.py"], staged=False))
    assert [c["path"] for c in moved] == ["app.py"]


def test_capture_from_a_snapshot_records_the_snapshot_content(tmp_path: Path) -> None:
    root = two_commit_repo(tmp_path / "repo", {"README.md": "r\n"}, {"app.py": OLD})
    base, head = resolve_range(root, None)
    commit_files(root, {"app.py": NEW}, "three")
    taken = snapshot.take(root, "t1", head)
    state = rs.capture(root, taken, ["app.py"], mode="review", staged=False, base=base, head=head)
    assert state["head"] == head
    assert state["tree"] == git(root, "rev-parse", f"{head}^{{tree}}").strip()
    assert state["files"]["app.py"] == git(root, "rev-parse", f"{head}:app.py").strip()
    assert state["at_review"]["head"] == head_sha(root) != head
    assert state["at_review"]["files"]["app.py"] != state["files"]["app.py"]
    snapshot.remove(root, "t1")


def test_a_range_from_the_empty_tree_lists_every_commit(tmp_path: Path) -> None:
    root = two_commit_repo(tmp_path / "repo", {"README.md": "r\n"}, {"app.py": OLD})
    head = head_sha(root)
    state = rs.capture(
        root, root, ["app.py"], mode="review", staged=False, base=EMPTY_TREE, head=head
    )
    assert state["commit_count"] == 2 and state["commits"][0] == head


def test_staged_review_records_the_index_without_rewriting_it(tmp_path: Path) -> None:
    root = two_commit_repo(tmp_path / "repo", {"README.md": "r\n"}, {"app.py": OLD})
    (root / "app.py").write_text(NEW)
    git(root, "add", "app.py")
    index = Path(root / ".git" / "index")
    before = index.read_bytes()
    state = rs.capture(root, root, ["app.py"], mode="review", staged=True, base=None, head=None)
    assert index.read_bytes() == before
    assert state["tree"] == state["at_review"]["index"] == git(root, "write-tree").strip()
    assert state["head"] == head_sha(root) and state["commits"] == []
    (root / "README.md").write_text("changed\n")
    git(root, "add", "README.md")  # staging something else moves the index
    moved = rs.compare(state["at_review"], rs.observe(root, ["app.py"], staged=True))
    assert [c["kind"] for c in moved] == ["index"]


def test_audit_tree_holds_uncommitted_edits_and_checkout_materialises_it(
    tmp_path: Path,
) -> None:
    root = two_commit_repo(tmp_path / "repo", {"README.md": "r\n"}, {"app.py": OLD})
    (root / "app.py").write_text(NEW)
    files = ["README.md", "app.py"]
    state = rs.capture(root, root, files, mode="audit", staged=False, base=None, head=None)
    assert state["tree"] != git(root, "rev-parse", "HEAD^{tree}").strip()
    assert git(root, "status", "--porcelain") == " M app.py\n"  # index untouched
    (root / "app.py").write_text("changed again\n")
    target = rs.checkout(root, "t2", state)
    try:
        assert (target / "app.py").read_text() == NEW
        assert (target / "README.md").read_text() == "r\n"
        assert git(root, "status", "--porcelain") == " M app.py\n"
    finally:
        snapshot.remove(root, "t2")
    assert not target.exists()


def test_new_commits_in_words(tmp_path: Path) -> None:
    root = two_commit_repo(tmp_path / "repo", {"README.md": "r\n"}, {"app.py": OLD})
    before = head_sha(root)
    commit_files(root, {"app.py": NEW}, "use literal_eval")
    after = head_sha(root)
    said = rs.new_commits(root, before, after)
    assert said.startswith("1 new commit(s): ") and "use literal_eval" in said
    assert "is not an ancestor" in rs.new_commits(root, after, before)

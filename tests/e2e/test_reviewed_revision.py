"""A review of an older commit analyzes that commit, not the work tree (tools/snapshot.py).

The change under review adds `eval(x)`; the next commit, checked out, replaced it. The
analyzers must see the reviewed content, the user's work tree must stay as it is, and the
snapshot must be gone once the thread finishes.
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import KeelRunner, git_status
from tests.support.gitrepo import commit_files, git, two_commit_repo

OLD = "def parse(text):\n    return eval(text)\n"
NEW = "import ast\n\n\ndef parse(text):\n    return ast.literal_eval(text)\n"


def test_review_of_an_older_commit_reads_that_commit(keel: KeelRunner, tmp_path: Path) -> None:
    repo = two_commit_repo(tmp_path / "repo", {"README.md": "r\n"}, {"calc.py": OLD})
    commit_files(repo, {"calc.py": NEW}, "use literal_eval")

    review = keel("review", str(repo), "--rev", "HEAD~1", "--no-input", "--json")
    assert review.code == 3, review.stderr
    findings = review.json()["report"]["findings"]
    assert ("calc.py", 2) in {(f["file"], f["line"]) for f in findings}, findings
    assert "eval(text)" in " ".join(f["evidence"] for f in findings)
    worktrees = git(repo, "worktree", "list", "--porcelain")
    assert worktrees.count("worktree ") == 2  # the snapshot, while the thread waits

    done = keel("reject", review.json()["thread_id"], "--reason", "seen", "--json")
    assert done.code == 0, done.stderr
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert (repo / "calc.py").read_text() == NEW
    assert git_status(repo) == ""

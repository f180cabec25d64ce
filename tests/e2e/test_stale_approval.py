"""An approval is for what was reviewed: `keel approve` after the repository moved runs nothing.

Between `keel review` and `keel approve` of the sample, the repository (a) gets an
uncommitted edit to a reviewed file, (b) a new commit, (c) another branch checked out.
Each time nothing approved runs — no KEEL_REVIEW.md, no autofix, no test run (the effect
journal stays empty) — `keel approve` exits 10 saying what moved, the thread waits at a
stale-approval request, and `keel rereview THREAD` reviews the repository as it is now in a
new thread and closes the old one. The control: nothing moved, approve runs each action
once. On SQLite and PostgreSQL (the `keel` fixture's `db_url`).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import KeelRunner, Result, git_status
from tests.support.gitrepo import commit_files, git

EXIT_STALE = 10
REPORTS = "inventory/reports.py"


def _journal(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _review(keel: KeelRunner, repo: Path, journal: Path) -> str:
    review = keel(
        "review", str(repo), "--no-input", "--json", extra_env={"KEEL_EFFECT_JOURNAL": str(journal)}
    )
    assert review.code == 3, review.stderr
    data = review.json()
    names = [a["name"] for a in data["review_request"]["action_requests"]]
    assert names == ["apply_autofix", "run_tests", "publish_review"]
    reviewed = data["review_request"]["packet"]["reviewed"]
    assert reviewed["head"] == git(repo, "rev-parse", "HEAD").strip()
    assert reviewed["commits"] == [reviewed["head"]]
    assert reviewed["files"][REPORTS] == git(repo, "hash-object", REPORTS).strip()
    assert reviewed["at_review"]["branch"] == "refs/heads/main"
    return str(data["thread_id"])


def _assert_stale(keel: KeelRunner, thread: str, approve: Result, *moved: str) -> None:
    assert approve.code == EXIT_STALE, approve.stderr
    data = approve.json()
    assert data["status"] == "awaiting_approval"
    stale = data["stale_approval"]
    assert stale["ran"] == [] and stale["not_run"] == [
        "apply_autofix",
        "run_tests",
        "publish_review",
    ]
    for text in moved:
        assert any(text in change for change in stale["changes"]), stale["changes"]
        assert text in approve.stderr
    assert f"keel rereview {thread}" in approve.stderr
    (request,) = data["review_requests"]
    assert [c["allowed_decisions"] for c in request["review_configs"]] == [["reject", "rereview"]]
    again = keel("approve", thread)  # the stale request cannot be approved: untouched
    assert again.code == EXIT_STALE, again.stderr
    assert "stale approval" in again.stderr
    assert keel("threads", "--json").json()[0]["status"] == "awaiting_approval"


def _rereview(keel: KeelRunner, thread: str) -> dict:
    rereview = keel("rereview", thread, "--no-input", "--json")
    assert rereview.code == 3, rereview.stderr
    data = rereview.json()
    assert data["thread_id"] != thread
    assert data["rereview_of"] == {"thread_id": thread, "status": "done"}
    old = keel("show", thread, "--format", "json").json()
    assert old["status"] == "done" and old["review_requests"] == []
    results = {r["name"]: r for r in old["report"]["action_results"]}
    assert {n: r["status"] for n, r in results.items()} == {
        "apply_autofix": "stale",
        "run_tests": "stale",
        "publish_review": "stale",
    }
    assert all(data["thread_id"] in r["detail"] for r in results.values())
    return data


def test_nothing_moved_approve_runs_each_action_once(
    keel: KeelRunner, sample_repo: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "effects.jsonl"
    thread = _review(keel, sample_repo, journal)
    approve = keel("approve", thread, "--json")
    assert approve.code == 0, approve.stderr
    results = {r["name"]: r for r in approve.json()["report"]["action_results"]}
    assert {n: r["status"] for n, r in results.items()} == dict.fromkeys(
        ("apply_autofix", "run_tests", "publish_review"), "done"
    )
    assert "reviewed tree" in results["run_tests"]["detail"]
    assert results["run_tests"]["output"]["failed"] == 1
    assert sorted(e["action_id"] for e in _journal(journal)) == [
        "apply_autofix",
        "publish_review",
        "run_tests",
    ]
    assert (sample_repo / "KEEL_REVIEW.md").read_text().startswith("# Keel review")
    assert "import json\n" not in (sample_repo / REPORTS).read_text()
    assert git(sample_repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert keel("approve", thread).code == 5
    assert len(_journal(journal)) == 3


def test_an_edit_to_a_reviewed_file_makes_the_approval_stale(
    keel: KeelRunner, sample_repo: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "effects.jsonl"
    thread = _review(keel, sample_repo, journal)
    edited = (sample_repo / REPORTS).read_text() + "\n# edited after the review\n"
    (sample_repo / REPORTS).write_text(edited)

    approve = keel("approve", thread, "--json")
    _assert_stale(keel, thread, approve, f"{REPORTS}: edited since the review")
    assert not (sample_repo / "KEEL_REVIEW.md").exists()
    assert (sample_repo / REPORTS).read_text() == edited  # no autofix
    assert git_status(sample_repo) == f" M {REPORTS}\n"
    assert _journal(journal) == []

    new = _rereview(keel, thread)
    assert new["report"]["task"]["rev_range"] == approve.json()["report"]["task"]["rev_range"]
    done = keel("approve", new["thread_id"], "--json")  # nothing moved since the re-review
    assert done.code == 0, done.stderr
    results = {r["name"]: r for r in done.json()["report"]["action_results"]}
    # the range's commit was reviewed, not the uncommitted edit: the patch is not applied
    assert results["apply_autofix"]["status"] == "failed"
    assert "not the content the review read" in results["apply_autofix"]["detail"]
    assert results["run_tests"]["status"] == "done"
    assert results["publish_review"]["status"] == "done"
    assert (sample_repo / REPORTS).read_text() == edited


def test_a_new_commit_makes_the_approval_stale(
    keel: KeelRunner, sample_repo: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "effects.jsonl"
    thread = _review(keel, sample_repo, journal)
    reviewed_head = git(sample_repo, "rev-parse", "HEAD").strip()
    source = (sample_repo / REPORTS).read_text()
    commit_files(sample_repo, {REPORTS: source + "\nLIMIT = 10\n"}, "tune the report limit")
    head = git(sample_repo, "rev-parse", "HEAD").strip()

    approve = keel("approve", thread, "--json")
    _assert_stale(
        keel, thread, approve, "HEAD moved", "tune the report limit", f"{REPORTS}: edited"
    )
    assert not (sample_repo / "KEEL_REVIEW.md").exists()
    assert (sample_repo / REPORTS).read_text() == source + "\nLIMIT = 10\n"
    assert git_status(sample_repo) == ""
    assert _journal(journal) == []

    new = _rereview(keel, thread)
    base = approve.json()["report"]["task"]["rev_range"].split("..")[0]
    assert new["report"]["task"]["rev_range"] == f"{base}..{head}"
    assert new["review_request"]["packet"]["reviewed"]["commits"] == [head, reviewed_head]


def test_checking_out_another_branch_makes_the_approval_stale(
    keel: KeelRunner, sample_repo: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "effects.jsonl"
    thread = _review(keel, sample_repo, journal)
    git(sample_repo, "checkout", "-q", "-b", "other", "HEAD~1")
    commit_files(sample_repo, {"inventory/extra.py": "def run(x):\n    return eval(x)\n"}, "other")
    other = git(sample_repo, "rev-parse", "HEAD").strip()

    approve = keel("approve", thread, "--json")
    _assert_stale(keel, thread, approve, "another branch is checked out: main -> other")
    assert "is not an ancestor" in approve.stderr
    assert git_status(sample_repo) == ""
    assert _journal(journal) == []
    git(sample_repo, "checkout", "-q", "main")  # nothing landed on the reviewed branch either
    assert not (sample_repo / "KEEL_REVIEW.md").exists()
    assert "import json\n" in (sample_repo / REPORTS).read_text()
    assert git_status(sample_repo) == ""
    git(sample_repo, "checkout", "-q", "other")

    new = _rereview(keel, thread)
    assert new["report"]["task"]["rev_range"].endswith(f"..{other}")
    assert "inventory/extra.py" in new["report"]["scope"]


def test_rereview_before_approving_supersedes_the_review(
    keel: KeelRunner, sample_repo: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "effects.jsonl"
    thread = _review(keel, sample_repo, journal)
    rereview = keel("rereview", thread, "--no-input", "--json")
    assert rereview.code == 3, rereview.stderr
    new = rereview.json()
    assert new["rereview_of"] == {"thread_id": thread, "status": "done"}
    old = keel("show", thread, "--format", "json").json()
    assert old["report"]["action_results"] == []
    decisions = old["report"]["review"]["decisions"]
    assert {d["type"] for d in decisions} == {"reject"}
    assert all(
        f"superseded by re-review in thread {new['thread_id']}" in d["message"] for d in decisions
    )
    assert keel("approve", thread).code == 5
    assert _journal(journal) == [] and git_status(sample_repo) == ""

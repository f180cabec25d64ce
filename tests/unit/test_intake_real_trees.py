"""Intake on real trees: the scope leaves out what is never read, and says so."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

import pytest

from keel.core.state import PipelineState
from keel.nodes.agents.intake import intake
from keel.nodes.agents.render import SKIPPED_SHOWN, render_report
from keel.tools import snapshot
from keel.tools.git import GitError
from tests.support.gitrepo import commit_files, git, init_repo, two_commit_repo
from tests.support.realtree import EXPECTED_SKIPS, IN_SCOPE, build_real_tree


def _intake(repo: Path, **inputs: Any) -> dict[str, Any]:
    return intake(cast(PipelineState, {"repo": str(repo), **inputs}))


def test_audit_of_a_real_tree(tmp_path: Path) -> None:
    root = build_real_tree(tmp_path / "repo", tmp_path / "outside")
    out = _intake(root, mode="audit")
    assert sorted(out["scope"]) == sorted(IN_SCOPE)
    assert {s["path"]: s["kind"] for s in out["skipped"]} == EXPECTED_SKIPS
    template = next(s for s in out["skipped"] if s["path"] == "hooks/pre_gen_project.py")
    assert template["in_scope"] and template["skipped_by"] == ["ruff", "bandit", "semgrep"]
    link = next(s for s in out["skipped"] if s["path"] == "tests/certs/valid/ca")
    assert not link["in_scope"] and link["skipped_by"] == []
    (note,) = [o["text"] for o in out["observations"]]
    assert note.startswith(f"{len(IN_SCOPE)} file(s) in scope; {len(EXPECTED_SKIPS)} path(s)")
    assert "4 symlink" in note and "1 submodule" in note and "listed in" in note


def test_review_of_a_change_that_adds_a_real_tree(tmp_path: Path) -> None:
    root = build_real_tree(tmp_path / "repo", tmp_path / "outside", base={"README.md": "r\n"})
    out = _intake(root)
    assert out["analysis_root"] == str(root)  # the work tree is the reviewed commit
    assert {s["path"]: s["kind"] for s in out["skipped"]} == EXPECTED_SKIPS
    assert sorted(out["scope"]) == sorted(IN_SCOPE)
    commit_files(root, {"README.md": "moved on\n"}, "three")
    earlier = _intake(root, rev_range="HEAD~2..HEAD~1")  # read from a snapshot
    assert earlier["analysis_root"] != str(root)
    assert {s["path"]: s["kind"] for s in earlier["skipped"]} == EXPECTED_SKIPS
    snapshot.remove(root, "local")


def test_staged_review_skips_too(tmp_path: Path) -> None:
    root = two_commit_repo(tmp_path / "repo", {"README.md": "r\n"}, {"a.py": "x = 1\n"})
    (root / "logo.png").write_bytes(b"\x89PNG\x00\x00")
    (root / "link").symlink_to("a.py")
    git(root, "add", "logo.png", "link")
    out = _intake(root, staged=True)
    assert out["scope"] == []
    assert [(s["path"], s["kind"]) for s in out["skipped"]] == [
        ("link", "symlink"),
        ("logo.png", "binary"),
    ]


def test_no_commits_is_a_clear_error(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "empty")
    (root / "a.py").write_text("x = 1\n")
    git(root, "add", "a.py")
    for inputs in ({"mode": "audit"}, {}):
        with pytest.raises(GitError, match="the repository has no commits yet"):
            _intake(root, **inputs)
    assert _intake(root, staged=True)["scope"] == ["a.py"]  # the staged files still review


def test_three_thousand_files(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    commit_files(root, {f"pkg{i // 100}/m{i}.py": f"V = {i}\n" for i in range(3000)}, "many")
    started = time.perf_counter()
    out = _intake(root, mode="audit")
    elapsed = time.perf_counter() - started
    assert len(out["scope"]) == 3000 and out["skipped"] == []
    assert elapsed < 60, f"intake of 3,000 files took {elapsed:.1f} s"


def test_the_report_shows_the_skips() -> None:
    skipped = [
        {
            "path": f"assets/{i}.png",
            "kind": "binary",
            "reason": "binary (9 bytes; a NUL byte in the first 8,000 bytes)",
            "in_scope": False,
            "skipped_by": [],
        }
        for i in range(SKIPPED_SHOWN + 2)
    ]
    skipped.insert(
        0,
        {
            "path": "hooks/pre_gen_project.py",
            "kind": "template",
            "reason": "a Jinja template, not Python",
            "in_scope": True,
            "skipped_by": ["ruff", "bandit", "semgrep"],
        },
    )
    state = {"task": {"goal": "g", "repo": "/r"}, "scope": ["a.py"], "skipped": skipped}
    report = render_report(state, thread_id="kr-x", model_label="offline")
    assert report["data"]["skipped"] == skipped
    markdown = report["markdown"]
    assert f"- **Files in scope:** 1 ({len(skipped)} path(s) skipped, below)" in markdown
    assert (
        "- `hooks/pre_gen_project.py` — template, not read by ruff, bandit, semgrep: "
        "a Jinja template, not Python"
    ) in markdown
    assert "- `assets/0.png` — binary, not analyzed: binary (9 bytes;" in markdown
    assert "- … and 3 more (see the JSON report)" in markdown
    empty = render_report({"task": {}, "scope": []}, thread_id="kr-y", model_label="offline")
    assert "Skipped" not in empty["markdown"] and empty["data"]["skipped"] == []

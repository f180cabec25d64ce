"""Remembered dismissals through the CLI, on SQLite and PostgreSQL.

review → `keel approve --dismiss` → the finding's lines move in a new commit → review
again: suppressed, not a trigger, the thread ends on its own → `keel baseline clear` →
raised again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import KeelRunner
from tests.support.gitrepo import commit_files, git, two_commit_repo

pytestmark = pytest.mark.slow

APP = "import subprocess\n\n\ndef run(cmd):\n    subprocess.call(cmd, shell=True)\n"


def test_a_dismissed_finding_is_suppressed_until_the_baseline_is_cleared(
    keel: KeelRunner, tmp_path: Path
) -> None:
    repo = two_commit_repo(tmp_path / "repo", {"README.md": "r\n"}, {"app.py": APP})
    base = git(repo, "rev-parse", "HEAD~1").strip()
    first = keel("review", str(repo), "--no-input", "--json")
    assert first.code == 3, first.stderr
    data = first.json()
    thread = data["thread_id"]
    findings = data["report"]["findings"]
    shell = next(f for f in findings if f["rule"] == "B602")
    assert shell["severity"] == "high" and "suppressed" not in shell
    assert any("at or above high" in t for t in data["review_request"]["packet"]["triggers"])

    unknown = keel("approve", thread, "--dismiss", "nope", "--reason", "x")
    assert unknown.code == 2 and "--dismiss: no finding nope in this thread" in unknown.stderr
    no_reason = keel("approve", thread, "--dismiss", shell["id"])
    assert no_reason.code == 2 and "--dismiss needs --reason" in no_reason.stderr

    ids = [f["id"] for f in findings]
    approve = keel(
        "approve",
        thread,
        "--dismiss",
        ",".join(ids[:-1]),
        "--dismiss",
        ids[-1],
        "--reason",
        "cmd is a constant from our own config",
        "--json",
    )
    assert approve.code == 0, approve.stderr
    final = approve.json()["report"]
    assert final["shown"] == [] and len(final["suppressed"]) == len(findings)
    dismissed = final["review"]["dismissed"]
    assert {d["finding_id"] for d in dismissed} >= set(ids)
    assert all(d["remembered"] for d in dismissed)

    shown = keel("baseline", "show", str(repo), "--json")
    assert shown.code == 0, shown.stderr
    view = shown.json()
    assert view["repo"] == str(repo) and view["identified_by"] == f"first commit {base[:12]}"
    assert {e["file"] for e in view["entries"]} == {"app.py"}
    assert {e["reason"] for e in view["entries"]} == {"cmd is a constant from our own config"}
    exported = keel("feedback", "export")
    assert "cmd is a constant from our own config" in exported.stdout  # with the packet

    # the finding's line moves; the same code, reviewed again as part of a range
    commit_files(repo, {"app.py": '"""Run commands."""\n\n# helpers\n' + APP}, "three")
    second = keel("review", str(repo), "--rev", f"{base}..HEAD", "--no-input", "--json")
    assert second.code == 0, second.stderr  # no trigger: the thread ends on its own
    report = second.json()["report"]
    assert second.json()["status"] == "done" and report["shown"] == []
    moved = next(f for f in report["suppressed"] if f["rule"] == "B602")
    assert moved["line"] == shell["line"] + 3
    assert moved["suppressed"]["thread_id"] == thread
    assert report["baseline"]["suppressed"] >= len(findings)
    sarif = keel("show", second.json()["thread_id"], "--format", "sarif")
    assert '"baselineState": "unchanged"' in sarif.stdout and '"kind": "external"' in sarif.stdout

    cleared = keel("baseline", "clear", str(repo), "--json")
    assert cleared.code == 0 and cleared.json()["cleared"] == len(view["entries"])
    assert keel("baseline", "show", str(repo), "--json").json()["entries"] == []
    third = keel("review", str(repo), "--rev", f"{base}..HEAD", "--no-input", "--json")
    assert third.code == 3, third.stderr  # raised again
    again = next(f for f in third.json()["report"]["shown"] if f["rule"] == "B602")
    assert "suppressed" not in again

    not_a_repo = keel("baseline", "show", str(tmp_path / "nowhere"))
    assert not_a_repo.code == 2

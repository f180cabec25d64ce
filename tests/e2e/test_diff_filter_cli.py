"""A review reports the change: `keel review` of a two-line change to a large file.

The file holds pre-existing findings of every kind (two high-severity security issues,
unused imports, a bare `except`); the change edits two lines of one function. The report
lists what the change introduced, counts the rest under a collapsed heading, lets none of
it trigger review or fail `--fail-on`, and keeps it out of SARIF unless `--filter` asks.
Real tools, the offline model, SQLite (the persistence is not what is tested here).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import KeelRunner
from tests.support.gitrepo import two_commit_repo

FUNCTIONS = 60
OLD = '    """Step 40."""\n    total = value + 40\n'


def _module(step_40: str = OLD) -> str:
    parts = ['"""A large module."""\n\nimport hashlib\nimport os\nimport subprocess\nimport sys\n']
    for i in range(FUNCTIONS):
        body = f'    """Step {i}."""\n    total = value + {i}\n'
        if i == 40:
            body = step_40
        parts.append(f"\n\ndef step_{i}(value):\n{body}    return total\n")
    parts.append(
        '\n\ndef digest(data):\n    """Digest."""\n    return hashlib.md5(data).hexdigest()\n'
        '\n\ndef run(cmd):\n    """Run."""\n    return subprocess.call(cmd, shell=True)\n'
        '\n\ndef quiet(fn):\n    """Quiet."""\n    try:\n        fn()\n    except:\n        pass\n'
    )
    return "".join(parts)


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """SQLite only: these tests are about the report, not the database."""
    yield f"sqlite:///{tmp_path / 'keel.db'}"


def _repo(tmp_path: Path, step_40: str) -> Path:
    before = _module()
    assert len(before.splitlines()) > 350
    return two_commit_repo(tmp_path / "repo", {"lib.py": before}, {"lib.py": _module(step_40)})


def test_a_small_change_to_a_large_file_reports_what_it_introduced(
    keel: KeelRunner, tmp_path: Path
) -> None:
    # two lines changed: the docstring and the comparison (E711, introduced, not fixable)
    repo = _repo(tmp_path, '    """Step forty."""\n    total = value == None\n')
    result = keel("review", str(repo), "--no-input", "--json")
    assert result.code == 3, result.stderr
    out = result.json()
    report = out["report"]
    assert [(f["rule"], f["diff"]) for f in report["shown"]] == [("E711", "introduced")]
    assert report["diff_filter"] == "added"
    counts = report["diff_counts"]
    assert counts["introduced"] == 1 and counts["pre-existing"] >= 5, counts
    # the data keeps every finding with its class
    rules = {f["rule"]: f["diff"] for f in report["findings"]}
    assert rules["B324"] == rules["B602"] == rules["E722"] == "pre-existing"
    assert report["counts"] == {"critical": 0, "high": 0, "medium": 0, "low": 1, "info": 0}
    # only the introduced finding's side effect triggers review: no severity rule, no autofix
    (request,) = out["review_requests"]
    assert request["packet"]["triggers"] == ["rule: side effect proposed (publish_review)"]
    assert [a["name"] for a in request["action_requests"]] == ["publish_review"]
    assert request["packet"]["diff"]["counts"] == counts

    show = keel("show", out["thread_id"])
    listed, _, collapsed = show.stdout.partition("<details>")
    assert "E711" in listed and "B324" not in listed and "md5" not in listed
    assert f"{counts['pre-existing']} pre-existing finding(s)" in collapsed.split("</summary>")[0]
    assert "B324" in collapsed and "</details>" in collapsed

    sarif = keel("show", out["thread_id"], "--format", "sarif")
    results = json.loads(sarif.stdout)["runs"][0]["results"]
    assert [(r["ruleId"], r["properties"]["diff"]) for r in results] == [("E711", "introduced")]


def test_pre_existing_findings_alone_neither_trigger_review_nor_fail_the_gate(
    keel: KeelRunner, tmp_path: Path
) -> None:
    repo = _repo(tmp_path, '    """Step forty, documented."""\n    total = value + 40\n')
    result = keel("review", str(repo), "--no-input", "--json", "--fail-on", "high")
    assert result.code == 0, result.stderr
    out = result.json()
    assert out["status"] == "done" and out["review_requests"] == []
    report = out["report"]
    assert report["shown"] == [] and report["diff_counts"]["introduced"] == 0
    assert any(f["severity"] == "high" for f in report["findings"])  # kept in the data

    thread = out["thread_id"]
    markdown = keel("show", thread).stdout
    assert "No findings in the change." in markdown and "<details>" in markdown


def test_filter_file_lists_and_exports_every_finding_in_the_touched_files(
    keel: KeelRunner, tmp_path: Path
) -> None:
    repo = _repo(tmp_path, '    """Step forty."""\n    total = value == None\n')
    result = keel("review", str(repo), "--no-input", "--json", "--filter", "file")
    assert result.code == 3, result.stderr
    out = result.json()
    report = out["report"]
    assert report["diff_filter"] == "file"
    assert len(report["shown"]) == len(report["findings"]) >= 6
    (request,) = out["review_requests"]
    assert "rule: 2 finding(s) at or above high" in request["packet"]["triggers"]
    sarif = keel("show", out["thread_id"], "--format", "sarif")
    results = json.loads(sarif.stdout)["runs"][0]["results"]
    assert len(results) == len(report["shown"])
    assert {r["properties"]["diff"] for r in results} >= {"introduced", "pre-existing"}

    audit = keel("audit", str(repo), "--no-input", "--json")
    data = audit.json()["report"]
    assert data["diff_filter"] is None and data["shown"] == data["findings"]
    assert all("diff" not in f for f in data["findings"])

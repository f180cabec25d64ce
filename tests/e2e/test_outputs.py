"""Report formats, the CI gate and incremental reviews, through the CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sarif_pydantic import Sarif

from keel.sample import PLANTED
from tests.e2e.conftest import KeelRunner


def _sarif(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sarif_validates_round_trips_and_deduplicates(
    keel: KeelRunner, sample_repo: Path, tmp_path: Path
) -> None:
    first, second = tmp_path / "a.sarif", tmp_path / "b.sarif"
    assert (
        keel(
            "review", str(sample_repo), "--no-input", "--format", "sarif", "--output", str(first)
        ).code
        == 3
    )
    log = _sarif(first)
    model = Sarif.model_validate(log)  # the SARIF 2.1.0 object model
    again = json.loads(model.model_dump_json(by_alias=True, exclude_none=True))
    assert again["runs"][0]["results"] == log["runs"][0]["results"]  # round trip
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "Keel" and driver["version"]
    rule_ids = [r["id"] for r in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    assert run["properties"]["model"] == "offline"
    located = {
        (
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for r in run["results"]
    }
    for planted in PLANTED:
        if planted["tool"] != "pytest":
            assert (planted["file"], planted["line"]) in located, planted
    for result in run["results"]:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        assert {"specialist", "confidence"} <= set(result["properties"])
    fixed = [r for r in run["results"] if "fixes" in r]
    assert [r["ruleId"] for r in fixed] == ["F401"]
    (change,) = fixed[0]["fixes"][0]["artifactChanges"]
    assert change["artifactLocation"]["uri"] == "inventory/reports.py"
    assert change["replacements"][0]["deletedRegion"]["startLine"] <= 5

    # a second review of the same change gives the same fingerprints
    assert (
        keel(
            "review", str(sample_repo), "--no-input", "--format", "sarif", "--output", str(second)
        ).code
        == 3
    )
    prints = [
        sorted(r["partialFingerprints"]["keel/v1"] for r in _sarif(p)["runs"][0]["results"])
        for p in (first, second)
    ]
    assert prints[0] == prints[1] and len(set(prints[0])) == len(prints[0])


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_markdown_and_json_formats_and_suggested_patch(
    keel: KeelRunner, sample_repo: Path, tmp_path: Path
) -> None:
    review = keel("review", str(sample_repo), "--no-input", "--format", "json")
    data = json.loads(review.stdout)
    fixable = [f for f in data["findings"] if f.get("patch")]
    assert [f["rule"] for f in fixable] == ["F401"]
    assert fixable[0]["patch"].startswith("--- a/inventory/reports.py")
    thread = data["thread_id"]
    shown = keel("show", thread, "--format", "md", "--output", str(tmp_path / "r.md"))
    assert shown.code == 0
    markdown = (tmp_path / "r.md").read_text()
    assert "Suggested fix (applied only after review):" in markdown and "```diff" in markdown
    assert "-import json" in markdown


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_fail_on_gates_on_remaining_findings(keel: KeelRunner, sample_repo: Path) -> None:
    high = keel("review", str(sample_repo), "--no-input", "--fail-on", "high")
    assert high.code == 9
    assert "--fail-on high: 6 finding(s) at or above it" in high.stderr
    critical = keel("review", str(sample_repo), "--no-input", "--fail-on", "critical")
    assert critical.code == 0  # none critical; the thread still waits for approval
    assert "stays awaiting approval" in critical.stderr


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_since_last_reviews_only_new_changes(keel: KeelRunner, sample_repo: Path) -> None:
    first = keel("review", str(sample_repo), "--no-input", "--json")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=sample_repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    (sample_repo / "extra.py").write_text(
        "import hashlib\n\n\ndef h(x):\n    return hashlib.md5(x)\n"
    )
    subprocess.run(["git", "add", "extra.py"], cwd=sample_repo, check=True)
    subprocess.run(["git", "commit", "-qm", "more"], cwd=sample_repo, check=True)
    second = keel("review", str(sample_repo), "--since-last", "--no-input", "--json")
    report = second.json()["report"]
    assert report["scope"] == ["extra.py"]
    assert report["task"]["rev_range"].startswith(f"{head}..")
    assert f"incremental review: {head[:12]}.." in second.stderr
    assert f"thread {first.json()['thread_id']}" in second.stderr
    third = keel("review", str(sample_repo), "--since-last", "--no-input", "--json")
    assert third.code == 0 and third.json()["report"]["scope"] == []  # nothing new

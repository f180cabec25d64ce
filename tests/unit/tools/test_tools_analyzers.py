"""Each analyzer finds the problems planted in the sample repository, at their lines."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from keel.sample import PLANTED
from keel.tools import (
    Issue,
    SemgrepMissingError,
    find_semgrep,
    run_bandit,
    run_ruff,
    run_semgrep,
    scan_secrets,
)
from keel.tools.issues import Issue as IssueType


def _at(issues: list[Issue], kind: str) -> list[tuple[str, int]]:
    spots = [(p["file"], p["line"]) for p in PLANTED if p["kind"] == kind]
    found = {(i["file"], i["line"]) for i in issues}
    return [spot for spot in spots if spot not in found]


def _check_shape(issue: IssueType) -> None:
    assert set(issue) == set(IssueType.__annotations__)
    assert issue["severity"] in ("info", "low", "medium", "high", "critical")
    assert issue["category"] in ("security", "correctness", "style")
    assert 0.0 <= issue["confidence"] <= 1.0
    assert issue["line"] >= 1 and issue["end_line"] >= issue["line"]
    assert not issue["file"].startswith("/")


def test_ruff_finds_the_unused_import(sample: Path) -> None:
    issues = run_ruff(sample, ["inventory", "tests"])
    assert _at(issues, "unused-import") == []
    unused = next(i for i in issues if i["rule"] == "F401")
    assert unused["category"] == "style" and unused["severity"] == "low" and unused["fixable"]
    assert unused["code"] == "import json"
    for issue in issues:
        _check_shape(issue)


def test_ruff_categorizes_bugs_as_correctness(tmp_path: Path) -> None:
    (tmp_path / "bug.py").write_text("def f():\n    return undefined_name\n")
    (issue,) = run_ruff(tmp_path, ["bug.py"])
    assert (issue["rule"], issue["category"], issue["severity"]) == (
        "F821",
        "correctness",
        "medium",
    )
    assert not issue["fixable"]


def test_ruff_skips_non_python_and_refuses_escapes(sample: Path) -> None:
    assert run_ruff(sample, ["README.md"]) == []
    with pytest.raises(ValueError, match="escapes"):
        run_ruff(sample, ["../x.py"])


def test_bandit_finds_sql_shell_and_yaml(sample: Path) -> None:
    issues = run_bandit(sample, ["inventory"])
    for kind in ("sql-injection", "shell-injection", "unsafe-yaml-load"):
        assert _at(issues, kind) == [], kind
    by_rule = {i["rule"]: i for i in issues}
    assert by_rule["B602"]["severity"] == "high" and by_rule["B602"]["confidence"] == 0.9
    assert by_rule["B608"]["confidence"] == 0.7
    assert all(i["category"] == "security" and i["tool"] == "bandit" for i in issues)
    for issue in issues:
        _check_shape(issue)


def test_secrets_found_and_masked(sample: Path) -> None:
    issues = scan_secrets(sample, ["."])
    assert _at(issues, "hardcoded-secret") == []
    assert all(i["severity"] == "high" and i["category"] == "security" for i in issues)
    assert {i["code"] for i in issues} == {
        'S3_ACCESS_KEY_ID = "AKIA****"',
        'S3_SECRET_ACCESS_KEY = "q9Zt****"',  # pragma: allowlist secret
    }
    for issue in issues:
        _check_shape(issue)


def test_semgrep_is_installed() -> None:
    # Not skipped when missing: CI installs semgrep, so its absence is a failure.
    assert find_semgrep().is_file()


def test_semgrep_finds_the_taint_flow_bandit_misses(sample: Path) -> None:
    started = time.monotonic()
    issues = run_semgrep(sample, ["inventory"])
    elapsed = time.monotonic() - started
    assert _at(issues, "path-traversal") == []
    bandit_spots = {(i["file"], i["line"]) for i in run_bandit(sample, ["inventory"])}
    path = next(i for i in issues if i["rule"] == "keel.tainted-path")
    assert (path["file"], path["line"]) not in bandit_spots
    assert "CWE-22" in path["message"] and path["severity"] == "high"
    rules = {i["rule"] for i in issues}
    assert {"keel.tainted-path", "keel.tainted-shell", "keel.tainted-sql"} <= rules
    for issue in issues:
        _check_shape(issue)
    assert elapsed < 60


def test_semgrep_rules_on_more_sinks(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "import os\n"
        "import pickle\n"
        "import sys\n"
        "import xml.etree.ElementTree as ET\n"
        "from flask import request\n"
        "\n"
        "\n"
        "def view():\n"
        "    expr = request.args.get('q')\n"
        "    eval(expr)\n"
        "    ET.fromstring(request.data)\n"
        "    pickle.loads(request.get_data())\n"
        "    os.system('ls ' + sys.argv[1])\n"
        "    open(os.path.basename(sys.argv[2]))\n"
    )
    found = {(i["rule"], i["line"]) for i in run_semgrep(tmp_path, ["app.py"])}
    assert ("keel.tainted-code-eval", 10) in found
    assert ("keel.tainted-xml", 11) in found
    assert ("keel.tainted-deserialization", 12) in found
    assert ("keel.tainted-shell", 13) in found
    assert not any(rule == "keel.tainted-path" for rule, _ in found)  # basename sanitizes


def test_semgrep_missing_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEL_SEMGREP", "/nonexistent/semgrep")
    with pytest.raises(SemgrepMissingError, match=r"make tools.*scripts/install-tools\.sh"):
        find_semgrep()
    with pytest.raises(FileNotFoundError):
        run_semgrep(Path("."), ["x.py"])

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from keel.sample import PLANTED, SECRETS, build_sample_repo
from keel.tools import git as g


def test_planted_lines_point_at_the_planted_code(sample: Path) -> None:
    expected = {
        "unused-import": "import json",
        "sql-injection": 'execute(f"SELECT',
        "wrong-average": "len(orders) + 1",
        "unsafe-yaml-load": "yaml.load(",
        "hardcoded-secret": "S3_",  # pragma: allowlist secret
        "shell-injection": "shell=True",
        "path-traversal": "open(os.path.join(REPORT_DIR, report_name)",
        "failing-test": "assert average_order_value([1000, 2000, 3000])",
    }
    assert {p["kind"] for p in PLANTED} == set(expected)
    for problem in PLANTED:
        line = (sample / problem["file"]).read_text().splitlines()[problem["line"] - 1]
        assert expected[problem["kind"]] in line, problem
        assert "#@" not in line


def test_two_commits_and_the_last_one_plants_everything(sample: Path) -> None:
    log = subprocess.run(
        ["git", "log", "--format=%s"],
        cwd=sample,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.splitlines()
    assert log == ["Add reporting and admin features", "Initial inventory library"]
    changed = g.changed_files(sample)
    assert {p["file"] for p in PLANTED} <= set(changed)
    assert not any(secret in g.show(sample, "HEAD~1", "inventory/store.py") for secret in SECRETS)


def test_build_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("x")
    with pytest.raises(FileExistsError):
        build_sample_repo(tmp_path)

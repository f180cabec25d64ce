"""The documented GitHub Actions workflow parses, and its review command works here."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from sarif_pydantic import Sarif

from tests.e2e.conftest import KeelRunner

WORKFLOW = Path(__file__).resolve().parents[2] / "docs" / "ci" / "github-actions.yml"


def test_workflow_is_valid_yaml_with_the_expected_steps() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert "pull_request" in workflow[True]  # YAML 1.1 reads the key `on` as True
    assert workflow["permissions"]["security-events"] == "write"
    steps = workflow["jobs"]["review"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("github/codeql-action/upload-sarif") for u in uses)
    upload = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action"))
    assert upload["with"]["sarif_file"] == "keel.sarif" and upload["if"] == "always()"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_workflow_review_command_runs_locally(keel: KeelRunner, sample_repo: Path) -> None:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["review"]["steps"]
    command = next(s["run"] for s in steps if s.get("name") == "Review the pull request")
    # what the runner substitutes: the PR's base branch, fetched as origin/<base>
    base = subprocess.run(
        ["git", "rev-parse", "HEAD~1"], cwd=sample_repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(
        ["git", "update-ref", "refs/remotes/origin/main", base], cwd=sample_repo, check=True
    )
    argv = shlex.split(command.replace("${{ github.base_ref }}", "main"))
    assert argv[:2] == ["keel", "review"]
    argv[2] = str(sample_repo)  # "." in the runner's checkout
    output = sample_repo.parent / "keel.sarif"
    argv[argv.index("--output") + 1] = str(output)
    result = keel(*argv[1:])
    assert result.code == 9, result.stderr  # the sample has high findings: the check fails
    log = json.loads(output.read_text())
    Sarif.model_validate(log)
    assert log["runs"][0]["results"]
    assert log["runs"][0]["properties"]["range"].startswith(base)

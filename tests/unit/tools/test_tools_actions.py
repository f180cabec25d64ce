from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from keel.sample import PLANTED
from keel.tools import (
    PatchError,
    RepoPathError,
    apply_patch,
    publish_report,
    ruff_fix_diff,
    run_ruff,
)


def test_ruff_fix_diff_applies_with_apply_patch(fresh_sample: Path) -> None:
    before = (fresh_sample / "inventory/reports.py").read_text()
    patch = ruff_fix_diff(fresh_sample, ["inventory", "tests"])
    assert patch.startswith("--- a/inventory/reports.py\n+++ b/inventory/reports.py\n")
    assert "-import json\n" in patch
    assert "Would fix" not in patch
    # Computing the diff changes nothing.
    assert (fresh_sample / "inventory/reports.py").read_text() == before

    assert apply_patch(fresh_sample, patch) == ["inventory/reports.py"]
    assert "import json" not in (fresh_sample / "inventory/reports.py").read_text()
    unused = next(p for p in PLANTED if p["kind"] == "unused-import")
    assert all(i["rule"] != "F401" for i in run_ruff(fresh_sample, [unused["file"]]))
    assert ruff_fix_diff(fresh_sample, ["inventory"]) == ""


def test_apply_patch_is_all_or_nothing(fresh_sample: Path) -> None:
    patch = ruff_fix_diff(fresh_sample, ["inventory"])
    apply_patch(fresh_sample, patch)
    with pytest.raises(PatchError, match="patch does not apply|patch failed"):
        apply_patch(fresh_sample, patch)
    with pytest.raises(PatchError, match="empty patch"):
        apply_patch(fresh_sample, "  \n")


def test_apply_patch_refuses_paths_outside(fresh_sample: Path) -> None:
    evil = "--- a/../evil.py\n+++ b/../evil.py\n@@ -0,0 +1 @@\n+x = 1\n"
    with pytest.raises(PatchError):
        apply_patch(fresh_sample, evil)
    assert not (fresh_sample.parent / "evil.py").exists()


def test_publish_report_writes_inside_the_repo(fresh_sample: Path) -> None:
    path = publish_report(fresh_sample, "reviews/2024/KEEL_REVIEW.md", "# Review\n")
    assert path == fresh_sample / "reviews/2024/KEEL_REVIEW.md"
    assert path.read_text() == "# Review\n"
    publish_report(fresh_sample, "reviews/2024/KEEL_REVIEW.md", "# Review 2\n")
    assert path.read_text() == "# Review 2\n"
    status = subprocess.run(
        ["git", "status", "--porcelain"],
        cwd=fresh_sample,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert status.strip() == "?? reviews/"


@pytest.mark.parametrize("rel", ["../outside.md", "/tmp/keel-outside.md", ".git/config", "."])
def test_publish_report_refuses_escapes(fresh_sample: Path, rel: str) -> None:
    with pytest.raises(RepoPathError):
        publish_report(fresh_sample, rel, "x")

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from keel.sample import PLANTED
from keel.tools import run_pytest


def test_reports_the_failing_test_at_its_line(sample: Path) -> None:
    result = run_pytest(sample, timeout=120)
    planted = next(p for p in PLANTED if p["kind"] == "failing-test")
    assert result["exit_code"] == 1
    assert (result["passed"], result["failed"], result["errors"]) == (4, 1, 0)
    (failure,) = result["failures"]
    assert failure["nodeid"] == "tests/test_reports.py::test_average_order_value"
    assert (failure["file"], failure["line"]) == (planted["file"], planted["line"])
    assert "1500.0 == 2000.0" in failure["message"] or "assert" in failure["message"]
    assert result["duration_s"] > 0
    assert len(result["output_tail"].encode()) <= 4096
    assert "1 failed" in result["output_tail"]


def test_passing_run_and_extra_args(sample: Path) -> None:
    result = run_pytest(sample, args=["tests/test_pricing.py"])
    assert (result["exit_code"], result["passed"], result["failed"]) == (0, 2, 0)
    assert result["failures"] == []


def test_collection_error_is_an_error(make_repo: Callable[[dict[str, str]], Path]) -> None:
    root = make_repo({"tests/test_broken.py": "import no_such_module_xyz\n"})
    result = run_pytest(root, timeout=60)
    assert result["exit_code"] == 2
    assert result["errors"] == 1
    assert "no_such_module_xyz" in result["failures"][0]["message"] + result["output_tail"]

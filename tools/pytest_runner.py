"""Running a repository's test suite with pytest (an EXECUTE-effect tool: it runs repo code)."""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time

# Parses only the report our own pytest run wrote, never user data.
import xml.etree.ElementTree as ET  # nosec B405
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

from keel.tools._proc import run
from keel.tools._repo import RepoPathError, relative

__all__ = ["TestFailure", "TestRun", "run_pytest"]

_TAIL_BYTES = 4096
_LOCATION = re.compile(r"^(?P<file>[^\s:][^:\n]*\.py):(?P<line>\d+):", re.MULTILINE)


class TestFailure(TypedDict):
    """A failed or erroring test."""

    nodeid: str
    """pytest's id, e.g. "tests/test_x.py::test_y"."""
    file: str
    """Repository-relative file of the failing line (usually the test's own file)."""
    line: int | None
    """1-based line where it failed, when the traceback names one."""
    message: str
    """The failure's one-line message (at most 500 characters)."""


class TestRun(TypedDict):
    """The outcome of one pytest run."""

    exit_code: int
    """pytest's exit code (0 all passed, 1 failures, 2 interrupted, 5 no tests...)."""
    passed: int
    failed: int
    errors: int
    skipped: int
    duration_s: float
    """Wall time of the run."""
    failures: list[TestFailure]
    output_tail: str
    """The last 4 KB of pytest's output."""


def _tail(text: str) -> str:
    data = text.encode("utf-8")
    if len(data) <= _TAIL_BYTES:
        return text
    return data[-_TAIL_BYTES:].decode("utf-8", errors="ignore")


def _nodeid(case: ET.Element) -> str:
    file = case.get("file")
    classname = case.get("classname", "")
    name = case.get("name", "")
    if file:
        module = file[:-3].replace("/", ".") if file.endswith(".py") else file
        inner = classname[len(module) + 1 :] if classname.startswith(module + ".") else ""
        return "::".join(p for p in (file, *inner.split("."), name) if p)
    return f"{classname.replace('.', '/')}.py::{name}"


def _failure(root: Path, case: ET.Element, problem: ET.Element) -> TestFailure:
    nodeid = _nodeid(case)
    default_file = nodeid.split("::", 1)[0]
    file, line = default_file, None
    text = problem.text or ""
    for match in _LOCATION.finditer(text):
        try:
            rel = relative(root, Path(match.group("file")))
        except RepoPathError:
            continue
        if (root / rel).is_file():
            file, line = rel, int(match.group("line"))
    if line is None and case.get("line") is not None:
        line = int(case.get("line", "0")) + 1
    message = problem.get("message") or text.strip().splitlines()[-1:] or [""]
    if isinstance(message, list):
        message = message[0]
    return TestFailure(nodeid=nodeid, file=file, line=line, message=message[:500])


def run_pytest(root: Path, timeout: float = 300, args: Sequence[str] = ()) -> TestRun:
    """Run the repository's tests with this interpreter's pytest and summarize them.

    Runs ``python -m pytest -q -p no:cacheprovider --junitxml=<tmp> *args`` in the
    repository root and reads the JUnit report it wrote.

    Args:
        root: Repository root.
        timeout: Seconds before the run is killed.
        args: Extra pytest arguments (test paths, ``-k`` expressions).

    Returns:
        Counts, failures located at their failing line, and the output tail.

    Raises:
        ToolTimeoutError: If the run takes longer than ``timeout``.
    """
    env = {"PYTHONDONTWRITEBYTECODE": "1", "PYTEST_ADDOPTS": "", "PY_COLORS": "0"}
    with tempfile.TemporaryDirectory(prefix="keel-pytest-") as tmp:
        report = Path(tmp) / "junit.xml"
        started = time.monotonic()
        proc = run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                f"--junitxml={report}",
                "-o",
                "junit_family=xunit1",
                *args,
            ],
            cwd=root,
            timeout=timeout,
            env={**env, "PYTHONPATH": os.pathsep.join(p for p in (str(root),) if p)},
        )
        duration = round(time.monotonic() - started, 3)
        output = proc.stdout + (("\n" + proc.stderr) if proc.stderr.strip() else "")
        result = TestRun(
            exit_code=proc.returncode,
            passed=0,
            failed=0,
            errors=0,
            skipped=0,
            duration_s=duration,
            failures=[],
            output_tail=_tail(output),
        )
        if not report.is_file():
            return result
        tree = ET.parse(report)  # nosec B314 # our own pytest's report, not user data
    for case in tree.iter("testcase"):
        problem = case.find("failure")
        error = case.find("error")
        if problem is not None:
            result["failed"] += 1
            result["failures"].append(_failure(root, case, problem))
        elif error is not None:
            result["errors"] += 1
            result["failures"].append(_failure(root, case, error))
        elif case.find("skipped") is not None:
            result["skipped"] += 1
        else:
            result["passed"] += 1
    return result

"""The planted credentials never appear unmasked in anything a tool returns."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from keel.sample import PLANTED, SECRETS
from keel.tools import agent_tools as at
from keel.tools import git as g
from keel.tools import (
    quote_lines,
    read_file,
    run_bandit,
    run_ruff,
    run_semgrep,
    scan_secrets,
)

ToolCaller = Callable[..., dict[str, Any]]


def _assert_clean(label: str, value: Any) -> None:
    text = value if isinstance(value, str) else json.dumps(value)
    for secret in SECRETS:
        assert secret not in text, f"{label} leaks a secret"
        assert secret[4:] not in text, f"{label} leaks the tail of a secret"


def test_analyzer_outputs_are_masked(sample: Path) -> None:
    for fn in (run_bandit, scan_secrets, run_semgrep, run_ruff):
        _assert_clean(fn.__name__, fn(sample, ["."]))
    for problem in PLANTED:
        _assert_clean("quote_lines", quote_lines(sample, problem["file"], 1, 40))


def test_agent_tool_outputs_are_masked(call_tool: ToolCaller, sample: Path) -> None:
    _assert_clean("git_diff", call_tool(sample, "git_diff"))
    _assert_clean("read_file", call_tool(sample, "read_file", path="inventory/admin.py"))
    _assert_clean("search_code", call_tool(sample, "search_code", pattern="S3_"))
    for name in ("run_bandit", "scan_secrets", "run_semgrep", "run_ruff"):
        _assert_clean(name, call_tool(sample, name, paths=["."]))
    assert 'S3_ACCESS_KEY_ID = \\"AKIA****\\"' in json.dumps(call_tool(sample, "git_diff"))
    assert len(at.ALL_TOOLS) == 8


def test_the_raw_helpers_do_show_the_file(sample: Path) -> None:
    # The plain helpers are for code, not models: they return the file as it is.
    assert SECRETS[0] in read_file(sample, "inventory/admin.py")
    assert SECRETS[0] in g.diff(sample)

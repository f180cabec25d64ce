"""LangChain tools for the review agents, each returning a JSON string.

Contract with the graph: the agent's state has a ``repo: str`` key holding the
repository root (and may have ``rev: str``, the range under review, e.g.
``"HEAD~1..HEAD"``). The root reaches the tools through the hidden ``runtime``
argument (`ToolRuntime`), so the model never chooses which directory to read.

Every tool returns JSON. Analyzers return
``{"issues": [...], "count": n, "truncated": bool}``; on any failure (a path
outside the repository, a missing analyzer, a timeout) a tool returns
``{"error": "..."}`` instead of raising into the graph. Outputs are capped at
about 30 KB and secrets are masked in every text the model sees.

Analyzers (`ANALYZERS`) are ``content_and_artifact`` tools: the JSON above is what the
model reads, and the `ToolMessage.artifact` is an `AnalyzerRun` — every issue found
(never truncated) and the paths scanned — which the graph records as tool evidence
whatever the model makes of it. A failed run has no artifact.

Every analyzer run — the model's and the graph's backfill through `ANALYZERS` — first
drops the paths `keel.tools.tree` says it must not read (symlinks, submodules, binary and
oversized files, and for the Python analyzers Jinja templates; a directory holding such
paths is replaced by its other tracked files). The model's JSON lists them under
``"skipped"``, each with its reason; they count as scanned for coverage.
"""

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime

from keel.tools import bandit as _bandit
from keel.tools import files as _files
from keel.tools import git as _git
from keel.tools import ruff as _ruff
from keel.tools import secrets as _secrets
from keel.tools import semgrep as _semgrep
from keel.tools import tree as _tree
from keel.tools._effects import Effect
from keel.tools.issues import Issue, mask_secrets

__all__ = [
    "ALL_TOOLS",
    "ANALYZERS",
    "AnalyzerRun",
    "CORRECTNESS_TOOLS",
    "MAX_OUTPUT_CHARS",
    "SECURITY_TOOLS",
    "STYLE_TOOLS",
    "git_diff",
    "list_tests",
    "read_file",
    "run_bandit",
    "run_ruff",
    "run_semgrep",
    "scan_secrets",
    "search_code",
    "test_files",
]

MAX_OUTPUT_CHARS = 30_000
"""Longest JSON a tool returns to the model."""

_Runtime = ToolRuntime[Any, Any]


class _StateError(LookupError):
    """The agent state lacks the ``repo`` key the tools need."""


def _state_value(runtime: _Runtime, key: str) -> Any:
    state = runtime.state
    if isinstance(state, Mapping):
        return state.get(key)
    return getattr(state, key, None)


def _root(runtime: _Runtime) -> Path:
    repo = _state_value(runtime, "repo")
    if not repo:
        raise _StateError("the agent state has no 'repo' (repository root) to work on")
    root = Path(str(repo))
    if not root.is_dir():
        raise _StateError(f"repository not found: {repo}")
    return _git.repo_root(root)


def _rev(runtime: _Runtime) -> str | None:
    """The revision range under review: `state["rev"]`, else the task's `rev_range`."""
    rev = _state_value(runtime, "rev")
    if not rev:
        task = _state_value(runtime, "task")
        rev = task.get("rev_range") if isinstance(task, Mapping) else None
    return str(rev) if rev else None


def _staged(runtime: _Runtime) -> bool:
    task = _state_value(runtime, "task")
    return bool(task.get("staged")) if isinstance(task, Mapping) else False


def _dumps(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, default=str)


def _fit_list(key: str, items: Sequence[Any], extra: Mapping[str, Any] | None = None) -> str:
    """JSON of ``{key: items, "count": n, "truncated": bool}``, dropping items to fit."""
    kept = list(items)
    truncated = False
    while True:
        payload = {key: kept, "count": len(items), **(extra or {}), "truncated": truncated}
        text = _dumps(payload)
        if len(text) <= MAX_OUTPUT_CHARS or not kept:
            return text
        # Drop proportionally to the overshoot, at least one item.
        drop = max(1, len(kept) - int(len(kept) * MAX_OUTPUT_CHARS / len(text)))
        kept = kept[: len(kept) - drop]
        truncated = True


def _fit_text(key: str, text: str, extra: Mapping[str, Any]) -> str:
    truncated = bool(extra.get("truncated"))
    payload = {**extra, key: text, "truncated": truncated}
    out = _dumps(payload)
    if len(out) <= MAX_OUTPUT_CHARS:
        return out
    budget = max(0, len(text) - (len(out) - MAX_OUTPUT_CHARS) - 200)
    payload = {**extra, key: text[:budget] + "\n[... truncated ...]", "truncated": True}
    return _dumps(payload)


def _guard(body: Callable[[], str]) -> str:
    """Run a tool body; turn any failure into ``{"error": ...}`` for the model."""
    try:
        return body()
    except (_StateError, _git.GitError) as exc:
        return _dumps({"error": mask_secrets(str(exc))})
    except (OSError, ValueError, RuntimeError) as exc:
        # RepoPathError, ToolMissingError, FileNotFoundError and ToolTimeoutError
        # are among these; their messages are written for a reader.
        return _dumps({"error": mask_secrets(str(exc)) or type(exc).__name__})
    except Exception as exc:  # noqa: BLE001 - a tool must never raise into the graph
        return _dumps({"error": f"{type(exc).__name__}: {mask_secrets(str(exc))}"})


def _targets(root: Path, runtime: _Runtime, paths: list[str] | None) -> list[str]:
    if paths:
        return list(paths)
    return _git.changed_files(root, _rev(runtime), staged=_staged(runtime)) or ["."]


class AnalyzerRun(TypedDict):
    """The artifact of an analyzer call: what the tool found, whatever the model reads."""

    issues: list[Issue]
    """Every issue found (the model's JSON may be truncated; this never is)."""
    paths: list[str]
    """The repository-relative paths scanned (`"."` for the whole repository)."""


_Evidence = tuple[str, AnalyzerRun | None]
"""An analyzer tool's (content for the model, artifact for the graph)."""

Analyzer = Callable[[Path, list[str]], list[Issue]]
"""An analyzer run: (repository root, paths) -> issues."""


def _skipping(tool: str, run: Analyzer) -> Analyzer:
    """`run` on the targets `tool` may read (`keel.tools.tree.analyzer_targets`)."""

    def skipping(root: Path, paths: list[str]) -> list[Issue]:
        targets, _ = _tree.analyzer_targets(root, paths, tool)
        return run(root, targets) if targets else []

    skipping.__doc__ = run.__doc__
    return skipping


def _issues(tool: str, run: Analyzer, runtime: _Runtime, paths: list[str] | None) -> _Evidence:
    found: list[AnalyzerRun] = []

    def body() -> str:
        root = _root(runtime)
        targets = _targets(root, runtime, paths)
        readable, skips = _tree.analyzer_targets(root, targets, tool)
        issues = run(root, readable) if readable else []
        found.append(AnalyzerRun(issues=issues, paths=targets))
        skipped = [{"path": s.path, "reason": s.reason} for s in skips]
        return _fit_list("issues", issues, {"skipped": skipped} if skipped else None)

    content = _guard(body)
    return content, (found[0] if found else None)


def _effect(effect: Effect, *tools: BaseTool) -> None:
    for t in tools:
        t.metadata = {**(t.metadata or {}), "effect": effect.value}


@tool
def git_diff(runtime: _Runtime, paths: list[str] | None = None) -> str:  # noqa: D417 - runtime is injected, not for the model
    """Show the code change under review as a unified diff.

    Start here: the diff tells you which files and lines changed. Secrets in
    the diff are masked (first 4 characters, then ****).

    Args:
        paths: Only these repository-relative files (e.g. ["app/db.py"]);
            omit to see the whole change.

    Returns:
        JSON {"diff": str, "files": [changed paths], "truncated": bool}, or {"error": str}.
    """

    def body() -> str:
        root = _root(runtime)
        rev, staged = _rev(runtime), _staged(runtime)
        text = _git.diff(root, rev, staged=staged, paths=paths, max_bytes=MAX_OUTPUT_CHARS)
        truncated = "[... truncated:" in text
        files = _git.changed_files(root, rev, staged=staged)
        return _fit_text("diff", mask_secrets(text), {"files": files, "truncated": truncated})

    return _guard(body)


@tool
def read_file(  # noqa: D417 - runtime is injected, not for the model
    runtime: _Runtime, path: str, start_line: int = 1, end_line: int | None = None
) -> str:
    """Read lines of a file in the repository, numbered like "  12| code".

    Use it to see the context around a changed line before you report a finding.
    Read a window (e.g. 40 lines around the line of interest), not whole large files.

    Args:
        path: Repository-relative path, e.g. "app/db.py".
        start_line: First line to show, 1-based.
        end_line: Last line to show (inclusive); omit for the end of the file.

    Returns:
        JSON {"path": str, "start_line": int, "content": str, "truncated": bool},
        or {"error": str} (e.g. for a path outside the repository).
    """

    def body() -> str:
        root = _root(runtime)
        text = _files.read_file(root, path, start_line, end_line, max_bytes=MAX_OUTPUT_CHARS)
        truncated = "[... truncated at line" in text
        extra = {"path": path, "start_line": start_line, "truncated": truncated}
        return _fit_text("content", mask_secrets(text), extra)

    return _guard(body)


@tool
def search_code(runtime: _Runtime, pattern: str, glob: str = "**/*") -> str:  # noqa: D417 - runtime is injected, not for the model
    """Find lines in the repository's tracked files that contain a text.

    Use it to find callers of a function, other uses of a risky call, or where a
    value comes from. Plain text, case-sensitive (not a regular expression).

    Args:
        pattern: Text to find, e.g. "cursor.execute(".
        glob: Limit to matching paths, e.g. "**/*.py" or "app/*".

    Returns:
        JSON {"matches": [{"file", "line", "text"}], "count": int, "truncated": bool},
        or {"error": str}.
    """

    def body() -> str:
        root = _root(runtime)
        hits = _files.search_code(root, pattern, glob, max_results=200)
        masked = [{**hit, "text": mask_secrets(hit["text"])} for hit in hits]
        return _fit_list("matches", masked)

    return _guard(body)


@tool(response_format="content_and_artifact")
def run_bandit(runtime: _Runtime, paths: list[str] | None = None) -> _Evidence:  # noqa: D417 - runtime is injected, not for the model
    """Scan Python files for security problems with bandit.

    Finds dangerous calls: shell=True, SQL built from strings, unsafe yaml.load,
    pickle, weak crypto, hard-coded passwords.

    Args:
        paths: Repository-relative files or directories; omit to scan the changed files.

    Returns:
        JSON {"issues": [issue], "count": int, "truncated": bool}, or {"error": str};
        paths it did not scan (symlinks, binary, templates, ...) are listed in
        "skipped": [{"path", "reason"}].
        Each issue has tool, rule, file, line, end_line, col, message, severity,
        category, confidence, code (quoted, secrets masked) and fixable.
    """
    return _issues("bandit", _bandit.run_bandit, runtime, paths)


@tool(response_format="content_and_artifact")
def scan_secrets(  # noqa: D417 - runtime is injected, not for the model
    runtime: _Runtime, paths: list[str] | None = None
) -> _Evidence:
    """Find hard-coded credentials (API keys, tokens, passwords) with detect-secrets.

    The secret values are never shown: quotes keep 4 characters then ****.

    Args:
        paths: Repository-relative files or directories; omit to scan the changed files.

    Returns:
        JSON {"issues": [issue], "count": int, "truncated": bool}, or {"error": str};
        paths it did not scan (symlinks, binary, templates, ...) are listed in
        "skipped": [{"path", "reason"}].
    """
    return _issues("detect-secrets", _secrets.scan_secrets, runtime, paths)


@tool(response_format="content_and_artifact")
def run_semgrep(  # noqa: D417 - runtime is injected, not for the model
    runtime: _Runtime, paths: list[str] | None = None
) -> _Evidence:
    """Trace untrusted input to dangerous sinks with semgrep and Keel's taint rules.

    Finds what bandit misses: request/argv/env values reaching open(), a shell,
    SQL execute, eval, XML parsers or deserializers. Takes a few seconds.

    Args:
        paths: Repository-relative files or directories; omit to scan the changed files.

    Returns:
        JSON {"issues": [issue], "count": int, "truncated": bool}, or {"error": str};
        paths it did not scan (symlinks, binary, templates, ...) are listed in
        "skipped": [{"path", "reason"}].
    """
    return _issues("semgrep", _semgrep.run_semgrep, runtime, paths)


@tool(response_format="content_and_artifact")
def run_ruff(runtime: _Runtime, paths: list[str] | None = None) -> _Evidence:  # noqa: D417 - runtime is injected, not for the model
    """Lint Python files with ruff: unused imports, undefined names, likely bugs.

    Issues with "fixable": true have a safe automatic fix.

    Args:
        paths: Repository-relative files or directories; omit to lint the changed files.

    Returns:
        JSON {"issues": [issue], "count": int, "truncated": bool}, or {"error": str};
        paths it did not scan (symlinks, binary, templates, ...) are listed in
        "skipped": [{"path", "reason"}].
    """
    return _issues("ruff", _ruff.run_ruff, runtime, paths)


def _is_test_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def test_files(root: Path) -> list[str]:
    """The repository's tracked test files (test_*.py and *_test.py)."""
    return [p for p in _git.tracked_files(root) if _is_test_file(p)]


@tool
def list_tests(runtime: _Runtime) -> str:
    """List the repository's test files (test_*.py and *_test.py).

    Use it to check whether changed code has tests, and which test file covers it.

    Returns:
        JSON {"tests": [paths], "count": int, "truncated": bool}, or {"error": str}.
    """

    def body() -> str:
        return _fit_list("tests", test_files(_root(runtime)))

    return _guard(body)


_effect(
    Effect.READ,
    git_diff,
    read_file,
    search_code,
    run_bandit,
    scan_secrets,
    run_semgrep,
    run_ruff,
    list_tests,
)

SECURITY_TOOLS: list[BaseTool] = [
    git_diff,
    read_file,
    search_code,
    run_bandit,
    scan_secrets,
    run_semgrep,
]
"""Tools of the security specialist."""

STYLE_TOOLS: list[BaseTool] = [git_diff, read_file, run_ruff]
"""Tools of the style specialist."""

CORRECTNESS_TOOLS: list[BaseTool] = [read_file, search_code, git_diff, list_tests]
"""Tools of the correctness specialist."""

ALL_TOOLS: list[BaseTool] = [
    git_diff,
    read_file,
    search_code,
    run_bandit,
    scan_secrets,
    run_semgrep,
    run_ruff,
    list_tests,
]
"""Every agent tool, once."""

ANALYZERS: dict[str, Analyzer] = {
    run_bandit.name: _skipping("bandit", _bandit.run_bandit),
    scan_secrets.name: _skipping("detect-secrets", _secrets.scan_secrets),
    run_semgrep.name: _skipping("semgrep", _semgrep.run_semgrep),
    run_ruff.name: _skipping("ruff", _ruff.run_ruff),
}
"""The analyzer tools by name, with the run behind each (skipping what `keel.tools.tree` says
it must not read): their issues are tool evidence."""

"""Tools for code-review agents: git, files, analyzers, actions, and LangChain wrappers.

Plain functions take a repository root and return typed results (`Issue` lists,
text, dicts); `keel.tools.agent_tools` wraps the read-only ones as LangChain tools that
return JSON. Every tool declares an effect class (`Effect`): read, write,
execute or external. Tools know nothing of graphs.
"""

from keel.tools._effects import Effect, effect_of
from keel.tools._proc import ToolMissingError, ToolTimeoutError
from keel.tools._repo import RepoPathError, relative, resolve_in_repo
from keel.tools.actions import PatchError, apply_patch, publish_report
from keel.tools.bandit import run_bandit
from keel.tools.files import read_file, search_code
from keel.tools.git import GitError
from keel.tools.issues import Issue, mask_secrets, quote_lines
from keel.tools.pytest_runner import run_pytest
from keel.tools.ruff import ruff_fix_diff, run_ruff
from keel.tools.secrets import scan_secrets
from keel.tools.semgrep import SemgrepMissingError, find_semgrep, run_semgrep

__all__ = [
    "Effect",
    "GitError",
    "Issue",
    "PatchError",
    "RepoPathError",
    "SemgrepMissingError",
    "ToolMissingError",
    "ToolTimeoutError",
    "apply_patch",
    "effect_of",
    "find_semgrep",
    "mask_secrets",
    "publish_report",
    "quote_lines",
    "read_file",
    "relative",
    "resolve_in_repo",
    "ruff_fix_diff",
    "run_bandit",
    "run_pytest",
    "run_ruff",
    "run_semgrep",
    "scan_secrets",
    "search_code",
]

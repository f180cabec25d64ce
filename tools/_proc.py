"""Running external programs: list arguments, a timeout, never a shell."""

from __future__ import annotations

import os
import shutil
import subprocess  # nosec B404 # every call passes a list of args and no shell
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["ToolMissingError", "ToolTimeoutError", "find_executable", "run"]

_INSTALL_HINTS: dict[str, str] = {
    "git": "install git (e.g. `apt-get install git`)",
    "ruff": "install it into Keel's environment: `pip install ruff`",
    "bandit": "install it into Keel's environment: `pip install bandit`",
    "detect-secrets": "install it into Keel's environment: `pip install detect-secrets`",
    "semgrep": "run `make tools` (or `scripts/install-tools.sh`)",
}


class ToolMissingError(FileNotFoundError):
    """An external program a tool needs is not installed."""

    def __init__(self, tool: str, hint: str | None = None) -> None:
        self.tool = tool
        self.hint = hint or _INSTALL_HINTS.get(tool, f"install `{tool}` and put it on PATH")
        super().__init__(f"{tool} is not installed: {self.hint}")

    def __str__(self) -> str:
        return f"{self.tool} is not installed: {self.hint}"


class ToolTimeoutError(TimeoutError):
    """An external program ran longer than its timeout and was killed."""

    def __init__(self, args: Sequence[str], timeout: float) -> None:
        self.args_run = list(args)
        self.timeout = timeout
        super().__init__(f"{Path(args[0]).name} timed out after {timeout:g} s")


def find_executable(name: str) -> Path | None:
    """Locate a program: this interpreter's environment first, then PATH.

    Args:
        name: Program name, or a path to it.

    Returns:
        The program's path, or None if it cannot be found.
    """
    if os.sep in name:
        path = Path(name)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    local = Path(sys.executable).parent / name
    if local.is_file() and os.access(local, os.X_OK):
        return local
    found = shutil.which(name)
    return Path(found) if found else None


def run(
    args: Sequence[str],
    *,
    cwd: Path,
    timeout: float,
    env: Mapping[str, str] | None = None,
    input: str | None = None,  # noqa: A002 - mirrors subprocess.run
) -> subprocess.CompletedProcess[str]:
    """Run a program and capture its output as text; never raises on exit codes.

    Args:
        args: Program and arguments; ``args[0]`` is looked up with
            :func:`find_executable`.
        cwd: Working directory.
        timeout: Seconds before the program is killed.
        env: Extra environment variables, added to the current environment.
        input: Text sent to the program's stdin.

    Returns:
        The completed process (check ``returncode`` yourself).

    Raises:
        ToolMissingError: If the program is not installed.
        ToolTimeoutError: If it runs longer than ``timeout``.
    """
    if not args:
        raise ValueError("run() needs at least the program name")
    exe = find_executable(args[0])
    if exe is None:
        raise ToolMissingError(Path(args[0]).name)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    try:
        return subprocess.run(  # nosec B603 # list args, no shell
            [str(exe), *args[1:]],
            cwd=cwd,
            env=full_env,
            input=input,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolTimeoutError(args, timeout) from exc
    except FileNotFoundError as exc:
        raise ToolMissingError(Path(args[0]).name) from exc

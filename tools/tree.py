"""What of a repository's tree Keel reads, and what it skips — with a reason per path.

Real trees hold more than source files. The rules, in the order they are checked (the
table in docs/real-trees.md says the same):

* **submodule** — a gitlink (mode 160000, or a directory with its own `.git`): a commit of
  another repository, not a file. Out of scope.
* **symlink** — any symlink, or a path under a symlinked directory: to a directory, to
  outside the repository, dangling, a loop, or to a file. Never followed out of the root;
  a link's target is reviewed under its own path when it is tracked. Out of scope.
* **not-a-file** — missing from the checkout, a directory, a FIFO/socket/device, or
  unreadable. Out of scope.
* **too-large** — over `MAX_FILE_BYTES` (1 MB). Out of scope.
* **binary** — a NUL byte in the first 8 KB (git's rule). Out of scope.
* **template** — a `.py`/`.pyi` file that is a Jinja template (cookiecutter, copier): `{{`
  or `{%` in its path, or `{{ … }}`/`{% … %}` markers in a file that does not parse as
  Python. In scope (secrets, reviewer-instruction scan, file reading), skipped by the
  Python analyzers (`PYTHON_TOOLS`).
* **encoding** — a `.py` file that is not UTF-8 but declares its encoding (PEP 263) and
  decodes with it: valid Python that ruff cannot read (ruff reads UTF-8 only). In scope,
  skipped by ruff. A non-UTF-8 `.py` file that declares nothing is not valid Python and
  stays in every analyzer (ruff's E902 on it is a true finding).

Other non-UTF-8 text is read, searched and quoted with invalid bytes replaced (U+FFFD),
never raised on. Every check reads at most `MAX_FILE_BYTES` of a file and never follows a
symlink out of the root. Checks raise nothing: an unreadable path is a `not-a-file` skip.
"""

from __future__ import annotations

import ast
import codecs
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

from keel.core.observed import SkipKind
from keel.tools import git

__all__ = [
    "BINARY_SNIFF_BYTES",
    "GITLINK",
    "MAX_FILE_BYTES",
    "PYTHON_TOOLS",
    "Skip",
    "SkipKind",
    "analyzer_targets",
    "classify",
    "content_skip",
    "entry_skip",
    "partition",
]

MAX_FILE_BYTES: Final = 1_000_000
"""Files larger than this (1 MB) are out of scope: nothing reads them."""
BINARY_SNIFF_BYTES: Final = 8000
"""A NUL byte in this many leading bytes makes a file binary (git's rule)."""
GITLINK: Final = "160000"
"""git's mode of a submodule entry."""
SYMLINK: Final = "120000"
"""git's mode of a symlink entry."""
PYTHON_TOOLS: Final = ("ruff", "bandit", "semgrep")
"""The analyzers that parse Python (`Issue.tool` names): they skip templates."""
_PYTHON_SUFFIXES: Final = (".py", ".pyi")
_SKIPPED_BY: Final[Mapping[SkipKind, tuple[str, ...]]] = {
    "template": PYTHON_TOOLS,
    "encoding": ("ruff",),
}
_JINJA: Final = re.compile(r"\{\{-?\s*\S.*?-?\}\}|\{%-?\s*\w.*?-?%\}")
_CODING: Final = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


@dataclass(frozen=True)
class Skip:
    """A path Keel leaves out of the review, or that some analyzers do not read."""

    path: str
    """Repository-relative posix path."""
    kind: SkipKind
    """Which rule skipped it."""
    reason: str
    """One line for the report, with the numbers (size, line, link target)."""

    @property
    def skipped_by(self) -> tuple[str, ...]:
        """The analyzers that skip a path that stays in scope (empty: out of scope)."""
        return _SKIPPED_BY.get(self.kind, ())

    @property
    def in_scope(self) -> bool:
        """Whether the path stays in scope (only some analyzers skip it)."""
        return bool(self.skipped_by)

    def skips(self, tool: str) -> bool:
        """Whether the analyzer `tool` (an `Issue.tool` name) must not read the path."""
        return not self.in_scope or tool in self.skipped_by


def _size(count: int) -> str:
    return f"{count:,} bytes"


def _symlink(root: Path, path: str, full: Path) -> Skip:
    try:
        target = os.readlink(full)
    except OSError:
        target = "?"
    try:
        resolved = full.resolve(strict=False)
    except (OSError, RuntimeError):  # a symlink loop
        return Skip(path, "symlink", f"a symlink loop (→ {target})")
    if resolved != root and not resolved.is_relative_to(root):
        return Skip(
            path, "symlink", f"a symlink to outside the repository (→ {target}); not followed"
        )
    if not resolved.exists():
        return Skip(path, "symlink", f"a dangling symlink (→ {target})")
    if resolved.is_dir():
        return Skip(
            path,
            "symlink",
            f"a symlink to a directory (→ {target}); its files are reviewed under their own paths",
        )
    return Skip(
        path,
        "symlink",
        f"a symlink to a file (→ {target}); the target is reviewed under its own path",
    )


def _parent_link(root: Path, path: str, full: Path) -> Skip | None:
    """A skip when a parent directory of `path` is a symlink (the path is not where it says)."""
    real = Path(os.path.realpath(full))
    if real == root / path:
        return None
    if real != root and not real.is_relative_to(root):
        return Skip(
            path, "symlink", "under a symlinked directory that leads outside the repository"
        )
    return Skip(
        path,
        "symlink",
        f"under a symlinked directory (it is {real.relative_to(root).as_posix()}); reviewed there",
    )


def entry_skip(root: Path, path: str, mode: str | None = None) -> Skip | None:
    """Why a path cannot be read as a file of its own, from what it *is* (not what it holds).

    Args:
        root: The repository root.
        path: A repository-relative posix path inside the root (not checked for `..`).
        mode: git's mode of the entry (`160000` a gitlink), or None when unknown.

    Returns:
        A `submodule`, `symlink`, `not-a-file` or `too-large` skip, or None for a regular
        file of at most `MAX_FILE_BYTES` at its own path inside the root.
    """
    base = root.resolve()
    if mode == GITLINK:
        return Skip(
            path, "submodule", "a git submodule: a commit of another repository, not a file"
        )
    full = base / path
    try:
        info = full.lstat()
    except FileNotFoundError:
        return Skip(path, "not-a-file", "tracked, but missing from the checkout")
    except OSError as exc:
        return Skip(path, "not-a-file", f"cannot be read: {exc.strerror or exc}")
    if stat.S_ISLNK(info.st_mode):
        return _symlink(base, path, full)
    if stat.S_ISDIR(info.st_mode):
        if (full / ".git").exists():
            return Skip(
                path,
                "submodule",
                "a nested git repository: a commit of another repository, not a file",
            )
        return Skip(path, "not-a-file", "a directory where git tracks a file")
    parent = _parent_link(base, path, full)
    if parent is not None:
        return parent
    if not stat.S_ISREG(info.st_mode):
        return Skip(path, "not-a-file", "not a regular file (a FIFO, socket or device)")
    if info.st_size > MAX_FILE_BYTES:
        return Skip(
            path,
            "too-large",
            f"{_size(info.st_size)}, over the {_size(MAX_FILE_BYTES)} (1 MB) cap",
        )
    return None


def _parses(data: bytes, path: str) -> bool:
    try:
        compile(data, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return False
    return True


def _jinja_marker(text: str) -> tuple[int, str] | None:
    for number, line in enumerate(text.splitlines(), 1):
        match = _JINJA.search(line)
        if match:
            return number, match.group(0)[:40]
    return None


def _declared_encoding(data: bytes) -> tuple[int, str] | None:
    """The PEP 263 encoding declared on line 1 or 2 (not UTF-8), if it decodes the file."""
    for number, line in enumerate(data.split(b"\n", 2)[:2], 1):
        match = _CODING.match(line)
        if not match:
            continue
        try:
            name = codecs.lookup(match.group(1).decode("ascii")).name
            data.decode(name)
        except (LookupError, UnicodeDecodeError):
            return None
        return (number, name) if name != "utf-8" else None
    return None


def content_skip(path: str, data: bytes) -> Skip | None:
    """Why a file's content cannot go to (some) analyzers: binary, template, encoding.

    Args:
        path: The repository-relative path (templates are also recognized by their path).
        data: The file's bytes (at most `MAX_FILE_BYTES`).

    Returns:
        A `binary` skip (out of scope), a `template` or `encoding` skip (in scope, some
        analyzers skip it), or None.
    """
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        return Skip(
            path,
            "binary",
            f"binary ({_size(len(data))}; a NUL byte in the first {BINARY_SNIFF_BYTES:,} bytes)",
        )
    if PurePosixPath(path).suffix not in _PYTHON_SUFFIXES:
        return None
    tools = ", ".join(PYTHON_TOOLS)
    if "{{" in path or "{%" in path:
        return Skip(
            path, "template", f"a template (Jinja markers in its path), not Python: {tools} skip it"
        )
    text = data.decode("utf-8", errors="replace")
    marker = _jinja_marker(text) if ("{{" in text or "{%" in text) else None
    if marker is not None and not _parses(data, path):
        line, shown = marker
        return Skip(
            path,
            "template",
            f"a Jinja template, not Python ({shown!r} at line {line}): {tools} skip it",
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        declared = _declared_encoding(data)
        if declared is not None:
            line, name = declared
            return Skip(
                path,
                "encoding",
                f"encoded in {name} (declared on line {line}), not UTF-8: ruff reads only "
                "UTF-8 and skips it; bandit and semgrep scan it",
            )
    return None


def classify(root: Path, path: str, mode: str | None = None) -> Skip | None:
    """Every rule for one path: `entry_skip`, then `content_skip` on its bytes.

    Returns:
        The first skip that applies, or None for a file every analyzer reads.
    """
    skip = entry_skip(root, path, mode)
    if skip is not None:
        return skip
    try:
        data = (root.resolve() / path).read_bytes()
    except OSError as exc:
        return Skip(path, "not-a-file", f"cannot be read: {exc.strerror or exc}")
    return content_skip(path, data)


def partition(
    root: Path, paths: Sequence[str], modes: Mapping[str, str] | None = None
) -> tuple[list[str], list[Skip]]:
    """Split listed paths into the scope and the skips.

    Args:
        root: Where the files are read (the work tree, or a snapshot of it).
        paths: Repository-relative paths (tracked or changed files).
        modes: git's mode per path (`git.tracked_entries`), to recognize gitlinks.

    Returns:
        (the paths in scope, in order — templates and `encoding` files included; every
        skip, in order).
    """
    scope: list[str] = []
    skips: list[Skip] = []
    for path in paths:
        skip = classify(root, path, (modes or {}).get(path))
        if skip is not None:
            skips.append(skip)
        if skip is None or skip.in_scope:
            scope.append(path)
    return scope, skips


def _lexical(root: Path, path: str) -> str | None:
    """`path` as a normalized relative posix path, or None if it is not plainly inside."""
    posix = path.strip().replace("\\", "/")
    if not posix or "\x00" in posix:
        return None
    if posix.startswith("/"):
        try:
            posix = Path(posix).relative_to(root.resolve()).as_posix()
        except ValueError:
            return None
    parts = [p for p in PurePosixPath(posix).parts if p not in ("", ".")]
    if ".." in parts:
        return None
    return "/".join(parts) or "."


def _plain_directory(root: Path, rel: str) -> bool:
    """A real directory of this repository: not a symlink, not a nested repository."""
    if rel == ".":
        return True
    full = root / rel
    return (
        not full.is_symlink()
        and full.is_dir()
        and not (full / ".git").exists()
        and _parent_link(root, rel, full) is None
    )


def _directory(root: Path, rel: str, tool: str) -> tuple[list[str], list[Skip]]:
    """A directory target, or its tracked files when something under it is skipped."""
    entries = git.tracked_entries(root, rel)
    skips = [
        skip
        for path, mode in entries.items()
        if (skip := classify(root, path, mode)) is not None and skip.skips(tool)
    ]
    if not skips:
        return [rel], []
    skipped = {skip.path for skip in skips}
    return [path for path in entries if path not in skipped], skips


def analyzer_targets(root: Path, paths: Sequence[str], tool: str) -> tuple[list[str], list[Skip]]:
    """The targets an analyzer may read, and the ones it must skip.

    Files are checked with `classify`; a directory is kept as it is unless something
    tracked under it is skipped, then it is replaced by its tracked files that are not. A
    path that is not plainly inside the root (`..`, absolute elsewhere) is kept so the
    analyzer refuses it itself.

    Args:
        root: The repository root the analyzer runs in.
        paths: Repository-relative files or directories, as the caller gave them.
        tool: The analyzer's `Issue.tool` name (`ruff`, `bandit`, `semgrep`, `detect-secrets`).
    """
    base = root.resolve()
    kept: list[str] = []
    skips: list[Skip] = []
    for path in paths:
        rel = _lexical(base, path)
        if rel is None:
            kept.append(path)
            continue
        if _plain_directory(base, rel):
            more, skipped = _directory(base, rel, tool)
            kept += more
            skips += skipped
            continue
        skip = classify(base, rel)
        if skip is not None and skip.skips(tool):
            skips.append(skip)
        else:
            kept.append(path)
    return list(dict.fromkeys(kept)), skips

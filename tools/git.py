"""Read-only access to a git repository through the ``git`` command."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from keel.tools._proc import run
from keel.tools._repo import resolve_in_repo

__all__ = [
    "EMPTY_TREE",
    "GitError",
    "changed_files",
    "command",
    "diff",
    "head_sha",
    "is_binary",
    "repo_root",
    "resolve_range",
    "show",
    "tracked_entries",
    "tracked_files",
    "unified_diff",
]

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # pragma: allowlist secret
"""The id of git's empty tree: the base of a range over a repository's first commit."""

_TIMEOUT = 60.0
_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_PAGER": "cat",
    "LC_ALL": "C",
    "GIT_LITERAL_PATHSPECS": "1",  # a path is a path: `a[1].py` or `*.py` is no glob
}
_TRUNCATED = "\n[... truncated: {shown} of {total} bytes shown ...]\n"


class GitError(RuntimeError):
    """A git command failed, or its input named something git does not know."""


def _git(root: Path, *args: str, check: bool = True, timeout: float = _TIMEOUT) -> str:
    proc = run(
        ["git", "--no-pager", "-c", "core.quotepath=off", *args],
        cwd=root,
        timeout=timeout,
        env=_ENV,
    )
    if check and proc.returncode != 0:
        raise GitError(f"git {args[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def command(root: Path, *args: str, check: bool = True, timeout: float = _TIMEOUT) -> str:
    """Run `git ARGS` in `root` (no pager, no prompt); return stdout.

    Raises:
        GitError: git exited non-zero (unless `check` is False).
    """
    return _git(root, *args, check=check, timeout=timeout)


def _truncate(text: str, max_bytes: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    head = data[:max_bytes].decode("utf-8", errors="ignore")
    return head + _TRUNCATED.format(shown=max_bytes, total=len(data))


def repo_root(path: Path) -> Path:
    """Return the top-level directory of the git work tree containing ``path``.

    Args:
        path: Any directory (or file) inside a work tree.

    Returns:
        The resolved work-tree root.

    Raises:
        GitError: ``not a git repository: PATH`` if ``path`` is not in a work tree.
    """
    start = path if path.is_dir() else path.parent
    if not start.is_dir():
        raise GitError(f"not a git repository: {path}")
    proc = run(
        ["git", "--no-pager", "rev-parse", "--show-toplevel"],
        cwd=start,
        timeout=_TIMEOUT,
        env=_ENV,
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        raise GitError(f"not a git repository: {path}")
    return Path(proc.stdout.strip()).resolve()


def _verify(root: Path, rev: str) -> str:
    if not rev or rev.startswith("-"):
        raise GitError(f"unknown revision: {rev}")
    proc = run(
        [
            "git",
            "--no-pager",
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            f"{rev}^{{commit}}",
        ],
        cwd=root,
        timeout=_TIMEOUT,
        env=_ENV,
    )
    if proc.returncode != 0:
        if rev.startswith("HEAD") and not _has_commits(root):
            raise GitError(
                f"the repository has no commits yet: {root} (nothing to review; commit "
                "something first, or review the staged files with --staged)"
            )
        raise GitError(f"unknown revision: {rev}")
    return proc.stdout.strip()


def _has_commits(root: Path) -> bool:
    proc = run(
        ["git", "--no-pager", "rev-list", "-n", "1", "--all"],
        cwd=root,
        timeout=_TIMEOUT,
        env=_ENV,
    )
    return proc.returncode == 0 and bool(proc.stdout.strip())


def resolve_range(root: Path, rev: str | None) -> tuple[str, str]:
    """Turn a revision or range into a validated ``(base, head)`` pair of commit ids.

    Args:
        root: Repository root.
        rev: ``None`` for the last commit (``HEAD~1..HEAD``, or the empty tree to
            ``HEAD`` when HEAD has no parent), ``"A..B"`` for a range, or a single
            revision ``"X"`` meaning ``X~1..X``.

    Returns:
        ``(base, head)``; ``base`` may be :data:`EMPTY_TREE`.

    Raises:
        GitError: ``unknown revision: X`` for a revision git cannot resolve.
    """
    if rev is None or rev.strip() == "":
        head = _verify(root, "HEAD")
        try:
            return _verify(root, "HEAD~1"), head
        except GitError:
            return EMPTY_TREE, head
    rev = rev.strip()
    if "..." in rev:
        raise GitError(f"unknown revision: {rev} (use A..B, not A...B)")
    if ".." in rev:
        left, right = rev.split("..", 1)
        base = _verify(root, left or "HEAD")
        return base, _verify(root, right or "HEAD")
    head = _verify(root, rev)
    try:
        return _verify(root, f"{head}~1"), head
    except GitError:
        return EMPTY_TREE, head


def _diff_args(root: Path, rev: str | None, staged: bool) -> list[str]:
    if staged:
        return ["--cached"]
    base, head = resolve_range(root, rev)
    return [base, head]


def changed_files(root: Path, rev: str | None = None, staged: bool = False) -> list[str]:
    """List files added, modified or renamed (not deleted) in a range or the index.

    Args:
        root: Repository root.
        rev: Range as for :func:`resolve_range`; ignored when ``staged``.
        staged: Compare the index with HEAD instead of two commits.

    Returns:
        Repository-relative posix paths, sorted.

    Raises:
        GitError: On an unknown revision or a failing git.
    """
    out = _git(
        root,
        "diff",
        "--name-only",
        "--diff-filter=AMRC",
        "-z",
        "--no-renames",
        *_diff_args(root, rev, staged),
    )
    return sorted({name for name in out.split("\0") if name})


def diff(
    root: Path,
    rev: str | None = None,
    staged: bool = False,
    paths: Sequence[str] | None = None,
    max_bytes: int = 200_000,
) -> str:
    """Return the unified diff of a range (or of the index), truncated with a marker.

    Args:
        root: Repository root.
        rev: Range as for :func:`resolve_range`; ignored when ``staged``.
        staged: Diff the index against HEAD.
        paths: Limit to these repository-relative paths (each confined to the root).
        max_bytes: Longest output; longer diffs end with a ``[... truncated ...]`` line.

    Returns:
        The diff text ("" when nothing changed).

    Raises:
        GitError: On an unknown revision or a failing git.
        RepoPathError: If a path leaves the repository.
    """
    args = ["diff", "--no-color", "--no-ext-diff", *_diff_args(root, rev, staged)]
    if paths:
        for p in paths:
            resolve_in_repo(root, p)
        args += ["--", *paths]
    return _truncate(_git(root, *args), max_bytes)


def unified_diff(root: Path, rev: str | None = None, staged: bool = False) -> str:
    """The whole unified diff of a range (or of the index), for reading its changed lines.

    Unlike :func:`diff` it is never truncated (every changed line counts), and the
    repository's diff configuration does not change its shape: three context lines,
    `a/`/`b/` prefixes, no external or textconv driver. Renames are detected (a moved
    file's lines are not new). Binary files show no hunks.

    Raises:
        GitError: On an unknown revision or a failing git.
    """
    args = [
        "diff",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--no-relative",
        "--src-prefix=a/",
        "--dst-prefix=b/",  # whatever diff.noprefix / diff.mnemonicPrefix say
        "--find-renames",
        "--unified=3",
    ]
    return _git(root, *args, *_diff_args(root, rev, staged))


def show(root: Path, rev: str, path: str, max_bytes: int = 200_000) -> str:
    """Return a file's content at a revision.

    Args:
        root: Repository root.
        rev: Any revision git resolves.
        path: Repository-relative posix path.
        max_bytes: Longest output, truncated with a marker.

    Returns:
        The file's text (invalid UTF-8 replaced).

    Raises:
        GitError: On an unknown revision, or a path not in that revision.
        RepoPathError: If the path leaves the repository.
    """
    resolve_in_repo(root, path)
    commit = _verify(root, rev)
    rel = path.replace("\\", "/").lstrip("/")
    return _truncate(_git(root, "show", f"{commit}:{rel}"), max_bytes)


def tracked_files(root: Path) -> list[str]:
    """List the paths git tracks (``git ls-files``), repository-relative posix paths.

    Every index entry is listed: symlinks and submodules (gitlinks) too, which are not
    files — `keel.tools.tree` says which of them Keel reads.
    """
    out = _git(root, "ls-files", "-z")
    return [name for name in out.split("\0") if name]


def tracked_entries(root: Path, under: str = ".") -> dict[str, str]:
    """The index's entries under a directory: path -> git mode (``git ls-files -s``).

    Modes: ``100644``/``100755`` files, ``120000`` symlinks, ``160000`` submodules
    (gitlinks). A path with merge conflicts appears once.

    Args:
        root: Repository root.
        under: A repository-relative directory (``"."``: the whole index).
    """
    args = ["ls-files", "-s", "-z"]
    if under not in ("", "."):
        args += ["--", under]
    entries: dict[str, str] = {}
    for record in _git(root, *args).split("\0"):
        meta, tab, path = record.partition("\t")
        if tab and path:
            entries.setdefault(path, meta.split(" ", 1)[0])
    return entries


def head_sha(root: Path) -> str:
    """Return the full commit id of HEAD.

    Raises:
        GitError: If the repository has no commits.
    """
    return _verify(root, "HEAD")


def is_binary(root: Path, path: str) -> bool:
    """Tell whether a file in the work tree is binary (git's rule: a NUL in its first 8 KB).

    Args:
        root: Repository root.
        path: Repository-relative path.

    Returns:
        True for binary content; False for anything that is not a regular file (a
        directory, a symlink to one).

    Raises:
        RepoPathError: If the path leaves the repository.
        FileNotFoundError: If the file does not exist.
    """
    full = resolve_in_repo(root, path)
    if full.exists() and not full.is_file():
        return False
    with full.open("rb") as handle:
        return b"\0" in handle.read(8000)

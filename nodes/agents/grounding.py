"""Turn reported findings into blackboard findings grounded in the repository.

A finding must cite a file inside the repository and lines that exist; its evidence is
re-quoted from the file itself (secrets masked), so a model cannot put words in the
repository's mouth. Findings that fail are returned separately as ungrounded — among them
findings on what `keel.tools.tree` keeps out of every review: a directory, a special file, a
binary file or one over its 1 MB cap (never read). A symlink inside the repository is
grounded at its target's path; invalid UTF-8 is quoted with replacement characters.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from keel.core.state import Finding
from keel.tools import tree
from keel.tools._repo import RepoPathError, resolve_in_repo
from keel.tools.issues import mask_secrets

from .schemas import ReportedFinding

__all__ = ["fingerprint", "ground_findings"]

_MAX_QUOTE_LINES = 8


def fingerprint(file: str, rule: str, line: int, evidence: str) -> str:
    """Stable id of a finding: equal file, rule, line and code give equal ids."""
    normal = " ".join(evidence.split())
    digest = hashlib.sha1(f"{file}\0{rule}\0{line}\0{normal}".encode())  # noqa: S324
    return digest.hexdigest()[:16]


def _quote(lines: list[str], start: int, end: int) -> str:
    end = min(end, start + _MAX_QUOTE_LINES - 1)
    return mask_secrets("\n".join(lines[start - 1 : end]))


def _read_lines(path: Path) -> list[str] | str:
    """The file's lines, or why it cannot be quoted."""
    try:
        if not path.is_file():
            return "not a regular file" if path.exists() else "no such file"
        size = path.stat().st_size
        if size > tree.MAX_FILE_BYTES:
            return f"{size:,} bytes, over the {tree.MAX_FILE_BYTES:,}-byte cap (not read)"
        data = path.read_bytes()
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if b"\0" in data[: tree.BINARY_SNIFF_BYTES]:
        return "a binary file"
    return data.decode("utf-8", errors="replace").splitlines()


def ground_findings(
    repo: str, reported: list[ReportedFinding], specialist: str
) -> tuple[list[Finding], list[str]]:
    """Return (grounded findings, reasons for the ones dropped)."""
    grounded: list[Finding] = []
    dropped: list[str] = []
    cache: dict[str, list[str] | str] = {}
    root = Path(repo)
    for item in reported:
        try:
            path = resolve_in_repo(root, item.file)
        except RepoPathError as exc:
            dropped.append(f"{item.file}:{item.line} — {exc}")
            continue
        if item.file not in cache:
            cache[item.file] = _read_lines(path)
        lines = cache[item.file]
        if isinstance(lines, str):
            dropped.append(f"{item.file}:{item.line} — {lines}")
            continue
        end = max(item.end_line or item.line, item.line)
        if item.line > len(lines):
            dropped.append(f"{item.file}:{item.line} — the file has {len(lines)} lines")
            continue
        end = min(end, len(lines))
        evidence = _quote(lines, item.line, end)
        rel = path.relative_to(root.resolve()).as_posix()
        grounded.append(
            Finding(
                id=fingerprint(rel, item.rule, item.line, evidence),
                file=rel,
                line=item.line,
                end_line=end,
                severity=item.severity,
                category=item.category,
                rule=item.rule,
                title=mask_secrets(item.title),
                evidence=evidence,
                specialist=specialist,
                confidence=item.confidence,
                sources=item.sources or [specialist],
                fixable=item.fixable,
            )
        )
    return grounded, dropped

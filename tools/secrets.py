"""Hard-coded secrets, found with detect-secrets; the secret itself is never returned."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path

from detect_secrets.core.secrets_collection import SecretsCollection
from detect_secrets.settings import default_settings

from tools._repo import RepoPathError, relative, resolve_in_repo
from tools.issues import Issue, make_issue

__all__ = ["scan_secrets"]

_MAX_FILE_BYTES = 1_000_000
# detect-secrets keeps its settings in module globals: one scan at a time.
_LOCK = threading.Lock()


def _slug(secret_type: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", secret_type.lower()).strip("-")


def _files(root: Path, paths: Sequence[str]) -> list[str]:
    out: list[str] = []
    for p in paths:
        full = resolve_in_repo(root, p)
        if full.is_dir():
            candidates = [c for c in sorted(full.rglob("*")) if c.is_file()]
        elif full.is_file():
            candidates = [full]
        else:
            candidates = []
        for c in candidates:
            try:
                rel = relative(root, c)
            except RepoPathError:
                continue  # a symlink pointing out of the repository
            if rel.startswith(".git/") or c.stat().st_size > _MAX_FILE_BYTES:
                continue
            out.append(rel)
    return sorted(set(out))


def scan_secrets(root: Path, paths: Sequence[str]) -> list[Issue]:
    """Scan files for hard-coded credentials with detect-secrets' default plugins.

    Args:
        root: Repository root.
        paths: Repository-relative files or directories (any file type).

    Returns:
        Issues of category "security", severity "high"; ``rule`` is
        ``detect-secrets.<secret type>``. The secret value never appears: the
        message names only the type and the quoted code is masked.

    Raises:
        RepoPathError: If a path leaves the repository.
    """
    files = _files(root, paths)
    if not files:
        return []
    collection = SecretsCollection(root=str(root.resolve()))
    with _LOCK, default_settings():
        for rel in files:
            collection.scan_file(rel)
    issues: list[Issue] = []
    seen: set[tuple[str, int, str]] = set()
    for filename, secret in collection:
        rel = Path(filename).as_posix()
        key = (rel, int(secret.line_number), secret.type)
        if key in seen:
            continue
        seen.add(key)
        issues.append(
            make_issue(
                root,
                tool="detect-secrets",
                rule=f"detect-secrets.{_slug(secret.type)}",
                file=rel,
                line=int(secret.line_number),
                message=f"Possible hard-coded secret ({secret.type}); move it to a secret "
                "store or environment variable and rotate it (CWE-798)",
                severity="high",
                category="security",
                confidence=0.8 if secret.is_verified else 0.7,
            )
        )
    return sorted(issues, key=lambda i: (i["file"], i["line"], i["rule"]))

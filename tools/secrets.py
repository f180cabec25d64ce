"""Hard-coded secrets, found with detect-secrets; the secret itself is never returned.

What is reported follows the repository's ``.secrets.baseline`` (`keel.tools.repo_config`)
and Keel's severity table (`keel.tools.severity_context`, docs/severity.md): known secrets are
not reported as new, hash pins are not secrets, and secret-like strings in tests, docs
and examples are lowered with the reason stated, unless they are a provider-issued
credential format.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from detect_secrets.core.secrets_collection import SecretsCollection
from detect_secrets.settings import transient_settings

from keel.core.vocabulary import Severity
from keel.tools._repo import RepoPathError, relative, resolve_in_repo
from keel.tools.issues import Issue, make_issue
from keel.tools.repo_config import SECRET_PLUGINS, Scan, SecretsBaseline, secrets_config
from keel.tools.severity_context import PROVIDER_SECRET_TYPES, annotate, secret_adjustment

__all__ = ["scan_secrets", "secret_rule", "secrets_scan"]

_MAX_FILE_BYTES = 1_000_000
_BASELINE = ".secrets.baseline"
# detect-secrets keeps its settings in module globals: one scan at a time.
_LOCK = threading.Lock()


def secret_rule(secret_type: str) -> str:
    """The rule id of a detect-secrets type ("AWS Access Key" -> detect-secrets.aws-access-key)."""
    return "detect-secrets." + re.sub(r"[^a-z0-9]+", "-", secret_type.lower()).strip("-")


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
            if rel.startswith(".git/") or rel == _BASELINE or c.stat().st_size > _MAX_FILE_BYTES:
                continue
            out.append(rel)
    return sorted(set(out))


def _settings(baseline: SecretsBaseline | None) -> dict[str, Any]:
    """Every built-in detector, with the baseline's entropy limits; default filters."""
    limits = baseline.limits if baseline else {}
    return {
        "plugins_used": [
            {"name": name, **({"limit": limits[name]} if name in limits else {})}
            for name in sorted(SECRET_PLUGINS)
        ]
    }


class _Lines:
    """Source lines by file, read once each (to recognise hash pins)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._files: dict[str, list[str]] = {}

    def get(self, file: str, line: int) -> str:
        if file not in self._files:
            try:
                text = resolve_in_repo(self._root, file).read_bytes().decode("utf-8", "replace")
            except (RepoPathError, OSError):
                text = ""
            self._files[file] = text.splitlines()
        lines = self._files[file]
        return lines[line - 1] if 0 < line <= len(lines) else ""


def _listed(
    baseline: SecretsBaseline | None, file: str, hashed: str, kind: str
) -> Literal["known", "audited as a real secret", "not audited"] | None:
    """What the baseline says of a secret: "known" (not reported), a state to state, or None.

    Audited as a false positive, or not audited and of no provider format: known. Audited
    as real: reported as it is. Not audited but a provider format: reported, saying so.
    """
    if baseline is None or (file, hashed, kind) not in baseline.known:
        return None
    audited = baseline.known[(file, hashed, kind)]
    if audited is True:
        return "audited as a real secret"
    if audited is None and kind in PROVIDER_SECRET_TYPES:
        return "not audited"
    return "known"


def secrets_scan(root: Path, paths: Sequence[str]) -> Scan:
    """Scan files for hard-coded credentials with every built-in detect-secrets detector.

    Args:
        root: Repository root.
        paths: Repository-relative files or directories (any file type).

    Returns:
        Issues of category "security", severity "high" unless the severity table
        lowers them (the reason is appended to the message); ``rule`` is
        ``detect-secrets.<secret type>``. A secret in ``.secrets.baseline`` audited as a
        false positive, or not audited and of no provider format, is not reported; one
        audited as real is reported at high whatever its path. Hash pins are not
        reported. The notes count what was left out. The secret value never appears:
        the message names only the type and the quoted code is masked.

    Raises:
        RepoPathError: If a path leaves the repository.
    """
    config, baseline = secrets_config(root)
    files = _files(root, paths)
    if not files:
        return Scan(issues=[], config=config)
    collection = SecretsCollection(root=str(root.resolve()))
    with _LOCK, transient_settings(_settings(baseline)):
        for rel in files:
            collection.scan_file(rel)
    lines = _Lines(root)
    issues: list[Issue] = []
    seen: set[tuple[str, int, str]] = set()
    known = 0
    dropped: Counter[str] = Counter()
    for filename, secret in collection:
        rel = Path(filename).as_posix()
        number = int(secret.line_number)
        key = (rel, number, secret.type)
        if key in seen:
            continue
        seen.add(key)
        message = (
            f"Possible hard-coded secret ({secret.type}); move it to a secret store or "
            "environment variable and rotate it (CWE-798)"
        )
        severity: Severity = "high"
        listed = _listed(baseline, rel, secret.secret_hash, secret.type)
        if listed == "known":
            known += 1
            continue
        adjustment = None
        if listed is not None:
            message = f"{message} [listed in {_BASELINE}, {listed}]"
        else:
            adjustment = secret_adjustment(rel, secret.type, lines.get(rel, number))
        if adjustment is not None and adjustment.severity is None:
            dropped[adjustment.reason] += 1
            continue
        if adjustment is not None and adjustment.severity is not None:
            message = annotate(message, severity, adjustment)
            severity = adjustment.severity
        issues.append(
            make_issue(
                root,
                tool="detect-secrets",
                rule=secret_rule(secret.type),
                file=rel,
                line=number,
                message=message,
                severity=severity,
                category="security",
                confidence=0.8 if secret.is_verified else 0.7,
            )
        )
    notes = [f"{n} not reported: {reason}" for reason, n in sorted(dropped.items())]
    if known:
        notes.append(f"{known} known secret(s) from {_BASELINE} not reported as new")
    issues.sort(key=lambda i: (i["file"], i["line"], i["rule"]))
    return Scan(issues=issues, config=config, notes=notes)


def scan_secrets(root: Path, paths: Sequence[str]) -> list[Issue]:
    """The issues of :func:`secrets_scan` (the analyzer signature the agent tools use).

    Raises:
        RepoPathError: If a path leaves the repository.
    """
    return secrets_scan(root, paths).issues

"""The common shape of an analyzer finding, and helpers to quote code safely."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import TypedDict

from keel.core.vocabulary import Category, Severity
from keel.tools._repo import RepoPathError, resolve_in_repo

__all__ = [
    "Category",
    "Issue",
    "Severity",
    "make_issue",
    "mask_secrets",
    "quote_lines",
]


class Issue(TypedDict):
    """One finding of an analyzer, located in the repository."""

    tool: str
    """Analyzer that reported it: "ruff", "bandit", "detect-secrets", "semgrep"."""
    rule: str
    """The analyzer's rule id, e.g. "B602", "S608", "keel.tainted-open"."""
    file: str
    """Repository-relative posix path."""
    line: int
    """First line, 1-based."""
    end_line: int
    """Last line, 1-based (equal to ``line`` for one-line findings)."""
    col: int | None
    """Column, 1-based, when the analyzer reports one."""
    message: str
    """What is wrong, in the analyzer's words."""
    severity: Severity
    """How bad it is."""
    category: Category
    """Which specialist cares: the area of the specialist whose tool found it."""
    confidence: float
    """How sure the analyzer is, 0 to 1."""
    code: str
    """The quoted source lines, with secrets masked."""
    fixable: bool
    """True when the analyzer can fix it automatically."""


def make_issue(
    root: Path,
    *,
    tool: str,
    rule: str,
    file: str,
    line: int,
    end_line: int | None = None,
    col: int | None = None,
    message: str,
    severity: Severity,
    category: Category,
    confidence: float,
    fixable: bool = False,
) -> Issue:
    """Build an :class:`Issue`, quoting (and masking) its source lines.

    Args:
        root: Repository root.
        tool: Analyzer name.
        rule: Rule id.
        file: Repository-relative posix path.
        line: First line, 1-based.
        end_line: Last line; defaults to ``line``.
        col: Column, 1-based, if known.
        message: What is wrong.
        severity: How bad.
        category: Which specialist cares.
        confidence: 0 to 1.
        fixable: Whether an autofix exists.

    Returns:
        The issue, with ``code`` filled in and secrets masked in ``message``.
    """
    line = max(1, line)
    last = max(line, end_line or line)
    return Issue(
        tool=tool,
        rule=rule,
        file=file,
        line=line,
        end_line=last,
        col=col,
        message=mask_secrets(message),
        severity=severity,
        category=category,
        confidence=max(0.0, min(1.0, confidence)),
        code=quote_lines(root, file, line, last),
        fixable=fixable,
    )


def quote_lines(root: Path, file: str, start: int, end: int, max_chars: int = 400) -> str:
    """Return source lines ``start..end`` (1-based, inclusive) with secrets masked.

    Args:
        root: Repository root.
        file: Repository-relative path.
        start: First line, 1-based.
        end: Last line, inclusive.
        max_chars: Longest quote; longer quotes end with "…".

    Returns:
        The masked lines joined by newlines, or "" if the file cannot be read.
    """
    try:
        path = resolve_in_repo(root, file)
        text = path.read_bytes().decode("utf-8", errors="replace")
    except (RepoPathError, OSError):
        return ""
    lines = text.splitlines()
    start = max(1, start)
    end = max(start, end)
    quote = mask_secrets("\n".join(lines[start - 1 : end]))
    if len(quote) > max_chars:
        quote = quote[: max_chars - 1] + "…"
    return quote


_KEEP = 4
_SECRET_NAME = (  # nosec B105 # a pattern of names, not a password
    r"[\w.-]*(?:secret|token|passw(?:or)?d|passwd|pwd|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|credential|auth[_-]?key|client[_-]?secret)[\w.-]*"
)
# name = "value" / name: 'value' / name=value (env files, YAML, code).
_ASSIGNMENT = re.compile(
    rf"(?i)(?P<name>\b{_SECRET_NAME}\b[\"']?"
    r"(?:\s*:\s*[A-Za-z_][\w\[\], |.]*?)?\s*(?:=|:|=>)\s*)"
    r"(?P<quote>[\"']?)(?P<value>[^\"'\s,;()}\]#]{4,})(?P=quote)"
)
_KNOWN_TOKENS = re.compile(
    r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"  # AWS access key ids
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}\b"  # GitHub tokens
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}\b"  # Slack tokens
    r"|\bsk_(?:live|test)_[A-Za-z0-9]{10,}\b"  # Stripe keys
    r"|\bsk-[A-Za-z0-9_-]{20,}\b"  # OpenAI-style keys
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
)
_QUOTED = re.compile(r"(?P<quote>[\"'])(?P<value>[A-Za-z0-9+/=_\-.]{16,})(?P=quote)")


def _mask(value: str) -> str:
    return value[:_KEEP] + "****"


def _looks_random(value: str) -> bool:
    """Whether a token looks like key material rather than a word or identifier."""
    if len(value) < 16 or value.startswith(("http", "/")) or "." in value.strip("."):
        return False
    classes = sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
        )
    )
    if classes < 2 or not any(c.isdigit() for c in value):
        return False
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return entropy >= 3.5


def _looks_like_value(value: str) -> bool:
    """Whether an unquoted assigned token is a literal value rather than a name."""
    if _looks_random(value):
        return True
    if not value.replace(".", "_").isidentifier():
        return not value.isdigit() or len(value) >= 6
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    return len(value) >= 8 and has_digit and has_alpha


def mask_secrets(text: str) -> str:
    """Mask anything in ``text`` that looks like a secret.

    Values assigned to secret-like names (``password = "..."``, ``API_TOKEN=...``),
    well-known token formats (AWS key ids, GitHub/Slack/Stripe tokens, private key
    headers) and quoted high-entropy strings keep their first four characters,
    followed by ``****``.

    Args:
        text: Any text: source code, a diff, an analyzer message.

    Returns:
        The text with secrets masked.
    """
    if not text:
        return text

    def _assignment(match: re.Match[str]) -> str:
        value = match.group("value")
        quote = match.group("quote")
        if value.endswith("****"):
            return match.group(0)
        if not quote and not _looks_like_value(value):
            # A reference such as ``password = settings.password``, not a literal.
            return match.group(0)
        return f"{match.group('name')}{quote}{_mask(value)}{quote}"

    text = _ASSIGNMENT.sub(_assignment, text)
    text = _KNOWN_TOKENS.sub(lambda m: _mask(m.group(0)), text)

    def _quoted(match: re.Match[str]) -> str:
        value = match.group("value")
        if _looks_random(value):
            return f"{match.group('quote')}{_mask(value)}{match.group('quote')}"
        return match.group(0)

    return _QUOTED.sub(_quoted, text)

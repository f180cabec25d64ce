"""Severity in context: where a secret-like string sits changes what it is.

One table (docs/severity.md), applied in plain code to detect-secrets' findings before
they become evidence:

| where / what                                             | effect                  |
|----------------------------------------------------------|-------------------------|
| provider-issued credential format (AWS, GitHub, …)       | unchanged, anywhere     |
| hash pinned in a pre-commit ``rev:`` line, a GitHub       | not reported (a note    |
| Action ``uses: …@sha``, a lock file, a ``--hash=`` pin   | counts them)            |
| private key in tests / docs / examples                   | medium, "test fixture…" |
| other secret-like string in tests / docs / examples      | low, with the reason    |
| anything else                                            | unchanged               |

Only the two entropy detectors' findings are ever dropped, and only on lines whose shape
is a hash pin; a provider-format credential is never lowered or dropped, wherever it is.
Lowered findings keep their place in the report with the reason in their message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Final, Literal

from keel.core.vocabulary import Severity

__all__ = [
    "ENTROPY_TYPES",
    "GENERIC_SECRET_TYPES",
    "PROVIDER_SECRET_TYPES",
    "Adjustment",
    "Context",
    "annotate",
    "path_context",
    "secret_adjustment",
]

Context = Literal["test", "docs", "example"]
"""Where a file sits, when that is not production code."""

PROVIDER_SECRET_TYPES: Final = frozenset(
    {
        "AWS Access Key",
        "Artifactory Credentials",
        "Azure Storage Account access key",
        "Cloudant Credentials",
        "Discord Bot Token",
        "GitHub Token",
        "GitLab Token",
        "IBM COS HMAC Credentials",
        "IBM Cloud IAM Key",
        "Mailchimp Access Key",
        "NPM tokens",
        "OpenAI Token",
        "PyPI Token",
        "SendGrid API Key",
        "Slack Token",
        "SoftLayer Credentials",
        "Square OAuth Secret",
        "Stripe Access Key",
        "Telegram Bot Token",
        "Twilio API Key",
    }
)
"""detect-secrets types that name a credential format a provider issues: never lowered."""

ENTROPY_TYPES: Final = frozenset({"Base64 High Entropy String", "Hex High Entropy String"})
"""The detectors that report any random-looking string (hashes included)."""

GENERIC_SECRET_TYPES: Final = ENTROPY_TYPES | {
    "Secret Keyword",
    "Basic Auth Credentials",
    "JSON Web Token",
    "Public IP (ipv4)",
}
"""Secret-like strings with no provider format: lowered in tests, docs and examples.
A type in neither set (a detector added later) is left unchanged."""

_PRIVATE_KEY: Final = "Private Key"

_TEST_DIRS: Final = frozenset(
    {"tests", "test", "testing", "__tests__", "testdata", "test_data", "fixtures"}
)
_DOC_DIRS: Final = frozenset({"docs", "doc", "documentation"})
_EXAMPLE_DIRS: Final = frozenset({"examples", "example", "samples", "demo", "demos"})
_DOC_SUFFIXES: Final = frozenset({".md", ".rst", ".adoc", ".markdown"})

_REASONS: Final[dict[Context, str]] = {
    "test": "test fixture",
    "docs": "documentation example",
    "example": "example code",
}

_LOCK_FILES: Final = frozenset(
    {
        "uv.lock",
        "pdm.lock",
        "poetry.lock",
        "pipfile.lock",
        "pnpm-lock.yaml",
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "bun.lock",
        "cargo.lock",
        "go.sum",
        "composer.lock",
        "gemfile.lock",
        "flake.lock",
        "conda-lock.yml",
    }
)
_PRE_COMMIT_FILES: Final = frozenset({".pre-commit-config.yaml", ".pre-commit-hooks.yaml"})
_REV_LINE: Final = re.compile(r"^\s*(?:-\s*)?rev:\s*[\"']?[0-9a-fA-F]{7,64}[\"']?\s*(?:#.*)?$")
_USES_SHA: Final = re.compile(r"\buses:\s*[\"']?[\w.\-/]+@[0-9a-fA-F]{40}\b")
_HASH_PIN: Final = re.compile(r"--hash[=\s]+(?:sha256|sha384|sha512):[0-9a-fA-F]{32,}")


@dataclass(frozen=True)
class Adjustment:
    """What Keel's severity table does to one finding."""

    severity: Severity | None
    """The severity to report, or None: not reported at all."""
    reason: str
    """Why, in words a reviewer reads (e.g. "test fixture, not a provider credential format")."""


def path_context(file: str) -> Context | None:
    """Whether a repository path is a test, documentation or example file.

    Tests: a directory named ``tests``, ``test``, ``testing``, ``__tests__``,
    ``testdata``, ``test_data`` or ``fixtures``, or a file ``test_*``, ``*_test.py``,
    ``*_tests.py``, ``conftest.py``. Examples: a directory ``examples``, ``example``,
    ``samples``, ``demo(s)``. Docs: a directory ``docs``, ``doc``, ``documentation``, or
    a prose file (``.md``, ``.rst``, ``.adoc``, ``.markdown``) anywhere. Checked in that
    order; anything else is None (production code, configuration).
    """
    path = PurePosixPath(file.replace("\\", "/"))
    dirs = {part.lower() for part in path.parts[:-1]}
    name = path.name.lower()
    if (
        dirs & _TEST_DIRS
        or name.startswith("test_")
        or name.endswith(("_test.py", "_tests.py"))
        or name == "conftest.py"
    ):
        return "test"
    if dirs & _EXAMPLE_DIRS:
        return "example"
    if dirs & _DOC_DIRS or path.suffix.lower() in _DOC_SUFFIXES:
        return "docs"
    return None


def _hash_pin(file: str, line_text: str) -> str | None:
    path = PurePosixPath(file.replace("\\", "/"))
    name = path.name.lower()
    if name in _PRE_COMMIT_FILES and _REV_LINE.match(line_text):
        return "a commit hash pinned in a pre-commit `rev:` line"
    workflow = path.parts[:2] == (".github", "workflows") or name in ("action.yml", "action.yaml")
    if workflow and _USES_SHA.search(line_text):
        return "a commit hash pinning a GitHub Action"
    if name in _LOCK_FILES or name.endswith(".lock"):
        return "a content hash in a lock file"
    if _HASH_PIN.search(line_text):
        return "a package hash pinned with --hash"
    return None


def secret_adjustment(file: str, secret_type: str, line_text: str) -> Adjustment | None:
    """How the severity table adjusts a detect-secrets finding (see the module docstring).

    Args:
        file: Repository-relative path of the finding.
        secret_type: detect-secrets' type name, e.g. "Hex High Entropy String".
        line_text: The source line the secret is on (to recognise hash pins).

    Returns:
        None when the finding stays as it is, else the new severity (None: drop) and why.
    """
    if secret_type in PROVIDER_SECRET_TYPES:
        return None
    if secret_type in ENTROPY_TYPES:
        pin = _hash_pin(file, line_text)
        if pin:
            return Adjustment(severity=None, reason=f"{pin}, not a secret")
    context = path_context(file)
    if context is None:
        return None
    where = _REASONS[context]
    if secret_type == _PRIVATE_KEY:
        return Adjustment(
            severity="medium",
            reason=f"{where}; a private key: check that only tests and examples use it",
        )
    if secret_type in GENERIC_SECRET_TYPES:
        return Adjustment(severity="low", reason=f"{where}, not a provider credential format")
    return None


def annotate(message: str, before: Severity, adjustment: Adjustment) -> str:
    """The finding's message with the adjustment stated, e.g. "... [high -> low: test fixture]"."""
    if adjustment.severity is None or adjustment.severity == before:
        return f"{message} [{adjustment.reason}]"
    return f"{message} [severity {before} -> {adjustment.severity}: {adjustment.reason}]"

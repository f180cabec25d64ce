"""Keel's severity table (docs/severity.md), row by row, on hand-built inputs."""

from __future__ import annotations

import pytest

from keel.tools.severity_context import (
    PROVIDER_SECRET_TYPES,
    Adjustment,
    annotate,
    path_context,
    secret_adjustment,
)

SHA = "c60c980e561ed3e73101667fe8365c609d19a438"


@pytest.mark.parametrize(
    ("path", "context"),
    [
        ("tests/test_jwt.py", "test"),
        ("tests/keys/testkey_rsa.priv", "test"),
        ("src/pkg/test_util.py", "test"),
        ("pkg/util_test.py", "test"),
        ("conftest.py", "test"),
        ("pkg/testdata/token.json", "test"),
        ("docs/usage.rst", "docs"),
        ("README.rst", "docs"),
        ("CHANGELOG.md", "docs"),
        ("examples/client.py", "example"),
        ("docs/examples/client.py", "example"),
        ("jwt/api_jws.py", None),
        ("contests/score.py", None),
        (".pre-commit-config.yaml", None),
        ("config/settings.yaml", None),
    ],
)
def test_path_context(path: str, context: str | None) -> None:
    assert path_context(path) == context


def test_provider_formats_are_never_lowered_or_dropped() -> None:
    for kind in ("AWS Access Key", "GitHub Token", "Stripe Access Key", "Slack Token"):
        assert kind in PROVIDER_SECRET_TYPES
        for path in ("tests/test_api.py", "docs/usage.rst", "examples/x.py", "uv.lock"):
            assert secret_adjustment(path, kind, f"rev: {SHA}") is None


def test_generic_secrets_in_tests_docs_examples_are_lowered_with_the_reason() -> None:
    cases = {
        "tests/test_api.py": "test fixture",
        "docs/usage.rst": "documentation example",
        "README.md": "documentation example",
        "examples/client.py": "example code",
    }
    for path, reason in cases.items():
        for kind in ("Base64 High Entropy String", "JSON Web Token", "Secret Keyword"):
            adjustment = secret_adjustment(path, kind, 'token = "..."')
            assert adjustment is not None and adjustment.severity == "low", (path, kind)
            assert adjustment.reason.startswith(reason)
            assert "not a provider credential format" in adjustment.reason


def test_a_private_key_in_tests_is_a_fixture_at_medium() -> None:
    adjustment = secret_adjustment("tests/keys/testkey_rsa.priv", "Private Key", "-----BEGIN")
    assert adjustment == Adjustment(
        severity="medium",
        reason="test fixture; a private key: check that only tests and examples use it",
    )
    assert secret_adjustment("deploy/id_rsa", "Private Key", "-----BEGIN") is None


def test_production_code_and_unknown_types_are_unchanged() -> None:
    assert secret_adjustment("jwt/api_jws.py", "Base64 High Entropy String", 'k = "x"') is None
    assert secret_adjustment("tests/test_x.py", "A Detector Added Later", 'k = "x"') is None


@pytest.mark.parametrize(
    ("path", "line", "reason"),
    [
        (".pre-commit-config.yaml", f"    rev: {SHA}  # frozen: v0.15.9", "pre-commit `rev:`"),
        (".pre-commit-config.yaml", f"  - rev: '{SHA}'", "pre-commit `rev:`"),
        (".github/workflows/ci.yml", f"      - uses: actions/checkout@{SHA}", "GitHub Action"),
        ("uv.lock", f'sdist = {{ hash = "sha256:{SHA}" }}', "lock file"),
        ("frontend/package-lock.json", '"integrity": "sha512-AbC"', "lock file"),
        ("requirements.txt", f"    --hash=sha256:{SHA}{SHA[:24]}", "--hash"),
    ],
)
def test_hash_pins_are_not_secrets(path: str, line: str, reason: str) -> None:
    for kind in ("Hex High Entropy String", "Base64 High Entropy String"):
        adjustment = secret_adjustment(path, kind, line)
        assert adjustment is not None and adjustment.severity is None, (path, kind)
        assert reason in adjustment.reason and "not a secret" in adjustment.reason


def test_only_hash_shaped_lines_are_dropped() -> None:
    # A hex value on another key of the same file is still a finding; so is a
    # provider-format credential on a rev line, and a keyword secret in a lock file.
    assert (
        secret_adjustment(".pre-commit-config.yaml", "Hex High Entropy String", f"key: {SHA}")
        is None
    )
    assert (
        secret_adjustment(".pre-commit-config.yaml", "Hex High Entropy String", "rev: v1.2.3")
        is None
    )
    assert (
        secret_adjustment(".github/workflows/ci.yml", "Hex High Entropy String", f"k: {SHA}")
        is None
    )
    assert secret_adjustment("uv.lock", "Secret Keyword", 'password = "x"') is None


def test_annotate_states_the_change() -> None:
    low = Adjustment(severity="low", reason="test fixture, not a provider credential format")
    assert annotate("Possible secret", "high", low) == (
        "Possible secret [severity high -> low: test fixture, not a provider credential format]"
    )
    assert annotate("m", "low", low) == "m [test fixture, not a provider credential format]"

"""Integration tests reuse the e2e CLI fixtures."""

from tests.e2e.conftest import keel, sample_repo  # noqa: F401 - fixtures

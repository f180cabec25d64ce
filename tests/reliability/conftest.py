"""Reliability tests reuse the e2e CLI fixtures, and may stop and start a server of their own."""

from collections.abc import Iterator

import pytest

from tests._pg import PgServer
from tests.e2e.conftest import keel, sample_repo  # noqa: F401 - fixtures


@pytest.fixture
def private_pg() -> Iterator[PgServer]:
    """A private PostgreSQL server (database `keel`) that the test may stop and start."""
    server = PgServer().start()
    server.create_database("keel")
    try:
        yield server
    finally:
        if not server.running:
            server.resume_serving()
        server.stop()

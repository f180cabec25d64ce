"""Shared fixtures: offline environment, PostgreSQL and SQLite databases.

PostgreSQL is never mocked and never skipped: with ``KEEL_TEST_DATABASE_URL`` set, tests use
that server; otherwise a private server is started for the session (see ``tests/_pg.py``).
If neither works, every test that needs Postgres errors with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._pg import PgServer, PgServerError, create_database, database_url, drop_database

_OFFLINE_ENV = {
    "LANGSMITH_TRACING": "false",
    "LANGSMITH_TEST_TRACKING": "false",
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
}


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No tracing, no analytics: tests never talk to LangSmith or LangChain's telemetry."""
    for key, value in _OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """URL of a database on a PostgreSQL server where the user may CREATE DATABASE.

    ``KEEL_TEST_DATABASE_URL`` if set, else a private server started for this session.
    """
    external = os.environ.get("KEEL_TEST_DATABASE_URL")
    if external:
        yield external
        return
    error: str | None = None
    try:
        server = PgServer().start()
    except PgServerError as exc:
        error = str(exc)
    if error is not None:
        # An error, not a skip: Postgres-backed tests must not pass by not running.
        pytest.fail(f"cannot start PostgreSQL for tests: {error}", pytrace=False)
    try:
        yield server.url("postgres")
    finally:
        server.stop()


def _fresh_pg_database(admin_url: str) -> Iterator[str]:
    name = f"keel_test_{uuid.uuid4().hex[:8]}"
    create_database(admin_url, name)
    try:
        yield database_url(admin_url, name)
    finally:
        drop_database(admin_url, name)


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty database ``keel_test_<uuid8>`` for this test; dropped afterwards."""
    yield from _fresh_pg_database(pg_admin_url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """``sqlite:///<tmp>/keel.db`` — a fresh SQLite file for this test (not created yet)."""
    return f"sqlite:///{tmp_path / 'keel.db'}"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test runs twice: on a fresh SQLite file and on a fresh Postgres database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'keel.db'}"
    else:
        admin_url: str = request.getfixturevalue("pg_admin_url")
        yield from _fresh_pg_database(admin_url)

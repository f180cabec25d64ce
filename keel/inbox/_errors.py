"""Which exceptions mean the database failed, and how the inbox words that.

A request that hits one of `database_errors()` (or `DatabaseUnavailableError`) is
answered 503 with `unavailable_message(url)`: the database named with its password
masked. Nothing is retried here: the thread is untouched by a request that failed before
its resume, and PostgreSQL's pool reconnects on a later request once the server is back.
"""

from __future__ import annotations

import sqlite3

import psycopg
from psycopg_pool import PoolTimeout

from keel.persistence import DatabaseUnavailableError, describe_url

__all__ = ["database_errors", "unavailable_message"]


def database_errors() -> tuple[type[BaseException], ...]:
    """The driver errors that mean the database failed, not the request."""
    return (
        psycopg.OperationalError,
        PoolTimeout,
        sqlite3.OperationalError,
        sqlite3.DatabaseError,
        DatabaseUnavailableError,
    )


def unavailable_message(url: str, exc: BaseException) -> str:
    """One line for the error page: which database, and the driver's first line."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"database unavailable: {describe_url(url)}: {first}"

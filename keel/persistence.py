"""Checkpointer, store and registry on one database: a SQLite file or PostgreSQL.

`open_persistence(url)` yields a `Persistence` holding the LangGraph checkpointer, the
LangGraph store (idempotency ledger) and Keel's thread registry, all in the same
database:

* `sqlite:///PATH` — `SqliteSaver`/`SqliteStore` on the file (WAL, busy timeout), parent
  directories created.
* `postgresql://...` — `PostgresSaver`/`PostgresStore` on a `psycopg_pool.ConnectionPool`
  with `autocommit=True`, `prepare_threshold=0`, `row_factory=dict_row` (without
  autocommit `setup()` fails or writes vanish); connections are checked before use so a
  stale one after a long idle wait is replaced.

Checkpoints are serialized with msgpack restricted to LangGraph's safe-type allowlist,
with no pickle fallback: loading a checkpoint never imports arbitrary code.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.store.base import BaseStore

from keel.locks import postgres_lock, sqlite_lock
from keel.registry import PostgresRegistry, Registry, SqliteRegistry

if TYPE_CHECKING:
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.store.postgres import PostgresStore
    from langgraph.store.sqlite import SqliteStore

__all__ = [
    "DatabaseUnavailableError",
    "Persistence",
    "describe_url",
    "open_persistence",
    "safe_serializer",
]

_CONNECT_TIMEOUT_S = 5
_WAIT_FOR_CONNECTION_S = 3
"""How long a checkout waits for a connection before the server is asked if it is there."""
_WAIT_WHILE_SERVER_ANSWERS_S = 60
"""How much longer a checkout waits when the server does answer: a busy machine, not an
outage (a starved process can take seconds to get a new pool connection)."""


class DatabaseUnavailableError(RuntimeError):
    """The database cannot be reached or opened; the message names it (password masked)."""


def describe_url(url: str) -> str:
    """Return the URL with any password masked, for messages and logs."""
    if url.startswith("sqlite:///"):
        return url
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def safe_serializer() -> JsonPlusSerializer:
    """Checkpoint serializer: no pickle, msgpack limited to LangGraph's safe types.

    The agents' `messages` delta channel snapshots as `_DeltaSnapshot`, which msgpack
    carries under its own extension code (not the module allow-list), so it needs no
    entry here; `tests/unit/test_message_delta.py` checks the round trip.
    """
    return JsonPlusSerializer(pickle_fallback=False, allowed_msgpack_modules=None)


@dataclass
class Persistence:
    """Everything a run needs from the database."""

    url: str
    checkpointer: BaseCheckpointSaver[Any]
    store: BaseStore
    registry: Registry
    lock: Callable[[str], AbstractContextManager[None]]
    """`lock(thread_id)`: hold the thread so no other process writes it (one writer)."""

    @classmethod
    def set_up(
        cls,
        url: str,
        checkpointer: SqliteSaver | PostgresSaver,
        store: SqliteStore | PostgresStore,
        registry: Registry,
        lock: Callable[[str], AbstractContextManager[None]],
    ) -> Persistence:
        """Create the tables of checkpointer, store and registry (idempotent); bundle them."""
        checkpointer.setup()
        store.setup()
        registry.setup()
        return cls(url=url, checkpointer=checkpointer, store=store, registry=registry, lock=lock)

    @property
    def kind(self) -> str:
        """`sqlite` or `postgres`."""
        return "sqlite" if self.url.startswith("sqlite:") else "postgres"


@contextmanager
def open_persistence(url: str) -> Iterator[Persistence]:
    """Open checkpointer, store and registry on `url`; set up their tables.

    Raises:
        DatabaseUnavailableError: the database cannot be reached or opened.
    """
    if url.startswith("sqlite:///"):
        with _open_sqlite(url) as persistence:
            yield persistence
    elif url.startswith(("postgresql://", "postgres://")):
        with _open_postgres(url) as persistence:
            yield persistence
    else:
        raise DatabaseUnavailableError(f"unsupported database URL: {describe_url(url)}")


@contextmanager
def _open_sqlite(url: str) -> Iterator[Persistence]:
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.store.sqlite import SqliteStore

    path = Path(url.removeprefix("sqlite:///")).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=30000")
    except (OSError, sqlite3.Error) as exc:
        raise DatabaseUnavailableError(f"cannot open SQLite database {path}: {exc}") from exc
    store_conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    registry_conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    try:
        yield Persistence.set_up(
            url,
            SqliteSaver(conn, serde=safe_serializer()),
            SqliteStore(store_conn),
            SqliteRegistry(registry_conn),
            functools.partial(sqlite_lock, path),
        )
    except sqlite3.Error as exc:
        raise DatabaseUnavailableError(f"SQLite database {path}: {exc}") from exc
    finally:
        for c in (conn, store_conn, registry_conn):
            c.close()


@contextmanager
def _open_postgres(url: str) -> Iterator[Persistence]:
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.store.postgres import PostgresStore
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool, PoolTimeout

    kwargs: dict[str, Any] = {
        "autocommit": True,
        "prepare_threshold": 0,
        "row_factory": dict_row,
        "connect_timeout": _CONNECT_TIMEOUT_S,
    }

    class PatientPool(ConnectionPool[Any]):
        """Fails a checkout after the short wait only when the server does not answer."""

        def getconn(self, timeout: float | None = None) -> Any:
            try:
                return super().getconn(timeout)
            except PoolTimeout:
                if not _server_answers(url):
                    raise  # an outage: fail fast
            return super().getconn(_WAIT_WHILE_SERVER_ANSWERS_S)

    pool: ConnectionPool[Any] = PatientPool(
        url,
        min_size=1,
        max_size=8,
        kwargs=kwargs,
        check=ConnectionPool.check_connection,
        open=False,
        name="keel",
        timeout=_WAIT_FOR_CONNECTION_S,
        reconnect_timeout=_WAIT_FOR_CONNECTION_S,
    )
    try:
        pool.open()
        with pool.connection():  # the first connection, with the same patience as any other
            pass
    except (PoolTimeout, psycopg.OperationalError) as exc:
        pool.close()
        raise DatabaseUnavailableError(f"cannot reach PostgreSQL at {describe_url(url)}") from exc
    try:
        yield Persistence.set_up(
            url,
            PostgresSaver(pool, serde=safe_serializer()),
            PostgresStore(pool),
            PostgresRegistry(pool),
            functools.partial(postgres_lock, pool),
        )
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise DatabaseUnavailableError(
            f"lost PostgreSQL at {describe_url(url)}: {str(exc).splitlines()[0]}"
        ) from exc
    finally:
        pool.close(timeout=_CONNECT_TIMEOUT_S)


def _server_answers(url: str) -> bool:
    """Whether a fresh connection to the server succeeds (a stopped server refuses at once)."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=_CONNECT_TIMEOUT_S):
            return True
    except psycopg.Error:
        return False

"""Checkpointer and store factories for `langgraph dev` / LangGraph Server.

`langgraph.json` names them (`"checkpointer": {"path": ...}`, `"store": {"path": ...}`).
The server loads each path once and enters the async context manager it returns once per
event loop (its API and its queue worker run on separate loops), keeping what it yields
for the life of the process.

With `KEEL_DATABASE_URL=postgresql://...` both are durable: `AsyncPostgresSaver` and
`AsyncPostgresStore` on a `psycopg_pool.AsyncConnectionPool` with `autocommit=True`,
`prepare_threshold=0`, `row_factory=dict_row`, checkpoints serialized by Keel's
`safe_serializer()` (msgpack, safe types only, no pickle), tables created by `setup()`.
These are the same tables the `keel` CLI uses on that database.

Without a PostgreSQL URL they yield the dev server's own in-memory checkpointer and store
(pickled to `.langgraph_api/` in the server's working directory) and log a warning
saying so.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore

from keel.persistence import describe_url, safe_serializer
from keel.settings import Settings

__all__ = ["checkpointer", "postgres_url", "store"]

logger = logging.getLogger("keel.server")

_POOL_MAX_SIZE = 8
_CONNECT_TIMEOUT_S = 5


def postgres_url() -> str | None:
    """Return `KEEL_DATABASE_URL` (environment, then `.env`) if it is PostgreSQL, else None."""
    url = Settings.load().database_url
    return url if url.startswith(("postgresql://", "postgres://")) else None


@asynccontextmanager
async def _pool(url: str) -> AsyncIterator[Any]:
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=_POOL_MAX_SIZE,
        kwargs={
            "autocommit": True,
            "prepare_threshold": 0,
            "row_factory": dict_row,
            "connect_timeout": _CONNECT_TIMEOUT_S,
        },
        check=AsyncConnectionPool.check_connection,
        open=False,
        name="keel-server",
    )
    await pool.open(wait=True, timeout=_CONNECT_TIMEOUT_S)
    try:
        yield pool
    finally:
        await pool.close()


def _dev_server_default(module: str, factory: str) -> Any:
    """The in-memory runtime's own checkpointer / store (only present under the server)."""
    return getattr(importlib.import_module(module), factory)()


@asynccontextmanager
async def checkpointer() -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """Yield the server's checkpointer: Postgres by `KEEL_DATABASE_URL`, else the default."""
    url = postgres_url()
    if url is None:
        logger.warning(
            "keel: KEEL_DATABASE_URL is not a postgresql:// URL; threads are checkpointed "
            "by the dev server's in-memory saver (.langgraph_api/ pickle files), not durably"
        )
        yield _dev_server_default("langgraph_runtime.checkpoint", "Checkpointer")
        return
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    async with _pool(url) as pool:
        saver = AsyncPostgresSaver(pool, serde=safe_serializer())
        await saver.setup()
        logger.info("keel: checkpoints in PostgreSQL at %s", describe_url(url))
        yield saver


@asynccontextmanager
async def store() -> AsyncIterator[BaseStore]:
    """Yield the server's store (idempotency ledger, feedback log): Postgres or the default."""
    url = postgres_url()
    if url is None:
        logger.warning(
            "keel: KEEL_DATABASE_URL is not a postgresql:// URL; the store (idempotency "
            "ledger, feedback log) is the dev server's in-memory store"
        )
        yield _dev_server_default("langgraph_runtime.store", "Store")
        return
    from langgraph.store.postgres.aio import AsyncPostgresStore

    async with _pool(url) as pool:
        pg_store = AsyncPostgresStore(pool)
        await pg_store.setup()
        logger.info("keel: store in PostgreSQL at %s", describe_url(url))
        yield pg_store

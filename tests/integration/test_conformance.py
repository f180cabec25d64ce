"""LangGraph's checkpointer conformance suite against the savers as Keel configures them.

Keel's CLI uses the sync savers; the suite drives the async API, so it runs the async
savers with the same configuration: Keel's serializer (no pickle, strict msgpack), and for
PostgreSQL a pool with autocommit, `prepare_threshold=0` and `dict_row`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from keel.persistence import safe_serializer


def _run(registered: object) -> None:
    report = asyncio.run(validate(registered))  # type: ignore[arg-type]
    report.print_report()
    assert report.passed_all_base(), report


def test_postgres_saver_conforms(pg_url: str) -> None:
    @checkpointer_test(name="Keel AsyncPostgresSaver")
    async def saver() -> AsyncIterator[AsyncPostgresSaver]:
        kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
        async with AsyncConnectionPool(pg_url, kwargs=kwargs, open=False) as pool:
            checkpointer = AsyncPostgresSaver(pool, serde=safe_serializer())  # type: ignore[arg-type]
            await checkpointer.setup()
            yield checkpointer

    _run(saver)


def test_sqlite_saver_conforms(tmp_path: Path) -> None:
    counter = iter(range(10_000))

    @checkpointer_test(name="Keel AsyncSqliteSaver")
    async def saver() -> AsyncIterator[AsyncSqliteSaver]:
        path = tmp_path / f"conformance-{next(counter)}.db"
        async with aiosqlite.connect(path) as conn:
            checkpointer = AsyncSqliteSaver(conn, serde=safe_serializer())
            await checkpointer.setup()
            yield checkpointer

    _run(saver)

"""The Postgres fixtures give each test a real, fresh, isolated database."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest

_seen: list[str] = []


def _current_database(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT current_database()").fetchone()
        assert row is not None
        return str(row[0])


@pytest.mark.postgres
@pytest.mark.parametrize("round_", [1, 2])
def test_pg_url_is_fresh_and_isolated(pg_url: str, round_: int) -> None:
    name = _current_database(pg_url)
    assert name.startswith("keel_test_")
    assert name not in _seen  # a new database per test
    _seen.append(name)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)  # nothing left over from the other round
        conn.execute("CREATE TABLE checkpoints_probe (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO checkpoints_probe VALUES (%s, %s)", (round_, "hello"))
        assert conn.execute("SELECT note FROM checkpoints_probe").fetchall() == [("hello",)]


@pytest.mark.postgres
def test_previous_test_databases_were_dropped(pg_admin_url: str, pg_url: str) -> None:
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        names = {r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()}
    assert _current_database(pg_url) in names
    assert not names & set(_seen), "databases of finished tests must be dropped"


def test_db_url_runs_on_both_backends(db_url: str) -> None:
    if db_url.startswith("sqlite:///"):
        path = db_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE t (id INTEGER)")
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    else:
        assert db_url.startswith("postgresql://")
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id int)")
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_sqlite_url_points_into_tmp_path(sqlite_url: str, tmp_path: object) -> None:
    assert sqlite_url == f"sqlite:///{tmp_path}/keel.db"

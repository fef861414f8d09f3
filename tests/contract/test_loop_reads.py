"""Reads from PostgreSQL made on an event loop's thread (a GET's auth generation and object
row): awaited by the loop, which serves other requests meanwhile (core.postgres with
core.loop_waits). Blocking there, every request of the worker waited for each round trip."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from nexq.core import loop_waits, postgres_sql
from nexq.core import postgres_reads as engine
from nexq.core.db import Migration, Schema
from nexq.core.errors import Unavailable
from nexq.core.postgres import PostgresDatabase
from tests.postgres import PostgresServer

SCHEMA = [Schema("test", [Migration("CREATE TABLE t (k TEXT PRIMARY KEY)")])]


def _database(server: PostgresServer, readers: int) -> PostgresDatabase:
    return PostgresDatabase(server.new_database(), SCHEMA, migrate_schema=True, readers=readers)


@pytest.fixture
def db(postgres: PostgresServer) -> Iterator[PostgresDatabase]:
    made = _database(postgres, readers=4)
    yield made
    made.close()


def _read(db: PostgresDatabase, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
    with loop_waits.awaitable():
        return db.reader().execute(sql, args).fetchall()


def _on_loop(*calls: Callable[[], Any]) -> list[Any]:
    async def run() -> list[Any]:
        return list(await asyncio.gather(*(loop_waits.run_here(call) for call in calls)))

    return asyncio.run(run())


def test_reads_on_the_loop_overlap(db: PostgresDatabase) -> None:
    events: list[str] = []

    def request(name: str) -> list[Any]:
        events.append(f"{name} reads")
        rows = _read(db, "SELECT ?, pg_sleep(0.2)", (name,))
        events.append(f"{name} has its rows")
        return rows

    got = _on_loop(lambda: request("a"), lambda: request("b"))
    assert [rows[0][0] for rows in got] == ["a", "b"]
    # The second request ran while the first waited for PostgreSQL.
    assert events[:2] == ["a reads", "b reads"]


def test_more_reads_at_once_than_connections_all_get_their_rows(
    postgres: PostgresServer,
) -> None:
    db = _database(postgres, readers=1)
    try:
        got = _on_loop(
            *(lambda i=i: _read(db, "SELECT ? + 0, pg_sleep(0.05)", (i,)) for i in range(5))
        )
        assert [rows[0][0] for rows in got] == [0, 1, 2, 3, 4]
        # One connection of the loop's own served them all, one after the other.
        pids = _on_loop(*(lambda: _read(db, "SELECT pg_backend_pid()") for _ in range(3)))
        assert len({rows[0][0] for rows in pids}) == 1
    finally:
        db.close()


def test_a_read_waiting_too_long_for_a_connection_is_unavailable(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "READ_WAIT", 0.2)
    db = _database(postgres, readers=1)
    try:

        def second() -> str:
            try:
                _read(db, "SELECT 1")
            except Unavailable:
                return "unavailable"
            return "read"

        got = _on_loop(lambda: _read(db, "SELECT pg_sleep(1)"), second)
        assert got[1] == "unavailable"
        # The connection came back: the next read has it.
        assert _on_loop(lambda: _read(db, "SELECT 7"))[0] == [(7,)]
    finally:
        db.close()


def test_a_lost_connection_is_replaced_and_the_read_runs_again(
    postgres: PostgresServer,
) -> None:
    """PostgreSQL restarted, or failed over: an idle connection is gone; a read is safe to
    run again on a new one, so the client sees no error."""
    db = _database(postgres, readers=1)
    try:

        def killed_then_read() -> tuple[int, list[Any]]:
            own = _read(db, "SELECT pg_backend_pid()")[0][0]
            with postgres_sql.connect(db.url) as admin:
                admin.execute("SELECT pg_terminate_backend(%s, 5000)", (own,))
            return own, _read(db, "SELECT pg_backend_pid()")

        own, then = _on_loop(killed_then_read)[0]
        assert then[0][0] != own
    finally:
        db.close()


def test_a_read_outside_an_awaitable_region_blocks_as_before(db: PostgresDatabase) -> None:
    """Where a lock may be held, a read keeps the thread: the next request waits for it."""
    events: list[str] = []

    def request(name: str) -> None:
        events.append(f"{name} reads")
        db.reader().execute("SELECT pg_sleep(0.1)").fetchall()
        events.append(f"{name} has its rows")

    _on_loop(lambda: request("a"), lambda: request("b"))
    assert events == ["a reads", "a has its rows", "b reads", "b has its rows"]

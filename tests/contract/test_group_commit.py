"""The group committer on both engines: a write's statements run in order, and a write that
fails, however it fails, leaves its batch's other writes committed. On PostgreSQL the batch
runs in pipeline mode: statements sent with ``sql.send`` are not waited for, and a failure of
one of them must still be its own write's alone; a statement larger than the socket's
buffers (a 4 MiB registry manifest) must reach PostgreSQL whole before the batch waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeAlias

import psycopg
import pytest

from nexq.core import sql
from nexq.core.db import Database, Migration, Schema
from nexq.core.postgres import WRITE_LOCK, PostgresDatabase
from nexq.core.sql import Connection
from tests.postgres import PostgresServer

SCHEMA = [
    Schema(
        "test",
        [
            Migration("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"),
            Migration("CREATE TABLE big (k TEXT PRIMARY KEY, v BLOB NOT NULL)"),
        ],
    )
]

Engine: TypeAlias = Database | PostgresDatabase


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    made: Engine
    if request.param == "sqlite":
        made = Database(tmp_path / "d.db", SCHEMA)
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        made = PostgresDatabase(server.new_database(), SCHEMA, migrate_schema=True)
    yield made
    made.close()


def one_batch(db: Engine, writes: list[Callable[[Connection], Any]]) -> list[Future[Any]]:
    """Submit ``writes`` so that they run in one batch (the commit stage is held meanwhile)."""
    gate = threading.Event()
    blocker = db._committer.submit(lambda conn: gate.wait(5))
    futures = [db._committer.submit(write) for write in writes]
    gate.set()
    blocker.result(5)
    for future in futures:
        future.exception(5)
    return futures


def rows(db: Engine) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in db.reader().execute("SELECT k, v FROM t ORDER BY k").fetchall()]


def insert(key: str, value: int = 1) -> Callable[[Connection], None]:
    def write(conn: Connection) -> None:
        sql.send(conn, "INSERT INTO t VALUES (?, ?)", (key, value))

    return write


def test_a_sent_statement_that_fails_fails_its_write_alone(db: Engine) -> None:
    db.write(insert("taken"))

    def duplicate(conn: Connection) -> str:
        sql.send(conn, "INSERT INTO t VALUES ('b', 2)")
        sql.send(conn, "INSERT INTO t VALUES ('taken', 2)")  # refused, not waited for
        return "returned"

    first, bad, last = one_batch(db, [insert("a"), duplicate, insert("c")])
    assert first.result() is None and last.result() is None
    with pytest.raises(sql.integrity_errors()):
        bad.result()
    assert rows(db) == [("a", 1), ("c", 1), ("taken", 1)]


def test_a_refusal_after_sent_statements_undoes_them(db: Engine) -> None:
    def refuse(conn: Connection) -> None:
        sql.send(conn, "INSERT INTO t VALUES ('b', 2)")
        raise ValueError("refused")

    bad, good = one_batch(db, [refuse, insert("c")])
    with pytest.raises(ValueError):
        bad.result()
    assert good.result() is None
    assert rows(db) == [("c", 1)]


def test_a_refusal_after_answered_statements_undoes_them(db: Engine) -> None:
    """A condition the write checks itself, after its statements ran (a PUT's If-Match)."""

    def refuse(conn: Connection) -> None:
        conn.execute("INSERT INTO t VALUES ('b', 2)")
        if conn.execute("SELECT count(*) FROM t").fetchone()[0]:
            raise ValueError("refused")

    first, bad, last = one_batch(db, [insert("a"), refuse, insert("c")])
    with pytest.raises(ValueError):
        bad.result()
    assert first.result() is None and last.result() is None
    assert rows(db) == [("a", 1), ("c", 1)]


def test_a_caught_integrity_error_is_the_writes_to_answer(db: Engine) -> None:
    """A store that catches a refused statement (a name taken) hears of it where it runs it."""
    db.write(insert("taken"))

    class Taken(Exception):
        pass

    def claim(conn: Connection) -> None:
        try:
            conn.execute("INSERT INTO t VALUES ('taken', 2)")
        except sql.integrity_errors():
            raise Taken() from None

    first, bad, last = one_batch(db, [insert("a"), claim, insert("c")])
    with pytest.raises(Taken):
        bad.result()
    assert first.result() is None and last.result() is None
    assert rows(db) == [("a", 1), ("c", 1), ("taken", 1)]


def test_the_first_write_of_a_batch_may_fail(db: Engine) -> None:
    """On PostgreSQL its first wait is also the one for BEGIN and the write lock."""
    db.write(insert("taken"))
    gate = threading.Event()
    started = threading.Event()

    def hold(conn: Connection) -> None:
        started.set()
        gate.wait(5)

    blocker = db._committer.submit(hold)
    started.wait(5)
    bad = db._committer.submit(insert("taken"))
    good = db._committer.submit(insert("b"))
    gate.set()
    blocker.result(5)
    with pytest.raises(sql.integrity_errors()):
        bad.result(5)
    assert good.result(5) is None
    assert rows(db) == [("b", 1), ("taken", 1)]


def test_sent_statements_run_in_order_and_count_their_rows(db: Engine) -> None:
    def write(conn: Connection) -> tuple[int, int, Any]:
        sql.send(conn, "INSERT INTO t VALUES ('a', 1)")
        sql.send_many(conn, "INSERT INTO t VALUES (?, ?)", [("b", 2), ("c", 3)])
        changed = sql.send(conn, "UPDATE t SET v = v + 10 WHERE k <> 'c'")
        missed = sql.send(conn, "UPDATE t SET v = 0 WHERE k = 'z'")
        total = conn.execute("SELECT sum(v) FROM t").fetchone()[0]
        return changed.rowcount, missed.rowcount, total

    assert db.write(write) == (2, 0, 26)
    assert rows(db) == [("a", 11), ("b", 12), ("c", 3)]


def test_many_writers_all_committed(db: Engine) -> None:
    def put(i: int) -> None:
        db.write(insert(f"k{i:02}", i))

    threads = [threading.Thread(target=put, args=(i,)) for i in range(48)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert rows(db) == [(f"k{i:02}", i) for i in range(48)]


BIG = 4 * 1024 * 1024  # the largest registry manifest, past any socket's buffers here
BLOB = bytes(range(256)) * (BIG // 256)


def large(conn: Connection) -> str:
    sql.send(conn, "INSERT INTO big VALUES ('sent', ?)", (BLOB,))
    conn.execute("INSERT INTO big VALUES ('waited', ?)", (BLOB,))
    return "returned"


def stored(db: Engine) -> list[tuple[Any, ...]]:
    found = db.reader().execute("SELECT k, length(v) FROM big ORDER BY k").fetchall()
    return [tuple(r) for r in found]


def cut_writers(db: Engine) -> None:
    """End the server side of a committer stuck waiting, so that the test fails rather
    than hangs (its connection's end wakes it)."""
    if isinstance(db, PostgresDatabase):
        with psycopg.connect(db.url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


def test_a_multi_mib_statement_commits_with_its_batch(db: Engine) -> None:
    """Issue 18: in pipeline mode a 4 MiB registry manifest hung until the client's timeout."""
    try:
        first, big, last = one_batch(db, [insert("a"), large, insert("c")])
    except TimeoutError:
        cut_writers(db)
        pytest.fail("the batch of a 4 MiB statement did not end")
    assert big.result() == "returned"
    assert first.result() is None and last.result() is None
    assert stored(db) == [("sent", BIG), ("waited", BIG)]
    assert rows(db) == [("a", 1), ("c", 1)]


def test_a_multi_mib_statement_waits_for_the_write_lock(postgres: PostgresServer) -> None:
    """Sent while another node holds the cluster's write lock (PostgreSQL's: SQLite has no
    nodes): PostgreSQL reads none of it until the lock is free, and the batch goes on once it
    is."""
    db = PostgresDatabase(postgres.new_database(), SCHEMA, migrate_schema=True)
    try:
        _waits_for_the_write_lock(db)
    finally:
        db.close()


def _waits_for_the_write_lock(db: PostgresDatabase) -> None:
    with psycopg.connect(db.url, autocommit=True) as other:
        other.execute("BEGIN")
        other.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        future = db._committer.submit(large)
        time.sleep(0.5)
        assert not future.done()
        other.execute("COMMIT")
    try:
        assert future.result(10) == "returned"
    except TimeoutError:
        cut_writers(db)
        pytest.fail("the batch of a 4 MiB statement did not end")
    assert stored(db) == [("sent", BIG), ("waited", BIG)]


def test_a_failing_multi_mib_statement_fails_its_write_alone(db: Engine) -> None:
    db.write(lambda conn: conn.execute("INSERT INTO big VALUES ('waited', ?)", (b"\0",)))
    try:
        first, big, last = one_batch(db, [insert("a"), large, insert("c")])
    except TimeoutError:
        cut_writers(db)
        pytest.fail("the batch of a 4 MiB statement did not end")
    with pytest.raises(sql.integrity_errors()):
        big.result()
    assert first.result() is None and last.result() is None
    assert stored(db) == [("waited", 1)]
    assert rows(db) == [("a", 1), ("c", 1)]


def test_a_refusal_after_a_multi_mib_statement_sent_undoes_it(db: Engine) -> None:
    """The write ends with its statement still in libpq's buffer (the rollback's path)."""

    def refuse(conn: Connection) -> None:
        sql.send(conn, "INSERT INTO big VALUES ('sent', ?)", (BLOB,))
        raise ValueError("refused")

    try:
        first, bad, last = one_batch(db, [insert("a"), refuse, insert("c")])
    except TimeoutError:
        cut_writers(db)
        pytest.fail("the batch of a 4 MiB statement did not end")
    with pytest.raises(ValueError):
        bad.result()
    assert first.result() is None and last.result() is None
    assert stored(db) == []
    assert rows(db) == [("a", 1), ("c", 1)]

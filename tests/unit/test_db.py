"""The group committer: batches share a commit, a refused write does not undo its neighbours."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from nexq.core.db import Committer, Database, migrate

SCHEMA = ["CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"]


def test_migrations_apply_once(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    assert migrate(conn, SCHEMA) == 1
    assert migrate(conn, SCHEMA) == 1
    assert migrate(conn, [*SCHEMA, "CREATE TABLE u (x)"]) == 2
    assert conn.execute("PRAGMA user_version").fetchone() == (2,)


def test_refused_write_keeps_neighbours(tmp_path: Path) -> None:
    db = Database(tmp_path / "d.db", tmp_path, SCHEMA)
    try:
        gate = threading.Event()
        # Hold the commit stage so the next writes land in one batch.
        blocker = db._committer.submit(lambda conn: gate.wait(5))
        good = db._committer.submit(lambda conn: conn.execute("INSERT INTO t VALUES ('a', 1)"))

        def refuse(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t VALUES ('b', 2)")
            raise ValueError("refused")

        bad = db._committer.submit(refuse)
        flushed = db._committer.submit(
            lambda conn: conn.execute("INSERT INTO t VALUES ('c', 3)"), sync_blobs=True
        )
        gate.set()
        blocker.result(5)
        good.result(5)
        flushed.result(5)
        with pytest.raises(ValueError):
            bad.result(5)
        rows = db.reader().execute("SELECT k FROM t ORDER BY k").fetchall()
        assert rows == [("a",), ("c",)]
    finally:
        db.close()


def test_concurrent_writers_all_committed(tmp_path: Path) -> None:
    committer_db = Database(tmp_path / "c.db", tmp_path, SCHEMA)
    try:

        def put(i: int) -> None:
            committer_db.write(
                lambda conn: conn.execute("INSERT INTO t VALUES (?, ?)", (f"k{i}", i)),
                sync_blobs=i % 2 == 0,
            )

        threads = [threading.Thread(target=put, args=(i,)) for i in range(64)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert committer_db.reader().execute("SELECT count(*) FROM t").fetchone() == (64,)
    finally:
        committer_db.close()
    reopened = sqlite3.connect(tmp_path / "c.db")
    assert reopened.execute("SELECT sum(v) FROM t").fetchone() == (sum(range(64)),)


def test_close_flushes_queued_writes(tmp_path: Path) -> None:
    committer = Committer(tmp_path / "q.db", tmp_path)
    conn = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    migrate(conn, SCHEMA)
    futures = [
        committer.submit(lambda c, i=i: c.execute("INSERT INTO t VALUES (?, ?)", (str(i), i)))
        for i in range(10)
    ]
    committer.close()
    assert all(f.done() for f in futures)
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (10,)

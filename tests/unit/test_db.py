"""The group committer: batches share a commit, a refused write does not undo its neighbours."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nexq.core.db import (
    READER_CACHE_KIB,
    Committer,
    Database,
    Migration,
    Schema,
    SchemaMismatch,
    migrate,
)

TABLE = Migration("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
SCHEMA = [Schema("test", [TABLE])]


def test_migrations_apply_once_per_owner(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    assert migrate(conn, SCHEMA) == {"test": 1}
    assert migrate(conn, SCHEMA) == {"test": 1}
    more = [Schema("test", [TABLE, Migration("CREATE TABLE u (x)")]), Schema("other", [])]
    assert migrate(conn, more) == {"test": 2, "other": 0}
    other = Schema("other", [Migration("CREATE TABLE o (x)")])
    assert migrate(conn, [more[0], other]) == {"test": 2, "other": 1}
    rows = conn.execute("SELECT owner, version FROM schema_versions ORDER BY owner").fetchall()
    assert rows == [("other", 1), ("test", 2)]


def test_a_newer_schema_is_refused_never_lowered(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "n.db", isolation_level=None)
    migrate(conn, [Schema("test", [TABLE, Migration("CREATE TABLE u (x)")])])
    with pytest.raises(SchemaMismatch, match="newer than this Nexq knows"):
        migrate(conn, SCHEMA)  # an older Nexq: one migration of the two
    assert conn.execute("SELECT version FROM schema_versions").fetchall() == [(2,)]


def test_a_failed_migration_applies_nothing(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "f.db", isolation_level=None)
    broken = [Schema("test", [TABLE, Migration("CREATE TABLE t (again)")])]
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, broken)
    assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_refused_write_keeps_neighbours(tmp_path: Path) -> None:
    db = Database(tmp_path / "d.db", SCHEMA)
    try:
        gate = threading.Event()
        # Hold the commit stage so the next writes land in one batch.
        blocker = db._committer.submit(lambda conn: gate.wait(5))
        good = db._committer.submit(lambda conn: conn.execute("INSERT INTO t VALUES ('a', 1)"))

        def refuse(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t VALUES ('b', 2)")
            raise ValueError("refused")

        bad = db._committer.submit(refuse)
        flushed = db._committer.submit(lambda conn: conn.execute("INSERT INTO t VALUES ('c', 3)"))
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
    committer_db = Database(tmp_path / "c.db", SCHEMA)
    try:

        def put(i: int) -> None:
            committer_db.write(
                lambda conn: conn.execute("INSERT INTO t VALUES (?, ?)", (f"k{i}", i))
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
    committer = Committer(tmp_path / "q.db")
    conn = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    migrate(conn, SCHEMA)
    futures = [
        committer.submit(lambda c, i=i: c.execute("INSERT INTO t VALUES (?, ?)", (str(i), i)))
        for i in range(10)
    ]
    committer.close()
    assert all(f.done() for f in futures)
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (10,)


def _blocked_on_lock(pid: int) -> bool:
    """Whether ``pid`` waits in the kernel for a file lock (a ``->`` line of /proc/locks)."""
    with open("/proc/locks") as locks:
        return any(line.split()[1] == "->" and line.split()[5] == str(pid) for line in locks)


def test_processes_take_turns_through_a_file_lock_not_sqlites_polling(tmp_path: Path) -> None:
    """A second process's batch waits in the kernel for the first one's to end (and is let in
    when it does), never in SQLite's busy handler, whose sleeps stalled PUTs for seconds. The
    wait is no record lock: the first process waiting meanwhile for a record lock the second
    holds (the rate limiter's) is no deadlock, and must not be refused as one (EDEADLK)."""
    path = tmp_path / "turns.db"
    db = Database(path, SCHEMA)
    # The other process opens (and migrates) the database first, then writes when told.
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys; from pathlib import Path; from nexq.core.db import Database;"
            "from tests.unit.test_db import SCHEMA;"
            "db = Database(Path(sys.argv[1]), SCHEMA);"
            "held = os.open(sys.argv[2], os.O_RDWR | os.O_CREAT); fcntl.lockf(held, fcntl.LOCK_EX);"
            "print('ready', flush=True); sys.stdin.readline();"
            "db.write(lambda c: c.execute(\"INSERT INTO t VALUES ('second', 2)\"));"
            "fcntl.lockf(held, fcntl.LOCK_UN); db.close()",
            str(path),
            str(tmp_path / "rates.lock"),
        ],
        cwd=Path(__file__).parents[2],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert other.stdin is not None and other.stdout is not None
    assert other.stdout.readline() == "ready\n"
    gate, started = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES ('first', 1)")
        started.set()
        gate.wait(10)

    holding = db._committer.submit(hold)
    assert started.wait(5)
    other.stdin.write("go\n")
    other.stdin.flush()
    try:
        deadline = time.monotonic() + 20
        while not _blocked_on_lock(other.pid):
            assert other.poll() is None, "the other process ended without waiting in the kernel"
            assert time.monotonic() < deadline, "the other process never waited for its turn"
            time.sleep(0.01)
        rates = os.open(tmp_path / "rates.lock", os.O_RDWR)
        waited: list[BaseException | None] = []

        def take_rates() -> None:
            try:
                fcntl.lockf(rates, fcntl.LOCK_EX)
                waited.append(None)
            except OSError as exc:
                waited.append(exc)

        taker = threading.Thread(target=take_rates)
        taker.start()
        taker.join(0.5)  # an EDEADLK answer is immediate; a sound wait is still waiting
        gate.set()
        holding.result(5)
        assert other.wait(20) == 0
        taker.join(10)
        os.close(rates)
        assert waited == [None]
        rows = db.reader().execute("SELECT k FROM t ORDER BY rowid").fetchall()
        assert rows == [("first",), ("second",)]
    finally:
        gate.set()
        if other.poll() is None:
            other.kill()
        db.close()


def test_each_threads_reader_keeps_a_small_page_cache(tmp_path: Path) -> None:
    # Over 30 threads each hold a read connection: with SQLite's default cache each, a
    # worker kept 35 MiB after a few listings.
    db = Database(tmp_path / "r.db", SCHEMA)
    try:
        sizes: list[int] = []
        thread = threading.Thread(
            target=lambda: sizes.append(db.reader().execute("PRAGMA cache_size").fetchone()[0])
        )
        thread.start()
        thread.join()
        assert sizes == [-READER_CACHE_KIB]
        assert READER_CACHE_KIB <= 512
    finally:
        db.close()

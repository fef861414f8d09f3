"""A full disk is named (StorageFull), and blob writes keep a reserve free for metadata."""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from nexq.core.db import Database, Migration, Schema
from nexq.core.errors import StorageFull, full_disk_as_domain
from nexq.storage.blobs.space import MIN_RESERVE, FreeSpace

BLOBS = [Schema("test", [Migration("CREATE TABLE t (v BLOB)")])]


def test_enospc_and_edquot_are_storage_full_other_errors_are_not() -> None:
    for code in (errno.ENOSPC, errno.EDQUOT):
        named = full_disk_as_domain(OSError(code, os.strerror(code)))
        assert isinstance(named, StorageFull) and isinstance(named.__cause__, OSError)
    other = OSError(errno.EACCES, "denied")
    assert full_disk_as_domain(other) is other


def test_a_full_database_is_storage_full_for_the_writer(tmp_path: Path) -> None:
    db = Database(tmp_path / "d.db", BLOBS)
    try:
        db.write(lambda conn: conn.execute("INSERT INTO t VALUES (zeroblob(100))"))

        def overflow(conn: sqlite3.Connection) -> None:
            # SQLite answers SQLITE_FULL when a database may not grow: as on a full disk.
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages}")
            conn.execute("INSERT INTO t VALUES (zeroblob(1000000))")

        with pytest.raises(StorageFull):
            db.write(overflow)
        # The refused write left nothing, and the committer goes on once there is room.
        assert db.reader().execute("SELECT count(*) FROM t").fetchone() == (1,)

        def roomy(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA max_page_count = 1073741823")
            conn.execute("INSERT INTO t VALUES (zeroblob(1000000))")

        db.write(roomy)
        assert db.reader().execute("SELECT count(*) FROM t").fetchone() == (2,)
    finally:
        db.close()


def test_free_space_refuses_what_would_eat_the_reserve(tmp_path: Path) -> None:
    space = FreeSpace(tmp_path)
    st = os.statvfs(tmp_path)
    reserve = max(st.f_blocks * st.f_frsize // 100, MIN_RESERVE)
    assert abs(space.room() - (st.f_bavail * st.f_frsize - reserve)) < 64 * 1024 * 1024
    space.take(4096)
    with pytest.raises(StorageFull):
        space.take(space.room() + 1)
    space.take(4096)  # still fine after a refusal


def test_a_batch_lost_to_a_full_disk_tells_every_writer(tmp_path: Path) -> None:
    db = Database(tmp_path / "d.db", BLOBS)
    try:
        gate, started = threading.Event(), threading.Event()

        def block(conn: sqlite3.Connection) -> None:
            started.set()
            gate.wait(5)

        # The blocker must be a batch of its own, already running: then the next two writes
        # queue behind it and are committed (or lost) together, whatever the machine's speed.
        blocker = db._committer.submit(block)
        assert started.wait(5)
        neighbour = db._committer.submit(lambda conn: conn.execute("INSERT INTO t VALUES (1)"))

        def overflow(conn: sqlite3.Connection) -> None:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages}")
            conn.execute("INSERT INTO t VALUES (zeroblob(1000000))")

        full = db._committer.submit(overflow)
        gate.set()
        # SQLite rolled back the whole transaction: the neighbour's write is gone with it,
        # so it must not be acknowledged.
        for future in (neighbour, full):
            with pytest.raises(StorageFull):
                future.result(10)
        assert blocker.exception(10) is None  # its own batch, before the lost one
        assert db.reader().execute("SELECT count(*) FROM t").fetchone() == (0,)
    finally:
        db.close()

"""Leases (``Database.lease``): one holder in the whole installation, taken over as soon as
the holder dies. Each engine is held by another process, then that process is killed -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from nexq.app import SCHEMAS
from nexq.core.db import Database
from nexq.core.postgres import PostgresDatabase
from nexq.core.sql import Database as AnyDatabase
from tests.postgres import PostgresServer

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from nexq.app import SCHEMAS
    from nexq.core.db import Database
    from nexq.core.postgres import PostgresDatabase

    where = sys.argv[1]
    if where.startswith("postgresql://"):
        db = PostgresDatabase(where, SCHEMAS)
    else:
        db = Database(Path(where), SCHEMAS)
    lease = db.lease("collect garbage")
    print("held" if lease.held() else "refused", flush=True)
    sys.stdin.read()  # hold it until killed
    """
)


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        Database(tmp_path / "meta.db", SCHEMAS).close()
        yield str(tmp_path / "meta.db")
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.new_database()
        PostgresDatabase(url, SCHEMAS, migrate_schema=True).close()
        yield url


def _open(where: str) -> AnyDatabase:
    if where.startswith("postgresql://"):
        return PostgresDatabase(where, SCHEMAS)
    return Database(Path(where), SCHEMAS)


def _holder(where: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, where],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def test_one_holder_and_taken_over_when_it_dies(where: str) -> None:
    holder = _holder(where)
    db = _open(where)
    try:
        lease = db.lease("collect garbage")
        assert not lease.held()
        assert db.lease("flush usage counts").held()  # another name is another lease
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        # PostgreSQL ends the dead holder's session when its backend reads the closed socket,
        # a moment after the process is gone: the lease is free within that moment.
        deadline = time.monotonic() + 5
        while not lease.held():
            assert time.monotonic() < deadline, "not taken over within 5 s of the holder's death"
            time.sleep(0.01)
        assert lease.held()  # kept, not taken again
        lease.release()
        second = _holder(where)  # released: another process takes it
        second.kill()
        second.wait()
    finally:
        if holder.poll() is None:
            holder.kill()
        db.close()


def test_a_second_lease_of_a_name_in_one_process_is_refused(where: str) -> None:
    db = _open(where)
    try:
        first, second = db.lease("collect garbage"), db.lease("collect garbage")
        assert first.held()
        assert not second.held()
        first.release()
        assert second.held()
        second.release()
    finally:
        db.close()


def test_a_process_holds_its_leases_on_one_session(postgres: PostgresServer) -> None:
    """A connection per lease, and one more at each try of a lease held elsewhere, cost each
    worker a connection per job and period."""
    url = postgres.new_database()
    db = PostgresDatabase(url, SCHEMAS, migrate_schema=True)
    try:
        leases = [db.lease(name) for name in ("a", "b", "c")]
        assert all(lease.held() for lease in leases)
        with psycopg.connect(url) as watcher:
            holders = watcher.execute(
                "SELECT DISTINCT pid FROM pg_locks WHERE locktype = 'advisory'"
            ).fetchall()
        assert len(holders) == 1
        leases[1].release()
        assert leases[0].held() and leases[2].held() and leases[1].held()
    finally:
        db.close()

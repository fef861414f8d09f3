"""The metadata database on PostgreSQL: the engine for several Nexq nodes.

The stores' SQL is written once (``core.sql``); this module makes PostgreSQL read it as
SQLite does:

- ``?`` placeholders become ``%s`` (a literal ``%`` is doubled), once per statement text;
- in migrations, column types take their PostgreSQL names (``INTEGER`` → ``BIGINT``,
  ``REAL`` → ``DOUBLE PRECISION``, ``BLOB`` → ``BYTEA``), ``WITHOUT ROWID`` goes, and text
  compares byte by byte (``COLLATE "C"``, SQLite's ``BINARY``: S3 lists keys in UTF-8 byte
  order). SQLite's ``NOCASE`` has no PostgreSQL twin; a column that needs it also has an
  index on ``lower(column)``, which both engines fold the same way (ASCII letters only:
  SQLite's ``lower`` and PostgreSQL's under ``COLLATE "C"``), and the queries use it;
- Python booleans are stored as 0/1 and an exact ``sum()`` comes back as an ``int``, as
  SQLite gives them.

Writes keep the group committer: one transaction per batch, under a transaction-scoped
advisory lock, so the batches of every node run one at a time, as SQLite's writers do. A
check that reads and then writes in one write (a quota, a ticket number) therefore sees
every write committed before it, on any node.

The lock is held for every round trip of its batch, so the batch runs in pipeline mode:
BEGIN, the lock and each write's SAVEPOINT are sent without waiting for their answers, as
is every statement a write sends with :func:`nexq.core.sql.send`, and its RELEASE; the
connection waits for PostgreSQL only when a write needs a result, and when the write ends
if something it sent has not answered yet (a statement of the write that failed is that
write's failure alone, as if it had run by itself). A PUT of a new key waits twice (the
conditions' SELECT; the counters' check, which covers the INSERT sent before it) instead
of seven times, plus the COMMIT its batch shares.

Reads borrow a connection from a small pool for one statement and return it at once; each
statement sees what was committed when it started, as a SQLite reader does. A read made on
an event loop's thread where it may be awaited (``core.loop_waits``: a GET's auth generation
and object row) runs on an asynchronous connection of that loop's own, and the loop serves
other requests meanwhile instead of blocking for the round trip (``core.postgres_reads``).

How the SQL is read is in ``core.postgres_sql``; leases across nodes in
``core.postgres_leases``.
"""

from __future__ import annotations

import contextlib
import select
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from nexq.core.db import Committer, Schema, SchemaMismatch, newer
from nexq.core.postgres_leases import AdvisoryLease, LeaseSession
from nexq.core.postgres_reads import PooledReader
from nexq.core.postgres_sql import configure, connect, ddl, reachable, statement
from nexq.core.sql import Cursor, T, Write

__all__ = ["WRITE_LOCK", "PostgresDatabase", "connect", "ddl", "migrate", "statement"]

# The one advisory lock every node's committer takes inside its batch's transaction.
WRITE_LOCK = 0x6E657871  # "nexq"
# Taken by migrate, so that two nodes starting at once do not both run a migration.
MIGRATE_LOCK = WRITE_LOCK + 1


class _Connection:
    """A psycopg connection that reads the stores' SQL (``?`` placeholders).

    In pipeline mode (the committer's batch) :meth:`execute` still waits for its statement,
    so a write sees its errors where it runs it; :meth:`send` does not wait."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn
        self._pipeline: psycopg.Pipeline | None = None
        self._leave = contextlib.ExitStack()
        # Statements were sent since the last wait, or the last wait failed: what the
        # transaction holds is not known yet.
        self.unanswered = False

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        with reachable():
            cursor = self.raw.execute(statement(sql), parameters)
            if self._pipeline is not None:
                self.unanswered = True
                self.wait()
            return cursor

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        cursor = self.send_many(sql, parameters)
        self.wait()
        return cursor

    def send(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        """Run ``sql`` after what was sent before it, without waiting for it in pipeline
        mode (its cursor waits when it is read)."""
        if self._pipeline is None:
            return self.execute(sql, parameters)
        self.unanswered = True
        with reachable():
            return _Sent(self.raw.execute(statement(sql), parameters), self)

    def send_many(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        """:meth:`send` for each of ``parameters``."""
        cursor = self.raw.cursor()
        self.unanswered = self._pipeline is not None
        with reachable():
            cursor.executemany(statement(sql), parameters)
        return cursor

    @property
    def pipelined(self) -> bool:
        return self._pipeline is not None

    def wait(self) -> None:
        """Wait until every statement sent has run; raises the first one's error."""
        if self._pipeline is not None:
            with reachable():
                self._send_all()
                self._pipeline.sync()
            self.unanswered = False

    def _send_all(self) -> None:
        """Hand PostgreSQL what libpq still holds of the statements sent.

        psycopg's ``Pipeline.sync()`` flushes libpq's buffer once after queueing the Sync and
        then only waits to read: a statement larger than the socket's buffers (a 4 MiB
        registry manifest) kept its tail and the Sync in libpq while PostgreSQL waited for
        the rest of the message, until the client gave up (issue 18). Answers are read
        meanwhile, so that PostgreSQL, blocked writing them, goes on reading ours."""
        pgconn = self.raw.pgconn
        poller: select.poll | None = None
        while pgconn.flush():
            if poller is None:
                poller = select.poll()
                poller.register(pgconn.socket, select.POLLIN | select.POLLOUT)
            for _, events in poller.poll():
                if events & ~select.POLLOUT:  # readable, or an error consume_input reports
                    pgconn.consume_input()

    def enter_pipeline(self) -> None:
        with reachable():
            self._pipeline = self._leave.enter_context(self.raw.pipeline())

    def finish_pipeline(self) -> None:
        """Back to one statement at a time, once every statement sent has run (a single
        wait); raises the first one's error."""
        self._pipeline = None
        self.unanswered = False
        try:
            with reachable():
                self._leave.close()
        finally:
            self._unstick()

    def leave_pipeline(self) -> None:
        """Back to one statement at a time, once every statement sent has answered (their
        errors are dropped: the caller learnt of the first already, or learns from the
        transaction's status)."""
        if self._pipeline is None:
            return
        self._pipeline = None
        self.unanswered = False
        with contextlib.suppress(psycopg.Error):
            self._leave.close()
        self._unstick()

    def _unstick(self) -> None:
        if self.raw.pgconn.pipeline_status != psycopg.pq.PipelineStatus.OFF:
            self.raw.close()  # could not leave pipeline mode: the committer opens another

    def close(self) -> None:
        self.leave_pipeline()
        self.raw.close()


class _Sent:
    """The cursor of a statement sent in pipeline mode: reading it waits for it."""

    def __init__(self, cursor: psycopg.Cursor[Any], conn: _Connection) -> None:
        self._cursor = cursor
        self._conn = conn

    def _ready(self) -> psycopg.Cursor[Any]:
        if self._cursor.pgresult is None:
            self._conn.wait()
        return self._cursor

    @property
    def rowcount(self) -> int:
        return self._ready().rowcount

    def fetchone(self) -> Any:
        return self._ready().fetchone()

    def fetchall(self) -> list[Any]:
        return self._ready().fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._ready())


class _PostgresWriter:
    """The committer's write connection (see :class:`nexq.core.db.Writer`), in pipeline mode
    for the length of a batch (module doc)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: _Connection | None = None

    def open(self) -> _Connection:
        self._conn = _Connection(connect(self._url))
        return self._conn

    def begin(self, conn: _Connection) -> None:
        conn.enter_pipeline()
        conn.send("BEGIN")
        # PostgreSQL queues the waiters of a lock: the next writer is let in at once. The
        # batch's first wait covers this one.
        conn.send("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK,))

    def mark(self, conn: _Connection) -> None:
        conn.send("SAVEPOINT job")

    def keep(self, conn: _Connection) -> None:
        # The write is done once what it sent has answered; the RELEASE itself cannot be
        # refused, and the next wait (the next write's, or the COMMIT's) covers it.
        if conn.unanswered:
            conn.wait()
        conn.send("RELEASE job")

    def undo(self, conn: _Connection) -> bool:
        if conn.pipelined and not conn.unanswered:
            # Refused by the write itself (a condition, a quota) after every statement it
            # sent had run: the transaction is sound, and the next wait covers these two.
            conn.send("ROLLBACK TO job")
            conn.send("RELEASE job")
            return True
        # After an error PostgreSQL skips what was sent until the pipeline's next sync:
        # the rollback runs outside it, and the rest of the batch in a new one.
        if not self.in_transaction(conn):
            return False
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        conn.enter_pipeline()
        return True

    def commit(self, conn: _Connection) -> None:
        conn.send("COMMIT")
        conn.finish_pipeline()  # the wait for the COMMIT is the pipeline's last

    def end(self) -> None:
        # The advisory lock ends with the transaction.
        if self._conn is not None:
            self._conn.leave_pipeline()

    def in_transaction(self, conn: _Connection) -> bool:
        conn.leave_pipeline()  # the status is known once everything sent has answered
        status = conn.raw.info.transaction_status
        return status in (
            psycopg.pq.TransactionStatus.INTRANS,
            psycopg.pq.TransactionStatus.INERROR,
        )

    def usable(self, conn: _Connection) -> bool:
        return not conn.raw.closed and not conn.raw.broken

    def close(self) -> None:
        return None


def migrate(url: str, schemas: Sequence[Schema]) -> dict[str, int]:
    """Apply each owner's migrations not applied yet (``nexq admin migrate``); the version of
    each owner afterwards. Runs in one transaction: a failed step leaves nothing behind."""
    with connect(url) as conn, conn.transaction():
        conn.execute(statement("SELECT pg_advisory_xact_lock(?)"), (MIGRATE_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions "
            '(owner TEXT COLLATE "C" PRIMARY KEY, version BIGINT NOT NULL)'
        )
        versions = dict(conn.execute("SELECT owner, version FROM schema_versions").fetchall())
        for schema in schemas:
            done = versions.get(schema.owner, 0)
            if done > len(schema.migrations):
                raise newer(schema.owner, done, len(schema.migrations))
            for migration in schema.migrations[done:]:
                for sql in migration.sql.split(";\n"):
                    if sql.strip():
                        conn.execute(statement(ddl(sql)))
            versions[schema.owner] = len(schema.migrations)
            conn.execute(
                "INSERT INTO schema_versions(owner, version) VALUES (%s, %s) "
                "ON CONFLICT (owner) DO UPDATE SET version = excluded.version",
                (schema.owner, versions[schema.owner]),
            )
    return {schema.owner: versions[schema.owner] for schema in schemas}


def versions(url: str) -> dict[str, int]:
    """Each owner's schema version in the database (empty if it was never migrated)."""
    with connect(url) as conn:
        exists = conn.execute("SELECT to_regclass('schema_versions') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return {}
        return dict(conn.execute("SELECT owner, version FROM schema_versions").fetchall())


def holds_data(url: str) -> bool:
    """Whether anything was ever made in the database: keys, accounts and buckets move the
    kernel's auth generation (a database that was only migrated holds nothing sealed)."""
    if "core" not in versions(url):
        return False
    with connect(url) as conn:
        row = conn.execute("SELECT value FROM generations WHERE name = 'auth'").fetchone()
    return bool(row and row[0])


def check_schema(url: str, schemas: Sequence[Schema]) -> None:
    """Refuse a database whose schema this version does not know exactly: behind (run
    ``nexq admin migrate``) or ahead (a newer Nexq migrated it)."""
    found = versions(url)
    for schema in schemas:
        have, want = found.get(schema.owner, 0), len(schema.migrations)
        if have < want:
            raise SchemaMismatch(
                f"the database's {schema.owner} tables are at version {have}, this Nexq "
                f"needs {want}: run `nexq admin migrate --database …` first"
            )
        if have > want:
            raise newer(schema.owner, have, want)


class PostgresDatabase:
    """The metadata database of one process on PostgreSQL (a :class:`nexq.core.sql.Database`)."""

    engine = "postgresql"

    def __init__(
        self,
        url: str,
        schemas: Sequence[Schema],
        *,
        migrate_schema: bool = False,
        readers: int = 8,
    ) -> None:
        self.url = url
        if migrate_schema:
            migrate(url, schemas)
        check_schema(url, schemas)
        self._pool: ConnectionPool[Any] = ConnectionPool(
            url,
            min_size=1,
            max_size=readers,
            kwargs={"autocommit": True},
            configure=configure,
            open=True,
            name="nexq-readers",
        )
        self._reader = PooledReader(self._pool, url, readers)
        self._committer = Committer(_PostgresWriter(url))
        self._leases = LeaseSession(url)

    def reader(self) -> PooledReader:
        return self._reader

    def write(self, write: Write[T]) -> T:
        return self._committer.run(write)

    def write_later(self, write: Write[Any]) -> None:
        self._committer.submit(write)

    def lease(self, name: str) -> AdvisoryLease:
        return AdvisoryLease(self._leases, name)

    def close(self) -> None:
        self._committer.close()
        self._reader.close()
        with self._leases.lock:
            self._leases.drop()

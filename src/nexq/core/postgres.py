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
other requests meanwhile instead of blocking for the round trip.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import hashlib
import re
import select
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import adapt, postgres, pq
from psycopg_pool import ConnectionPool, PoolTimeout

from nexq.core import loop_waits
from nexq.core.db import Committer, Schema, SchemaMismatch, newer
from nexq.core.errors import Unavailable
from nexq.core.sql import Cursor, T, Write

# The one advisory lock every node's committer takes inside its batch's transaction.
WRITE_LOCK = 0x6E657871  # "nexq"
# How long a read waits for a pooled connection before the request is answered 503.
READ_WAIT = 5.0
# Taken by migrate, so that two nodes starting at once do not both run a migration.
MIGRATE_LOCK = WRITE_LOCK + 1


@functools.lru_cache(maxsize=4096)
def statement(sql: str) -> str:
    """``sql`` with SQLite's ``?`` placeholders as psycopg's ``%s`` (outside quotes)."""
    out: list[str] = []
    quote = ""
    for char in sql:
        if quote:
            if char == quote:
                quote = ""
            out.append("%%" if char == "%" else char)
        elif char in "'\"":
            quote = char
            out.append(char)
        elif char == "?":
            out.append("%s")
        elif char == "%":
            out.append("%%")
        else:
            out.append(char)
    return "".join(out)


_DDL_RULES = (
    (re.compile(r"\)\s*WITHOUT ROWID", re.IGNORECASE), ")"),
    (re.compile(r"\s+COLLATE NOCASE\b", re.IGNORECASE), ""),
    (re.compile(r"\bTEXT\b(?! COLLATE)"), 'TEXT COLLATE "C"'),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
)


def ddl(sql: str) -> str:
    """A migration statement written for SQLite, as PostgreSQL must read it (module doc)."""
    for pattern, replacement in _DDL_RULES:
        sql = pattern.sub(replacement, sql)
    return sql


class _BoolAsInteger(adapt.Dumper):
    """SQLite has no boolean: the stores' flags are 0/1 integers."""

    oid = postgres.types["int8"].oid

    def dump(self, obj: bool) -> bytes:
        return b"1" if obj else b"0"


class _ExactNumber(adapt.Loader):
    """``sum()`` of integers is ``numeric`` in PostgreSQL, an integer in SQLite."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        return float(text) if "." in text or "e" in text.lower() else int(text)


def _configure(conn: psycopg.BaseConnection[Any]) -> None:
    conn.adapters.register_dumper(bool, _BoolAsInteger)
    conn.adapters.register_loader("numeric", _ExactNumber)


def _connect(url: str) -> psycopg.Connection[Any]:
    # psycopg prepares a statement once a connection ran it five times, so the hot path's few
    # queries are planned once per connection (a pooler in front must allow prepared
    # statements: PgBouncer 1.21+ in transaction mode does).
    conn = psycopg.connect(url, autocommit=True)
    _configure(conn)
    return conn


@contextlib.contextmanager
def _reachable() -> Iterator[None]:
    """A lost or refused connection (or a pool that found none in time) as
    :class:`Unavailable`, which every protocol answers with a retryable 503."""
    try:
        yield
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise Unavailable() from exc


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
        with _reachable():
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
        with _reachable():
            return _Sent(self.raw.execute(statement(sql), parameters), self)

    def send_many(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        """:meth:`send` for each of ``parameters``."""
        cursor = self.raw.cursor()
        self.unanswered = self._pipeline is not None
        with _reachable():
            cursor.executemany(statement(sql), parameters)
        return cursor

    @property
    def pipelined(self) -> bool:
        return self._pipeline is not None

    def wait(self) -> None:
        """Wait until every statement sent has run; raises the first one's error."""
        if self._pipeline is not None:
            with _reachable():
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
        with _reachable():
            self._pipeline = self._leave.enter_context(self.raw.pipeline())

    def finish_pipeline(self) -> None:
        """Back to one statement at a time, once every statement sent has run (a single
        wait); raises the first one's error."""
        self._pipeline = None
        self.unanswered = False
        try:
            with _reachable():
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


class _Rows:
    """A statement's rows, read in full before the connection went back to the pool."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Any]:
        rest = self._rows[self._next :]
        self._next = len(self._rows)
        return rest

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


def _has_rows(cursor: psycopg.Cursor[Any] | psycopg.AsyncCursor[Any]) -> bool:
    """Whether the statement returned rows (``cursor.description`` makes a Column object per
    column to say so: 3 % of a GET on PostgreSQL, py-spy)."""
    result = cursor.pgresult
    return result is not None and result.status == pq.ExecStatus.TUPLES_OK


class _LoopReaders:
    """Asynchronous connections of one event loop, each lent to one awaited read at a time.

    Their own, not a pool shared with threads: a read that waited on the loop's thread for a
    connection held by a suspended read of the same thread would never get it."""

    def __init__(self, url: str, size: int) -> None:
        self._url = url
        self._size = size
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._open = 0  # idle, lent, or being opened
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()

    async def execute(self, sql: str, parameters: Sequence[Any]) -> _Rows:
        with _reachable():
            try:
                return await self._once(sql, parameters, fresh=False)
            except psycopg.OperationalError:
                # An idle connection lost meanwhile (PostgreSQL restarted, failed over): a
                # read is safe to run again, on a new one.
                return await self._once(sql, parameters, fresh=True)

    async def _once(self, sql: str, parameters: Sequence[Any], fresh: bool) -> _Rows:
        conn = await self._borrow(fresh)
        try:
            cursor = await conn.execute(statement(sql), parameters)
            rows = await cursor.fetchall() if _has_rows(cursor) else []
            return _Rows(rows, cursor.rowcount)
        finally:
            self._give_back(conn)

    async def _borrow(self, fresh: bool) -> psycopg.AsyncConnection[Any]:
        while not self._idle and self._open >= self._size:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                await asyncio.wait_for(waiter, READ_WAIT)
            except TimeoutError:
                raise PoolTimeout(f"no connection for a read in {READ_WAIT} s") from None
            finally:
                with contextlib.suppress(ValueError):
                    self._waiting.remove(waiter)
        if self._idle and not fresh:
            return self._idle.pop()
        if self._idle:  # a new connection in place of an idle one, which may be lost too
            self._idle.pop().pgconn.finish()
            self._open -= 1
        self._open += 1
        try:
            conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        except BaseException:
            self._open -= 1
            self._wake()
            raise
        _configure(conn)
        return conn

    def _give_back(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if conn.closed or conn.broken:
            self._open -= 1
        else:
            self._idle.append(conn)
        self._wake()

    def _wake(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        """Drop the idle connections (from any thread: no await)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.pgconn.finish()


class _PooledReader:
    """Runs each statement on a pooled connection and hands back its rows (awaited by the
    event loop where ``core.loop_waits`` lets it)."""

    def __init__(self, pool: ConnectionPool[Any], url: str, loop_size: int) -> None:
        self._pool = pool
        self._url = url
        self._loop_size = loop_size
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopReaders] = (
            weakref.WeakKeyDictionary()
        )

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        if loop_waits.suspendable():
            loop = asyncio.get_running_loop()
            readers = self._loops.get(loop)
            if readers is None:
                readers = self._loops[loop] = _LoopReaders(self._url, self._loop_size)
            return loop_waits.awaited(lambda: readers.execute(sql, parameters))
        with _reachable(), self._pool.connection(timeout=READ_WAIT) as conn:
            cursor = conn.execute(statement(sql), parameters)
            rows = cursor.fetchall() if _has_rows(cursor) else []
            return _Rows(rows, cursor.rowcount)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        raise TypeError("readers do not write")

    def close(self) -> None:
        for readers in list(self._loops.values()):
            readers.close()
        self._pool.close()


class _PostgresWriter:
    """The committer's write connection (see :class:`nexq.core.db.Writer`), in pipeline mode
    for the length of a batch (module doc)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: _Connection | None = None

    def open(self) -> _Connection:
        self._conn = _Connection(_connect(self._url))
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
    with _connect(url) as conn, conn.transaction():
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
    with _connect(url) as conn:
        exists = conn.execute("SELECT to_regclass('schema_versions') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return {}
        return dict(conn.execute("SELECT owner, version FROM schema_versions").fetchall())


def holds_data(url: str) -> bool:
    """Whether anything was ever made in the database: keys, accounts and buckets move the
    kernel's auth generation (a database that was only migrated holds nothing sealed)."""
    if "core" not in versions(url):
        return False
    with _connect(url) as conn:
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


class _LeaseSession:
    """The session that holds this process's leases: one connection for all of them, kept
    open (a connection per lease, and a new one at each try of a lease held elsewhere, cost
    every worker a connection to PostgreSQL per job and period: 2 % of a busy worker's
    time, py-spy)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        # Moves when the session is lost: every lock taken on the last one went with it.
        self.generation = 0
        # The lock keys held, and by which lease: PostgreSQL grants a session a lock it
        # holds again, but a second lease of the same name in this process must be refused.
        self.holders: dict[int, AdvisoryLease] = {}

    def run(self, sql: str, *parameters: Any) -> Any:
        """The first value of ``sql``'s row, on the session (opened again if it was lost);
        psycopg.Error when PostgreSQL cannot be reached. Called with :attr:`lock` held."""
        if self._conn is None or self._conn.closed:
            self._conn = _connect(self._url)
        try:
            row = self._conn.execute(sql, parameters).fetchone()
        except psycopg.Error:
            self.drop()
            raise
        return row[0] if row else None

    def drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()  # the session's end releases its locks
            self._conn = None
            self.generation += 1
            self.holders = {}


class AdvisoryLease:
    """A lease across every node: a session advisory lock, which PostgreSQL releases when
    that session ends (a node that dies gives its leases up as its socket closes; one that
    loses the database stops holding them)."""

    def __init__(self, session: _LeaseSession, name: str) -> None:
        self._session = session
        self._key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        self._held_in: int | None = None  # the session generation it was taken in

    def held(self) -> bool:
        session = self._session
        with session.lock:
            try:
                if self._held_in == session.generation:
                    # A round trip proves the session, and with it the lock, is still there.
                    session.run("SELECT 1")
                    return True
                if self._key in session.holders:  # another lease of this name, here
                    return False
                if session.run("SELECT pg_try_advisory_lock(%s)", self._key):
                    self._held_in = session.generation
                    session.holders[self._key] = self
                    return True
            except psycopg.Error:
                pass
            self._held_in = None
            return False

    def release(self) -> None:
        session = self._session
        with session.lock:
            if self._held_in == session.generation:
                del session.holders[self._key]
                with contextlib.suppress(psycopg.Error):
                    session.run("SELECT pg_advisory_unlock(%s)", self._key)
            self._held_in = None


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
            configure=_configure,
            open=True,
            name="nexq-readers",
        )
        self._reader = _PooledReader(self._pool, url, readers)
        self._committer = Committer(_PostgresWriter(url))
        self._leases = _LeaseSession(url)

    def reader(self) -> _PooledReader:
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


def connect(url: str) -> psycopg.Connection[Any]:
    """A connection of its own that reads and writes values as the stores' connections do
    (booleans as 0/1, exact sums), in autocommit until a transaction is opened; statements
    go through :func:`statement`. For tools that copy rows in (``nexq admin move``)."""
    return _connect(url)

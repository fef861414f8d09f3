"""The metadata database: the group committer, versioned migrations, and the embedded
engine (SQLite in WAL mode). ``core.postgres`` is the engine for several nodes.

Writes go through one :class:`Committer` thread per process. It gathers every write that is
waiting, runs them in one transaction and commits once. Concurrent writers therefore share
one flush of the database instead of paying one each, and an acknowledged write is on disk
before its caller hears of it. The blob files a write names were made durable by their
writers before it was queued (``core.durability``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nexq.core import loop_waits, telemetry
from nexq.core.errors import full_disk_as_domain
from nexq.core.sql import T, Write


def connect(path: Path) -> sqlite3.Connection:
    """A connection with the pragmas every Nexq connection needs."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class SchemaMismatch(Exception):
    """The database's schema is not the one this version of Nexq was made for."""


def newer(owner: str, found: int, known: int) -> SchemaMismatch:
    """A database whose ``owner`` tables a newer Nexq migrated: never migrated "back"."""
    return SchemaMismatch(
        f"the database's {owner} tables are at version {found}, newer than this Nexq knows "
        f"({known}): upgrade this Nexq"
    )


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of a table owner's schema history."""

    sql: str  # statements separated by ";\n"
    # The number this step had in the single migration list that data directories were made
    # with before tables had owners (None for every later step).
    legacy: int | None = None


@dataclass(frozen=True, slots=True)
class Schema:
    """The history of the tables one owner (a service, or the kernel) creates and changes."""

    owner: str
    migrations: Sequence[Migration]


def migrate(conn: sqlite3.Connection, schemas: Sequence[Schema]) -> dict[str, int]:
    """Apply each owner's migrations not applied yet, owners in the order given (a table that
    another's references comes first); the version of each owner afterwards.

    Versions are kept per owner in ``schema_versions``. A database made before that table
    existed counted one global ``user_version``: its owners are adopted at the versions that
    number covered, so an existing data directory migrates in place.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        (legacy,) = conn.execute("PRAGMA user_version").fetchone()
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions "
            "(owner TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        versions = dict(conn.execute("SELECT owner, version FROM schema_versions").fetchall())
        if not versions and legacy:
            versions = {schema.owner: _adopted(schema, legacy) for schema in schemas}
        for schema in schemas:
            done = versions.get(schema.owner, 0)
            if done > len(schema.migrations):
                raise newer(schema.owner, done, len(schema.migrations))
            for migration in schema.migrations[done:]:
                for statement in migration.sql.split(";\n"):
                    if statement.strip():
                        conn.execute(statement)
            versions[schema.owner] = len(schema.migrations)
            conn.execute(
                "INSERT INTO schema_versions(owner, version) VALUES (?, ?) "
                "ON CONFLICT (owner) DO UPDATE SET version = excluded.version",
                (schema.owner, versions[schema.owner]),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return {schema.owner: versions[schema.owner] for schema in schemas}


def _adopted(schema: Schema, legacy: int) -> int:
    """How many of ``schema``'s migrations a database at global version ``legacy`` holds."""
    done = 0
    for migration in schema.migrations:
        if migration.legacy is None or migration.legacy > legacy:
            break
        done += 1
    return done


# Each read connection's page cache, in KiB (SQLite's default is 2,000). A worker has a
# read connection per thread, over 30 of them: after a few listings, each had filled its
# cache, and a worker at rest kept 35 MiB more than before them (bench/run.py's list
# workload). A reader's cache is emptied anyway whenever a write committed since its last
# read, and the operating system's page cache holds the file; this keeps the interior
# pages of the indexes a lookup walks.
READER_CACHE_KIB = 512


class Readers:
    """One read connection per thread, so lookups never wait on the writer."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()

    def get(self) -> sqlite3.Connection:
        """This thread's read connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self._path)
            conn.execute("PRAGMA query_only=ON")
            conn.execute(f"PRAGMA cache_size=-{READER_CACHE_KIB}")
            self._local.conn = conn
        return conn


class _Job:
    __slots__ = ("future", "write")

    def __init__(self, write: Write[Any]) -> None:
        self.write = write
        self.future: Future[Any] = Future()


class Writer(Protocol):
    """How the committer holds its engine's one write connection."""

    def open(self) -> Any:
        """A new write connection (statements run in autocommit unless BEGIN is sent)."""
        ...

    def begin(self, conn: Any) -> None:
        """Start the batch's transaction, taking the engine's write lock: writers of every
        process (and every node) run one batch at a time, so a write that reads, checks and
        changes (a quota, a counter, a number) sees every write committed before it."""
        ...

    def end(self) -> None:
        """After the batch's commit or rollback (or a failed :meth:`begin`): let the next
        writer in."""
        ...

    def mark(self, conn: Any) -> None:
        """Open the savepoint of the batch's next write."""
        ...

    def keep(self, conn: Any) -> None:
        """Release the write's savepoint: its changes join the batch. Raises what any
        statement of the write raised (a write's statements may still be running)."""
        ...

    def undo(self, conn: Any) -> bool:
        """Roll the failed write back to its savepoint and release it; False (nothing done)
        if the batch's transaction is lost as a whole."""
        ...

    def commit(self, conn: Any) -> None:
        """Commit the batch's transaction."""
        ...

    def in_transaction(self, conn: Any) -> bool:
        """Whether ``conn`` is still inside the batch's transaction."""
        ...

    def usable(self, conn: Any) -> bool:
        """False once the connection is lost; the committer opens another."""
        ...

    def close(self) -> None:
        """Release what the writer holds, once its connection is closed."""
        ...


class SqliteWriter:
    """The write connection of a SQLite file.

    The processes of an installation take turns through an ``flock`` on a file beside the
    database, held from before ``BEGIN IMMEDIATE`` until after the commit. SQLite's own
    write lock has no queue: a process that finds it taken sleeps and polls (1, 2, 5 … 100
    ms apart), so with two workers the loser slept through the winner's next batches and a
    PUT waited up to 2.2 s; the kernel wakes a process waiting for an ``flock`` as soon as
    it is released. Every Nexq process writes through this class, so SQLite's lock is then
    taken without a wait (``busy_timeout`` still covers other programs). Not a record
    (``fcntl``) lock: the kernel's deadlock detection treats a process's threads as one
    owner, so a request thread waiting for the rate limiter's record lock while this
    thread held the turn was refused with EDEADLK.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._turns = os.open(
            path.with_name(path.name + "-writer"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
        )
        self._held = False

    def open(self) -> sqlite3.Connection:
        return connect(self._path)

    def begin(self, conn: sqlite3.Connection) -> None:
        fcntl.flock(self._turns, fcntl.LOCK_EX)
        self._held = True
        conn.execute("BEGIN IMMEDIATE")

    def end(self) -> None:
        if self._held:
            self._held = False
            fcntl.flock(self._turns, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._turns)

    def mark(self, conn: sqlite3.Connection) -> None:
        conn.execute("SAVEPOINT job")

    def keep(self, conn: sqlite3.Connection) -> None:
        conn.execute("RELEASE job")

    def undo(self, conn: sqlite3.Connection) -> bool:
        if not conn.in_transaction:
            # SQLite rolled the whole transaction back by itself (it may on a full disk or
            # an I/O error): the neighbours' writes are gone too.
            return False
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        return True

    def commit(self, conn: sqlite3.Connection) -> None:
        conn.execute("COMMIT")

    def in_transaction(self, conn: sqlite3.Connection) -> bool:
        return conn.in_transaction

    def usable(self, conn: sqlite3.Connection) -> bool:
        return True


class Committer:
    """Runs writes in batches, in a thread of its own: one commit for everything that was
    waiting."""

    def __init__(self, writer: Writer | Path, max_batch: int = 256) -> None:
        self._writer: Writer = SqliteWriter(writer) if isinstance(writer, Path) else writer
        self._conn: Any = self._writer.open()
        self._max_batch = max_batch
        self._to_commit: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._commit_stage, name="nexq-commit", daemon=True)
        self._thread.start()

    def submit(self, write: Write[T]) -> Future[T]:
        """Queue ``write``."""
        job = _Job(write)
        self._to_commit.put(job)
        return job.future

    def run(self, write: Write[T]) -> T:
        """Queue ``write`` and wait until it is committed; re-raises what it raised. (Under
        ``loop_waits.run_here`` the event loop awaits the commit instead.)"""
        return loop_waits.committed(self.submit, write)

    def close(self) -> None:
        """Finish what is queued and stop."""
        self._to_commit.put(None)
        self._thread.join()
        if self._conn is not None:
            self._conn.close()
        self._writer.close()

    def _batches(self) -> Iterator[list[_Job]]:
        """Everything waiting, a batch at a time, until None arrives."""
        source = self._to_commit
        while True:
            first = source.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    job = source.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                batch.append(job)
            yield batch
            if stop:
                return

    def _commit_stage(self) -> None:
        for batch in self._batches():
            self._commit(batch)

    def _commit(self, batch: list[_Job]) -> None:
        started = time.perf_counter()
        try:
            if self._conn is None:
                self._conn = self._writer.open()
            results = self._run(batch)
            self._writer.commit(self._conn)
        except BaseException as exc:
            # The transaction is lost as a whole: no write of the batch happened, each is told.
            # (A connection lost during COMMIT leaves the outcome unknown to us as to SQLite's
            # own callers; the writes are refused, and a retry finds what did commit.)
            self._recover()
            self._writer.end()
            for job in batch:
                job.future.set_exception(full_disk_as_domain(exc))
            return
        self._writer.end()
        telemetry.committed(len(batch), time.perf_counter() - started)
        for job, ok, value in results:
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(full_disk_as_domain(value))

    def _recover(self) -> None:
        """After a failed batch: roll back what is open, or drop a lost connection."""
        conn = self._conn
        if conn is None:
            return
        with contextlib.suppress(Exception):
            if self._writer.usable(conn) and self._writer.in_transaction(conn):
                conn.execute("ROLLBACK")
        if not self._writer.usable(conn):
            with contextlib.suppress(Exception):
                conn.close()
            self._conn = None  # the next batch opens another

    def _run(self, batch: list[_Job]) -> list[tuple[_Job, bool, Any]]:
        self._writer.begin(self._conn)
        results: list[tuple[_Job, bool, Any]] = []
        for job in batch:
            # Each write gets a savepoint so one refused write does not undo its neighbours.
            self._writer.mark(self._conn)
            try:
                value = job.write(self._conn)
                self._writer.keep(self._conn)
            except BaseException as exc:
                if not self._writer.undo(self._conn):
                    raise
                results.append((job, False, exc))
            else:
                results.append((job, True, value))
        return results


class FileLease:
    """A lease among the processes of one host: a record lock on one byte of the database's
    lease file, which the kernel drops when its holder dies.

    Every lease of a process locks through the same descriptor: closing any descriptor of a
    file drops all of the process's record locks on it, so none is opened per lease."""

    def __init__(self, fd: int, name: str, holders: dict[int, FileLease] | None = None) -> None:
        self._fd = fd
        self._offset = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest())
        # The offsets the leases of ``holders`` hold, and by which lease: the kernel grants a
        # process a record lock it holds again, but a second lease of the same name among
        # them must be refused (a Database's leases share one).
        self._holders = {} if holders is None else holders
        self._held = False

    def held(self) -> bool:
        if not self._held:
            if self._holders.setdefault(self._offset, self) is not self:
                return False
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, self._offset)
            except OSError:
                del self._holders[self._offset]
                return False
            self._held = True
        return True

    def release(self) -> None:
        if self._held:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, self._offset)
            del self._holders[self._offset]
            self._held = False


class Database:
    """The embedded metadata database of one process (one SQLite file): per-thread readers
    and one group committer. It is a :class:`nexq.core.sql.Database`."""

    engine = "sqlite"

    def __init__(
        self,
        path: Path,
        schemas: Sequence[Schema],
    ) -> None:
        self.path = path
        bootstrap = connect(path)
        try:
            migrate(bootstrap, schemas)
        finally:
            bootstrap.close()
        self._readers = Readers(path)
        self._committer = Committer(path)
        # Beside the database as SQLite's own -wal and -shm files, made as it opens.
        self._lease_holders: dict[int, FileLease] = {}
        self._leases = os.open(
            path.with_name(path.name + "-leases"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
        )

    def reader(self) -> sqlite3.Connection:
        """A read-only connection for the calling thread."""
        return self._readers.get()

    def write(self, write: Write[T]) -> T:
        """Run ``write`` in the next group commit and wait for it to be durable."""
        return self._committer.run(write)

    def write_later(self, write: Write[Any]) -> None:
        """Queue ``write`` without waiting (house-keeping whose loss a restart repairs)."""
        self._committer.submit(write)

    def lease(self, name: str) -> FileLease:
        """A lease among the processes of this host: the only processes of an installation
        on SQLite."""
        return FileLease(self._leases, name, self._lease_holders)

    def close(self) -> None:
        """Flush queued writes and close."""
        self._committer.close()
        os.close(self._leases)

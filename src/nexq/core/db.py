"""The metadata database: SQLite in WAL mode, versioned migrations, and a group committer.

Writes go through one :class:`Committer` thread per process. It gathers every write that is
waiting, makes the blob files they reference durable with one ``syncfs``, runs them in one
transaction and commits once. Concurrent writers therefore share two flushes instead of
paying two each, and an acknowledged write is on disk before its caller hears of it.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from nexq.core.durability import Durability, FileSystemSync
from nexq.core.errors import full_disk_as_domain

T = TypeVar("T")
Write = Callable[[sqlite3.Connection], T]


def connect(path: Path) -> sqlite3.Connection:
    """A connection with the pragmas every Nexq connection needs."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


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
            self._local.conn = conn
        return conn


class _Job:
    __slots__ = ("future", "sync", "write")

    def __init__(self, write: Write[Any], sync: bool) -> None:
        self.write = write
        self.sync = sync
        self.future: Future[Any] = Future()


class Committer:
    """Runs writes in batches: one syncfs and one commit for everything that was waiting.

    Two stages run in their own threads, so they overlap: while one batch's blob files are
    flushed, the previous batch is committed. A write that references new blob files passes
    through the flush stage first; one that does not goes straight to the commit stage.
    The flush is ``durability.sync_tree(sync_root)``: ``syncfs`` unless told otherwise.
    """

    def __init__(
        self,
        path: Path,
        sync_root: Path,
        max_batch: int = 256,
        *,
        durability: Durability | None = None,
    ) -> None:
        self._conn = connect(path)
        self._sync_root = sync_root
        self._durability = durability or FileSystemSync()
        self._max_batch = max_batch
        self._to_flush: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._to_commit: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._flusher = threading.Thread(target=self._flush_stage, name="nexq-flush", daemon=True)
        self._thread = threading.Thread(target=self._commit_stage, name="nexq-commit", daemon=True)
        self._flusher.start()
        self._thread.start()

    def submit(self, write: Write[T], *, sync_blobs: bool = False) -> Future[T]:
        """Queue ``write``; ``sync_blobs`` when it references blob files written just now."""
        job = _Job(write, sync_blobs)
        (self._to_flush if sync_blobs else self._to_commit).put(job)
        return job.future

    def run(self, write: Write[T], *, sync_blobs: bool = False) -> T:
        """Queue ``write`` and wait until it is committed; re-raises what it raised."""
        result: T = self.submit(write, sync_blobs=sync_blobs).result()
        return result

    def close(self) -> None:
        """Finish what is queued and stop both stages."""
        self._to_flush.put(None)
        self._flusher.join()
        self._to_commit.put(None)
        self._thread.join()
        self._conn.close()

    def _batches(self, source: queue.SimpleQueue[_Job | None]) -> Iterator[list[_Job]]:
        """Everything waiting in ``source``, a batch at a time, until None arrives."""
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

    def _flush_stage(self) -> None:
        for batch in self._batches(self._to_flush):
            try:
                # The blob files must be durable before the rows that make them visible.
                self._durability.sync_tree(self._sync_root)
            except BaseException as exc:
                for job in batch:
                    job.future.set_exception(full_disk_as_domain(exc))
                continue
            for job in batch:
                self._to_commit.put(job)

    def _commit_stage(self) -> None:
        for batch in self._batches(self._to_commit):
            self._commit(batch)

    def _commit(self, batch: list[_Job]) -> None:
        try:
            results = self._run(batch)
            self._conn.execute("COMMIT")
        except BaseException as exc:
            # The transaction is lost as a whole: no write of the batch happened, each is told.
            if self._conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
            for job in batch:
                job.future.set_exception(full_disk_as_domain(exc))
            return
        for job, ok, value in results:
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(full_disk_as_domain(value))

    def _run(self, batch: list[_Job]) -> list[tuple[_Job, bool, Any]]:
        self._conn.execute("BEGIN IMMEDIATE")
        results: list[tuple[_Job, bool, Any]] = []
        for job in batch:
            # Each write gets a savepoint so one refused write does not undo its neighbours.
            self._conn.execute("SAVEPOINT job")
            try:
                value = job.write(self._conn)
            except BaseException as exc:
                if not self._conn.in_transaction:
                    # SQLite rolled the whole transaction back by itself (it may on a full
                    # disk or an I/O error): the neighbours' writes are gone too.
                    raise
                self._conn.execute("ROLLBACK TO job")
                self._conn.execute("RELEASE job")
                results.append((job, False, exc))
            else:
                self._conn.execute("RELEASE job")
                results.append((job, True, value))
        return results


class Database:
    """The metadata database of one process: per-thread readers and one group committer."""

    def __init__(
        self,
        path: Path,
        sync_root: Path,
        schemas: Sequence[Schema],
        *,
        durability: Durability | None = None,
    ) -> None:
        self.path = path
        bootstrap = connect(path)
        try:
            migrate(bootstrap, schemas)
        finally:
            bootstrap.close()
        self._readers = Readers(path)
        self._committer = Committer(path, sync_root, durability=durability)

    def reader(self) -> sqlite3.Connection:
        """A read-only connection for the calling thread."""
        return self._readers.get()

    def write(self, write: Write[T], *, sync_blobs: bool = False) -> T:
        """Run ``write`` in the next group commit and wait for it to be durable."""
        return self._committer.run(write, sync_blobs=sync_blobs)

    def write_later(self, write: Write[Any]) -> None:
        """Queue ``write`` without waiting (house-keeping whose loss a restart repairs)."""
        self._committer.submit(write)

    def close(self) -> None:
        """Flush queued writes and close."""
        self._committer.close()

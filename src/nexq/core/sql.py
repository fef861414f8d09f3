"""What a store sees of its database, whichever engine holds it (SQLite or PostgreSQL).

Stores write their SQL once, in the subset both engines read the same way: ``?``
placeholders, ``ON CONFLICT … DO …`` upserts, ``RETURNING``, no ``rowid``. Each engine's
:class:`Database` adapts the rest (the PostgreSQL one rewrites placeholders and column types).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


# psycopg is imported where a PostgreSQL engine is used, and by these two when an exception
# is being matched: the command line and an embedded server (SQLite) never load it, which
# was about 0.1 s of every `nexq` start.
def integrity_errors() -> tuple[type[Exception], ...]:
    """A unique or foreign-key constraint refused the statement, in either engine (for
    ``except sql.integrity_errors():``)."""
    import psycopg

    return (sqlite3.IntegrityError, psycopg.IntegrityError)


def postgresql_errors(*also: type[Exception]) -> tuple[type[Exception], ...]:
    """What psycopg raises (an engine that cannot be reached, a refused statement), and
    ``also``, for ``except sql.postgresql_errors(OSError, …):``."""
    import psycopg

    return (*also, psycopg.Error)


class Cursor(Protocol):
    """The rows of one statement."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """One connection: statements with ``?`` placeholders."""

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor: ...


Write = Callable[[Connection], T]


def send(conn: Connection, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
    """Run ``sql`` in a write, without waiting for it where the engine can (PostgreSQL's
    committer: each wait is a round trip under the cluster's write lock). Its cursor waits
    when it is read; if it fails, the write fails, at the latest when it ends, so only a
    statement whose error the write does not catch is sent this way."""
    sender: Callable[..., Cursor] = getattr(conn, "send", conn.execute)
    return sender(sql, parameters)


def send_many(conn: Connection, sql: str, parameters: Iterable[Sequence[Any]], /) -> None:
    """:func:`send` for each of ``parameters``."""
    sender: Callable[..., Cursor] = getattr(conn, "send_many", conn.executemany)
    sender(sql, parameters)


class Lease(Protocol):
    """A right held by one process of the installation (every node) at a time, e.g. to run a
    job that must run once. Held until released, or until the holder dies (then another
    process takes it at its next ``held()``)."""

    def held(self) -> bool:
        """Whether this process holds it now; takes it if nobody does."""
        ...

    def release(self) -> None:
        """Give it up (if held)."""
        ...


class Database(Protocol):
    """The metadata database of one process: reads on any thread, writes group-committed."""

    @property
    def engine(self) -> str:
        """``sqlite`` or ``postgresql``."""
        ...

    def reader(self) -> Connection:
        """A connection for reads on the calling thread (each statement sees what is
        committed when it starts)."""
        ...

    def write(self, write: Write[T]) -> T:
        """Run ``write`` in the next group commit and wait until it is durable (the blob
        files it names were made durable by their writers)."""
        ...

    def write_later(self, write: Write[Any]) -> None:
        """Queue ``write`` without waiting (house-keeping whose loss a restart repairs)."""
        ...

    def lease(self, name: str) -> Lease:
        """The lease ``name``: held by one process of the whole installation at a time."""
        ...

    def close(self) -> None:
        """Flush queued writes and close."""
        ...

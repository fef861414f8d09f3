"""What every part of the SQL metadata store shares: the database it works on, and the
writes all of them make (the auth generation moved, blob files handed to the garbage)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from nexq.core.sql import Connection, Database


def bump_auth(conn: Connection) -> None:
    conn.execute("UPDATE generations SET value = value + 1 WHERE name = 'auth'")


def discard(conn: Connection, paths: Iterable[str]) -> None:
    conn.executemany(
        "INSERT INTO garbage(path) VALUES (?) ON CONFLICT DO NOTHING", ((p,) for p in paths)
    )


class SqlBase:
    """The state of :class:`SqliteMetadata`; its parts (buckets, objects, uploads, access
    keys, usage, house-keeping) are mixins over it."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.monotonic) -> None:
        self._db = db
        self._clock = clock
        # Each account's stored bytes as this process last read them, and when.
        self._stored: dict[str, tuple[float, int]] = {}

"""What every part of the SQL metadata store shares: the database it works on, and the
writes all of them make (the auth generation moved, blob files handed to the garbage)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from nexq.core.sql import Connection, Database, send_many
from nexq.storage.blobs.inline import is_inline


def bump_auth(conn: Connection) -> None:
    conn.execute("UPDATE generations SET value = value + 1 WHERE name = 'auth'")


def discard(conn: Connection, paths: Iterable[str]) -> None:
    """Hand blobs no row names any more to the janitor (an inline one was in the row)."""
    send_many(
        conn,
        "INSERT INTO garbage(path) VALUES (?) ON CONFLICT DO NOTHING",
        ((p,) for p in paths if not is_inline(p)),
    )


class SqlBase:
    """The state of :class:`SqliteMetadata`; its parts (buckets, objects, uploads, access
    keys, usage, house-keeping) are mixins over it."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.monotonic) -> None:
        self._db = db
        self._clock = clock
        # Each account's stored bytes (and used bytes: with its uploads' parts) as this
        # process last read them, and when.
        self._stored: dict[str, tuple[float, int]] = {}
        self._used: dict[str, tuple[float, int]] = {}

    def _remembered(
        self,
        seen: dict[str, tuple[float, int]],
        account_id: str,
        max_age: float,
        read: Callable[[], int],
    ) -> int:
        """``read()``'s figure for the account, or the one ``seen`` keeps if it is at most
        ``max_age`` seconds old; what is read now is kept."""
        now = self._clock()
        if max_age > 0:
            kept = seen.get(account_id)
            if kept is not None and now - kept[0] <= max_age:
                return kept[1]
        figure = read()
        if len(seen) > 100_000:  # one entry per account written to: bounded all the same
            seen.clear()
        seen[account_id] = (now, figure)
        return figure

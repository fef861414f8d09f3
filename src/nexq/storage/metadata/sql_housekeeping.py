"""House-keeping of the SQL metadata store: the auth generation, garbage blobs, the blobs
referenced (fsck) and the counters checked and recounted."""

from __future__ import annotations

import json
from collections.abc import Iterable

from nexq.core.sql import Connection
from nexq.storage.blobs.inline import is_inline
from nexq.storage.metadata.sql_base import SqlBase


class SqlHousekeeping(SqlBase):
    """The auth generation, garbage, referenced blobs, counter drift."""

    # house-keeping ----------------------------------------------------------------------
    def auth_generation(self) -> int:
        row = (
            self._db.reader()
            .execute("SELECT value FROM generations WHERE name = 'auth'")
            .fetchone()
        )
        return int(row[0])

    def garbage(self, limit: int) -> list[str]:
        rows = self._db.reader().execute("SELECT path FROM garbage LIMIT ?", (limit,))
        return [r[0] for r in rows]

    def forget_garbage(self, paths: Iterable[str]) -> None:
        items = [(p,) for p in paths]

        def write(conn: Connection) -> None:
            conn.executemany("DELETE FROM garbage WHERE path = ?", items)

        self._db.write_later(write)

    def referenced_paths(self) -> set[str]:
        paths = set(self.blob_sizes())
        paths.update(r[0] for r in self._db.reader().execute("SELECT path FROM garbage"))
        return paths

    def blob_sizes(self) -> dict[str, int]:
        conn = self._db.reader()
        sizes = dict(conn.execute("SELECT path, size FROM parts").fetchall())
        for table in ("objects", "object_versions"):
            for (segments,) in conn.execute(f"SELECT segments FROM {table}"):  # noqa: S608 - fixed table names
                sizes.update((p, s) for p, s, *_ in json.loads(segments))
        return {p: s for p, s in sizes.items() if not is_inline(p)}

    def counter_drift(self) -> list[str]:
        return _counter_drift(self._db.reader())

    def recount(self) -> list[str]:
        def write(conn: Connection) -> list[str]:
            drift = _counter_drift(conn)
            if drift:
                conn.execute(
                    "UPDATE buckets SET "
                    "object_count = (SELECT count(*) FROM objects WHERE bucket_id = buckets.id), "
                    "stored_bytes = (SELECT coalesce(sum(size), 0) FROM objects "
                    "WHERE bucket_id = buckets.id) + (SELECT coalesce(sum(size), 0) "
                    "FROM object_versions WHERE bucket_id = buckets.id)"
                )
                conn.execute(
                    "INSERT INTO account_storage(account_id, stored_bytes) "
                    "SELECT id, (SELECT coalesce(sum(stored_bytes), 0) FROM buckets "
                    "WHERE account_id = accounts.id) FROM accounts WHERE true "
                    "ON CONFLICT(account_id) DO UPDATE SET stored_bytes = excluded.stored_bytes"
                )
            return drift

        return self._db.write(write)


# Counters that differ from what the objects add up to; one statement, so one snapshot.
_DRIFT = """
WITH stored AS (
    SELECT bucket_id, 1 AS n, size FROM objects
    UNION ALL SELECT bucket_id, 0 AS n, size FROM object_versions
), actual AS (
    SELECT bucket_id, sum(n) AS n, sum(size) AS bytes FROM stored GROUP BY bucket_id
), by_account AS (
    SELECT b.account_id, coalesce(sum(a.bytes), 0) AS bytes
    FROM buckets b LEFT JOIN actual a ON a.bucket_id = b.id GROUP BY b.account_id
)
SELECT 'bucket', b.name, b.object_count, b.stored_bytes, coalesce(a.n, 0), coalesce(a.bytes, 0)
FROM buckets b LEFT JOIN actual a ON a.bucket_id = b.id
WHERE b.object_count != coalesce(a.n, 0) OR b.stored_bytes != coalesce(a.bytes, 0)
UNION ALL
SELECT 'account', c.email, NULL, coalesce(s.stored_bytes, 0), NULL, coalesce(t.bytes, 0)
FROM accounts c
LEFT JOIN account_storage s ON s.account_id = c.id
LEFT JOIN by_account t ON t.account_id = c.id
WHERE coalesce(s.stored_bytes, 0) != coalesce(t.bytes, 0)
"""


def _counter_drift(conn: Connection) -> list[str]:
    out = []
    for kind, name, count, stored, actual_count, actual_bytes in conn.execute(_DRIFT):
        if kind == "bucket":
            out.append(
                f"bucket {name}: counted {count} objects, {stored} bytes; "
                f"holds {actual_count} objects, {actual_bytes} bytes"
            )
        else:
            out.append(f"account {name}: counted {stored} bytes; holds {actual_bytes} bytes")
    return out

"""Access keys in the SQL metadata store: their sealed secrets and bucket grants."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from nexq.core.errors import QuotaExceeded
from nexq.core.sql import Connection
from nexq.storage.errors import NoSuchBucket
from nexq.storage.metadata.sql_base import SqlBase, bump_auth
from nexq.storage.model import AccessKey
from nexq.storage.quotas import access_key_quota_message

_KEY_COLUMNS = "id, account_id, label, status, created_at, all_buckets"


def _check_grants(conn: Connection, key: AccessKey) -> None:
    """NoSuchBucket unless every bucket granted to ``key`` exists in its account (one may have
    been deleted since the caller looked it up)."""
    granted = sorted(key.bucket_ids or ())
    if granted:
        marks = ",".join("?" * len(granted))
        (found,) = conn.execute(
            f"SELECT count(*) FROM buckets WHERE account_id = ? AND id IN ({marks})",  # noqa: S608 - placeholders only
            (key.account_id, *granted),
        ).fetchone()
        if found != len(granted):
            raise NoSuchBucket("A bucket granted to the key does not exist in its account.")


class SqlAccessKeys(SqlBase):
    """Access keys, and the bucket names their grants show."""

    # access keys ------------------------------------------------------------------------
    def add_access_key(
        self,
        key: AccessKey,
        sealed_secret: bytes,
        *,
        internal: bool = False,
        max_keys: int | None = None,
    ) -> None:
        def write(conn: Connection) -> None:
            if max_keys is not None and not internal:
                (count,) = conn.execute(
                    "SELECT count(*) FROM access_keys WHERE account_id = ? AND internal = 0",
                    (key.account_id,),
                ).fetchone()
                if count >= max_keys:
                    raise QuotaExceeded("access_keys", access_key_quota_message(count))
            _check_grants(conn, key)
            conn.execute(
                "INSERT INTO access_keys(id, account_id, label, secret_sealed, all_buckets, "
                "status, created_at, internal) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key.id,
                    key.account_id,
                    key.label,
                    sealed_secret,
                    key.bucket_ids is None,
                    key.status,
                    key.created_at,
                    internal,
                ),
            )
            conn.executemany(
                "INSERT INTO access_key_buckets(access_key_id, bucket_id) VALUES (?, ?)",
                ((key.id, b) for b in key.bucket_ids or ()),
            )
            bump_auth(conn)

        self._db.write(write)

    def _grants(self, conn: Connection, key_id: str) -> frozenset[str]:
        rows = conn.execute(
            "SELECT bucket_id FROM access_key_buckets WHERE access_key_id = ?", (key_id,)
        )
        return frozenset(r[0] for r in rows)

    def _key(self, conn: Connection, row: tuple[Any, ...]) -> AccessKey:
        return AccessKey(
            id=row[0],
            account_id=row[1],
            label=row[2],
            status=row[3],
            created_at=row[4],
            bucket_ids=None if row[5] else self._grants(conn, row[0]),
        )

    def get_access_key(self, key_id: str) -> tuple[AccessKey, bytes] | None:
        conn = self._db.reader()
        row = conn.execute(
            f"SELECT {_KEY_COLUMNS}, secret_sealed FROM access_keys WHERE id = ?",  # noqa: S608 - fixed column names
            (key_id,),
        ).fetchone()
        if row is None:
            return None
        return self._key(conn, row), bytes(row[6])

    def list_access_keys(self, account_id: str) -> list[AccessKey]:
        conn = self._db.reader()
        rows = conn.execute(
            f"SELECT {_KEY_COLUMNS} FROM access_keys WHERE account_id = ? AND internal = 0 "  # noqa: S608 - fixed column names
            "ORDER BY created_at, id",  # the API's cursor is (created_at, id): keys may tie
            (account_id,),
        ).fetchall()
        return [self._key(conn, r) for r in rows]

    def internal_access_key(self, account_id: str) -> tuple[AccessKey, bytes] | None:
        conn = self._db.reader()
        row = conn.execute(
            f"SELECT {_KEY_COLUMNS}, secret_sealed FROM access_keys "  # noqa: S608 - fixed column names
            "WHERE account_id = ? AND internal = 1",
            (account_id,),
        ).fetchone()
        if row is None:
            return None
        return self._key(conn, row), bytes(row[6])

    def remove_internal_access_keys(self, account_id: str) -> int:
        def write(conn: Connection) -> int:
            gone = conn.execute(
                "DELETE FROM access_keys WHERE account_id = ? AND internal = 1", (account_id,)
            ).rowcount
            bump_auth(conn)
            return int(gone)

        return self._db.write(write)

    def set_access_key_status(self, account_id: str, key_id: str, status: str) -> bool:
        def write(conn: Connection) -> bool:
            changed = conn.execute(
                "UPDATE access_keys SET status = ? "
                "WHERE id = ? AND account_id = ? AND internal = 0",
                (status, key_id, account_id),
            ).rowcount
            bump_auth(conn)
            return bool(changed)

        return self._db.write(write)

    def remove_access_key(self, account_id: str, key_id: str) -> bool:
        def write(conn: Connection) -> bool:
            gone = conn.execute(
                "DELETE FROM access_keys WHERE id = ? AND account_id = ? AND internal = 0",
                (key_id, account_id),
            ).rowcount
            bump_auth(conn)
            return bool(gone)

        return self._db.write(write)

    def sealed_secrets(self, after: str, limit: int) -> list[tuple[str, bytes]]:
        rows = self._db.reader().execute(
            "SELECT id, secret_sealed FROM access_keys WHERE id > ? ORDER BY id LIMIT ?",
            (after, limit),
        )
        return [(r[0], bytes(r[1])) for r in rows]

    def replace_sealed_secrets(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        def write(conn: Connection) -> int:
            # Compared with the old value: a key deleted or re-made meanwhile is left alone.
            return sum(
                conn.execute(
                    "UPDATE access_keys SET secret_sealed = ? WHERE id = ? AND secret_sealed = ?",
                    (new, key_id, old),
                ).rowcount
                for key_id, old, new in changes
            )

        return self._db.write(write)

    def bucket_names(self, bucket_ids: Iterable[str]) -> dict[str, str]:
        ids = list(bucket_ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = (
            self._db.reader()
            .execute(f"SELECT id, name FROM buckets WHERE id IN ({marks})", ids)  # noqa: S608 - placeholders only
            .fetchall()
        )
        return dict(rows)

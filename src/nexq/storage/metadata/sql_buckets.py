"""Accounts and buckets in the SQL metadata store: names, settings, versioning state and the
counters read back."""

from __future__ import annotations

from collections.abc import Mapping

from nexq.core.errors import QuotaExceeded
from nexq.core.identity import Account
from nexq.core.sql import Connection
from nexq.storage.errors import (
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    NoSuchBucket,
)
from nexq.storage.metadata.sql_base import SqlBase, bump_auth, discard
from nexq.storage.model import Bucket
from nexq.storage.quotas import bucket_quota_message

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_BUCKET_COLUMNS = "id, name, account_id, created_at, versioning"


class SqlBuckets(SqlBase):
    """Accounts (read only: the accounts service owns them) and buckets."""

    # accounts ---------------------------------------------------------------------------
    def get_account(self, account_id: str) -> Account | None:
        row = (
            self._db.reader()
            .execute(
                "SELECT id, email, role, status, created_at FROM accounts WHERE id = ?",
                (account_id,),
            )
            .fetchone()
        )
        return Account(*row) if row else None

    def find_account(self, email: str) -> Account | None:
        # lower() folds ASCII letters only in both engines, as the accounts' unique index.
        row = (
            self._db.reader()
            .execute(
                "SELECT id, email, role, status, created_at FROM accounts WHERE lower(email) = ?",
                (email.translate(_ASCII_LOWER),),
            )
            .fetchone()
        )
        return Account(*row) if row else None

    # buckets ----------------------------------------------------------------------------
    def add_bucket(
        self,
        bucket: Bucket,
        max_buckets: int | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        def write(conn: Connection) -> None:
            row = conn.execute(
                "SELECT account_id FROM buckets WHERE name = ?", (bucket.name,)
            ).fetchone()
            if row is not None:
                if row[0] == bucket.account_id:
                    raise BucketAlreadyOwnedByYou()
                raise BucketAlreadyExists()
            if max_buckets is not None:
                (count,) = conn.execute(
                    "SELECT count(*) FROM buckets WHERE account_id = ?", (bucket.account_id,)
                ).fetchone()
                if count >= max_buckets:
                    raise QuotaExceeded("buckets", bucket_quota_message(count))
            conn.execute(
                "INSERT INTO buckets(id, name, account_id, created_at, versioning) "
                "VALUES (?, ?, ?, ?, ?)",
                (bucket.id, bucket.name, bucket.account_id, bucket.created_at, bucket.versioning),
            )
            for name, document in (settings or {}).items():
                conn.execute(
                    "INSERT INTO bucket_settings(bucket_id, name, document) VALUES (?, ?, ?)",
                    (bucket.id, name, document),
                )
            bump_auth(conn)

        self._db.write(write)

    def get_bucket(self, name: str) -> Bucket | None:
        row = (
            self._db.reader()
            .execute(f"SELECT {_BUCKET_COLUMNS} FROM buckets WHERE name = ?", (name,))  # noqa: S608 - fixed column names
            .fetchone()
        )
        return Bucket(*row) if row else None

    def bucket_setting(self, bucket_id: str, name: str) -> str | None:
        row = (
            self._db.reader()
            .execute(
                "SELECT document FROM bucket_settings WHERE bucket_id = ? AND name = ?",
                (bucket_id, name),
            )
            .fetchone()
        )
        return str(row[0]) if row else None

    def set_bucket_setting(self, bucket_id: str, name: str, document: str | None) -> None:
        def write(conn: Connection) -> None:
            if not conn.execute("SELECT 1 FROM buckets WHERE id = ?", (bucket_id,)).fetchone():
                raise NoSuchBucket()
            if document is None:
                conn.execute(
                    "DELETE FROM bucket_settings WHERE bucket_id = ? AND name = ?",
                    (bucket_id, name),
                )
            else:
                conn.execute(
                    "INSERT INTO bucket_settings(bucket_id, name, document) VALUES (?, ?, ?) "
                    "ON CONFLICT (bucket_id, name) DO UPDATE SET document = excluded.document",
                    (bucket_id, name, document),
                )
            bump_auth(conn)

        self._db.write(write)

    def buckets_with_setting(self, name: str, after: str, limit: int) -> list[str]:
        rows = self._db.reader().execute(
            "SELECT bucket_id FROM bucket_settings WHERE name = ? AND bucket_id > ? "
            "ORDER BY bucket_id LIMIT ?",
            (name, after, limit),
        )
        return [str(r[0]) for r in rows]

    def set_versioning(self, bucket_id: str, state: str) -> None:
        def write(conn: Connection) -> None:
            if not conn.execute(
                "UPDATE buckets SET versioning = ? WHERE id = ?", (state, bucket_id)
            ).rowcount:
                raise NoSuchBucket()
            bump_auth(conn)  # every node's cached bucket shows the new state at once

        self._db.write(write)

    def list_buckets(self, account_id: str) -> list[Bucket]:
        rows = (
            self._db.reader()
            .execute(
                f"SELECT {_BUCKET_COLUMNS} FROM buckets WHERE account_id = ? ORDER BY name",  # noqa: S608 - fixed column names
                (account_id,),
            )
            .fetchall()
        )
        return [Bucket(*r) for r in rows]

    def remove_bucket(self, bucket_id: str) -> None:
        def write(conn: Connection) -> None:
            if (
                conn.execute(
                    "SELECT 1 FROM objects WHERE bucket_id = ? LIMIT 1", (bucket_id,)
                ).fetchone()
                or conn.execute(
                    "SELECT 1 FROM object_versions WHERE bucket_id = ? LIMIT 1", (bucket_id,)
                ).fetchone()
            ):
                raise BucketNotEmpty()
            # As S3: unfinished multipart uploads go with the bucket (their parts' blobs
            # become garbage), they do not keep it.
            discard(
                conn,
                [
                    r[0]
                    for r in conn.execute(
                        "SELECT p.path FROM parts p JOIN uploads u ON u.id = p.upload_id "
                        "WHERE u.bucket_id = ?",
                        (bucket_id,),
                    )
                ],
            )
            conn.execute("DELETE FROM uploads WHERE bucket_id = ?", (bucket_id,))
            conn.execute("DELETE FROM buckets WHERE id = ?", (bucket_id,))
            bump_auth(conn)

        self._db.write(write)

    def bucket_usage(self, bucket_id: str) -> tuple[int, int]:
        row = (
            self._db.reader()
            .execute("SELECT object_count, stored_bytes FROM buckets WHERE id = ?", (bucket_id,))
            .fetchone()
        )
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def account_usage(self, account_id: str) -> tuple[int, int, int]:
        row = (
            self._db.reader()
            .execute(
                "SELECT count(*), coalesce(sum(object_count), 0), "
                "(SELECT coalesce(max(stored_bytes), 0) FROM account_storage WHERE account_id = ?) "
                "FROM buckets WHERE account_id = ?",
                (account_id, account_id),
            )
            .fetchone()
        )
        return int(row[0]), int(row[1]), int(row[2])

    def installation_usage(self) -> tuple[int, int, int]:
        row = (
            self._db.reader()
            .execute(
                "SELECT count(*), coalesce(sum(object_count), 0), "
                "(SELECT coalesce(sum(stored_bytes), 0) FROM account_storage) FROM buckets"
            )
            .fetchone()
        )
        return int(row[0]), int(row[1]), int(row[2])

    def stored_bytes(self, account_id: str, max_age: float = 0.0) -> int:
        def read() -> int:
            row = (
                self._db.reader()
                .execute(
                    "SELECT stored_bytes FROM account_storage WHERE account_id = ?", (account_id,)
                )
                .fetchone()
            )
            return int(row[0]) if row else 0  # no row: nothing stored since it was introduced

        return self._remembered(self._stored, account_id, max_age, read)

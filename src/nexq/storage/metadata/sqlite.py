"""The SQL metadata store (SQLite or PostgreSQL)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from nexq.core.errors import DomainError, QuotaExceeded
from nexq.core.identity import Account
from nexq.core.sql import Connection, Database
from nexq.storage.completions import CompletedUpload, completion
from nexq.storage.errors import (
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    NoSuchBucket,
    NoSuchUpload,
)
from nexq.storage.lifecycle import Candidate, Due
from nexq.storage.metadata import sql_completions, sql_lifecycle
from nexq.storage.metadata import sql_versions as versions
from nexq.storage.model import (
    AccessKey,
    Bucket,
    Counters,
    ListedObject,
    ObjectMeta,
    Part,
    Upload,
    UsageRow,
    prefix_end,
)
from nexq.storage.quotas import (
    access_key_quota_message,
    bucket_quota_message,
    storage_quota_message,
)
from nexq.storage.versions import Deletion, ListedVersion, Removal

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_UPLOAD_COLUMNS = (
    "id, bucket_id, key, initiated, headers, metadata, checksum_algorithm, checksum_type"
)
_BUCKET_COLUMNS = "id, name, account_id, created_at, versioning"
_PART_COLUMNS = "upload_id, number, size, etag, last_modified, path, checksums"
_KEY_COLUMNS = "id, account_id, label, status, created_at, all_buckets"


def _upload(row: tuple[Any, ...]) -> Upload:
    return Upload(
        id=row[0],
        bucket_id=row[1],
        key=row[2],
        initiated=row[3],
        headers=json.loads(row[4]),
        metadata=json.loads(row[5]),
        checksum_algorithm=row[6],
        checksum_type=row[7],
    )


def _part(row: tuple[Any, ...]) -> Part:
    return Part(
        upload_id=row[0],
        number=row[1],
        size=row[2],
        etag=row[3],
        last_modified=row[4],
        path=row[5],
        checksums=json.loads(row[6]),
    )


def _bump_auth(conn: Connection) -> None:
    conn.execute("UPDATE generations SET value = value + 1 WHERE name = 'auth'")


def _discard(conn: Connection, paths: Iterable[str]) -> None:
    conn.executemany(
        "INSERT INTO garbage(path) VALUES (?) ON CONFLICT DO NOTHING", ((p,) for p in paths)
    )


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


# The account's row (the sum of its buckets' stored bytes), found through the bucket; with a
# quota, only if the total stays within it. Plain statements (RETURNING would cost more): this
# runs in the serialized commit stage, where every statement is paid by every write.
_ADD_TO_ACCOUNT = (
    "UPDATE account_storage SET stored_bytes = stored_bytes + ? "
    "WHERE account_id = (SELECT account_id FROM buckets WHERE id = ?)"
)
_ADD_TO_ACCOUNT_WITHIN = (
    "UPDATE account_storage SET stored_bytes = stored_bytes + ? "
    "WHERE account_id = (SELECT account_id FROM buckets WHERE id = ?) AND stored_bytes + ? <= ?"
)


def _add_to_counters(
    conn: Connection, bucket_id: str, objects: int, grown: int, quota: int | None = None
) -> None:
    """Add to the bucket's counters and to its account's stored bytes; growth that would take
    the account over ``quota`` raises QuotaExceeded before anything is changed."""
    if grown:
        limit = quota if grown > 0 else None  # shrinking always fits
        if limit is None:
            changed = conn.execute(_ADD_TO_ACCOUNT, (grown, bucket_id)).rowcount
        else:
            changed = conn.execute(
                _ADD_TO_ACCOUNT_WITHIN, (grown, bucket_id, grown, limit)
            ).rowcount
        if not changed:
            _unchanged_account(conn, bucket_id, grown, limit)
    if not conn.execute(
        "UPDATE buckets SET object_count = object_count + ?, stored_bytes = stored_bytes + ? "
        "WHERE id = ?",
        (objects, grown, bucket_id),
    ).rowcount:
        # Deleted meanwhile: an object there could never be reached (the committer's
        # savepoint undoes the account's update).
        raise NoSuchBucket()


def _unchanged_account(conn: Connection, bucket_id: str, grown: int, quota: int | None) -> None:
    """The account's row did not change: ``quota`` refuses the growth, or the account has no
    row yet (its first bytes since the row was introduced), which starts from its buckets."""
    row = conn.execute(
        "SELECT b.account_id, s.stored_bytes FROM buckets AS b "
        "LEFT JOIN account_storage AS s ON s.account_id = b.account_id WHERE b.id = ?",
        (bucket_id,),
    ).fetchone()
    if row is None:
        raise NoSuchBucket()
    if row[1] is None:
        (stored,) = conn.execute(
            "SELECT coalesce(sum(stored_bytes), 0) FROM buckets WHERE account_id = ?", (row[0],)
        ).fetchone()
        if quota is None or stored + grown <= quota:
            conn.execute(
                "INSERT INTO account_storage(account_id, stored_bytes) VALUES (?, ?)",
                (row[0], stored + grown),
            )
            return
    elif quota is None:
        raise RuntimeError(f"account {row[0]}: an unconditional update missed its row")
    raise QuotaExceeded("storage_bytes", storage_quota_message(quota))


class SqliteMetadata:
    """:class:`MetadataStore` on a SQL :class:`Database` (SQLite or PostgreSQL)."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.monotonic) -> None:
        self._db = db
        self._clock = clock
        # Each account's stored bytes as this process last read them, and when.
        self._stored: dict[str, tuple[float, int]] = {}

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
    def add_bucket(self, bucket: Bucket, max_buckets: int | None = None) -> None:
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
                "INSERT INTO buckets(id, name, account_id, created_at) VALUES (?, ?, ?, ?)",
                (bucket.id, bucket.name, bucket.account_id, bucket.created_at),
            )
            _bump_auth(conn)

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
            _bump_auth(conn)

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
            _bump_auth(conn)  # every node's cached bucket shows the new state at once

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
            _discard(
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
            _bump_auth(conn)

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

    def stored_bytes(self, account_id: str, max_age: float = 0.0) -> int:
        now = self._clock()
        if max_age > 0:
            seen = self._stored.get(account_id)
            if seen is not None and now - seen[0] <= max_age:
                return seen[1]
        row = (
            self._db.reader()
            .execute("SELECT stored_bytes FROM account_storage WHERE account_id = ?", (account_id,))
            .fetchone()
        )
        stored = int(row[0]) if row else 0  # no row: nothing stored since it was introduced
        if len(self._stored) > 100_000:
            self._stored = {}
        self._stored[account_id] = (now, stored)
        return stored

    # objects ----------------------------------------------------------------------------
    def get_object(self, bucket_id: str, key: str) -> ObjectMeta | None:
        row = (
            self._db.reader()
            .execute(
                f"SELECT {versions.OBJECT_COLUMNS} FROM objects WHERE bucket_id = ? AND key = ?",  # noqa: S608 - fixed column names
                (bucket_id, key),
            )
            .fetchone()
        )
        return versions.meta_from_row(row) if row else None

    def list_objects(
        self, bucket_id: str, prefix: str, start: str, inclusive: bool, limit: int
    ) -> list[ListedObject]:
        # Keys compare as UTF-8 bytes (SQLite's BINARY collation), which is S3's order.
        if start < prefix:
            start, inclusive = prefix, True
        op = ">=" if inclusive else ">"
        sql = (
            f"SELECT key, size, etag, last_modified FROM objects WHERE bucket_id = ? AND key {op} ?"  # noqa: S608 - fixed operator
        )
        args: list[Any] = [bucket_id, start]
        end = prefix_end(prefix)
        if end is not None:
            sql += " AND key < ?"
            args.append(end)
        sql += " ORDER BY key LIMIT ?"
        args.append(limit)
        return [ListedObject(*r) for r in self._db.reader().execute(sql, args).fetchall()]

    def put_object(
        self,
        meta: ObjectMeta,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        quota: int | None = None,
    ) -> str | None:
        def write(conn: Connection) -> str | None:
            old = versions.check_conditions(conn, meta.bucket_id, meta.key, if_match, if_none_match)
            return versions.write_current(conn, meta, old, quota, _add_to_counters, _discard)

        return self._db.write(write, sync_blobs=True)

    def delete_object(self, bucket_id: str, key: str) -> Removal:
        done = self.delete_objects(bucket_id, [Deletion(key)])[0]
        if isinstance(done, DomainError):
            raise done
        return done

    def delete_objects(
        self, bucket_id: str, deletions: Sequence[Deletion]
    ) -> list[Removal | DomainError]:
        def one(conn: Connection, d: Deletion) -> Removal | DomainError:
            # Each refusal (a lock, a precondition) is raised before its deletion changes
            # anything, so the others go on in the same transaction.
            try:
                return (
                    versions.delete_version(
                        conn,
                        bucket_id,
                        d.key,
                        d.version_id,
                        _add_to_counters,
                        _discard,
                        d.bypass_governance,
                        d.conditions,
                    )
                    if d.by_version
                    else versions.delete_current(
                        conn, bucket_id, d.key, _add_to_counters, _discard, d.conditions
                    )
                )
            except (NoSuchBucket, QuotaExceeded):
                raise
            except DomainError as exc:
                return exc

        def write(conn: Connection) -> list[Removal | DomainError]:
            # One transaction: a commit per key made a 1,000-key DeleteObjects wait for 1,000
            # durable commits (1,000 WAL fsyncs on SQLite).
            return [one(conn, d) for d in deletions]

        return self._db.write(write)

    def delete_version(self, bucket_id: str, key: str, version_id: str | None) -> Removal:
        def write(conn: Connection) -> Removal:
            return versions.delete_version(
                conn, bucket_id, key, version_id, _add_to_counters, _discard
            )

        return self._db.write(write)

    def apply_lifecycle(
        self,
        bucket_id: str,
        key: str,
        version_id: str | None,
        decide: Callable[[Candidate], Due],
    ) -> tuple[Due, Removal]:
        def write(conn: Connection) -> tuple[Due, Removal]:
            return sql_lifecycle.apply(
                conn, bucket_id, key, version_id, decide, _add_to_counters, _discard
            )

        return self._db.write(write)

    def amend_version(
        self,
        bucket_id: str,
        key: str,
        version_id: str | None,
        amend: Callable[[ObjectMeta], ObjectMeta],
        *,
        latest: bool,
    ) -> ObjectMeta | None:
        def write(conn: Connection) -> ObjectMeta | None:
            return versions.amend_version(conn, bucket_id, key, version_id, amend, latest)

        return self._db.write(write)

    def tag_version(
        self, bucket_id: str, key: str, version_id: str | None, tags: str, *, latest: bool
    ) -> ObjectMeta | None:
        def write(conn: Connection) -> ObjectMeta | None:
            return versions.tag_version(conn, bucket_id, key, version_id, tags, latest)

        return self._db.write(write)

    def get_version(self, bucket_id: str, key: str, version_id: str | None) -> ObjectMeta | None:
        return versions.get_version(self._db.reader(), bucket_id, key, version_id)

    def latest_marker(self, bucket_id: str, key: str) -> ObjectMeta | None:
        return versions.latest_marker(self._db.reader(), bucket_id, key)

    def version_rank(self, bucket_id: str, key: str, version_id: str | None) -> int | None:
        return versions.version_rank(self._db.reader(), bucket_id, key, version_id)

    def list_versions(
        self, bucket_id: str, prefix: str, start: str, below: int | None, limit: int
    ) -> list[tuple[ListedVersion, int]]:
        return versions.list_versions(self._db.reader(), bucket_id, prefix, start, below, limit)

    # multipart --------------------------------------------------------------------------
    def add_upload(self, upload: Upload) -> None:
        def write(conn: Connection) -> None:
            conn.execute(
                f"INSERT INTO uploads({_UPLOAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 - fixed column names
                (
                    upload.id,
                    upload.bucket_id,
                    upload.key,
                    upload.initiated,
                    json.dumps(upload.headers),
                    json.dumps(upload.metadata),
                    upload.checksum_algorithm,
                    upload.checksum_type,
                ),
            )

        self._db.write(write)

    def get_upload(self, upload_id: str) -> Upload | None:
        row = (
            self._db.reader()
            .execute(f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE id = ?", (upload_id,))  # noqa: S608 - fixed column names
            .fetchone()
        )
        return _upload(row) if row else None

    def list_uploads(
        self, bucket_id: str, prefix: str, after: tuple[str, str | None] | None, limit: int
    ) -> list[Upload]:
        sql = f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE bucket_id = ? AND key >= ?"  # noqa: S608 - fixed column names
        args: list[Any] = [bucket_id, prefix]
        end = prefix_end(prefix)
        if end is not None:
            sql += " AND key < ?"
            args.append(end)
        # The resume condition is the ORDER BY's own (key, id): ids are unique and sort by
        # initiation time (multipart.upload_id), so a page never skips nor repeats an upload.
        if after is not None and after[1] is None:
            sql += " AND key > ?"
            args.append(after[0])
        elif after is not None:
            # The plain bound lets the index on (bucket_id, key) seek; the row value decides.
            sql += " AND key >= ? AND (key, id) > (?, ?)"
            args += [after[0], after[0], after[1]]
        sql += " ORDER BY key, id LIMIT ?"
        args.append(limit)
        return [_upload(r) for r in self._db.reader().execute(sql, args).fetchall()]

    def put_part(self, part: Part) -> None:
        def write(conn: Connection) -> None:
            if conn.execute("SELECT 1 FROM uploads WHERE id = ?", (part.upload_id,)).fetchone():
                old = conn.execute(
                    "SELECT path FROM parts WHERE upload_id = ? AND number = ?",
                    (part.upload_id, part.number),
                ).fetchone()
                conn.execute(
                    f"INSERT INTO parts({_PART_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "  # noqa: S608 - fixed column names
                    "ON CONFLICT (upload_id, number) DO UPDATE SET size = excluded.size, "
                    "etag = excluded.etag, last_modified = excluded.last_modified, "
                    "path = excluded.path, checksums = excluded.checksums",
                    (
                        part.upload_id,
                        part.number,
                        part.size,
                        part.etag,
                        part.last_modified,
                        part.path,
                        json.dumps(part.checksums),
                    ),
                )
                if old:
                    _discard(conn, [old[0]])
            else:
                raise NoSuchUpload()

        self._db.write(write, sync_blobs=True)

    def list_parts(self, upload_id: str, after: int, limit: int) -> list[Part]:
        rows = (
            self._db.reader()
            .execute(
                f"SELECT {_PART_COLUMNS} FROM parts WHERE upload_id = ? AND number > ? "  # noqa: S608 - fixed column names
                "ORDER BY number LIMIT ?",
                (upload_id, after, limit),
            )
            .fetchall()
        )
        return [_part(r) for r in rows]

    def complete_upload(
        self,
        upload: Upload,
        meta: ObjectMeta,
        used_parts: Iterable[int],
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        quota: int | None = None,
    ) -> str | None:
        used = set(used_parts)

        def write(conn: Connection) -> str | None:
            if not conn.execute("SELECT 1 FROM uploads WHERE id = ?", (upload.id,)).fetchone():
                raise NoSuchUpload()
            old = versions.check_conditions(conn, meta.bucket_id, meta.key, if_match, if_none_match)
            unused = [
                path
                for number, path in conn.execute(
                    "SELECT number, path FROM parts WHERE upload_id = ?", (upload.id,)
                )
                if number not in used
            ]
            version_id = versions.write_current(conn, meta, old, quota, _add_to_counters, _discard)
            conn.execute("DELETE FROM uploads WHERE id = ?", (upload.id,))
            _discard(conn, unused)
            sql_completions.record(conn, completion(upload.id, meta, version_id))
            return version_id

        return self._db.write(write)

    def completed_upload(self, upload_id: str) -> CompletedUpload | None:
        return sql_completions.find(self._db.reader(), upload_id)

    def abort_upload(self, upload_id: str) -> bool:
        def write(conn: Connection) -> bool:
            paths = [
                r[0]
                for r in conn.execute("SELECT path FROM parts WHERE upload_id = ?", (upload_id,))
            ]
            gone = conn.execute("DELETE FROM uploads WHERE id = ?", (upload_id,)).rowcount
            _discard(conn, paths)
            return bool(gone)

        return self._db.write(write)

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
            _bump_auth(conn)

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
            _bump_auth(conn)
            return int(gone)

        return self._db.write(write)

    def set_access_key_status(self, account_id: str, key_id: str, status: str) -> bool:
        def write(conn: Connection) -> bool:
            changed = conn.execute(
                "UPDATE access_keys SET status = ? "
                "WHERE id = ? AND account_id = ? AND internal = 0",
                (status, key_id, account_id),
            ).rowcount
            _bump_auth(conn)
            return bool(changed)

        return self._db.write(write)

    def remove_access_key(self, account_id: str, key_id: str) -> bool:
        def write(conn: Connection) -> bool:
            gone = conn.execute(
                "DELETE FROM access_keys WHERE id = ? AND account_id = ? AND internal = 0",
                (key_id, account_id),
            ).rowcount
            _bump_auth(conn)
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

    # house-keeping ----------------------------------------------------------------------
    def auth_generation(self) -> int:
        row = (
            self._db.reader()
            .execute("SELECT value FROM generations WHERE name = 'auth'")
            .fetchone()
        )
        return int(row[0])

    # metering ---------------------------------------------------------------------------
    def add_usage(self, rows: Iterable[UsageRow]) -> None:
        batch = [
            (
                r.account_id,
                r.hour,
                r.bucket_id,
                r.bucket_name,
                r.counters.data_in,
                r.counters.data_out,
                r.counters.class_a,
                r.counters.class_b,
                r.counters.other,
            )
            for r in rows
        ]
        if not batch:
            return

        def write(conn: Connection) -> None:
            # Additive, so that several processes (later several nodes) can share the table.
            conn.executemany(
                "INSERT INTO usage_hourly(account_id, hour, bucket_id, bucket_name, data_in, "
                "data_out, class_a, class_b, other) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(account_id, hour, bucket_id) DO UPDATE SET "
                "data_in = usage_hourly.data_in + excluded.data_in, "
                "data_out = usage_hourly.data_out + excluded.data_out, "
                "class_a = usage_hourly.class_a + excluded.class_a, "
                "class_b = usage_hourly.class_b + excluded.class_b, "
                "other = usage_hourly.other + excluded.other",
                batch,
            )

        self._db.write(write)

    def usage_rows(
        self, account_id: str, from_hour: int, to_hour: int
    ) -> list[tuple[str, int, Counters]]:
        rows = (
            self._db.reader()
            .execute(
                "SELECT bucket_name, hour, data_in, data_out, class_a, class_b, other "
                "FROM usage_hourly WHERE account_id = ? AND hour >= ? AND hour < ? "
                "ORDER BY hour",
                (account_id, from_hour, to_hour),
            )
            .fetchall()
        )
        return [(r[0], r[1], Counters(*r[2:])) for r in rows]

    # meter readings (billing asks through storage.meters) -------------------------------
    def hourly_usage(
        self, account_id: str, from_hour: int, to_hour: int
    ) -> list[tuple[int, Counters]]:
        rows = (
            self._db.reader()
            .execute(
                "SELECT hour, sum(data_in), sum(data_out), sum(class_a), sum(class_b), "
                "sum(other) FROM usage_hourly WHERE account_id = ? AND hour >= ? AND hour < ? "
                "GROUP BY hour ORDER BY hour",
                (account_id, from_hour, to_hour),
            )
            .fetchall()
        )
        return [(r[0], Counters(*r[1:])) for r in rows]

    def accounts_with_usage(self, from_hour: int, to_hour: int) -> list[str]:
        rows = self._db.reader().execute(
            "SELECT DISTINCT account_id FROM usage_hourly WHERE hour >= ? AND hour < ? "
            "ORDER BY account_id",
            (from_hour, to_hour),
        )
        return [str(r[0]) for r in rows]

    def bucket_sizes(self) -> list[tuple[str, str, int]]:
        rows = self._db.reader().execute("SELECT account_id, id, stored_bytes FROM buckets")
        return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]

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
        return sizes

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

"""Objects and their versions in the SQL metadata store: each call one transaction around
the shared SQL of ``sql_versions`` (and ``sql_lifecycle``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from nexq.core.errors import DomainError, QuotaExceeded
from nexq.core.sql import Connection
from nexq.storage.errors import NoSuchBucket
from nexq.storage.lifecycle import Candidate, Due
from nexq.storage.metadata import sql_lifecycle
from nexq.storage.metadata import sql_versions as versions
from nexq.storage.metadata.sql_base import SqlBase, discard
from nexq.storage.metadata.sql_counters import add_to_counters
from nexq.storage.model import ListedObject, ObjectMeta, prefix_end
from nexq.storage.versions import Deletion, ListedVersion, Removal


class SqlObjects(SqlBase):
    """Objects: reads, writes, deletions, lifecycle actions and versions."""

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
            "SELECT key, size, etag, last_modified, checksums, checksum_type FROM objects "  # noqa: S608 - fixed operator
            f"WHERE bucket_id = ? AND key {op} ?"
        )
        args: list[Any] = [bucket_id, start]
        end = prefix_end(prefix)
        if end is not None:
            sql += " AND key < ?"
            args.append(end)
        sql += " ORDER BY key LIMIT ?"
        args.append(limit)
        return [
            ListedObject(key, size, etag, modified, versions.checksum_names(sums), kind)
            for key, size, etag, modified, sums, kind in self._db.reader().execute(sql, args)
        ]

    def put_object(
        self,
        meta: ObjectMeta,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        quota: int | None = None,
    ) -> str | None:
        def write(conn: Connection) -> str | None:
            target = versions.check_conditions(
                conn, meta.bucket_id, meta.key, if_match, if_none_match
            )
            return versions.write_current(conn, meta, target, quota, add_to_counters, discard)

        return self._db.write(write)

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
                        add_to_counters,
                        discard,
                        d.bypass_governance,
                        d.conditions,
                    )
                    if d.by_version
                    else versions.delete_current(
                        conn, bucket_id, d.key, add_to_counters, discard, d.conditions
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
                conn, bucket_id, key, version_id, add_to_counters, discard
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
                conn, bucket_id, key, version_id, decide, add_to_counters, discard
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

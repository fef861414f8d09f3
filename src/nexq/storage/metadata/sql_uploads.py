"""Multipart uploads in the SQL metadata store: uploads, their parts and completions."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from nexq.core.errors import QuotaExceeded
from nexq.core.sql import Connection, send
from nexq.storage.completions import CompletedUpload, completion
from nexq.storage.errors import ConditionalRequestConflict, NoSuchUpload
from nexq.storage.metadata import sql_completions
from nexq.storage.metadata import sql_versions as versions
from nexq.storage.metadata.sql_base import SqlBase, discard
from nexq.storage.metadata.sql_counters import add_to_counters
from nexq.storage.model import ObjectMeta, Part, Upload, prefix_end
from nexq.storage.quotas import storage_quota_message

_UPLOAD_COLUMNS = (
    "id, bucket_id, key, initiated, headers, metadata, checksum_algorithm, checksum_type"
)
_PART_COLUMNS = "upload_id, number, size, etag, last_modified, path, checksums"
# What the storage quota counts: the account's row, and its unfinished uploads' parts found
# through indexes only (buckets by account, uploads by bucket, parts by upload), so the cost
# follows the account's parts in progress, not the installation's.
_USED_BYTES = (
    "SELECT (SELECT coalesce(max(stored_bytes), 0) FROM account_storage WHERE account_id = ?) "
    "+ (SELECT coalesce(sum(p.size), 0) FROM buckets AS b "
    "JOIN uploads AS u ON u.bucket_id = b.id JOIN parts AS p ON p.upload_id = u.id "
    "WHERE b.account_id = ?)"
)


def _used_bytes(conn: Connection, account_id: str) -> int:
    (used,) = conn.execute(_USED_BYTES, (account_id, account_id)).fetchone()
    return int(used)


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


class SqlUploads(SqlBase):
    """Multipart uploads."""

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

    def used_bytes(self, account_id: str, max_age: float = 0.0) -> int:
        return self._remembered(
            self._used, account_id, max_age, lambda: _used_bytes(self._db.reader(), account_id)
        )

    def put_part(self, part: Part, quota: int | None = None) -> None:
        def write(conn: Connection) -> str:
            found = conn.execute(
                "SELECT b.account_id FROM uploads AS u JOIN buckets AS b ON b.id = u.bucket_id "
                "WHERE u.id = ?",
                (part.upload_id,),
            ).fetchone()
            if not found:
                raise NoSuchUpload()
            owner = str(found[0])
            old = conn.execute(
                "SELECT path, size FROM parts WHERE upload_id = ? AND number = ?",
                (part.upload_id, part.number),
            ).fetchone()
            grown = part.size - (old[1] if old else 0)
            # Exact: writes run one at a time (every node's), so no part slips in between.
            if quota is not None and grown > 0 and _used_bytes(conn, owner) + grown > quota:
                raise QuotaExceeded("storage_bytes", storage_quota_message(quota))
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
                discard(conn, [old[0]])
            return owner

        owner = self._db.write(write)
        # The figure this process may remember for the account's checks lacks this part.
        self._used.pop(owner, None)

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
            held = conn.execute(
                "SELECT key_deleted FROM uploads WHERE id = ?", (upload.id,)
            ).fetchone()
            if held is None:
                raise NoSuchUpload()
            target = versions.check_conditions(
                conn, meta.bucket_id, meta.key, if_match, if_none_match, upload.initiated
            )
            if if_none_match and held[0]:
                raise ConditionalRequestConflict("If-None-Match")
            unused = [
                path
                for number, path in conn.execute(
                    "SELECT number, path FROM parts WHERE upload_id = ?", (upload.id,)
                )
                if number not in used
            ]
            version_id = versions.write_current(conn, meta, target, quota, add_to_counters, discard)
            send(conn, "DELETE FROM uploads WHERE id = ?", (upload.id,))
            discard(conn, unused)
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
            discard(conn, paths)
            return bool(gone)

        return self._db.write(write)

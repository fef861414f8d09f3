"""Multipart uploads in the SQL metadata store: uploads, their parts and completions."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from nexq.core.sql import Connection
from nexq.storage.completions import CompletedUpload, completion
from nexq.storage.errors import NoSuchUpload
from nexq.storage.metadata import sql_completions
from nexq.storage.metadata import sql_versions as versions
from nexq.storage.metadata.sql_base import SqlBase, discard
from nexq.storage.metadata.sql_counters import add_to_counters
from nexq.storage.model import ObjectMeta, Part, Upload, prefix_end

_UPLOAD_COLUMNS = (
    "id, bucket_id, key, initiated, headers, metadata, checksum_algorithm, checksum_type"
)
_PART_COLUMNS = "upload_id, number, size, etag, last_modified, path, checksums"


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
                    discard(conn, [old[0]])
            else:
                raise NoSuchUpload()

        self._db.write(write)

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
            version_id = versions.write_current(conn, meta, old, quota, add_to_counters, discard)
            conn.execute("DELETE FROM uploads WHERE id = ?", (upload.id,))
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

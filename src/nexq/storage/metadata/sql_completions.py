"""The records of completed multipart uploads in the SQL metadata store (nexq.storage.completions
says why they are kept and for how long)."""

from __future__ import annotations

import json
from typing import Any

from nexq.core.sql import Connection, send
from nexq.storage.completions import PURGE_BATCH, RETRY_WINDOW, CompletedUpload

_COLUMNS = (
    "upload_id, bucket_id, key, etag, version_id, size, completed_at, checksums, checksum_type"
)


def record(conn: Connection, done: CompletedUpload) -> None:
    """Keep ``done`` (inside the completion's transaction) and drop a few records that have
    outlived the retry window by then."""
    send(
        conn,
        f"INSERT INTO completed_uploads({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 - fixed column names
        (
            done.upload_id,
            done.bucket_id,
            done.key,
            done.etag,
            done.version_id,
            done.size,
            done.completed_at,
            json.dumps(done.checksums),
            done.checksum_type,
        ),
    )
    # A bounded number, oldest first through the index: a completion never pays for a backlog.
    send(
        conn,
        "DELETE FROM completed_uploads WHERE upload_id IN (SELECT upload_id FROM "
        "completed_uploads WHERE completed_at < ? ORDER BY completed_at LIMIT ?)",
        (done.completed_at - RETRY_WINDOW, PURGE_BATCH),
    )


def find(conn: Connection, upload_id: str) -> CompletedUpload | None:
    """The record of ``upload_id``'s completion, if one is kept."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM completed_uploads WHERE upload_id = ?",  # noqa: S608 - fixed column names
        (upload_id,),
    ).fetchone()
    return _completed(row) if row is not None else None


def _completed(row: tuple[Any, ...]) -> CompletedUpload:
    return CompletedUpload(
        upload_id=row[0],
        bucket_id=row[1],
        key=row[2],
        etag=row[3],
        version_id=row[4],
        size=int(row[5]),
        completed_at=float(row[6]),
        checksums=json.loads(row[7]),
        checksum_type=row[8],
    )

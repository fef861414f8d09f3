"""Versioned writes, deletes and reads of the SQL metadata store, inside its transactions.

The layout (``nexq.storage.versions``): the current version, unless it is a delete marker,
is the key's ``objects`` row; every other version is an ``object_versions`` row, newest with
the highest ``seq``. The bucket's state is read in the same transaction as the write, so a
write never races a PutBucketVersioning.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from nexq.core.sql import Connection, send
from nexq.storage.errors import (
    ConditionalRequestConflict,
    NoSuchBucket,
    NoSuchKey,
    PreconditionFailed,
)
from nexq.storage.model import ObjectMeta, Segment, prefix_end
from nexq.storage.object_lock import DeleteConditions, check_removal
from nexq.storage.versions import ENABLED, SUSPENDED, ListedVersion, Removal, new_version_id

# Where the objects row stands in a key's order of versions: above every seq.
CURRENT_RANK = 1 << 62

_VERSION_VALUES = (
    "size, etag, last_modified, headers, metadata, checksums, checksum_type, segments, "
    "parts_count, tags, lock_mode, lock_until, legal_hold"
)
OBJECT_COLUMNS = f"bucket_id, key, {_VERSION_VALUES}, version_id"
WIDTH = len(OBJECT_COLUMNS.split(","))

# Adds to the counters of (bucket id, objects, grown bytes, quota); raises QuotaExceeded.
Count = Callable[[Connection, str, int, int, "int | None"], None]
Discard = Callable[[Connection, Iterable[str]], None]


@dataclass(frozen=True, slots=True)
class _Current:
    version_id: str | None
    paths: list[str]
    size: int


@dataclass(frozen=True, slots=True)
class Target:
    """What a write of a key's current version found: the bucket's versioning state and the
    current object, if any (one statement: each is a round trip under PostgreSQL's lock)."""

    versioning: str | None
    current: _Current | None


_decode = json.JSONDecoder().decode


def _document(text: str) -> Any:
    """A stored JSON column. Most are empty, and every read of an object parses five: the
    empty ones skip the parser (a fresh container each time, as callers may change it)."""
    if text == "{}":
        return {}
    if text == "[]":
        return []
    return _decode(text)


def checksum_names(text: str) -> tuple[str, ...]:
    """The algorithms of a stored checksums column (what a listing names, not the values)."""
    return () if text == "{}" else tuple(_decode(text))


def meta_from_row(row: tuple[Any, ...], delete_marker: bool = False) -> ObjectMeta:
    """An ObjectMeta from the columns of OBJECT_COLUMNS, in that order."""
    return ObjectMeta(
        bucket_id=row[0],
        key=row[1],
        size=row[2],
        etag=row[3],
        last_modified=row[4],
        headers=_document(row[5]),
        metadata=_document(row[6]),
        checksums=_document(row[7]),
        checksum_type=row[8],
        segments=tuple([Segment(*segment) for segment in _decode(row[9])]),
        parts_count=row[10],
        tags=tuple([(k, v) for k, v in _document(row[11])]),
        lock_mode=row[12],
        lock_until=row[13],
        legal_hold=_HOLD_OF_COLUMN[row[14]],
        version_id=row[15],
        delete_marker=delete_marker,
    )


# The legal_hold column: 0 never set (what every row had before OFF was told apart), 1 ON,
# 2 set OFF.
_HOLD_OF_COLUMN: dict[int, bool | None] = {0: None, 1: True, 2: False}


def hold_column(hold: bool | None) -> int:
    return 0 if hold is None else 1 if hold else 2


def paths(segments: str) -> list[str]:
    """The blob paths of a stored segments column."""
    return [segment[0] for segment in json.loads(segments)]


def _segment(segment: Segment) -> list[str | int]:
    """A segment as stored: [path, size], and the part's checksum when it has one."""
    if segment.checksum is None:
        return [segment.path, segment.size]
    return [segment.path, segment.size, segment.checksum]


def insert_object(conn: Connection, meta: ObjectMeta) -> None:
    send(
        conn,
        f"INSERT INTO objects({OBJECT_COLUMNS}) "  # noqa: S608 - fixed column names
        f"VALUES ({', '.join('?' * WIDTH)}) ON CONFLICT (bucket_id, key) DO UPDATE SET "
        "size = excluded.size, etag = excluded.etag, last_modified = excluded.last_modified, "
        "headers = excluded.headers, metadata = excluded.metadata, "
        "checksums = excluded.checksums, checksum_type = excluded.checksum_type, "
        "segments = excluded.segments, parts_count = excluded.parts_count, "
        "tags = excluded.tags, lock_mode = excluded.lock_mode, "
        "lock_until = excluded.lock_until, legal_hold = excluded.legal_hold, "
        "version_id = excluded.version_id",
        (
            meta.bucket_id,
            meta.key,
            meta.size,
            meta.etag,
            meta.last_modified,
            json.dumps(meta.headers),
            json.dumps(meta.metadata),
            json.dumps(meta.checksums),
            meta.checksum_type,
            json.dumps([_segment(s) for s in meta.segments]),
            meta.parts_count,
            json.dumps([list(t) for t in meta.tags]),
            meta.lock_mode,
            meta.lock_until,
            hold_column(meta.legal_hold),
            meta.version_id,
        ),
    )


def versioning(conn: Connection, bucket_id: str) -> str | None:
    row = conn.execute("SELECT versioning FROM buckets WHERE id = ?", (bucket_id,)).fetchone()
    if row is None:
        raise NoSuchBucket()
    return _state(row[0])


def _state(versioning: Any) -> str | None:
    return versioning if versioning is None else str(versioning)


def _current(conn: Connection, bucket_id: str, key: str) -> _Current | None:
    row = conn.execute(
        "SELECT version_id, segments, size FROM objects WHERE bucket_id = ? AND key = ?",
        (bucket_id, key),
    ).fetchone()
    if row is None:
        return None
    return _Current(row[0], paths(row[1]), int(row[2]))


def check_conditions(
    conn: Connection,
    bucket_id: str,
    key: str,
    if_match: str | None,
    if_none_match: bool,
    since: float | None = None,
) -> Target:
    """Check conditional-write headers against the current object (a delete marker is no
    object); the bucket's state and the current object. NoSuchBucket after the conditions:
    ``If-Match`` on a key of a bucket that is gone is NoSuchKey. ``since``: when the write
    began (a multipart upload's initiation): an object written after it conflicts."""
    row = conn.execute(
        "SELECT b.versioning, o.etag, o.version_id, o.segments, o.size, o.last_modified "
        "FROM buckets AS b "
        "LEFT JOIN objects AS o ON o.bucket_id = b.id AND o.key = ? WHERE b.id = ?",
        (key, bucket_id),
    ).fetchone()
    if row is None or row[1] is None:
        if if_match is not None:
            raise NoSuchKey()
        if row is None:
            raise NoSuchBucket()
        return Target(_state(row[0]), None)
    if if_none_match:
        raise PreconditionFailed("If-None-Match")
    # S3 compat: AWS's order: a mismatched ETag fails (412) before a write during the
    # upload conflicts (409).
    if if_match is not None and if_match.strip('"') not in ("*", row[1]):
        raise PreconditionFailed("If-Match")
    if if_match is not None and since is not None and float(row[5]) > since:
        raise ConditionalRequestConflict("If-Match")
    return Target(_state(row[0]), _Current(row[2], paths(row[3]), int(row[4])))


def _next_seq(conn: Connection, bucket_id: str, key: str) -> int:
    (seq,) = conn.execute(
        "SELECT coalesce(max(seq), 0) + 1 FROM object_versions WHERE bucket_id = ? AND key = ?",
        (bucket_id, key),
    ).fetchone()
    return int(seq)


def _retire_current(conn: Connection, bucket_id: str, key: str) -> None:
    """The current object becomes the newest noncurrent version (its bytes stay stored)."""
    seq = _next_seq(conn, bucket_id, key)
    send(
        conn,
        "INSERT INTO object_versions(bucket_id, key, seq, version_id, delete_marker, "  # noqa: S608 - fixed column names
        f"{_VERSION_VALUES}) SELECT bucket_id, key, ?, version_id, 0, {_VERSION_VALUES} "
        "FROM objects WHERE bucket_id = ? AND key = ?",
        (seq, bucket_id, key),
    )
    send(conn, "DELETE FROM objects WHERE bucket_id = ? AND key = ?", (bucket_id, key))


def _drop_null_noncurrent(conn: Connection, bucket_id: str, key: str) -> tuple[list[str], int]:
    """Remove the key's noncurrent null version (or null delete marker), if any: the paths
    it held and its size."""
    row = conn.execute(
        "DELETE FROM object_versions WHERE bucket_id = ? AND key = ? AND version_id IS NULL "
        "RETURNING segments, size",
        (bucket_id, key),
    ).fetchone()
    if row is None:
        return [], 0
    return paths(row[0]), int(row[1])


def _add_marker(conn: Connection, bucket_id: str, key: str, version_id: str | None) -> None:
    conn.execute(
        "INSERT INTO object_versions(bucket_id, key, seq, version_id, delete_marker, "  # noqa: S608 - fixed column names
        f"{_VERSION_VALUES}) VALUES (?, ?, ?, ?, 1, 0, '', ?, '{{}}', '{{}}', '{{}}', NULL, "
        "'[]', 0, '[]', NULL, NULL, 0)",
        (bucket_id, key, _next_seq(conn, bucket_id, key), version_id, time.time()),
    )


def write_current(
    conn: Connection,
    meta: ObjectMeta,
    target: Target,
    quota: int | None,
    count: Count,
    discard: Discard,
) -> str | None:
    """Make ``meta`` the key's current version, as the bucket's versioning says: replacing
    the null version, or keeping the old current one as a noncurrent version. ``target`` is
    what :func:`check_conditions` found in this transaction. Returns the new version's id
    (None for null)."""
    state, old = target.versioning, target.current
    version_id = (meta.version_id or new_version_id()) if state == ENABLED else None
    freed_paths: list[str] = []
    freed = 0
    if old is not None and old.version_id is None and state != ENABLED:
        freed_paths, freed = old.paths, old.size  # the null version is overwritten in place
    elif old is not None:
        _retire_current(conn, meta.bucket_id, meta.key)
    if state == SUSPENDED:
        paths, size = _drop_null_noncurrent(conn, meta.bucket_id, meta.key)
        freed_paths, freed = freed_paths + paths, freed + size
    insert_object(conn, replace(meta, version_id=version_id, delete_marker=False))
    if freed_paths:
        discard(conn, freed_paths)
    # Last: its check waits for everything sent before it (a refusal undoes it all).
    count(conn, meta.bucket_id, 0 if old is not None else 1, meta.size - freed, quota)
    return version_id


def mark_uploads(conn: Connection, bucket_id: str, key: str) -> None:
    """The key's object is going: its open uploads may no longer complete with If-None-Match."""
    conn.execute(
        "UPDATE uploads SET key_deleted = 1 WHERE bucket_id = ? AND key = ?", (bucket_id, key)
    )


def delete_current(
    conn: Connection,
    bucket_id: str,
    key: str,
    count: Count,
    discard: Discard,
    conditions: DeleteConditions | None = None,
) -> Removal:
    """DeleteObject without a version id: removes the null object of a never-versioned
    bucket, or stacks a delete marker on the key (S3 adds one even if the key never was).
    ``conditions`` are checked against the current object first."""
    state = versioning(conn, bucket_id)
    if conditions is not None:
        row = conn.execute(
            f"SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket_id = ? AND key = ?",  # noqa: S608 - fixed column names
            (bucket_id, key),
        ).fetchone()
        conditions.check(meta_from_row(row) if row is not None else None)
    current = _current(conn, bucket_id, key)
    if current is not None:
        mark_uploads(conn, bucket_id, key)
    if state is None:
        if current is None:
            return Removal()
        conn.execute("DELETE FROM objects WHERE bucket_id = ? AND key = ?", (bucket_id, key))
        count(conn, bucket_id, -1, -current.size, None)
        discard(conn, current.paths)
        return Removal(removed=True)
    freed_paths: list[str] = []
    freed = 0
    if current is not None and current.version_id is None and state == SUSPENDED:
        conn.execute("DELETE FROM objects WHERE bucket_id = ? AND key = ?", (bucket_id, key))
        freed_paths, freed = current.paths, current.size
    elif current is not None:
        _retire_current(conn, bucket_id, key)
    marker = new_version_id() if state == ENABLED else None
    if state == SUSPENDED:
        paths, size = _drop_null_noncurrent(conn, bucket_id, key)
        freed_paths, freed = freed_paths + paths, freed + size
    _add_marker(conn, bucket_id, key, marker)
    count(conn, bucket_id, -1 if current is not None else 0, -freed, None)
    if freed_paths:
        discard(conn, freed_paths)
    return Removal(version_id=marker, delete_marker=True, marker_added=True)


def delete_version(
    conn: Connection,
    bucket_id: str,
    key: str,
    version_id: str | None,
    count: Count,
    discard: Discard,
    bypass_governance: bool = False,
    conditions: DeleteConditions | None = None,
) -> Removal:
    """Remove one version for good (an object or a delete marker); the next newest becomes
    current. Removal.removed is False if there was no such version. Object Lock refuses
    a protected version (ObjectLocked); ``conditions`` are checked against the version."""
    versioning(conn, bucket_id)  # NoSuchBucket
    found = get_version(conn, bucket_id, key, version_id)
    if conditions is not None:
        conditions.check(found)
    if found is not None and not found.delete_marker:
        check_removal(found, bypass_governance, time.time())
    row = conn.execute(
        "DELETE FROM objects WHERE bucket_id = ? AND key = ? AND version_id IS NOT DISTINCT "
        "FROM ? RETURNING segments, size",
        (bucket_id, key, version_id),
    ).fetchone()
    marker = False
    objects = 0
    if row is None:
        row = conn.execute(
            "DELETE FROM object_versions WHERE bucket_id = ? AND key = ? AND version_id "
            "IS NOT DISTINCT FROM ? RETURNING segments, size, delete_marker",
            (bucket_id, key, version_id),
        ).fetchone()
        if row is None:
            return Removal(version_id=version_id)
        marker = bool(row[2])
    else:
        objects = -1
        mark_uploads(conn, bucket_id, key)
    objects += _promote(conn, bucket_id, key)
    count(conn, bucket_id, objects, -int(row[1]), None)
    discard(conn, paths(row[0]))
    return Removal(version_id=version_id, delete_marker=marker, removed=True)


def _promote(conn: Connection, bucket_id: str, key: str) -> int:
    """If the key has no objects row and its newest version is an object, make that the
    objects row (the current version); how many objects that adds (0 or 1)."""
    if _current(conn, bucket_id, key) is not None:
        return 0
    row = conn.execute(
        "SELECT seq, delete_marker FROM object_versions WHERE bucket_id = ? AND key = ? "
        "ORDER BY seq DESC LIMIT 1",
        (bucket_id, key),
    ).fetchone()
    if row is None or row[1]:
        return 0
    conn.execute(
        f"INSERT INTO objects({OBJECT_COLUMNS}) SELECT bucket_id, key, {_VERSION_VALUES}, "  # noqa: S608 - fixed column names
        "version_id FROM object_versions WHERE bucket_id = ? AND key = ? AND seq = ?",
        (bucket_id, key, row[0]),
    )
    conn.execute(
        "DELETE FROM object_versions WHERE bucket_id = ? AND key = ? AND seq = ?",
        (bucket_id, key, row[0]),
    )
    return 1


_NONCURRENT_COLUMNS = (
    f"bucket_id, key, {_VERSION_VALUES}, version_id, delete_marker"  # same order as objects
)


def get_version(
    conn: Connection, bucket_id: str, key: str, version_id: str | None
) -> ObjectMeta | None:
    """The version ``version_id`` of ``key`` (None: the null version), marker or object."""
    row = conn.execute(
        f"SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket_id = ? AND key = ? "  # noqa: S608 - fixed column names
        "AND version_id IS NOT DISTINCT FROM ?",
        (bucket_id, key, version_id),
    ).fetchone()
    if row is not None:
        return meta_from_row(row)
    row = conn.execute(
        f"SELECT {_NONCURRENT_COLUMNS} FROM object_versions WHERE bucket_id = ? AND key = ? "  # noqa: S608 - fixed column names
        "AND version_id IS NOT DISTINCT FROM ?",
        (bucket_id, key, version_id),
    ).fetchone()
    return meta_from_row(row[:WIDTH], bool(row[WIDTH])) if row is not None else None


def latest_marker(conn: Connection, bucket_id: str, key: str) -> ObjectMeta | None:
    """The delete marker that is the key's latest version, if one is (no objects row)."""
    row = conn.execute(
        f"SELECT {_NONCURRENT_COLUMNS} FROM object_versions WHERE bucket_id = ? AND key = ? "  # noqa: S608 - fixed column names
        "ORDER BY seq DESC LIMIT 1",
        (bucket_id, key),
    ).fetchone()
    if row is None or not row[WIDTH] or _current(conn, bucket_id, key) is not None:
        return None
    return meta_from_row(row[:WIDTH], True)


def version_rank(conn: Connection, bucket_id: str, key: str, version_id: str | None) -> int | None:
    """Where version ``version_id`` of ``key`` stands in the key's order (for a listing's
    version-id-marker); None if there is no such version."""
    if conn.execute(
        "SELECT 1 FROM objects WHERE bucket_id = ? AND key = ? "
        "AND version_id IS NOT DISTINCT FROM ?",
        (bucket_id, key, version_id),
    ).fetchone():
        return CURRENT_RANK
    row = conn.execute(
        "SELECT seq FROM object_versions WHERE bucket_id = ? AND key = ? "
        "AND version_id IS NOT DISTINCT FROM ?",
        (bucket_id, key, version_id),
    ).fetchone()
    return int(row[0]) if row is not None else None


def list_versions(
    conn: Connection, bucket_id: str, prefix: str, start: str, below: int | None, limit: int
) -> list[tuple[ListedVersion, int]]:
    """Up to ``limit`` versions under ``prefix`` in S3's order (key, then newest first), from
    ``start``'s versions ranked below ``below`` (None: all of them) on; each with its rank."""
    if start < prefix:
        start, below = prefix, None
    end = prefix_end(prefix)
    upper = " AND key < ?" if end is not None else ""
    bound = [end] if end is not None else []
    current_op = ">=" if below is None or below > CURRENT_RANK else ">"
    sql = (
        "SELECT key, version_id, delete_marker, size, etag, last_modified, rank, tags, "  # noqa: S608 - fixed operators
        "checksums, checksum_type FROM ("
        "SELECT * FROM (SELECT key, version_id, 0 AS delete_marker, size, etag, "
        f"last_modified, {CURRENT_RANK} AS rank, tags, checksums, checksum_type FROM objects "
        f"WHERE bucket_id = ? AND key {current_op} ?{upper} ORDER BY key LIMIT ?) AS c "
        "UNION ALL "
        "SELECT * FROM (SELECT key, version_id, delete_marker, size, etag, last_modified, "
        "seq AS rank, tags, checksums, checksum_type FROM object_versions "
        "WHERE bucket_id = ? AND key >= ? "
        f"AND (key > ? OR seq < ?){upper} ORDER BY key, seq DESC LIMIT ?) AS n"
        ") AS v ORDER BY key, rank DESC LIMIT ?"
    )
    args: list[Any] = [bucket_id, start, *bound, limit]
    args += [bucket_id, start, start, CURRENT_RANK if below is None else below, *bound, limit]
    args.append(limit)
    out: list[tuple[ListedVersion, int]] = []
    previous: str | None = None
    for row in conn.execute(sql, args):
        key, version_id, marker, size, etag, modified, rank, tags, sums, kind = row
        # A key's first entry is its latest, unless the page began within its versions.
        latest = key != previous and (rank == CURRENT_RANK or key != start or below is None)
        previous = key
        pairs = tuple((k, v) for k, v in json.loads(tags))
        listed = ListedVersion(
            key, version_id, latest, bool(marker), size, etag, modified, pairs,
            checksum_names(sums), kind,
        )  # fmt: skip
        out.append((listed, rank))
    return out


def tag_version(
    conn: Connection, bucket_id: str, key: str, version_id: str | None, tags: str, latest: bool
) -> ObjectMeta | None:
    """Set the tags of the current object (``latest``) or of one version, in place (tags
    make no new version); the version tagged, or None if there is none."""
    if latest:
        found = conn.execute(
            "UPDATE objects SET tags = ? WHERE bucket_id = ? AND key = ? "  # noqa: S608 - fixed column names
            f"RETURNING {OBJECT_COLUMNS}",
            (tags, bucket_id, key),
        ).fetchone()
        return meta_from_row(found) if found is not None else None
    found = conn.execute(
        "UPDATE objects SET tags = ? WHERE bucket_id = ? AND key = ? "  # noqa: S608 - fixed column names
        f"AND version_id IS NOT DISTINCT FROM ? RETURNING {OBJECT_COLUMNS}",
        (tags, bucket_id, key, version_id),
    ).fetchone()
    if found is not None:
        return meta_from_row(found)
    found = conn.execute(
        "UPDATE object_versions SET tags = ? WHERE bucket_id = ? AND key = ? "  # noqa: S608 - fixed column names
        "AND version_id IS NOT DISTINCT FROM ? AND delete_marker = 0 "
        f"RETURNING {_NONCURRENT_COLUMNS}",
        (tags, bucket_id, key, version_id),
    ).fetchone()
    return meta_from_row(found[:WIDTH], False) if found is not None else None


def amend_version(
    conn: Connection,
    bucket_id: str,
    key: str,
    version_id: str | None,
    amend: Callable[[ObjectMeta], ObjectMeta],
    latest: bool,
) -> ObjectMeta | None:
    """Apply ``amend`` to the lock fields and headers of the current object (``latest``) or of one
    version (not a delete marker), in place; the amended version, None if there is none.
    ``amend`` may refuse by raising, before anything changed."""
    where = "bucket_id = ? AND key = ?"
    args: tuple[Any, ...] = (bucket_id, key)
    if not latest:
        where += " AND version_id IS NOT DISTINCT FROM ?"
        args += (version_id,)
    row = conn.execute(f"SELECT {OBJECT_COLUMNS} FROM objects WHERE {where}", args).fetchone()  # noqa: S608 - fixed column names
    table = "objects"
    if row is None and not latest:
        found = conn.execute(
            f"SELECT {_NONCURRENT_COLUMNS} FROM object_versions WHERE {where} "  # noqa: S608 - fixed column names
            "AND delete_marker = 0",
            args,
        ).fetchone()
        row, table = (found[:WIDTH] if found is not None else None), "object_versions"
    if row is None:
        return None
    amended = amend(meta_from_row(row))
    conn.execute(
        f"UPDATE {table} SET lock_mode = ?, lock_until = ?, legal_hold = ?, headers = ? "  # noqa: S608 - fixed table names
        "WHERE bucket_id = ? AND key = ? AND version_id IS NOT DISTINCT FROM ?",
        (
            amended.lock_mode,
            amended.lock_until,
            hold_column(amended.legal_hold),
            json.dumps(amended.headers),
            bucket_id,
            key,
            row[WIDTH - 1],
        ),
    )
    return amended

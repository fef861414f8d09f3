"""Lifecycle actions of the SQL metadata store: a version described and acted on in one
transaction, so the decision is made on the version as it stands when it is removed.

The layout is ``nexq.storage.versions``'s: the current object is the key's ``objects`` row;
older versions and delete markers are ``object_versions`` rows, a higher ``seq`` newer.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from nexq.core.sql import Connection
from nexq.storage.lifecycle import NOTHING_DUE, Action, Candidate, Due
from nexq.storage.metadata import sql_versions as versions
from nexq.storage.object_lock import ObjectLocked
from nexq.storage.versions import Removal

Decide = Callable[[Candidate], Due]


def _tags(text: str) -> dict[str, str]:
    return {k: v for k, v in json.loads(text)}


def candidate(
    conn: Connection, bucket_id: str, key: str, version_id: str | None
) -> Candidate | None:
    """Version ``version_id`` of ``key`` as the lifecycle rules see it, or None if gone."""
    row = conn.execute(
        "SELECT size, last_modified, tags FROM objects WHERE bucket_id = ? AND key = ? "
        "AND version_id IS NOT DISTINCT FROM ?",
        (bucket_id, key, version_id),
    ).fetchone()
    if row is not None:
        return Candidate(key, int(row[0]), _tags(row[2]), float(row[1]))
    row = conn.execute(
        "SELECT seq, delete_marker, size, last_modified, tags FROM object_versions "
        "WHERE bucket_id = ? AND key = ? AND version_id IS NOT DISTINCT FROM ?",
        (bucket_id, key, version_id),
    ).fetchone()
    if row is None:
        return None
    seq, marker, size, modified, tags = int(row[0]), bool(row[1]), int(row[2]), row[3], row[4]
    newer, successor_seq = conn.execute(
        "SELECT count(*), min(seq) FROM object_versions WHERE bucket_id = ? AND key = ? "
        "AND seq > ?",
        (bucket_id, key, seq),
    ).fetchone()
    current = conn.execute(
        "SELECT last_modified FROM objects WHERE bucket_id = ? AND key = ?", (bucket_id, key)
    ).fetchone()
    if not newer and current is None:
        # The key's latest version (a delete marker: an object would be the objects row).
        older = conn.execute(
            "SELECT 1 FROM object_versions WHERE bucket_id = ? AND key = ? AND seq < ? LIMIT 1",
            (bucket_id, key, seq),
        ).fetchone()
        return Candidate(
            key,
            size,
            _tags(tags),
            float(modified),
            is_latest=True,
            is_delete_marker=marker,
            only_version=older is None,
        )
    if successor_seq is not None:
        (since,) = conn.execute(
            "SELECT last_modified FROM object_versions WHERE bucket_id = ? AND key = ? AND seq = ?",
            (bucket_id, key, successor_seq),
        ).fetchone()
    else:
        since = current[0]
    return Candidate(
        key,
        size,
        _tags(tags),
        float(modified),
        is_latest=False,
        is_delete_marker=marker,
        noncurrent_since=float(since),
        # The versions above it but the latest one.
        newer_noncurrent_count=int(newer) + (current is not None) - 1,
    )


def apply(
    conn: Connection,
    bucket_id: str,
    key: str,
    version_id: str | None,
    decide: Decide,
    count: versions.Count,
    discard: versions.Discard,
) -> tuple[Due, Removal]:
    """MetadataStore.apply_lifecycle, inside the caller's transaction."""
    found = candidate(conn, bucket_id, key, version_id)
    if found is None:
        return NOTHING_DUE, Removal()
    due = decide(found)
    if due.action is Action.EXPIRE_CURRENT and found.is_latest and not found.is_delete_marker:
        return due, versions.delete_current(conn, bucket_id, key, count, discard)
    if due.action in (Action.DELETE_NONCURRENT, Action.REMOVE_DELETE_MARKER):
        try:
            return due, versions.delete_version(conn, bucket_id, key, version_id, count, discard)
        except ObjectLocked:  # as AWS: rules never remove a locked version (nothing changed)
            return NOTHING_DUE, Removal()
    return NOTHING_DUE, Removal()

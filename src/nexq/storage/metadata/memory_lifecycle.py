"""A version of the in-memory store as the lifecycle rules see it (as ``sql_lifecycle``)."""

from __future__ import annotations

from nexq.storage.lifecycle import Candidate
from nexq.storage.metadata.memory_versions import Noncurrent
from nexq.storage.model import ObjectMeta


def candidate(
    current: ObjectMeta | None, stack: list[Noncurrent], version_id: str | None
) -> Candidate | None:
    """Version ``version_id`` of a key whose current object is ``current`` and whose other
    versions are ``stack`` (oldest first), or None if it has no such version."""
    if current is not None and current.version_id == version_id:
        return Candidate(current.key, current.size, dict(current.tags), current.last_modified)
    index = next((i for i, n in enumerate(stack) if n.meta.version_id == version_id), None)
    if index is None:
        return None
    meta, newer = stack[index].meta, stack[index + 1 :]
    if newer:
        since = newer[0].meta.last_modified
    elif current is not None:
        since = current.last_modified
    else:
        # The key's latest version (a delete marker: an object would be ``current``).
        return Candidate(
            meta.key,
            meta.size,
            dict(meta.tags),
            meta.last_modified,
            is_latest=True,
            is_delete_marker=meta.delete_marker,
            only_version=index == 0,
        )
    return Candidate(
        meta.key,
        meta.size,
        dict(meta.tags),
        meta.last_modified,
        is_latest=False,
        is_delete_marker=meta.delete_marker,
        noncurrent_since=since,
        # The versions above it but the latest one.
        newer_noncurrent_count=len(newer) + (current is not None) - 1,
    )

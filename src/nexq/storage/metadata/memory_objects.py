"""Objects and their versions in the in-memory metadata store: reads, writes (as
``sql_versions``' ``write_current``), tags and amendments."""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable
from dataclasses import replace

from nexq.core.errors import QuotaExceeded
from nexq.storage.errors import ConditionalRequestConflict, NoSuchKey, PreconditionFailed
from nexq.storage.metadata.memory_base import HeldBucket, MemoryBase
from nexq.storage.metadata.sql_versions import CURRENT_RANK
from nexq.storage.model import ListedObject, ObjectMeta, prefix_end
from nexq.storage.quotas import storage_quota_message
from nexq.storage.versions import ENABLED, SUSPENDED, ListedVersion, new_version_id


# Stored values are copies, so that neither the caller's dicts nor the store's change when
# the other's do (a database hands out new values on every read, too).
def _object(meta: ObjectMeta) -> ObjectMeta:
    return replace(
        meta,
        headers=dict(meta.headers),
        metadata=dict(meta.metadata),
        checksums=dict(meta.checksums),
    )


class MemoryObjects(MemoryBase):
    """Objects: reads, writes, the counters they keep, and versions."""

    # objects ----------------------------------------------------------------------------
    def get_object(self, bucket_id: str, key: str) -> ObjectMeta | None:
        with self._lock:
            held = self._buckets.get(bucket_id)
            meta = held.objects.get(key.encode()) if held is not None else None
            return _object(meta) if meta is not None else None

    def list_objects(
        self, bucket_id: str, prefix: str, start: str, inclusive: bool, limit: int
    ) -> list[ListedObject]:
        if start < prefix:
            start, inclusive = prefix, True
        end = prefix_end(prefix)
        high = end.encode() if end is not None else None
        with self._lock:
            held = self._buckets.get(bucket_id)
            if held is None:
                return []
            find = bisect.bisect_left if inclusive else bisect.bisect_right
            first = find(held.order, start.encode())
            found = []
            for key in held.order[first:] if limit < 0 else held.order[first : first + limit]:
                if high is not None and key >= high:
                    break
                meta = held.objects[key]
                found.append(
                    ListedObject(
                        meta.key,
                        meta.size,
                        meta.etag,
                        meta.last_modified,
                        tuple(meta.checksums),
                        meta.checksum_type,
                    )
                )
            return found

    def put_object(
        self,
        meta: ObjectMeta,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        quota: int | None = None,
    ) -> str | None:
        with self._lock:
            old = self._check_conditions(meta, if_match, if_none_match)
            return self._write_current(meta, old, quota)

    def _check_conditions(
        self,
        meta: ObjectMeta,
        if_match: str | None,
        if_none_match: bool,
        since: float | None = None,
    ) -> ObjectMeta | None:
        """Check conditional-write headers against the current object (a delete marker is no
        object); the current object, if any. ``since``: as in sql_versions.check_conditions."""
        held = self._buckets.get(meta.bucket_id)
        current = held.objects.get(meta.key.encode()) if held is not None else None
        if current is None:
            if if_match is not None:
                raise NoSuchKey()
            return None
        if if_none_match:
            raise PreconditionFailed("If-None-Match")
        if if_match is not None and if_match.strip('"') not in ("*", current.etag):
            raise PreconditionFailed("If-Match")  # before a conflict, as sql_versions
        if if_match is not None and since is not None and current.last_modified > since:
            raise ConditionalRequestConflict("If-Match")
        return current

    def _count(self, held: HeldBucket, objects: int, grown: int, quota: int | None) -> None:
        """Keep the bucket's and account's counters, refusing growth that takes the account
        over ``quota`` (call before changing anything)."""
        owner = held.bucket.account_id
        stored = self._stored.get(owner, 0)
        if grown > 0 and quota is not None and stored + grown > quota:
            raise QuotaExceeded("storage_bytes", storage_quota_message(quota))
        self._stored[owner] = stored + grown
        held.object_count += objects
        held.stored_bytes += grown

    def _retire(self, held: HeldBucket, key: bytes) -> ObjectMeta:
        """Take the current object out of ``objects`` (its caller keeps or frees it)."""
        meta = held.objects.pop(key)
        del held.order[bisect.bisect_left(held.order, key)]
        return meta

    def _write_current(
        self, meta: ObjectMeta, old: ObjectMeta | None, quota: int | None
    ) -> str | None:
        """As the SQL store's ``write_current`` (nexq.storage.metadata.sql_versions)."""
        held = self._held(meta.bucket_id)
        state = held.bucket.versioning
        key = meta.key.encode()
        version_id = (meta.version_id or new_version_id()) if state == ENABLED else None
        freed = [old] if old is not None and old.version_id is None and state != ENABLED else []
        dropped = held.shelf.find(key, None) if state == SUSPENDED else None
        if dropped is not None:
            freed.append(dropped.meta)
        self._count(
            held, 0 if old is not None else 1, meta.size - sum(m.size for m in freed), quota
        )
        if old is not None:
            self._retire(held, key)
            if not freed or freed[0] is not old:
                held.shelf.push(old)
        if dropped is not None:
            held.shelf.remove(key, None)
        bisect.insort(held.order, key)
        held.objects[key] = _object(replace(meta, version_id=version_id, delete_marker=False))
        self._garbage.update(s.path for m in freed for s in m.segments)
        return version_id

    def amend_version(
        self,
        bucket_id: str,
        key: str,
        version_id: str | None,
        amend: Callable[[ObjectMeta], ObjectMeta],
        *,
        latest: bool,
    ) -> ObjectMeta | None:
        with self._lock:
            held = self._buckets.get(bucket_id)
            if held is None:
                return None
            encoded = key.encode()
            current = held.objects.get(encoded)
            if current is not None and (latest or current.version_id == version_id):
                held.objects[encoded] = _object(amend(_object(current)))
                return _object(held.objects[encoded])
            found = None if latest else held.shelf.find(encoded, version_id)
            if found is None or found.meta.delete_marker:
                return None
            found.meta = _object(amend(_object(found.meta)))
            return _object(found.meta)

    def tag_version(
        self, bucket_id: str, key: str, version_id: str | None, tags: str, *, latest: bool
    ) -> ObjectMeta | None:
        pairs = tuple((k, v) for k, v in json.loads(tags))
        with self._lock:
            held = self._buckets.get(bucket_id)
            if held is None:
                return None
            encoded = key.encode()
            current = held.objects.get(encoded)
            if current is not None and (latest or current.version_id == version_id):
                held.objects[encoded] = replace(current, tags=pairs)
                return _object(held.objects[encoded])
            if latest:
                return None
            found = held.shelf.find(encoded, version_id)
            if found is None or found.meta.delete_marker:
                return None
            found.meta = replace(found.meta, tags=pairs)
            return _object(found.meta)

    def get_version(self, bucket_id: str, key: str, version_id: str | None) -> ObjectMeta | None:
        with self._lock:
            held = self._buckets.get(bucket_id)
            if held is None:
                return None
            current = held.objects.get(key.encode())
            if current is not None and current.version_id == version_id:
                return _object(current)
            found = held.shelf.find(key.encode(), version_id)
            return _object(found.meta) if found is not None else None

    def latest_marker(self, bucket_id: str, key: str) -> ObjectMeta | None:
        with self._lock:
            held = self._buckets.get(bucket_id)
            if held is None or key.encode() in held.objects:
                return None
            newest = held.shelf.newest(key.encode())
            if newest is None or not newest.meta.delete_marker:
                return None
            return _object(newest.meta)

    def version_rank(self, bucket_id: str, key: str, version_id: str | None) -> int | None:
        with self._lock:
            held = self._buckets.get(bucket_id)
            if held is None:
                return None
            current = held.objects.get(key.encode())
            if current is not None and current.version_id == version_id:
                return CURRENT_RANK
            found = held.shelf.find(key.encode(), version_id)
            return found.seq if found is not None else None

    def list_versions(
        self, bucket_id: str, prefix: str, start: str, below: int | None, limit: int
    ) -> list[tuple[ListedVersion, int]]:
        if start < prefix:
            start, below = prefix, None
        end = prefix_end(prefix)
        high = end.encode() if end is not None else None
        first = start.encode()
        out: list[tuple[ListedVersion, int]] = []
        with self._lock:
            held = self._buckets.get(bucket_id)
            if held is None:
                return []
            keys = held.order[bisect.bisect_left(held.order, first) :][: max(limit, 0) + 1]
            keys += held.shelf.order[bisect.bisect_left(held.shelf.order, first) :][
                : max(limit, 0) + 1
            ]
            for key in sorted(set(keys)):
                if high is not None and key >= high:
                    break
                entries = [(held.objects[key], CURRENT_RANK)] if key in held.objects else []
                entries += [(n.meta, n.seq) for n in reversed(held.shelf.of(key))]
                for index, (meta, rank) in enumerate(entries):
                    if key == first and below is not None and rank >= below:
                        continue
                    latest = index == 0
                    out.append(
                        (
                            ListedVersion(
                                meta.key,
                                meta.version_id,
                                latest,
                                meta.delete_marker,
                                meta.size,
                                meta.etag,
                                meta.last_modified,
                                meta.tags,
                                tuple(meta.checksums),
                                meta.checksum_type,
                            ),
                            rank,
                        )
                    )
                    if len(out) >= limit:
                        return out
        return out

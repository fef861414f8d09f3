"""Deletions in the in-memory metadata store: of current objects (a delete marker where
versioning is on), of versions, and the ones lifecycle rules decide."""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Sequence

from nexq.core.errors import DomainError
from nexq.storage.errors import NoSuchBucket
from nexq.storage.lifecycle import NOTHING_DUE, Action, Candidate, Due
from nexq.storage.metadata import memory_lifecycle
from nexq.storage.metadata.memory_objects import MemoryObjects
from nexq.storage.model import ObjectMeta
from nexq.storage.object_lock import DeleteConditions, ObjectLocked, check_removal
from nexq.storage.versions import ENABLED, SUSPENDED, Deletion, Removal, new_version_id


class MemoryDeletes(MemoryObjects):
    """Deletions of objects and versions, and lifecycle actions."""

    def delete_object(
        self, bucket_id: str, key: str, conditions: DeleteConditions | None = None
    ) -> Removal:
        with self._lock:
            held = self._buckets.get(bucket_id)
            if held is None:
                raise NoSuchBucket()
            encoded = key.encode()
            current = held.objects.get(encoded)
            if conditions is not None:
                conditions.check(current)
            if current is not None:
                self._mark_uploads(bucket_id, key)
            state = held.bucket.versioning
            if state is None:
                if current is None:
                    return Removal()
                self._retire(held, encoded)
                self._count(held, -1, -current.size, None)
                self._garbage.update(s.path for s in current.segments)
                return Removal(removed=True)
            freed: list[ObjectMeta] = []
            if current is not None:
                self._retire(held, encoded)
                if current.version_id is None and state == SUSPENDED:
                    freed.append(current)
                else:
                    held.shelf.push(current)
            if state == SUSPENDED:
                dropped = held.shelf.remove(encoded, None)
                freed += [dropped] if dropped is not None else []
            marker = new_version_id() if state == ENABLED else None
            held.shelf.push(_marker(bucket_id, key, marker))
            self._count(held, -1 if current is not None else 0, -sum(m.size for m in freed), None)
            self._garbage.update(s.path for m in freed for s in m.segments)
            return Removal(version_id=marker, delete_marker=True, marker_added=True)

    def delete_objects(
        self, bucket_id: str, deletions: Sequence[Deletion]
    ) -> list[Removal | DomainError]:
        def one(d: Deletion) -> Removal | DomainError:
            try:  # a refusal is raised before its deletion changes anything
                if d.by_version:
                    return self.delete_version(
                        bucket_id, d.key, d.version_id, d.bypass_governance, d.conditions
                    )
                return self.delete_object(bucket_id, d.key, d.conditions)
            except NoSuchBucket:
                raise
            except DomainError as exc:
                return exc

        with self._lock:  # re-entrant: one atomic step, as the SQL store's one transaction
            return [one(d) for d in deletions]

    def delete_version(
        self,
        bucket_id: str,
        key: str,
        version_id: str | None,
        bypass_governance: bool = False,
        conditions: DeleteConditions | None = None,
    ) -> Removal:
        with self._lock:
            held = self._held(bucket_id)
            encoded = key.encode()
            current = held.objects.get(encoded)
            older = held.shelf.find(encoded, version_id)
            named = (
                current
                if current is not None and current.version_id == version_id
                else older.meta
                if older is not None
                else None
            )
            if conditions is not None:
                conditions.check(named)
            if named is not None and not named.delete_marker:
                check_removal(named, bypass_governance, time.time())
            objects = 0
            if current is not None and current.version_id == version_id:
                gone: ObjectMeta | None = self._retire(held, encoded)
                objects = -1
                self._mark_uploads(bucket_id, key)
            else:
                gone = held.shelf.remove(encoded, version_id)
            if gone is None:
                return Removal(version_id=version_id)
            if encoded not in held.objects:
                newest = held.shelf.newest(encoded)
                if newest is not None and not newest.meta.delete_marker:
                    promoted = held.shelf.remove(encoded, newest.meta.version_id)
                    assert promoted is not None
                    bisect.insort(held.order, encoded)
                    held.objects[encoded] = promoted
                    objects += 1
            self._count(held, objects, -gone.size, None)
            self._garbage.update(s.path for s in gone.segments)
            return Removal(version_id=version_id, delete_marker=gone.delete_marker, removed=True)

    def _mark_uploads(self, bucket_id: str, key: str) -> None:
        """As sql_versions.mark_uploads: the key's object is going."""
        for held in self._uploads.values():
            if held.upload.bucket_id == bucket_id and held.upload.key == key:
                held.key_deleted = True

    def apply_lifecycle(
        self,
        bucket_id: str,
        key: str,
        version_id: str | None,
        decide: Callable[[Candidate], Due],
    ) -> tuple[Due, Removal]:
        with self._lock:  # held through the delete, as the SQL store's one transaction
            held = self._buckets.get(bucket_id)
            encoded = key.encode()
            found = (
                memory_lifecycle.candidate(
                    held.objects.get(encoded), held.shelf.of(encoded), version_id
                )
                if held is not None
                else None
            )
            if found is None:
                return NOTHING_DUE, Removal()
            due = decide(found)
            if (
                due.action is Action.EXPIRE_CURRENT
                and found.is_latest
                and not found.is_delete_marker
            ):
                return due, self.delete_object(bucket_id, key)
            if due.action in (Action.DELETE_NONCURRENT, Action.REMOVE_DELETE_MARKER):
                try:
                    return due, self.delete_version(bucket_id, key, version_id)
                except ObjectLocked:  # rules never remove a locked version
                    return NOTHING_DUE, Removal()
            return NOTHING_DUE, Removal()


def _marker(bucket_id: str, key: str, version_id: str | None) -> ObjectMeta:
    return ObjectMeta(
        bucket_id=bucket_id,
        key=key,
        size=0,
        etag="",
        last_modified=time.time(),
        headers={},
        metadata={},
        checksums={},
        checksum_type=None,
        segments=(),
        version_id=version_id,
        delete_marker=True,
    )
